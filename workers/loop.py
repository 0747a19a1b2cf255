"""The loop every background service of the projector runs."""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)


def service_loop(
    name: str, step: Callable[[], int], stop: threading.Event, interval: float
) -> None:
    """Call `step` until `stop` is set: again at once while it does work, after `interval`
    seconds when it does none, and after an error (reported, never fatal)."""
    while not stop.is_set():
        try:
            if step():
                continue
        except Exception as exc:  # a service loop: report, wait, try again
            log.warning(f"{name}.loop_error", error=f"{type(exc).__name__}: {exc}"[:300])
        stop.wait(interval)
