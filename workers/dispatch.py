"""The outbox dispatcher: sends each outbox row to Dramatiq once its block is final.

At-least-once with a stable message id: the id is derived from the event's natural key,
a row is marked dispatched after the broker accepted it, and actors are idempotent, so a
crash between the two only re-sends the same message.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dramatiq
import psycopg
import structlog
from psycopg import sql

from common.db import libpq_url
from projections.schema import check_schema_name
from workers.broker import QUEUE, make_broker
from workers.config import WorkerConfig
from workers.loop import service_loop

if TYPE_CHECKING:
    from common.settings import Settings

log = structlog.get_logger(__name__)
_NAMESPACE = uuid.UUID("6d1f6a52-2c1e-4f0e-9b1e-6461746163f1")


def message_id(chain_id: int, block_hash: bytes, log_index: int, action: str) -> str:
    """Deterministic message id for one side effect of one log."""
    return str(uuid.uuid5(_NAMESPACE, f"{chain_id}:{block_hash.hex()}:{log_index}:{action}"))


@dataclass
class Dispatcher:
    """Moves final outbox rows into the broker."""

    database_url: str
    broker: dramatiq.Broker
    schema: str = "readmodels"
    batch_size: int = 500

    @classmethod
    def from_settings(cls, settings: Settings) -> Dispatcher:
        """The dispatcher of `datacoin project` and `datacoin up`: it must send into the
        broker namespace the workers consume (``DATACOIN_BROKER_NAMESPACE``)."""
        namespace = WorkerConfig.from_settings(settings).broker_namespace
        return cls(
            settings.database_url, make_broker(settings.redis_url, namespace), settings.read_schema
        )

    def dispatch_once(self) -> int:
        """Send every final, undispatched outbox row; returns how many were sent."""
        schema = check_schema_name(self.schema)
        query = sql.SQL(
            "SELECT o.chain_id, o.block_hash, o.log_index, o.action, o.payload"
            " FROM {outbox} o JOIN cursors c ON c.chain_id = o.chain_id"
            " WHERE o.block_number <= c.finalized_number AND NOT EXISTS ("
            "  SELECT 1 FROM outbox_dispatch d WHERE d.chain_id = o.chain_id"
            "  AND d.block_hash = o.block_hash AND d.log_index = o.log_index)"
            " ORDER BY o.chain_id, o.block_number, o.log_index LIMIT %s"
        ).format(outbox=sql.Identifier(schema, "outbox"))
        sent = 0
        with psycopg.connect(libpq_url(self.database_url)) as conn:
            rows: list[tuple[Any, ...]] = conn.execute(query, (self.batch_size,)).fetchall()
            for chain_id, block_hash, log_index, action, payload in rows:
                mid = message_id(chain_id, bytes(block_hash), log_index, action)
                message: dramatiq.Message[Any] = dramatiq.Message(
                    queue_name=QUEUE,
                    actor_name=action,
                    args=(),
                    kwargs=payload,
                    options={},
                    message_id=mid,
                )
                self.broker.enqueue(message)
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO outbox_dispatch (chain_id, block_hash, log_index, action,"
                        " message_id) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        (chain_id, block_hash, log_index, action, mid),
                    )
                log.info("outbox.dispatched", action=action, message_id=mid, chain_id=chain_id)
                sent += 1
        return sent

    def run_forever(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Dispatch until `stop` is set, polling every `interval` seconds when idle."""
        service_loop("outbox", self.dispatch_once, stop, interval)
