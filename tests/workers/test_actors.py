"""Actors translate failures: transient ones retry with backoff, permanent ones dead-letter."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import dramatiq
import pytest

from common.errors import PermanentError, RetryableError
from workers.actors import run_training_body, typed_errors


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (RetryableError("node busy"), dramatiq.Retry),
        (ConnectionError("refused"), dramatiq.Retry),
        (PermanentError("bad spec"), PermanentError),
        (ValueError("garbage"), PermanentError),
    ],
)
def test_failures_become_retries_or_permanent_errors(
    raised: Exception, expected: type[Exception]
) -> None:
    with pytest.raises(expected), typed_errors("run_training", job_id="1"):
        raise raised


def test_a_misrouted_message_is_dead_lettered_not_run() -> None:
    # (each chain has its own queue: a message for another chain can only be misrouted)
    ran: list[int] = []
    training = SimpleNamespace(run=ran.append)
    services: Any = SimpleNamespace(chain_id=31337, training=training)
    body = run_training_body(services)
    with pytest.raises(PermanentError, match="chain 1 in the queue of chain 31337"):
        body(job_id="4", chain_id=1, dataset_id="1")
    body(job_id="4", chain_id=31337, spec_cid="x")
    assert ran == [4]
