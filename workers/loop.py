"""The loop every background service of the projector runs."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg.errors
import structlog

from projections.outage import Outage

log = structlog.get_logger(__name__)


def service_loop(
    name: str, step: Callable[[], int], *, stop: threading.Event, interval: float
) -> None:
    """Call `step` until `stop` is set: again at once while it does work, after `interval`
    seconds when it does none.

    A read-model table that does not exist yet (the projector creates its schema) is
    waited for quietly. Any other error is an outage of the service, never fatal: its
    first error is logged (``<name>.failing``), then it retries with capped, jittered
    backoff, logging the recovery once (see :class:`Outage`)."""
    outage = Outage(name, base=max(interval, 0.1))
    waiting = False
    while not stop.is_set():
        try:
            worked = step()
        except psycopg.errors.UndefinedTable as exc:
            if not waiting:  # once: the projector may take a while (a rebuild by replay)
                log.info(f"{name}.waiting_for_schema", missing=str(exc).splitlines()[0][:200])
                waiting = True
            stop.wait(interval)
            continue
        except Exception as exc:  # a service loop: report, back off, try again
            stop.wait(outage.failed(exc))
            continue
        outage.succeeded()
        waiting = False
        if not worked:
            stop.wait(interval)
