"""The projection runner: folds event-store entries into read models, exactly once.

Each batch: read entries after the lowest tracking position, fold them in memory (loading
only the rows they touch), then write the changed rows and every projection's new
position in ONE transaction. A crash anywhere loses the batch as a whole and a restart
resumes from the committed positions: exactly-once effect.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog
from psycopg import sql

from common.db import libpq_url, make_engine
from indexer.events import KIND_RETRACT, StoredEvent
from indexer.store import EventStore
from indexer.store_pg import NOTIFY_CHANNEL
from projections.base import Key, Projection, Row
from projections.registry import all_projections
from projections.schema import ensure_schema
from projections.writer import load_row, write_rows

log = structlog.get_logger(__name__)
_MISSING = object()


@dataclass
class BatchState:
    """Rows touched by the batch being folded, per projection."""

    rows: dict[str, dict[Key, Row | None]] = field(default_factory=dict)


class ProjectionRunner:
    """Keeps the read models of one schema up to date with the event store."""

    def __init__(
        self,
        database_url: str,
        store: EventStore,
        schema: str = "readmodels",
        batch_size: int = 5_000,
        projections: list[Projection] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.database_url = database_url
        self.store = store
        self.schema = schema
        self.batch_size = batch_size
        self.projections = projections or all_projections()
        self.on_progress = on_progress
        self._conn: psycopg.Connection[Any] | None = None
        self._fresh: set[str] = set()  # tables known empty at start (replay: skip loads)
        self.positions: dict[str, int] = {}

    # -- setup ------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create (or rebuild) the schema and load tracking positions."""
        engine = make_engine(self.database_url)
        try:
            with engine.begin() as conn:
                if ensure_schema(conn, self.schema):
                    log.info("projections.schema.created", schema=self.schema)
        finally:
            engine.dispose()
        with self._connection().cursor() as cur:
            cur.execute(sql.SQL("SELECT name, position FROM {}").format(
                sql.Identifier(self.schema, "projection_tracking")))  # fmt: skip
            self.positions = {n: p for n, p in cur.fetchall()}
        self._conn_commit()
        self._fresh = {p.name for p in self.projections if self.positions.get(p.name, 0) == 0}

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(libpq_url(self.database_url))
        return self._conn

    def _conn_commit(self) -> None:
        self._connection().commit()

    @property
    def position(self) -> int:
        """The lowest position every projection has applied."""
        return min((self.positions.get(p.name, 0) for p in self.projections), default=0)

    def close(self) -> None:
        """Close the database connection."""
        if self._conn is not None:
            self._conn.close()

    # -- folding ----------------------------------------------------------------------
    def _row(
        self, cur: psycopg.Cursor[Any], state: BatchState, p: Projection, key: Key
    ) -> Row | None:
        rows = state.rows.setdefault(p.name, {})
        found = rows.get(key, _MISSING)
        if found is _MISSING:
            found = None if p.name in self._fresh else load_row(cur, self.schema, p.table, key)
            rows[key] = found
        return found if isinstance(found, dict) else None

    def _fold(self, cur: psycopg.Cursor[Any], state: BatchState, entry: StoredEvent) -> None:
        name = entry.event.event_name
        for p in self.projections:
            if entry.position <= self.positions.get(p.name, 0) or name not in p.events:
                continue
            for key in p.keys(entry):
                if entry.kind == KIND_RETRACT:
                    state.rows.setdefault(p.name, {})[key] = self._refold(p, key, entry)
                else:
                    current = self._row(cur, state, p, key)
                    state.rows[p.name][key] = p.apply(key, current, entry)

    def _refold(self, p: Projection, key: Key, retraction: StoredEvent) -> Row | None:
        """Rebuild `key` from the events still live when `retraction` was appended."""
        spec = p.refold(key, retraction)
        row: Row | None = None
        for entry in self.store.find_live(
            spec.chain_id, spec.names, spec.args, retraction.position
        ):
            if key in p.keys(entry):
                row = p.apply(key, row, entry)
        return row

    def _commit(self, cur: psycopg.Cursor[Any], state: BatchState, position: int) -> None:
        for p in self.projections:
            rows = state.rows.get(p.name, {})
            upserts = [r for r in rows.values() if r is not None]
            deletes = [k for k, r in rows.items() if r is None]
            write_rows(cur, self.schema, p.table, upserts, deletes)
        tracking = sql.Identifier(self.schema, "projection_tracking")
        cur.execute(
            sql.SQL("UPDATE {} SET position = %s WHERE name = ANY(%s) AND position < %s").format(
                tracking
            ),
            (position, [p.name for p in self.projections], position),
        )

    def run_once(self, until: int | None = None) -> int:
        """Apply every entry available now (up to position `until`), batch by batch;
        returns how many were read."""
        if not self.positions:
            self.prepare()
        total = 0
        while True:
            start = min(self.positions.get(p.name, 0) for p in self.projections)
            limit = self.batch_size if until is None else min(self.batch_size, until - start)
            entries = self.store.read_after(start, limit) if limit > 0 else []
            if not entries:
                return total
            conn = self._connection()
            state = BatchState()
            with conn.transaction(), conn.cursor() as cur:
                for entry in entries:
                    self._fold(cur, state, entry)
                self._commit(cur, state, entries[-1].position)
            # Only after the commit: the in-memory positions follow what is durable.
            for p in self.projections:
                self.positions[p.name] = max(self.positions.get(p.name, 0), entries[-1].position)
            self._fresh.clear()  # rows written: later batches must load them
            total += len(entries)
            if self.on_progress:
                self.on_progress(entries[-1].position, len(entries))

    def run_forever(self, stop: threading.Event, idle_timeout: float = 1.0) -> None:
        """Apply entries as they arrive: woken by the store's NOTIFY, polling as a fallback."""
        with psycopg.connect(libpq_url(self.database_url), autocommit=True) as listener:
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
            while not stop.is_set():
                try:
                    applied = self.run_once()
                except psycopg.OperationalError as exc:
                    log.warning("projections.db_error", error=str(exc)[:200])
                    self.close()
                    time.sleep(1.0)
                    continue
                if applied:
                    log.debug("projections.applied", entries=applied)
                for _ in listener.notifies(timeout=idle_timeout, stop_after=1):
                    pass
