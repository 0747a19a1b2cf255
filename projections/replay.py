"""Rebuild read models from position 0 into a fresh schema, and compare state hashes.

Projections are independent (each has its own tables and tracking position), so a replay
splits them into groups balanced by the work they will do (events consumed, weighted by
each projection's ``cost``) and folds each group in its own process: one in this process,
the others in worker processes (forked, or from the shared fork server: see ``_Groups``).
Each group reads only the events its projections consume, commits its tables and
positions as the live projector does, then hashes its own tables; the state hash combines
the groups' table digests, so it is the same hash ``state_hash`` reads from the finished
schema.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any, Literal, NamedTuple

import psycopg
import structlog
from psycopg import sql
from sqlalchemy import Engine, text

from common.db import libpq_url, make_engine
from common.procs import become_worker, worker_context
from indexer.events import KIND_RETRACT
from indexer.store import EventStore
from indexer.store_pg import PostgresEventStore, refresh_statistics
from projections.base import Key, Projection
from projections.cache import MAX_ROWS
from projections.projector import Projector
from projections.registry import all_projections
from projections.schema import (
    check_schema_name,
    create_schema,
    create_secondary_indexes,
    drop_schema,
    set_logged,
)
from projections.statehash import combine, table_digests
from projections.tracking import tracking_position

log = structlog.get_logger(__name__)
BATCH_SIZE = 20_000
#: How many events' worth of replay workers from a cold fork server start late.
COLD_START_EVENTS = 30_000
#: From this many events on, a replay balances its groups on the planner's statistics.
ESTIMATE_FROM = 50_000
#: From this many events on, a replay estimates each projection's rows (``_row_estimates``)
#: to plan its groups around their row caches' bound; from a sample of this many entries.
ROWS_FROM = 500_000
ROW_SAMPLE = 20_000
#: Work per row a group's cache holds, relative to reading one event (its row is packed
#: into the cache, copied by each event folded into it, written, hashed). Measured at 1M
#: events: the per-event costs alone (from 100k) planned two groups of equal work that
#: took 15.9 and 25.8 CPU-seconds; {datasets, access_grants} (600k rows) alone took 16.1,
#: as much as ~3.3M units of the first group's, ~1.3M more than its per-event costs.
ROW_COST = 2.0
#: Work per row a group holds past its row cache's bound, relative to reading one event
#: (each window that touches such a row reads it back and upserts it: at 10M events the
#: group past its bound folded for 745 s, the other for 367 s).
OVERFLOW_COST = 2.0
SCHEMA_TIMEOUT = 120.0  # seconds a worker waits for the replay's schema to be created
#: The comment a replay's schema carries until it is dropped or kept.
IN_PROGRESS = "datacoin replay in progress"


@dataclass(frozen=True)
class ReplayResult:
    """Where a replay ended and what it produced."""

    schema: str
    position: int
    state_hash: str


def _lock_key(schema: str) -> str:
    return f"datacoin.replay.{schema}"


@contextmanager
def _claimed(database_url: str, schema: str) -> Iterator[None]:
    """Hold an advisory lock naming `schema` while a replay builds it: a session lock, so
    PostgreSQL frees it when the replay's process dies, even by ``kill -9``."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (_lock_key(schema),))
        yield


def sweep_abandoned(database_url: str) -> list[str]:
    """Drop the schemas of replays that died mid-way (still marked in progress, and no
    live replay holds their lock); return their names. Kept replays are not touched."""
    dropped = []
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        names = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE obj_description(oid, 'pg_namespace') = %s",
            (IN_PROGRESS,),
        ).fetchall()
        for (name,) in names:
            key = _lock_key(name)
            row = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,))
            if not row.fetchone()[0]:  # type: ignore[index]
                continue  # a replay is building it now
            try:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
                )
                dropped.append(name)
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
    if dropped:
        log.info("projections.replay.swept", schemas=dropped)
    return dropped


def default_workers() -> int:
    """Processes a replay uses by default: one per CPU, at most 4 (PostgreSQL needs CPU
    too, and there are only a handful of projections)."""
    return max(1, min(4, os.cpu_count() or 1))


