"""The projection runner: folds event-store entries into read models, exactly once.

Each commit: read the entries after the lowest tracking position that these projections
consume, fold them in memory (loading only the rows they touch), then write the changed
rows and every projection's new position in ONE transaction. A crash anywhere loses the
uncommitted work as a whole and a restart resumes from the committed positions:
exactly-once effect. When behind, several read batches are folded into one commit (up to
``commit_rows`` changed rows or ``commit_seconds``), so a row touched by many events is
written once; when live, every batch commits at once.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
import structlog
from psycopg import sql

from common.db import libpq_url, make_engine
from indexer.events import KIND_RETRACT, Fact
from indexer.store import EventStore
from indexer.store_pg import NOTIFY_CHANNEL
from projections.base import Key, Projection, Row
from projections.outage import Outage
from projections.registry import all_projections
from projections.schema import ensure_schema
from projections.writer import load_rows, prepare_connection, write_rows

if TYPE_CHECKING:  # pydantic-settings is ~85 ms of a replay worker's cold start
    from common.settings import Settings

log = structlog.get_logger(__name__)
_MISSING = object()
FIRST_READ = 2_000  # entries in a run's first read (later reads take `batch_size`)
_gc_lock = threading.Lock()
_gc_pauses = 0


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while folding (re-entrant, thread-safe).

    A replay allocates millions of small acyclic objects (entries, rows, keys) while it
    holds a large live heap (the row cache), so generational collections keep rescanning
    it for nothing: ~20% of a replay's CPU (0.7 of 3.6 s per 100k events). Refcounting
    still frees all of it; cycles wait until the fold ends.
    """
    global _gc_pauses  # noqa: PLW0603 - process-wide, like the collector itself
    with _gc_lock:
        _gc_pauses += 1
        gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0:
                gc.enable()


@dataclass
class WritePlan:
    """Rows to write for one batch: (projection, inserts, upserts, deletes) per table."""

    tables: list[tuple[Projection, list[Row], list[Row], list[Key]]]
    position: int


@dataclass(frozen=True)
class ReadBatch:
    """Entries read for these projections, and the position they bring them to (past
    entries no projection here consumes)."""

    entries: list[Fact]
    end: int
    full: bool = False  # as many entries as asked for: more are waiting (we are behind)


