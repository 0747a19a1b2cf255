"""The outbox dispatcher: sends each outbox row to its chain's queue once its block is
final. It runs inside ``datacoin project`` (and ``datacoin up``), beside the projector.

At-least-once with a stable message id: the id is derived from the event's natural key,
a row is marked dispatched after the broker accepted it, and actors are idempotent, so a
crash between the two only re-sends the same message.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dramatiq
import psycopg
import structlog
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from psycopg import sql
from psycopg.rows import class_row

from common.db import libpq_url
from common.metrics import DatabaseCollector
from projections.schema import check_schema_name
from workers.broker import chain_queue, settings_broker
from workers.loop import service_loop

if TYPE_CHECKING:
    from common.settings import Settings

log = structlog.get_logger(__name__)
_NAMESPACE = uuid.UUID("6d1f6a52-2c1e-4f0e-9b1e-6461746163f1")


def message_id(*, chain_id: int, block_hash: bytes, log_index: int, action: str) -> str:
    """Deterministic message id for one side effect of one log."""
    return str(uuid.uuid5(_NAMESPACE, f"{chain_id}:{block_hash.hex()}:{log_index}:{action}"))


@dataclass(frozen=True)
class PendingRow:
    """A final outbox row not dispatched yet (see :class:`projections.outbox.OutboxRow`)."""

    chain_id: int
    block_hash: bytes
    log_index: int
    action: str
    payload: dict[str, Any]

    @property
    def message_id(self) -> str:
        """The stable id of this row's message."""
        return message_id(
            chain_id=self.chain_id,
            block_hash=bytes(self.block_hash),
            log_index=self.log_index,
            action=self.action,
        )

    def message(self, namespace: str) -> dramatiq.Message[Any]:
        """The Dramatiq message for this row: actor `action`, on its chain's queue."""
        return dramatiq.Message(
            queue_name=chain_queue(namespace, self.chain_id),
            actor_name=self.action,
            args=(),
            kwargs=self.payload,
            options={},
            message_id=self.message_id,
        )


_PENDING = (
    "SELECT o.chain_id, o.block_hash, o.log_index, o.action, o.payload"
    " FROM {outbox} o JOIN cursors c ON c.chain_id = o.chain_id"
    " WHERE o.block_number <= c.finalized_number AND NOT EXISTS ("
    "  SELECT 1 FROM outbox_dispatch d WHERE d.chain_id = o.chain_id"
    "  AND d.block_hash = o.block_hash AND d.log_index = o.log_index)"
    " ORDER BY o.chain_id, o.block_number, o.log_index LIMIT %s"
)


class OutboxMetrics:
    """Messages the dispatcher handed to the broker (own registry unless given)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.dispatched = Counter(
            "datacoin_outbox_dispatched",
            "Outbox rows sent to the broker",
            ["action"],
            registry=self.registry,
        )


#: Final outbox rows not dispatched yet, per chain, with the block time of the oldest.
_BACKLOG = (
    "SELECT o.chain_id, count(*), min((SELECT e.block_timestamp FROM events e"
    "  WHERE e.chain_id = o.chain_id AND e.block_number = o.block_number"
    "  AND e.block_hash = o.block_hash LIMIT 1))"
    " FROM {outbox} o JOIN cursors c ON c.chain_id = o.chain_id"
    " WHERE o.block_number <= c.finalized_number AND NOT EXISTS ("
    "  SELECT 1 FROM outbox_dispatch d WHERE d.chain_id = o.chain_id"
    "  AND d.block_hash = o.block_hash AND d.log_index = o.log_index)"
    " GROUP BY o.chain_id"
)


class OutboxBacklog(DatabaseCollector):
    """``datacoin_outbox_backlog`` (final rows the dispatcher has not sent) and
    ``datacoin_outbox_oldest_age_seconds`` (now minus the block time of the oldest of
    them: it includes the wait for finality), per chain; read at each scrape."""

    def __init__(self, database_url: str, schema: str) -> None:
        super().__init__(database_url)
        self.schema = check_schema_name(schema)

    def read(self, conn: psycopg.Connection[Any]) -> Iterator[Metric]:
        query = sql.SQL(_BACKLOG).format(outbox=sql.Identifier(self.schema, "outbox"))
        rows = conn.execute(query).fetchall()
        backlog = GaugeMetricFamily(
            "datacoin_outbox_backlog",
            "Final outbox rows not yet sent to the broker",
            labels=["chain_id"],
        )
        age = GaugeMetricFamily(
            "datacoin_outbox_oldest_age_seconds",
            "Seconds since the block of the oldest final outbox row not yet sent",
            labels=["chain_id"],
        )
        now = time.time()
        for chain_id, count, oldest in rows:
            backlog.add_metric([str(chain_id)], count)
            # A dev chain's clock may run ahead (time travel in tests): never negative.
            age.add_metric([str(chain_id)], max(0.0, now - oldest) if oldest else 0.0)
        yield backlog
        yield age


@dataclass(kw_only=True)
class Dispatcher:
    """Moves final outbox rows into the broker."""

    database_url: str
    broker: dramatiq.Broker
    #: The broker namespace the workers consume (see :func:`workers.broker.chain_queue`).
    namespace: str = "datacoin"
    schema: str = "readmodels"
    batch_size: int = 500
    metrics: OutboxMetrics = field(default_factory=OutboxMetrics)

    @classmethod
    def from_settings(cls, settings: Settings, metrics: OutboxMetrics | None = None) -> Dispatcher:
        """The dispatcher of `datacoin project` and `datacoin up`: it sends into the broker
        the workers consume (``DATACOIN_BROKER_URL``, ``DATACOIN_BROKER_NAMESPACE``)."""
        return cls(
            database_url=settings.database_url,
            broker=settings_broker(settings),
            namespace=settings.broker_namespace,
            schema=settings.read_schema,
            metrics=metrics or OutboxMetrics(),
        )

    def dispatch_once(self) -> int:
        """Send every final, undispatched outbox row; returns how many were sent."""
        query = sql.SQL(_PENDING).format(
            outbox=sql.Identifier(check_schema_name(self.schema), "outbox")
        )
        with psycopg.connect(libpq_url(self.database_url)) as conn:
            with conn.cursor(row_factory=class_row(PendingRow)) as cur:
                rows = cur.execute(query, (self.batch_size,)).fetchall()
            for row in rows:
                self._send(conn, row)
        return len(rows)

    def _send(self, conn: psycopg.Connection[Any], row: PendingRow) -> None:
        message = self.broker.enqueue(row.message(self.namespace))
        with conn.transaction():
            conn.execute(
                "INSERT INTO outbox_dispatch (chain_id, block_hash, log_index, action,"
                " message_id) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (row.chain_id, row.block_hash, row.log_index, row.action, row.message_id),
            )
        self.metrics.dispatched.labels(row.action).inc()
        log.info(
            "outbox.dispatched",
            action=row.action,
            message_id=row.message_id,
            chain_id=row.chain_id,
            queue=message.queue_name,
        )

    def run_forever(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Dispatch until `stop` is set, polling every `interval` seconds when idle."""
        service_loop("outbox", self.dispatch_once, stop=stop, interval=interval)
