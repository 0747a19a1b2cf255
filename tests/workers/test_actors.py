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


def test_a_message_for_another_chain_goes_back_to_the_queue() -> None:
    ran: list[int] = []
    training = SimpleNamespace(run=ran.append)
    services: Any = SimpleNamespace(chain_id=31337, training=training)
    body = run_training_body(services)
    with pytest.raises(dramatiq.Retry, match="chain 1"):
        body(job_id="4", chain_id=1, dataset_id="1")
    body(job_id="4", chain_id=31337, spec_cid="x")
    assert ran == [4]
