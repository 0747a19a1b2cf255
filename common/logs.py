"""structlog setup: JSON lines in production, pretty console output on a terminal."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog


def configure_logging(
    fmt: Literal["auto", "json", "console"] = "auto", level: str = "INFO"
) -> None:
    """Configure structlog (and stdlib logging) once, from an entry point.

    Events are dotted names with fields, e.g. ``log.info("indexer.reorg", depth=3)``.
    """
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    numeric_level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    tail: list[structlog.types.Processor] = (
        [renderer] if use_console else [structlog.processors.format_exc_info, renderer]
    )
    structlog.configure(
        processors=[*shared, *tail],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Third-party libraries (alembic, httpx, web3) log through stdlib: warnings only.
    logging.basicConfig(
        level=max(numeric_level, logging.WARNING), stream=sys.stderr, format="%(name)s %(message)s"
    )
