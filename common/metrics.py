"""Prometheus plumbing shared by the long-running services: the metrics HTTP server on
``metrics_host:metrics_port``, and collectors that read a gauge from PostgreSQL when
Prometheus scrapes (a backlog counted by a query is right even while the loop that should
drain it is stuck: exactly when an alert must fire)."""

from __future__ import annotations

import abc
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

import psycopg
import psycopg.errors
import structlog
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.registry import Collector

from common.db import libpq_url

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from common.settings import Settings

log = structlog.get_logger(__name__)
#: A scrape must not hang on a database that does not answer (Prometheus times out at 10 s).
CONNECT_TIMEOUT_S = 3


@dataclass
class MetricsServer:
    """A running metrics endpoint (``GET /metrics`` on `host`:`port`)."""

    host: str
    port: int
    server: WSGIServer
    thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(
    settings: Settings, registry: CollectorRegistry, *, port_offset: int = 0
) -> MetricsServer | None:
    """Serve `registry` on ``metrics_host:metrics_port + port_offset`` when a port is set
    (None otherwise); `port_offset` tells apart the processes of one pool."""
    if settings.metrics_port is None:
        return None
    port = settings.metrics_port + port_offset
    server, thread = start_http_server(port, addr=settings.metrics_host, registry=registry)
    log.info("metrics.serving", host=settings.metrics_host, port=port)
    return MetricsServer(settings.metrics_host, port, server, thread)


class DatabaseCollector(Collector, abc.ABC):
    """Gauges read from PostgreSQL at each scrape. A database that cannot be read gives no
    samples (and a warning): the series go absent, which the alerts watch for too."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    @abc.abstractmethod
    def read(self, conn: psycopg.Connection[Any]) -> Iterator[Metric]:
        """The metric families, read through `conn` (autocommit)."""

    def collect(self) -> Iterable[Metric]:
        try:
            with psycopg.connect(
                libpq_url(self.database_url), autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            ) as conn:
                return list(self.read(conn))
        except psycopg.errors.UndefinedTable:
            return []  # the projector has not created its schema yet: nothing to count
        except psycopg.Error as exc:
            log.warning(
                "metrics.collect_failed", collector=type(self).__name__, error=str(exc)[:200]
            )
            return []
