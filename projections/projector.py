"""The projector: folds event-store entries into read models, exactly once.

Each commit: read the entries after the lowest tracking position that these projections
consume (``reading``), fold them in memory (``folding``; loading only the rows they touch,
through the row cache: ``cache``), decide what to write (``planning``), then write the
changed rows and every projection's new position in ONE transaction (``writer``). A crash
anywhere loses the uncommitted work as a whole and a restart resumes from the committed
positions: exactly-once effect. When behind, several read batches are folded into one
commit (up to ``commit_rows`` changed rows or ``commit_seconds``), so a row touched by many
events is written once; when live, every batch commits at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import psycopg
import structlog
from psycopg import sql

from common.db import libpq_url, make_engine
from indexer.store import EventStore
from indexer.store_pg import NOTIFY_CHANNEL
from projections.base import Projection
from projections.cache import MAX_ROWS, RowCache
from projections.folding import Folder, Window, gc_paused
from projections.outage import Outage
from projections.planning import WritePlan, plan_writes
from projections.reading import FIRST_READ, Reader
from projections.registry import all_projections
from projections.schema import check_schema_name, ensure_schema, swap_schema
from projections.statistics import refresh_statistics
from projections.tracking import load_positions
from projections.writer import commit_plan, prepare_connection

if TYPE_CHECKING:  # pydantic-settings is ~85 ms of a replay worker's cold start
    from common.settings import Settings

log = structlog.get_logger(__name__)
#: How often the live projector checks whether a read model needs ANALYZE (a cheap query
#: over pg_stat_user_tables; ANALYZE itself runs only where rows changed enough).
STATISTICS_EVERY_S = 2.0
#: A projector whose schema is empty (every position 0) with at least this many entries
#: to fold rebuilds it by replay instead: parallel groups writing unlogged tables without
#: secondary indexes, swapped in once complete (~2-3x the live fold's rate from empty).
REBUILD_FROM = 200_000


class Projector:
    """Keeps the read models of one schema up to date with the event store.

    `schema_ready`: for a replay's projector, whose `schema` is being created elsewhere
    meanwhile (fresh, every position 0): blocks until it exists (raising if its creation
    failed), and is called before the first write, so folding starts without waiting for
    the DDL. `max_cached_rows` bounds the row cache (``RowCache``). From an empty schema
    with `rebuild_from` entries or more to fold (None: never), a live run rebuilds the
    schema by replay (``_rebuild``).
    """

    def __init__(
        self,
        database_url: str,
        store: EventStore,
        *,
        schema: str = "readmodels",
        batch_size: int = 5_000,
        projections: list[Projection] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        max_cached_rows: int = MAX_ROWS,
        commit_rows: int = 500_000,
        commit_seconds: float = 5.0,
        schema_ready: Callable[[], None] | None = None,
        rebuild_from: int | None = REBUILD_FROM,
    ) -> None:
        self.database_url = database_url
        self.store = store
        self.schema = schema
        self.batch_size = batch_size
        self.projections = projections or all_projections()
        self.on_progress = on_progress
        self.commit_rows = commit_rows
        self.commit_seconds = commit_seconds
        self.positions: dict[str, int] = {}
        self._schema_ready = schema_ready
        self.rebuild_from = rebuild_from if schema_ready is None else None
        self._until: float = float("inf")  # the bound of the current run_once
        self._conn: psycopg.Connection[Any] | None = None  # reads (autocommit)
        self._wconn: psycopg.Connection[Any] | None = None  # the writer's transactions
        store_lock = threading.Lock()  # the reader thread and refolds share the store
        self._cache = RowCache(self.projections, schema=schema, max_rows=max_cached_rows)
        self._folder = Folder(
            self.projections, store=store, store_lock=store_lock, cache=self._cache
        )
        self._reader = Reader(store, names=self._folder.event_names, store_lock=store_lock)
        #: Projections whose rows a fold may read back from the database.
        self._loading = {p.name for p in self.projections if not p.write_once}

    @classmethod
    def from_settings(cls, settings: Settings, store: EventStore) -> Projector:
        """The live projector configured by `settings` (schema, batch and commit sizes)."""
        return cls(
            settings.database_url,
            store,
            schema=settings.read_schema,
            batch_size=settings.projection_batch_size,
            commit_rows=settings.projection_commit_rows,
            commit_seconds=settings.projection_commit_seconds,
        )

    # -- setup ------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create (or rebuild) the schema and load tracking positions."""
        if self._schema_ready is not None:  # a new schema, created by the caller
            self.positions = {p.name: 0 for p in self.projections}
            self._cache.reset(complete=self.positions)
            return
        engine = make_engine(self.database_url)
        try:
            with engine.begin() as conn:
                if ensure_schema(conn, self.schema):
                    log.info("projections.schema.created", schema=self.schema)
        finally:
            engine.dispose()
        with self._connection().cursor() as cur:
            self.positions = load_positions(cur, self.schema)
        self._cache.reset(
            complete=[p.name for p in self.projections if self.positions.get(p.name, 0) == 0]
        )

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(libpq_url(self.database_url), autocommit=True)
        return self._conn

    @property
    def position(self) -> int:
        """The lowest position every projection has applied."""
        return min((self.positions.get(p.name, 0) for p in self.projections), default=0)

    def close(self) -> None:
        """Close the database connections."""
        for conn in (self._conn, self._wconn):
            if conn is not None:
                conn.close()

    # -- one run ----------------------------------------------------------------------
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
        start = self.position
        if until is None and self._rebuilds():
            self._rebuild()
        self._until = until if until is not None else float("inf")
        with (
            gc_paused(),
            ThreadPoolExecutor(1, "projection-reader") as reader,
            ThreadPoolExecutor(1, "projection-writer") as writer,
        ):
            try:
                end = self._run(reader, writer, self.position, until)
            except BaseException:
                # The cache may hold rows that never committed: forget it; positions are
                # reloaded from the database on the next run.
                self._cache.forget()
                self.positions = {}
                raise
        return end - start

    def _rebuilds(self) -> bool:
        """Whether to rebuild by replay: every projection at 0 (a new or rebuilt schema),
        all of them folded here, and enough entries to fold."""
        if self.rebuild_from is None or any(
            self.positions.get(p.name, 0) for p in self.projections
        ):
            return False
        if {p.name for p in self.projections} != {p.name for p in all_projections()}:
            return False
        return self.store.head().position >= self.rebuild_from

    def _rebuild(self) -> None:
        """Fold the store up to its head by replay into a staging schema (kept: durable,
        indexed, tracking at the head), swap it in place of this empty one, then go on
        from its positions (with an empty row cache). The live schema stays as it was
        (empty) until the swap; a replay that dies leaves its staging schema to the next
        replay's sweep."""
        from projections.replay import replay  # (a replay folds with projectors)

        staging = check_schema_name(f"{self.schema[:54]}_rebuild")
        head = self.store.head().position
        log.info("projections.rebuild.start", schema=self.schema, until=head)
        result = replay(
            self.database_url,
            self.store,
            until=head,
            schema=staging,
            keep=True,
            on_progress=self.on_progress,
        )
        engine = make_engine(self.database_url)
        try:
            with engine.begin() as conn:
                swap_schema(conn, staging, self.schema)
        finally:
            engine.dispose()
        log.info("projections.rebuild.done", schema=self.schema, position=result.position)
        self.close()
        self.prepare()

    def _run(
        self, reader: ThreadPoolExecutor, writer: ThreadPoolExecutor, start: int, until: int | None
    ) -> int:
        """``run_once``'s pipeline from position `start`; returns the position reached.
        Its windows' rows are dropped on return, before the collector resumes: its first
        pass scans every object allocated while paused and still alive."""
        read_upto = flushed = start
        pending: Future[int] | None = None
        window, opened = Window(), time.monotonic()
        # A small first read: folding starts once it is in (a full batch of a replay
        # takes ~60 ms to arrive), and the reader then runs ahead.
        first = min(self.batch_size, FIRST_READ)
        next_batch = reader.submit(self._reader.read, read_upto, until, first)
        while (batch := next_batch.result()).end > read_upto:
            read_upto = batch.end
            next_batch = reader.submit(self._reader.read, read_upto, until, self.batch_size)
            if pending is not None and not self._cache.mirrors(self._loading):
                self._finish(pending.result())  # loads must see the last commit
                pending = None
            with self._connection().cursor() as cur:
                self._folder.fold(cur, window, batch.entries, self.positions, batch.undoable)
            if self.on_progress:
                self.on_progress(read_upto, len(batch.entries))
            if batch.full and not self._window_full(window, opened):
                continue  # keep folding: one commit for the whole window
            pending = self._flush(writer, pending, window, read_upto)
            window, opened, flushed = Window(), time.monotonic(), read_upto
        if read_upto > flushed:
            pending = self._flush(writer, pending, window, read_upto)
        if pending is not None:
            self._finish(pending.result())
        return read_upto

    def _window_full(self, window: Window, opened: float) -> bool:
        """Whether the uncommitted window should commit now (memory, or time since the
        last commit: bounds what a crash loses and how stale the read models get)."""
        rows = sum(len(r) for r in window.rows.values())
        return rows >= self.commit_rows or time.monotonic() - opened >= self.commit_seconds

    def _flush(
        self,
        writer: ThreadPoolExecutor,
        pending: Future[int] | None,
        window: Window,
        position: int,
    ) -> Future[int]:
        """Hand a folded window to the writer thread (after the previous one committed)."""
        plan = plan_writes(self.projections, window, self._cache, position)
        # Its undo records stay readable here until it commits (the next fold may need
        # them; they are replaced by the next window's when it is handed over).
        self._folder.committing = window.undo
        if position >= self._until:
            # The last window of a bounded run (a replay): nothing will read the cache
            # again in this run, so drop it rather than fill it; a later run loads rows.
            self._cache.reset()
        else:
            self._cache.remember(window.rows)
        if pending is not None:
            self._finish(pending.result())
        return writer.submit(self._write, plan)

    def _write(self, plan: WritePlan) -> int:
        """Commit one window's rows and every projection's position (the writer thread)."""
        if self._schema_ready is not None:
            self._schema_ready()
            self._schema_ready = None
        if self._wconn is None or self._wconn.closed:
            self._wconn = psycopg.connect(libpq_url(self.database_url))
            prepare_connection(self._wconn)
        commit_plan(self._wconn, self.schema, plan, [p.name for p in self.projections])
        return plan.position

    def _finish(self, position: int) -> None:
        """A window is durable: move the in-memory positions."""
        for p in self.projections:
            self.positions[p.name] = max(self.positions.get(p.name, 0), position)

    # -- live -------------------------------------------------------------------------
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
            analyzed_at = 0.0
            while not stop.is_set():
                applied = self.run_once()
                outage.succeeded()
                if applied:
                    log.debug("projections.applied", entries=applied)
                if time.monotonic() - analyzed_at >= STATISTICS_EVERY_S:
                    refresh_statistics(self._connection(), self.schema)
                    analyzed_at = time.monotonic()
                for _ in listener.notifies(timeout=idle_timeout, stop_after=1):
                    pass