def plan_groups(
    projections: Sequence[Projection],
    counts: dict[str, int],
    workers: int,
    head_start: float = 0.0,
    *,
    rows: dict[str, int] | None = None,
    max_rows: int = MAX_ROWS,
) -> list[list[Projection]]:
    """Split `projections` into at most `workers` groups of similar work, given how many
    events of each name the replay will read and (`rows`) how many rows each projection
    will have, estimated (``_row_estimates``). The first group (the caller's) may take
    `head_start` more, a fraction of a group's mean work: the others start that late.

    A group's work is reading the events any of its projections consumes (once per group:
    a shared read is paid once) plus each projection's ``cost`` per event it consumes,
    plus ``ROW_COST`` per row its cache holds, and ``OVERFLOW_COST`` more per row past
    the cache's bound (`max_rows`): past it, a group reads rows back and upserts them in
    every window.
    Greedy, each projection into the group it raises the least: when the projections'
    rows are more than one group's bound, the `workers` largest (by rows) go first, one
    per group (two tables of millions of rows share a cache only if they fit in it);
    then the rest, heaviest first.
    """
    rows = rows or {}

    def events(p: Projection) -> int:
        return sum(counts.get(name, 0) for name in p.events)

    def load(names: set[str], fold: float, held: int) -> float:
        past = max(0, held - max_rows)
        reads = sum(counts.get(name, 0) for name in names)
        return reads + fold + ROW_COST * held + OVERFLOW_COST * past

    groups: list[list[Projection]] = [[] for _ in range(max(1, workers))]
    names: list[set[str]] = [set() for _ in groups]
    folds = [0.0] * len(groups)
    held = [0] * len(groups)
    folded = sum(p.cost * events(p) + ROW_COST * rows.get(p.name, 0) for p in projections)
    total = folded + len(groups) * sum(counts.values())
    folds[0] = -head_start * total / len(groups)
    by_work = sorted(
        projections,
        key=lambda p: (1 + p.cost) * events(p) + ROW_COST * rows.get(p.name, 0),
        reverse=True,
    )
    spread: list[Projection] = []  # the largest tables, one per group
    if sum(rows.get(p.name, 0) for p in projections) > max_rows:
        largest = sorted(projections, key=lambda p: rows.get(p.name, 0), reverse=True)
        spread = [p for p in largest[: len(groups)] if rows.get(p.name, 0) > 0]
    for p in spread + [p for p in by_work if p not in spread]:
        # One of `spread` goes to a group still empty (the one it raises the least).
        candidates = [i for i in range(len(groups)) if not (p in spread and groups[i])]
        work, kept = p.cost * events(p), rows.get(p.name, 0)
        after = {i: load(names[i] | p.events, folds[i] + work, held[i] + kept) for i in candidates}
        best = min(candidates, key=lambda i: (after[i], i))
        groups[best].append(p)
        names[best] |= p.events
        folds[best] += work
        held[best] += kept
    return [g for g in groups if g]


