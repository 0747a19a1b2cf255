"""`datacoin serve`: the API under uvicorn."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

import structlog
import uvicorn

from api.app import create_app
from common.settings import Settings
from migrations.runner import require_current

log = structlog.get_logger(__name__)
#: The signals that ask a server to stop: a service manager's SIGTERM, a terminal's Ctrl-C.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run_serve(settings: Settings, host: str | None, port: int | None, workers: int) -> None:
    """Serve the API (settings injected into the app; engines open in its lifespan) until
    SIGTERM or SIGINT, then drain the requests in flight and return (exit status 0).

    The database must exist and be migrated (`datacoin db upgrade`: services never migrate)."""
    require_current(settings.database_url)
    host, port = host or settings.api_host, port or settings.api_port
    if workers > 1:
        # Several processes: each builds its own app (factory) from the same environment.
        # uvicorn's supervisor stops them on SIGTERM and returns.
        uvicorn.run(
            "api.app:create_app",
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            factory=True,
            **proxy_options(settings),
        )
        return
    stopped_by: list[int] = []
    with _stop_signals_recorded(stopped_by):
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_level="warning",
            **proxy_options(settings),
        )
    log.info("api.stopped", signal=signal.Signals(stopped_by[0]).name if stopped_by else None)


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's forwarded-header options: X-Forwarded-For/-Proto are believed only from
    the proxies `forwarded_allow_ips` lists, and from nobody when it is empty (uvicorn's
    own default trusts 127.0.0.1, i.e. any process on the machine could name a client)."""
    allowed = settings.forwarded_allow_ips
    return {"proxy_headers": bool(allowed), "forwarded_allow_ips": allowed or None}


@contextlib.contextmanager
def _stop_signals_recorded(into: list[int]) -> Iterator[None]:
    """While active, a stop signal is appended to `into` instead of killing the process.

    uvicorn drains in-flight requests on SIGTERM/SIGINT, then restores the handlers it
    found and raises the signal again "for the expected behaviour": with Python's defaults
    that is death by SIGTERM (exit -15) or a KeyboardInterrupt traceback, after a shutdown
    that went well. The handlers installed here are the ones it restores and re-raises
    into, so a drained server returns normally."""

    def record(signum: int, frame: FrameType | None) -> None:
        into.append(signum)

    previous = {sig: signal.signal(sig, record) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
