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
from concurrent.futures import Future, ThreadPoolExecutor
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
class WritePlan:
    """Rows to write for one batch: (projection, inserts, upserts, deletes) per table."""

    tables: list[tuple[Projection, list[Row], list[Row], list[Key]]]
    position: int


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
        max_cached_rows: int = 1_000_000,
    ) -> None:
        self.database_url = database_url
        self.store = store
        self.schema = schema
        self.batch_size = batch_size
        self.projections = projections or all_projections()
        self.on_progress = on_progress
        self._conn: psycopg.Connection[Any] | None = None  # reads (autocommit)
        self._wconn: psycopg.Connection[Any] | None = None  # the writer's transactions
        # Write-through cache of rows, per projection. While a projection is "complete"
        # (its table was empty when we started and nothing was evicted), a cache miss
        # means "no row": a replay never reads its own tables back.
        self._cache: dict[str, dict[Key, Row]] = {}
        self._complete: set[str] = set()
        self.max_cached_rows = max_cached_rows
        self.positions: dict[str, int] = {}
        self._store_lock = threading.Lock()
        self._by_event: dict[str, list[Projection]] = {}
        for p in self.projections:
            for name in p.events:
                self._by_event.setdefault(name, []).append(p)

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
        self._complete = {p.name for p in self.projections if self.positions.get(p.name, 0) == 0}
        self._cache = {p.name: {} for p in self.projections}

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(libpq_url(self.database_url), autocommit=True)
        return self._conn

    @property
    def position(self) -> int:
        """The lowest position every projection has applied."""
        return min((self.positions.get(p.name, 0) for p in self.projections), default=0)

    def close(self) -> None:
        """Close the database connection."""
        for conn in (self._conn, self._wconn):
            if conn is not None:
                conn.close()

    # -- folding ----------------------------------------------------------------------
    def _row(
        self, cur: psycopg.Cursor[Any], state: BatchState, p: Projection, key: Key
    ) -> Row | None:
        rows = state.rows.setdefault(p.name, {})
        found = rows.get(key, _MISSING)
        if found is _MISSING:
            found = self._cache[p.name].get(key)
            if found is None and p.name not in self._complete:
                found = load_row(cur, self.schema, p.table, key)
            rows[key] = found
        return found if isinstance(found, dict) else None

    def _fold(self, cur: psycopg.Cursor[Any], state: BatchState, entry: StoredEvent) -> None:
        for p in self._by_event.get(entry.event.event_name, ()):
            if entry.position <= self.positions.get(p.name, 0):
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
        with self._store_lock:
            live = self.store.find_live(spec.chain_id, spec.names, spec.args, retraction.position)
        for entry in live:
            if key in p.keys(entry):
                row = p.apply(key, row, entry)
        return row

    def _plan(self, state: BatchState, position: int) -> WritePlan:
        """What to write for a folded batch (decided against the cache before it moves)."""
        tables = []
        for p in self.projections:
            rows = state.rows.get(p.name, {})
            if p.name in self._complete:
                # The cache mirrors the table: new keys are plain inserts (COPY), and
                # only keys that exist need an upsert or a delete.
                existing = self._cache[p.name]
                inserts = [r for k, r in rows.items() if r is not None and k not in existing]
                upserts = [r for k, r in rows.items() if r is not None and k in existing]
                deletes = [k for k, r in rows.items() if r is None and k in existing]
            else:
                inserts = []
                upserts = [r for r in rows.values() if r is not None]
                deletes = [k for k, r in rows.items() if r is None]
            tables.append((p, inserts, upserts, deletes))
        return WritePlan(tables, position)

    def _write(self, plan: WritePlan) -> int:
        """Commit one batch's rows and every projection's position in one transaction."""
        if self._wconn is None or self._wconn.closed:
            self._wconn = psycopg.connect(libpq_url(self.database_url))
        with self._wconn.transaction(), self._wconn.cursor() as cur:
            for p, inserts, upserts, deletes in plan.tables:
                write_rows(cur, self.schema, p.table, upserts, deletes, inserts)
            cur.execute(
                sql.SQL(
                    "UPDATE {} SET position = %s WHERE name = ANY(%s) AND position < %s"
                ).format(sql.Identifier(self.schema, "projection_tracking")),
                (plan.position, [p.name for p in self.projections], plan.position),
            )
        return plan.position

    def _remember(self, state: BatchState) -> None:
        """Keep committed rows in the cache (bounded: past the limit, start over)."""
        cached = 0
        for name, rows in state.rows.items():
            cache = self._cache[name]
            for key, row in rows.items():
                if row is None:
                    cache.pop(key, None)
                else:
                    cache[key] = row
            cached += len(cache)
        if cached > self.max_cached_rows:
            self._cache = {p.name: {} for p in self.projections}
            self._complete.clear()

    def _read(self, after: int, until: int | None) -> list[StoredEvent]:
        limit = self.batch_size if until is None else min(self.batch_size, until - after)
        if limit <= 0:
            return []
        with self._store_lock:  # the reader thread and refolds share the store's connection
            return self.store.read_after(after, limit)

    def run_once(self, until: int | None = None) -> int:
        """Apply every entry available now (up to position `until`); returns how many.

        Three stages overlap: a reader thread fetches batch N+1 while batch N is folded,
        and while every projection's cache mirrors its table (replay, catch-up on a fresh
        schema) a writer thread commits batch N-1. PostgreSQL's work runs in parallel with
        Python's. Each batch still commits its rows and positions in one transaction, in
        order.
        """
        if not self.positions:
            self.prepare()
        total = 0
        read_upto = self.position
        pending: Future[int] | None = None
        with ThreadPoolExecutor(1, "projection-reader") as reader, \
                ThreadPoolExecutor(1, "projection-writer") as writer:  # fmt: skip
            try:
                next_batch = reader.submit(self._read, read_upto, until)
                while entries := next_batch.result():
                    read_upto = entries[-1].position
                    next_batch = reader.submit(self._read, read_upto, until)
                    if pending is not None and len(self._complete) < len(self.projections):
                        self._finish(pending.result())  # loads must see the last batch
                        pending = None
                    state = BatchState()
                    with self._connection().cursor() as cur:
                        for entry in entries:
                            self._fold(cur, state, entry)
                    plan = self._plan(state, read_upto)
                    self._remember(state)
                    if pending is not None:
                        self._finish(pending.result())
                    pending = writer.submit(self._write, plan)
                    total += len(entries)
                if pending is not None:
                    self._finish(pending.result())
            except BaseException:
                # The cache may hold rows that never committed: forget it; positions are
                # reloaded from the database on the next run.
                self._cache, self._complete, self.positions = {}, set(), {}
                raise
        return total

    def _finish(self, position: int) -> None:
        """A batch is durable: move the in-memory positions and report progress."""
        for p in self.projections:
            self.positions[p.name] = max(self.positions.get(p.name, 0), position)
        if self.on_progress:
            self.on_progress(position, 0)

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