@dataclass
class BatchState:
    """Rows touched by the batch being folded, per projection."""

    rows: dict[str, dict[Key, Row | None]] = field(default_factory=dict)
    #: Keys of write-once projections retracted in this window (deleted before inserts:
    #: a reorg back to an earlier fork appends the same keys again).
    retracted: dict[str, set[Key]] = field(default_factory=dict)


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
        commit_rows: int = 500_000,
        commit_seconds: float = 5.0,
        schema_ready: Callable[[], None] | None = None,
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
        self.commit_rows = commit_rows
        self.commit_seconds = commit_seconds
        self.positions: dict[str, int] = {}
        #: A replay's runner: `schema` is being created elsewhere meanwhile (fresh, every
        #: position 0); this blocks until it exists (raising if its creation failed), and
        #: is called before the first write. Folding starts without waiting for the DDL.
        self._schema_ready = schema_ready
        self._until: float = float("inf")  # the bound of the current run_once
        self._store_lock = threading.Lock()
        self._by_event: dict[str, list[Projection]] = {}
        for p in self.projections:
            for name in p.events:
                self._by_event.setdefault(name, []).append(p)
        #: Only these entries are read: the rest (token transfers, role grants...) move the
        #: positions without being fetched.
        self._names = frozenset(self._by_event)
        self._write_once = {p.name for p in self.projections if p.write_once}
        #: Projections whose rows a fold may read back from the database.
        self._loading = {p.name for p in self.projections if not p.write_once}

    @classmethod
    def from_settings(cls, settings: Settings, store: EventStore) -> ProjectionRunner:
        """The live projector configured by `settings` (schema, batch and commit sizes)."""
        return cls(
            settings.database_url,
            store,
            settings.read_schema,
            settings.projection_batch_size,
            commit_rows=settings.projection_commit_rows,
            commit_seconds=settings.projection_commit_seconds,
        )

    # -- setup ------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create (or rebuild) the schema and load tracking positions."""
        if self._schema_ready is not None:  # a new schema, created by the caller
            self.positions = {p.name: 0 for p in self.projections}
            self._complete = {p.name for p in self.projections}
            self._cache = {p.name: {} for p in self.projections}
            return
        engine = make_engine(self.database_url)
        try:
            with engine.begin() as conn:
                if ensure_schema(conn, self.schema):
                    log.info("projections.schema.created", schema=self.schema)
        finally:
            engine.dispose()
        with self._connection().cursor() as cur:
            cur.execute(
                sql.SQL("SELECT name, position FROM {}").format(
                    sql.Identifier(self.schema, "projection_tracking")
                )
            )
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
    def _fold(self, cur: psycopg.Cursor[Any], state: BatchState, entries: list[Fact]) -> None:
        """Fold `entries` into `state`. The hot loop of a replay: per event name, the
        projections' bound handlers, their uncommitted rows, committed positions and row
        caches are looked up once per batch.

        A retraction marks the rows it touches stale rather than refolding each at once:
        a reorg retracts a run of events, many of them folded into the same aggregates.
        Stale rows are refolded together (one store read per projection) before an event
        folds into one of them, and at the end of the batch. An ``invertible``
        projection's row subtracts the retracted event at once instead; its block is
        settled at the same points.
        """
        self._load_missing(cur, state, entries)
        routes = {
            name: [
                (
                    p,
                    p.keys,
                    p.apply,
                    state.rows.setdefault(p.name, {}),
                    self.positions.get(p.name, 0),
                    self._cache[p.name],
                    state.retracted.setdefault(p.name, set()) if p.write_once else None,
                )
                for p in projections
            ]
            for name, projections in self._by_event.items()
        }
        #: Per projection: stale keys -> the latest retraction of an event folded into them;
        #: `settle`: the same for rows that subtracted their retracted events.
        stale: dict[Projection, dict[Key, Fact]] = {}
        settle: dict[Projection, dict[Key, Fact]] = {}
        missing = _MISSING
        for entry in entries:
            route = routes.get(entry.event_name)
            if route is None:
                continue
            position, retract = entry.position, entry.kind == KIND_RETRACT
            for p, keys, apply, rows, applied, cache, retracted in route:
                if position <= applied:
                    continue  # this projection committed it before (it was behind the rest)
                for key in keys(entry):
                    if retract:
                        self._retract(p, key, entry, rows, cache, retracted, stale, settle)
                        continue
                    if retracted is not None:  # write-once: there is no current row
                        rows[key] = apply(key, None, entry)
                        continue
                    if (stale or settle) and (key in stale.get(p, ()) or key in settle.get(p, ())):
                        self._resolve(p, stale.pop(p, {}), settle.pop(p, {}), rows)
                    current = rows.get(key, missing)
                    if current is missing:  # untouched since the last commit: committed
                        current = cache.get(key)  # (loaded above unless complete) or none
                    rows[key] = apply(key, current, entry)  # type: ignore[arg-type]
        for p in {*stale, *settle}:
            self._resolve(p, stale.get(p, {}), settle.get(p, {}), state.rows[p.name])

    @staticmethod
    def _retract(
        p: Projection,
        key: Key,
        retraction: Fact,
        rows: dict[Key, Row | None],
        cache: dict[Key, Row],
        retracted: set[Key] | None,
        stale: dict[Projection, dict[Key, Fact]],
        settle: dict[Projection, dict[Key, Fact]],
    ) -> None:
        """Take `retraction`'s event out of `p`'s row at `key` (see ``_fold``)."""
        if retracted is not None:  # write-once: that event was its only one
            rows[key] = None
            retracted.add(key)
            return
        current = rows[key] if key in rows else cache.get(key)  # (loaded unless complete)
        if p.invertible and current is not None and key not in stale.get(p, ()):
            rows[key] = p.unapply(key, current, retraction)
            settle.setdefault(p, {})[key] = retraction
        else:
            stale.setdefault(p, {})[key] = retraction

    def _resolve(
        self,
        p: Projection,
        stale: dict[Key, Fact],
        settle: dict[Key, Fact],
        rows: dict[Key, Row | None],
    ) -> None:
        """Refold `p`'s `stale` rows; give each row of `settle` (which subtracted its
        retracted events) the block of the newest live event its refold would read, or
        drop it if none is left: what a refold would give."""
        if stale:
            self._refold(p, stale, rows)
        for key, retraction in settle.items():
            if key in stale:
                continue  # refolded
            spec = p.refold(key, retraction)
            with self._store_lock:
                last = self.store.last_live(
                    spec.chain_id, spec.names, [spec.args], retraction.position
                )
            row = rows[key]
            rows[key] = (
                None if last is None or row is None else {**row, "block_number": last.block_number}
            )

    def _load_missing(
        self, cur: psycopg.Cursor[Any], state: BatchState, entries: list[Fact]
    ) -> None:
        """Into the cache: the committed rows `entries` will fold into that neither the
        uncommitted window nor the cache hold, for projections whose cache does not
        mirror their table (a live schema; a replay after its cache overflowed). One query
        per projection and batch; a key still missing afterwards has no row."""
        for p in self.projections:
            if p.write_once or p.name in self._complete:
                continue
            rows, cache = state.rows.get(p.name, {}), self._cache[p.name]
            applied = self.positions.get(p.name, 0)
            wanted: dict[Key, None] = {}
            for entry in entries:
                if entry.position <= applied or (entry.kind == KIND_RETRACT and not p.invertible):
                    continue  # a retraction refolds from the store; see _fold for the rest
                if entry.event_name in p.events:
                    for key in p.keys(entry):
                        if key not in rows and key not in cache:
                            wanted[key] = None
            cache.update(load_rows(cur, self.schema, p.table, list(wanted)))

    def _refold(self, p: Projection, stale: dict[Key, Fact], rows: dict[Key, Row | None]) -> None:
        """Rebuild the `stale` keys of `p` into `rows` from the events still live when
        their latest retraction was appended, in one store read per chain.

        One read position serves every key, the latest of those retractions: a key is
        refolded before any later event folds into it, so between its own latest
        retraction and that one, no live event of it was appended nor retracted."""
        specs = {key: p.refold(key, retraction) for key, retraction in stale.items()}
        before = max(retraction.position for retraction in stale.values())
        by_chain: dict[tuple[int, frozenset[str]], list[Key]] = {}
        for key, spec in specs.items():
            by_chain.setdefault((spec.chain_id, spec.names), []).append(key)
        for (chain_id, names), keys in by_chain.items():
            matching = list(
                {tuple(sorted(specs[k].args.items())): specs[k].args for k in keys}.values()
            )
            with self._store_lock:
                live = self.store.find_live(chain_id, names, matching, before)
            rebuilt: dict[Key, Row | None] = dict.fromkeys(keys)
            for entry in live:
                for key in p.keys(entry):
                    if key in rebuilt:
                        rebuilt[key] = p.apply(key, rebuilt[key], entry)
            rows.update(rebuilt)

    def _plan(self, state: BatchState, position: int) -> WritePlan:
        """What to write for a folded batch (decided against the cache before it moves)."""
        tables: list[tuple[Projection, list[Row], list[Row], list[Key]]] = []
        for p in self.projections:
            rows = state.rows.get(p.name, {})
            if p.write_once:
                # New keys only: inserted (COPY); retracted ones deleted first.
                retracted = list(state.retracted.get(p.name, ()))
                tables.append((p, [r for r in rows.values() if r is not None], [], retracted))
                continue
            if p.name in self._complete:
                # The cache mirrors the table: new keys are plain inserts (COPY), and
                # only keys that exist need an upsert or a delete.
                existing = self._cache[p.name]
                if not existing:  # the first commit of a replay: everything is new
                    tables.append((p, [r for r in rows.values() if r is not None], [], []))
                    continue
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
        if self._schema_ready is not None:
            self._schema_ready()
            self._schema_ready = None
        if self._wconn is None or self._wconn.closed:
            self._wconn = psycopg.connect(libpq_url(self.database_url))
            prepare_connection(self._wconn)
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
            if name in self._write_once:
                continue  # never read back: not cached
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

    def _read(self, after: int, until: int | None, limit: int) -> ReadBatch:
        with self._store_lock:  # the reader thread and refolds share the store's connection
            upto = until if until is not None else self.store.head().position
            if upto <= after:
                return ReadBatch([], after)
            entries = self.store.read_range(after, upto, limit, self._names)
        # A short batch read everything up to `upto`; a full one stops at its last entry.
        full = len(entries) == limit
        return ReadBatch(entries, entries[-1].position if full else upto, full)

    def run_once(self, until: int | None = None) -> int:
        """Apply every entry available now (up to position `until`); returns how many
        positions the projections moved.

        Three stages overlap: a reader thread fetches batch N+1 while batch N is folded,
        and while every projection's cache mirrors its table (replay, catch-up on a fresh
        schema) a writer thread commits the previous window. PostgreSQL's work runs in
        parallel with Python's. Each window still commits its rows and positions in one
        transaction, in order.
        """
        if not self.positions:
            self.prepare()
        self._until = until if until is not None else float("inf")
        start = read_upto = flushed = self.position
        pending: Future[int] | None = None
        state, opened = BatchState(), time.monotonic()
        with (
            gc_paused(),
            ThreadPoolExecutor(1, "projection-reader") as reader,
            ThreadPoolExecutor(1, "projection-writer") as writer,
        ):
            try:
                # A small first read: folding starts once it is in (a full batch of a
                # replay takes ~60 ms to arrive), and the reader then runs ahead.
                first = min(self.batch_size, FIRST_READ)
                next_batch = reader.submit(self._read, read_upto, until, first)
                while (batch := next_batch.result()).end > read_upto:
                    read_upto = batch.end
                    next_batch = reader.submit(self._read, read_upto, until, self.batch_size)
                    if pending is not None and not self._complete.issuperset(self._loading):
                        self._finish(pending.result())  # loads must see the last commit
                        pending = None
                    with self._connection().cursor() as cur:
                        self._fold(cur, state, batch.entries)
                    if self.on_progress:
                        self.on_progress(read_upto, len(batch.entries))
                    if batch.full and not self._window_full(state, opened):
                        continue  # keep folding: one commit for the whole window
                    pending = self._flush(writer, pending, state, read_upto)
                    state, opened, flushed = BatchState(), time.monotonic(), read_upto
                if read_upto > flushed:
                    pending = self._flush(writer, pending, state, read_upto)
                if pending is not None:
                    self._finish(pending.result())
                # Drop the last window's rows before the collector resumes: its first
                # pass scans every object allocated while paused and still alive.
                del state, batch
            except BaseException:
                # The cache may hold rows that never committed: forget it; positions are
                # reloaded from the database on the next run.
                self._cache, self._complete, self.positions = {}, set(), {}
                raise
        return read_upto - start

    def _window_full(self, state: BatchState, opened: float) -> bool:
        """Whether the uncommitted window should commit now (memory, or time since the
        last commit: bounds what a crash loses and how stale the read models get)."""
        rows = sum(len(r) for r in state.rows.values())
        return rows >= self.commit_rows or time.monotonic() - opened >= self.commit_seconds

    def _flush(
        self,
        writer: ThreadPoolExecutor,
        pending: Future[int] | None,
        state: BatchState,
        position: int,
    ) -> Future[int]:
        """Hand a folded window to the writer thread (after the previous one committed)."""
        plan = self._plan(state, position)
        if position >= self._until:
            # The last window of a bounded run (a replay): nothing will read the cache
            # again in this run, so drop it rather than fill it; a later run loads rows.
            self._cache = {p.name: {} for p in self.projections}
            self._complete.clear()
        else:
            self._remember(state)
        if pending is not None:
            self._finish(pending.result())
        return writer.submit(self._write, plan)

    def _finish(self, position: int) -> None:
        """A window is durable: move the in-memory positions."""
        for p in self.projections:
            self.positions[p.name] = max(self.positions.get(p.name, 0), position)

    def run_forever(self, stop: threading.Event, idle_timeout: float = 1.0) -> None:
        """Apply entries as they arrive: woken by the store's NOTIFY, polling as a fallback.

        Losing PostgreSQL (a restart, a terminated backend) is an outage, not an exit: it
        is logged once, every connection is reopened with capped, jittered backoff, and
        folding resumes from the committed positions (exactly once, as after a crash)."""
        outage = Outage("projections.db")
        while not stop.is_set():
            try:
                self._listen(stop, idle_timeout, outage)
            except psycopg.OperationalError as exc:
                self.close()  # each reopens on next use
                stop.wait(outage.failed(exc))

    def _listen(self, stop: threading.Event, idle_timeout: float, outage: Outage) -> None:
        """Apply, then wait for the store's NOTIFY (or `idle_timeout`), until `stop`."""
        with psycopg.connect(libpq_url(self.database_url), autocommit=True) as listener:
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
            while not stop.is_set():
                applied = self.run_once()
                outage.succeeded()
                if applied:
                    log.debug("projections.applied", entries=applied)
                for _ in listener.notifies(timeout=idle_timeout, stop_after=1):
                    pass