def _row_estimates(
    store: EventStore, projections: Sequence[Projection], until: int, sample: int = ROW_SAMPLE
) -> dict[str, int]:
    """Rows each cached projection (not write-once) will have at position `until`,
    extrapolated from the store's first `sample` entries: the keys seen, plus the rate
    at which new keys appeared in the sample's second half for the positions after it.
    Rows created by one kind of event (a dataset per listing) grow at that rate; rows per
    account stop growing once every account was seen (a second half with few new keys).
    ~0.12 CPU-seconds for 20k entries (an in-memory store), plus their read: small
    against a replay of 500k events or more (minutes)."""
    cached = [p for p in projections if not p.write_once]
    facts = store.read_range(0, until, sample, frozenset().union(*(p.events for p in cached)))
    if not facts:
        return {}
    last = facts[-1].position
    middle = facts[len(facts) // 2].position
    seen: dict[str, set[Key]] = {p.name: set() for p in cached}
    first_half: dict[str, int] = {}
    by_event: dict[str, list[Projection]] = {}
    for p in cached:
        for name in p.events:
            by_event.setdefault(name, []).append(p)
    for fact in facts:
        if fact.position > middle and not first_half:
            first_half = {name: len(keys) for name, keys in seen.items()}
        if fact.kind == KIND_RETRACT:
            continue
        for p in by_event.get(fact.event_name, ()):
            seen[p.name].update(p.keys(fact))
    first_half = first_half or {name: len(keys) for name, keys in seen.items()}
    span = max(1, last - middle)
    return {
        name: len(keys) + round((len(keys) - first_half[name]) / span * max(0, until - last))
        for name, keys in seen.items()
    }


def _event_counts(
    database_url: str, until: int, estimate_from: int = ESTIMATE_FROM
) -> dict[str, int]:
    """Events per name up to `until`, to balance the groups, once the planner's
    statistics are refreshed if a bulk append left them stale (here, once, rather than in
    every group). From `estimate_from` events on, estimated from those statistics:
    counting 100k events took ~35 ms of the replay's start, and grows with the store."""
    with (
        psycopg.connect(libpq_url(database_url), autocommit=True) as conn,
        conn.cursor() as cur,
    ):
        refresh_statistics(cur, until)
        if until >= estimate_from:
            cur.execute(
                "SELECT most_common_vals::text::text[], most_common_freqs FROM pg_stats"
                " WHERE schemaname = ANY(current_schemas(false)) AND tablename = 'events'"
                " AND attname = 'event_name'"
            )
            row = cur.fetchone()
            if row is not None and row[0]:
                return {name: round(f * until) for name, f in zip(row[0], row[1], strict=True)}
        cur.execute(
            "SELECT event_name, count(*) FROM events WHERE position <= %s GROUP BY event_name",
            (until,),
        )
        return {name: int(n) for name, n in cur.fetchall()}


@dataclass(frozen=True)
class GroupTask:
    """One group's work: fold projections `names` up to `until` into `schema`, then, if
    `indexes`, build their tables' secondary indexes (sent to a worker process)."""

    schema: str
    names: list[str]
    until: int
    indexes: bool


class GroupReport(NamedTuple):
    """What a worker process reports: its group's `progress` (a position), `done` (its
    tables' digests) or `error` (why it failed)."""

    group: int  # its index: 1.. (0 is the replay's own process)
    kind: Literal["progress", "done", "error"]
    value: Any


def _fold_group(
    database_url: str,
    store: EventStore,
    projections: list[Projection],
    *,
    task: GroupTask,
    on_progress: Callable[[int, int], None] | None,
    schema_ready: Callable[[], None],
) -> dict[str, bytes]:
    """Fold `projections` as `task` says into its schema (being created meanwhile: writes
    wait for `schema_ready`); return their tables' digests."""
    schema = check_schema_name(task.schema)
    started, cpu = time.perf_counter(), time.process_time()
    projector = Projector(
        database_url,
        store,
        schema=schema,
        batch_size=BATCH_SIZE,
        projections=projections,
        on_progress=on_progress,
        schema_ready=schema_ready,
    )
    try:
        projector.run_once(until=task.until)
    finally:
        projector.close()
    schema_ready()  # (a group with nothing to write never waited for it)
    if task.indexes:
        engine = make_engine(database_url)
        try:
            with engine.begin() as conn:
                # Serial builds: the other groups are using the other cores.
                conn.execute(text("SET LOCAL max_parallel_maintenance_workers = 0"))
                create_secondary_indexes(conn, schema, [p.table for p in projections])
        finally:
            engine.dispose()
    folded = time.perf_counter()
    digests = table_digests(database_url, schema, [p.table for p in projections])
    log.info(
        "projections.replay.group_done",
        projections=[p.name for p in projections],
        fold_s=round(folded - started, 3),
        hash_s=round(time.perf_counter() - folded, 3),
        cpu_s=round(time.process_time() - cpu, 3),
    )
    return digests


def _group_process(database_url: str, index: int, tasks: Any, out: Any, ready: Any) -> None:
    """A worker process: wait for its `GroupTask` (None: no work), fold those
    projections (writing once `ready` is set: the schema exists), and report on `out`
    (``GroupReport``)."""
    become_worker()
    task: GroupTask | None = tasks.get()
    if task is None:
        return
    schema = task.schema
    projections = [p for p in all_projections() if p.name in task.names]
    store = PostgresEventStore(database_url)

    def schema_ready() -> None:
        # A schema that could not be created fails the replay, which stops this worker:
        # the timeout only bounds a wait on a parent that vanished.
        if not ready.wait(timeout=SCHEMA_TIMEOUT):
            raise RuntimeError(f"replay schema {schema} was not created")

    try:
        digests = _fold_group(
            database_url,
            store,
            projections,
            task=task,
            on_progress=lambda position, _n: out.put(
                GroupReport(group=index, kind="progress", value=position)
            ),
            schema_ready=schema_ready,
        )
        out.put(GroupReport(group=index, kind="done", value=digests))
    except BaseException as exc:
        out.put(GroupReport(group=index, kind="error", value=f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        store.close()


class _Groups:
    """The worker processes of one replay and what they reported.

    Processes start as soon as this is made, and get their work later with ``assign``.
    Made before the replay starts any thread, in a process with none of its own (as
    `datacoin replay` runs) they are forked, in milliseconds, with every module imported.
    Otherwise they come from the fork server, started in a thread: a cold one imports
    for ~0.35-0.7 s, which then overlaps the replay's setup and its own group's folding.
    """

    def __init__(self, database_url: str, count: int) -> None:
        context = worker_context(__name__)
        self.start_method: str = context.get_start_method()
        self.queue = context.Queue()
        self.tasks = [context.Queue() for _ in range(count)]
        #: Set once the replay's schema exists (workers fold before, and write after).
        self.schema_ready = context.Event()
        self.progress = [0] * (count + 1)  # slot 0: this process's own group
        self.digests: dict[str, bytes] = {}
        self.done = 0
        self.assigned = 0
        self.stopped = False
        self.procs: list[BaseProcess] = [
            context.Process(
                target=_group_process,
                name=f"replay-group-{index}",
                daemon=True,
                args=(database_url, index, tasks, self.queue, self.schema_ready),
            )
            for index, tasks in enumerate(self.tasks, start=1)
        ]
        self._start_error: BaseException | None = None
        self._starter: threading.Thread | None = None
        if self.start_method == "fork":
            self._start()  # here: a fork must not race a thread of ours
        else:
            self._starter = threading.Thread(target=self._start, name="replay-start", daemon=True)
            self._starter.start()

    def _start(self) -> None:
        try:
            for proc in self.procs:
                proc.start()
        except BaseException as exc:  # raised again by assign, in the replay's thread
            self._start_error = exc

    @property
    def starting(self) -> bool:
        """Whether the processes are still starting (a cold fork server imports first)."""
        return self._starter is not None and self._starter.is_alive()

    def assign(
        self, schema: str, groups: list[list[Projection]], until: int, indexes: bool = True
    ) -> None:
        """Give worker i group i (workers left over get nothing to do); `indexes`: build
        the group's secondary indexes. Does not wait for the processes to start (a cold
        fork server takes ~0.35-0.7 s, while this process folds its own group): ``wait``
        raises if they could not."""
        self.assigned = len(groups)
        del self.progress[len(groups) + 1 :]
        for tasks, group in zip(self.tasks, [*groups, *[None] * len(self.tasks)], strict=False):
            tasks.put(
                None
                if group is None
                else GroupTask(
                    schema=schema, names=[p.name for p in group], until=until, indexes=indexes
                )
            )

    def drain(self, timeout: float | None = None) -> None:
        """Take the reports waiting (or the next one, waiting up to `timeout`)."""
        while True:
            try:
                report: GroupReport = (
                    self.queue.get(timeout=timeout) if timeout else self.queue.get_nowait()
                )
            except queue.Empty:
                return
            timeout = None
            if report.kind == "progress":
                self.progress[report.group] = report.value
            elif report.kind == "done":
                self.digests.update(report.value)
                self.done += 1
            else:
                raise RuntimeError(f"replay worker {report.group} failed: {report.value}")

    def wait(self, on_tick: Callable[[], None]) -> None:
        """Until every assigned worker reported done (a worker that died silently is an
        error); `on_tick` after each wait for reports."""
        while self.done < self.assigned:
            if self._start_error is not None:
                raise RuntimeError("replay workers did not start") from self._start_error
            self.drain(timeout=0.5)
            on_tick()
            dead = [p for p in self.procs[: self.assigned] if p.exitcode not in (None, 0)]
            if dead and self.done < self.assigned:
                self.drain()
                raise RuntimeError(f"replay worker exited with code {dead[0].exitcode}")

    def stop(self) -> None:
        """Stop any worker still running (after an error here); idempotent."""
        if self._starter is not None:
            self._starter.join()
        for proc in self.procs:
            if proc.pid is None:
                continue  # never started
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=10)
        if not self.stopped:
            self.stopped = True
            for q in (self.queue, *self.tasks):
                q.close()
                q.join_thread()  # the feeder thread of `assign`'s puts: none outlives us


def replay(
    database_url: str,
    store: EventStore,
    *,
    until: int | None = None,
    schema: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    keep: bool = False,
    workers: int | None = None,
) -> ReplayResult:
    """Fold the whole event store (up to `until`, default its head) into a new schema, in
    `workers` processes (default ``default_workers()``); return its state hash.

    The schema is dropped afterwards unless `keep` (then its tables are made durable:
    they are built UNLOGGED). `on_progress(position, 0)` reports the lowest position
    every group has folded. Schemas left by replays that died are dropped first
    (``sweep_abandoned``).
    """
    target = check_schema_name(schema or f"replay_{uuid.uuid4().hex[:12]}")
    until = store.head().position if until is None else until
    workers = default_workers() if workers is None else workers
    others = _Groups(database_url, workers - 1) if workers > 1 else None
    try:
        sweep_abandoned(database_url)
        with (
            _claimed(database_url, target),
            _schema_meanwhile(database_url, target, keep, others) as schema_ready,
        ):
            return _fold_groups(
                database_url,
                store,
                target=target,
                until=until,
                keep=keep,
                on_progress=on_progress,
                workers=workers,
                others=others,
                schema_ready=schema_ready,
            )
    finally:
        if others is not None:
            others.stop()


@contextmanager
def _schema_meanwhile(
    database_url: str, target: str, keep: bool, others: _Groups | None
) -> Iterator[Callable[[], None]]:
    """Create the replay's schema in a thread while the groups start folding (they only
    need it to write; its DDL takes ~75 ms, longer than planning the groups). Yields the
    wait for it (raising if it failed), which workers get as `schema_ready`. On exit,
    stops the workers and drops the schema unless `keep`."""
    engine = make_engine(database_url)
    with ThreadPoolExecutor(1, "replay-schema") as pool:
        created = pool.submit(_create_replay_schema, engine, target)
        if others is not None:
            ready = others.schema_ready

            def signal(done: Future[None]) -> None:
                if done.exception() is None:
                    ready.set()

            created.add_done_callback(signal)
        try:
            yield created.result
        finally:
            if others is not None:
                others.stop()
            wait([created])  # (its failure, if any, was raised by a group's first write)
            if not keep:
                with engine.begin() as conn:
                    drop_schema(conn, target)
            engine.dispose()


def _create_replay_schema(engine: Engine, target: str) -> None:
    """Create a replay's schema for a bulk load: UNLOGGED (a replay is a scratch rebuild:
    a crash loses nothing a new replay would not redo; skipping WAL saves PostgreSQL
    ~10-15% of its work; a kept schema is made durable), and, for a kept schema, each
    group builds its secondary indexes once its rows are in."""
    with engine.begin() as conn:
        drop_schema(conn, target)
        create_schema(conn, target, bulk=True)
        conn.execute(text(f"COMMENT ON SCHEMA \"{target}\" IS '{IN_PROGRESS}'"))


def _fold_groups(
    database_url: str,
    store: EventStore,
    *,
    target: str,
    until: int,
    keep: bool,
    on_progress: Callable[[int, int], None] | None,
    workers: int,
    others: _Groups | None,
    schema_ready: Callable[[], None],
) -> ReplayResult:
    """Plan the groups, fold them (this process's own group here) and combine their
    digests into the replay's result; a schema to `keep` gets its secondary indexes and
    is made durable."""
    # Worker processes from a cold fork server (the first replay of a process that has
    # threads) start ~0.35-0.7 s late, ~30k events' worth: this process's own group takes
    # that much more (measured: 100k events, 40.5k -> 44.0k events/s cold).
    cold = others is not None and others.starting
    head_start = min(0.5, COLD_START_EVENTS / max(until, 1)) if cold else 0.0
    projections = all_projections()
    rows = _row_estimates(store, projections, until) if until >= ROWS_FROM else {}
    groups = plan_groups(
        projections, _event_counts(database_url, until), workers, head_start, rows=rows
    )
    log.info(
        "projections.replay.start",
        schema=target,
        until=until,
        cold_workers=cold,
        start_method=others.start_method if others is not None else None,
        groups=[[p.name for p in g] for g in groups],
        rows={name: n for name, n in rows.items() if n},
    )
    if others is not None:
        # Secondary indexes serve the API's reads: a replay that is dropped once hashed
        # (the default, an audit) skips them (~5% of its work); a kept one builds them.
        others.assign(target, groups[1:], until, indexes=keep)

    def progress(position: int, _n: int) -> None:
        if others is not None:
            others.progress[0] = position
            others.drain()
            position = min(others.progress)
        if on_progress:
            on_progress(position, 0)

    digests = _fold_group(
        database_url,
        store,
        groups[0],
        task=GroupTask(schema=target, names=[p.name for p in groups[0]], until=until, indexes=keep),
        on_progress=progress,
        schema_ready=schema_ready,
    )
    if others is not None:
        others.progress[0] = until
        others.wait(lambda: progress(until, 0))
        digests |= others.digests
    position = tracking_position(database_url, target)
    assert position == until, f"replay stopped at {position}, not {until}"
    result = ReplayResult(schema=target, position=position, state_hash=combine(digests))
    if keep:
        engine = make_engine(database_url)
        try:
            with engine.begin() as conn:
                set_logged(conn, target)
                conn.execute(text(f'COMMENT ON SCHEMA "{target}" IS NULL'))
        finally:
            engine.dispose()
    return result
