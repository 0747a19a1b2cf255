"""The one retry policy (indexer/retry.py): jittered waits that a stop event cuts short."""

from __future__ import annotations

import random
import threading
import time

import pytest

from indexer.retry import RetryPolicy
from indexer.rpc import RpcError


def test_delays_are_jittered_between_half_and_the_full_capped_delay() -> None:
    policy = RetryPolicy(base=0.2, cap=2.0, rng=random.Random(7))
    for attempt, full in [(1, 0.2), (2, 0.4), (4, 1.6), (5, 2.0), (40, 2.0)]:
        waits = [policy.delay(attempt) for _ in range(50)]
        assert all(full / 2 <= w <= full for w in waits)
        assert len(set(waits)) > 1


def test_a_set_stop_ends_a_backoff_at_once() -> None:
    # Given a long backoff and a stop event set while it waits (a SIGTERM)
    policy = RetryPolicy(base=30, cap=30)
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    # Then the wait ends with the stop, and says so
    started = time.monotonic()
    assert policy.backoff(1, event="indexer.test.retry", error="down", stop=stop)
    assert time.monotonic() - started < 5


def test_call_retries_counts_each_failure_and_gives_up_on_stop() -> None:
    failures: list[BaseException] = []
    errors = iter([RpcError("a"), RpcError("b")])

    def action() -> str:
        error = next(errors, None)
        if error is not None:
            raise error
        return "done"

    policy = RetryPolicy(base=0.001, cap=0.001)
    assert (
        policy.call(action, what="test", retry_on=(RpcError,), on_retry=failures.append) == "done"
    )
    assert [str(f) for f in failures] == ["a", "b"]
    # A stop already set re-raises the first failure instead of waiting
    stop = threading.Event()
    stop.set()
    with pytest.raises(RpcError):
        policy.call(_fails, what="test", retry_on=(RpcError,), stop=stop)


def _fails() -> None:
    raise RpcError("c")
