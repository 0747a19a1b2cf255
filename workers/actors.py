"""The Dramatiq actors: thin and idempotent. Ids in, one service call, typed errors out.

- :class:`~common.errors.RetryableError` becomes ``dramatiq.Retry``: retried with
  exponential backoff (``min_backoff`` .. ``max_backoff``) up to ``max_retries`` times;
- :class:`~common.errors.PermanentError` is in ``throws``: not retried, the message goes
  to the dead-letter queue (``<queue>.XQ``; on Redis ``datacoin:datacoin.31337.XQ`` for
  chain 31337 in the default namespace) with the error logged;
- anything else is classified by :func:`common.errors.classify` first.

Actors are declared on an explicit broker by :func:`declare_actors` (nothing happens at
import time), on the queue of the worker's own chain (:func:`workers.broker.chain_queue`).
Names and keyword arguments match the messages :mod:`workers.dispatch` sends from the
outbox to that queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq
import structlog

from common.errors import DatacoinError, PermanentError, RetryableError, classify
from projections.outbox import RUN_TRAINING
from workers.services import WorkerServices

log = structlog.get_logger(__name__)

TRAINING_OPTIONS: dict[str, Any] = {
    "max_retries": 10,
    "min_backoff": 5_000,
    "max_backoff": 600_000,
    "throws": (PermanentError,),
}


@contextmanager
def typed_errors(action: str, **ids: Any) -> Iterator[None]:
    """Translate failures into Dramatiq's vocabulary (Retry, or a `throws` error)."""
    try:
        yield
    except RetryableError as exc:
        log.warning("worker.retry", action=action, error=str(exc)[:300], **ids)
        raise dramatiq.Retry(str(exc)) from exc
    except DatacoinError as exc:
        log.error("worker.dead_letter", action=action, error=str(exc)[:300], **ids)
        raise
    except Exception as exc:
        typed = classify(exc)
        if isinstance(typed, RetryableError):
            log.warning("worker.retry", action=action, error=str(typed)[:300], **ids)
            raise dramatiq.Retry(str(typed)) from exc
        log.error("worker.dead_letter", action=action, error=str(typed)[:300], **ids)
        raise typed from exc


def _same_chain(services: WorkerServices, chain_id: int) -> None:
    """Each chain has its own queue, so a message for another chain was misrouted: it
    goes to the dead letters (retrying it here could never succeed)."""
    if int(chain_id) != services.chain_id:
        raise PermanentError(
            f"message for chain {chain_id} in the queue of chain {services.chain_id}"
        )


def run_training_body(services: WorkerServices) -> Callable[..., None]:
    """The ``run_training`` actor function: train and log the job unless it is settled."""

    def run_training(*, job_id: str, chain_id: int, **_: Any) -> None:
        with typed_errors(RUN_TRAINING, job_id=job_id):
            _same_chain(services, chain_id)
            services.training.run(int(job_id))

    return run_training


def declare_actors(
    broker: dramatiq.Broker, services: WorkerServices, *, queue: str
) -> list[dramatiq.Actor[Any, Any]]:
    """Declare the actors on `broker`, bound to `services`, on `queue`: the queue of
    ``services.chain_id`` (:func:`workers.broker.chain_queue`)."""
    wall_ms = int(services.training.config.limits.wall_seconds * 1000)
    specs = [
        # Dramatiq's own time limit sits well above the sandbox's wall clock.
        (
            RUN_TRAINING,
            run_training_body(services),
            {**TRAINING_OPTIONS, "time_limit": wall_ms + 600_000},
        ),
    ]
    return [
        dramatiq.Actor(
            fn, broker=broker, actor_name=name, queue_name=queue, priority=0, options=options
        )
        for name, fn, options in specs
    ]
