"""The worker's job metrics (`workers.metrics.WorkerMetrics`, a Dramatiq middleware) on a
real Redis broker: a job that succeeds, one that fails once and is retried, one that fails
for good and is dead-lettered; each counted under its actor and outcome."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import dramatiq
from prometheus_client import generate_latest

from tests.workers.brokers import BrokerSpace
from workers.metrics import WorkerMetrics


def value(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def wait(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_each_outcome_is_counted_by_actor(broker_space: BrokerSpace) -> None:
    # Given a broker with the metrics middleware and three actors on a test queue
    broker = broker_space.broker()
    metrics = WorkerMetrics()
    broker.add_middleware(metrics)
    queue = broker_space.queue()
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def ok(**_: Any) -> None:
        with lock:
            calls["ok"] += 1

    def flaky(**_: Any) -> None:
        with lock:
            calls["flaky"] += 1
            first = calls["flaky"] == 1
        if first:
            raise RuntimeError("the node hiccuped")

    def broken(**_: Any) -> None:
        raise ValueError("this job can never run")

    options: dict[str, Any] = {"min_backoff": 10, "max_backoff": 20}

    def declare(fn: Callable[..., None], name: str, retries: int) -> Any:
        decorate = dramatiq.actor(
            broker=broker, queue_name=queue, actor_name=name, max_retries=retries, **options
        )
        return decorate(fn)

    actors = {
        "ok": declare(ok, "ok", 3),
        "flaky": declare(flaky, "flaky", 1),
        "broken": declare(broken, "broken", 0),
    }
    metrics.declare(sorted(actors))
    # every series exists at zero before the first message
    assert value(metrics, "datacoin_worker_messages_total", actor="ok", outcome="succeeded") == 0
    assert 'actor="broken"' in generate_latest(metrics.registry).decode()
    # When a worker processes one message of each
    worker = dramatiq.Worker(broker, queues={queue}, worker_threads=1, worker_timeout=100)
    worker.start()
    broker_space.on_close(lambda: worker.stop(timeout=10_000))
    for actor in actors.values():
        actor.send()

    def settled() -> bool:
        return (
            value(metrics, "datacoin_worker_messages_total", actor="flaky", outcome="succeeded")
            == 1
            and value(metrics, "datacoin_worker_message_dead_letters_total", actor="broken") == 1
            and value(metrics, "datacoin_worker_messages_total", actor="ok", outcome="succeeded")
            == 1
        )

    wait(settled)
    # Then each outcome is where it belongs
    assert value(metrics, "datacoin_worker_messages_total", actor="flaky", outcome="errored") == 1
    assert value(metrics, "datacoin_worker_message_retries_total", actor="flaky") == 1
    assert value(metrics, "datacoin_worker_message_dead_letters_total", actor="flaky") == 0
    assert value(metrics, "datacoin_worker_messages_total", actor="broken", outcome="errored") == 1
    assert value(metrics, "datacoin_worker_message_retries_total", actor="broken") == 0
    assert value(metrics, "datacoin_worker_message_dead_letters_total", actor="ok") == 0
    # with durations observed and nothing left in progress
    assert value(metrics, "datacoin_worker_message_seconds_count", actor="flaky") == 2
    for actor in actors:
        assert value(metrics, "datacoin_worker_messages_in_progress", actor=actor) == 0
