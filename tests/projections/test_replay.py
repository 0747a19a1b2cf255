"""Parallel replay: groups of projections folded in worker processes give exactly the
read models (and state hash) of one process and of the live, incremental projector."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from multiprocessing.process import BaseProcess

import psycopg
import pytest

from indexer.events import Checkpoint
from indexer.store_pg import PostgresEventStore
from projections.folding import gc_paused
from projections.projector import Projector
from projections.registry import all_projections
from projections.replay import (
    IN_PROGRESS,
    _event_counts,
    _Groups,
    plan_groups,
    replay,
    sweep_abandoned,
)
from projections.statehash import _table_digest_blocking, combine, state_hash, table_digests
from tests.procs import alive, descendants
from tests.projections.history import CHAIN, append, block_hash, history


def test_plan_groups_covers_every_projection_once_and_balances() -> None:
    projections = all_projections()
    counts = {
        "DatasetListed": 25_000,
        "Purchased": 35_000,
        "Rated": 15_000,
        "Staked": 15_000,
        "TrainingRequested": 10_000,
    }
    for workers in (1, 2, 3, 8):
        groups = plan_groups(projections, counts, workers)
        names = [p.name for g in groups for p in g]
        assert sorted(names) == sorted(p.name for p in projections)
        assert 1 <= len(groups) <= min(workers, len(projections))
    # With two workers the heaviest projection (activity) does not share with the next ones
    two = plan_groups(projections, counts, 2)
    heavy = next(g for g in two if any(p.name == "account_activity" for p in g))
    assert not any(p.name == "datasets" for p in heavy)


def test_event_counts_estimated_from_statistics_match_the_exact_ones(
    fresh_db: str, store_with_reorg: PostgresEventStore
) -> None:
    head = store_with_reorg.head().position
    exact = _event_counts(fresh_db, head, estimate_from=head + 1)
    # A small table is sampled whole by ANALYZE: its estimate is the count, to rounding
    estimated = _event_counts(fresh_db, head, estimate_from=0)
    assert estimated.keys() == exact.keys()
    assert all(abs(estimated[name] - n) <= 1 for name, n in exact.items())
    store_with_reorg.close()


def test_parallel_replay_equals_one_process_and_the_live_read_models(
    fresh_db: str, store_with_reorg: PostgresEventStore
) -> None:
    store = store_with_reorg
    head = store.head().position
    # Given the live read models, folded incrementally in small commits
    live = Projector(fresh_db, store, schema="readmodels", batch_size=13, commit_rows=20)
    assert live.run_once() == head
    live.close()
    expected = state_hash(fresh_db, "readmodels")
    # When replaying in one process and in three (a retraction refolds in a worker)
    one = replay(fresh_db, store, workers=1)
    three = replay(fresh_db, store, workers=3, keep=True)
    # Then every replay reaches the head and gives the live state hash
    assert one.position == three.position == head
    assert one.state_hash == three.state_hash == expected
    # And a kept replay is a durable (logged) schema equal to the live one; others are gone
    assert state_hash(fresh_db, three.schema) == expected
    with psycopg.connect(fresh_db) as conn:
        persistence = conn.execute(
            "SELECT DISTINCT c.relpersistence FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            (three.schema,),
        ).fetchall()
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace").fetchall()}
        indexes = {
            schema: conn.execute(
                "SELECT indexname, regexp_replace(indexdef, ' ON \\S+', '') FROM pg_indexes"
                " WHERE schemaname = %s ORDER BY 1",
                (schema,),
            ).fetchall()
            for schema in ("readmodels", three.schema)
        }
    assert persistence == [("p",)]
    # (its secondary indexes, built after the load, are the live schema's)
    assert indexes[three.schema] == indexes["readmodels"]
    assert ("ix_account_activity_account",) in {r[:1] for r in indexes["readmodels"]}
    assert one.schema not in schemas and three.schema in schemas
    store.close()


def test_replay_table_digests_equal_the_live_reader_and_raise_errors(
    fresh_db: str, store_with_reorg: PostgresEventStore
) -> None:
    # Given live read models
    live = Projector(fresh_db, store_with_reorg, schema="readmodels")
    live.run_once()
    live.close()
    tables = [p.table for p in all_projections()]
    # Then the replay's libpq reader gives the digests of the live one (psycopg's COPY)
    assert combine(table_digests(fresh_db, "readmodels", tables)) == state_hash(
        fresh_db, "readmodels"
    )
    # And a failing COPY is raised, not hashed as an empty table
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA partial")
        conn.execute("CREATE TABLE partial.datasets AS SELECT * FROM readmodels.datasets")
    with pytest.raises(psycopg.DatabaseError, match="does not exist"):
        table_digests(fresh_db, "partial", tables)
    # (and the connection it failed on still works)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        with pytest.raises(psycopg.DatabaseError, match="does not exist"):
            _table_digest_blocking(conn, b"COPY partial.nothing TO STDOUT")
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_reorg_back_to_an_earlier_fork_writes_its_rows_again(fresh_db: str) -> None:
    # Given blocks 21-30 replaced by another fork, then the chain going back to the first
    # fork: the same logs, hence the same keys of write-once rows (activity, purchases,
    # outbox), appended a second time
    rng = random.Random(5)
    store = PostgresEventStore(fresh_db)
    original = history(rng, range(1, 31))
    append(store, original, 30, 0, None)
    store.retract(
        CHAIN,
        20,
        Checkpoint(chain_id=CHAIN, block_number=20, block_hash=block_hash(20), finalized_number=0),
        (30, block_hash(30)),
    )
    append(store, history(rng, range(21, 31), fork=1), 30, 1, (20, block_hash(20)))
    store.retract(
        CHAIN,
        20,
        Checkpoint(chain_id=CHAIN, block_number=20, block_hash=block_hash(20), finalized_number=0),
        (30, block_hash(30, 1)),
    )
    append(store, [e for e in original if e.block_number > 20], 30, 0, (20, block_hash(20)))
    # When folded live in small commits with a tiny row cache, and replayed in one window
    live = Projector(
        fresh_db, store, schema="readmodels", batch_size=7, commit_rows=10, max_cached_rows=5
    )
    assert live.run_once() == store.head().position
    live.close()
    # Then both are the read models of the final chain: every original purchase is
    # there once, none of the abandoned fork's
    assert replay(fresh_db, store, workers=1).state_hash == state_hash(fresh_db, "readmodels")
    purchases = sum(e.event_name == "Purchased" for e in original)
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute("SELECT block_hash FROM readmodels.purchases").fetchall()
    assert len(rows) == purchases > 0
    assert {bytes(r[0]) for r in rows} <= {block_hash(n) for n in range(1, 31)}
    store.close()


def test_a_replay_of_an_empty_store_hashes_the_empty_read_models(fresh_db: str) -> None:
    # Groups with nothing to write must still wait for the schema before hashing it
    store = PostgresEventStore(fresh_db)
    live = Projector(fresh_db, store, schema="readmodels")
    assert live.run_once() == 0
    live.close()
    for workers in (1, 2, 2):
        assert replay(fresh_db, store, workers=workers).state_hash == state_hash(
            fresh_db, "readmodels"
        )
    store.close()


def test_a_replay_stops_at_until(fresh_db: str, store_with_reorg: PostgresEventStore) -> None:
    partial = replay(fresh_db, store_with_reorg, until=100, workers=2, keep=True)
    projector = Projector(fresh_db, store_with_reorg, schema="upto_100")
    projector.run_once(until=100)
    projector.close()
    assert partial.position == 100
    assert partial.state_hash == state_hash(fresh_db, "upto_100")
    store_with_reorg.close()


def test_a_failing_replay_worker_is_reported(fresh_db: str) -> None:
    # A worker that cannot start its fold (here: a schema name it refuses) reports why
    groups = _Groups(fresh_db, 2)
    try:
        groups.assign("Not A Schema", [all_projections()[:1]], 10)
        with pytest.raises(RuntimeError, match="replay worker 1 failed: ValueError"):
            groups.wait(lambda: None)
    finally:
        groups.stop()


def test_a_schema_that_cannot_be_created_fails_the_replay_and_stops_its_workers(
    fresh_db: str, store_with_reorg: PostgresEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a replay whose schema creation fails (the groups have started folding)
    import projections.replay as replay_module

    def refuse(engine: object, target: str) -> None:
        raise RuntimeError(f"cannot create {target}")

    made: list[_Groups] = []

    class Recorded(_Groups):
        def __init__(self, database_url: str, count: int) -> None:
            super().__init__(database_url, count)
            made.append(self)

    monkeypatch.setattr(replay_module, "_create_replay_schema", refuse)
    monkeypatch.setattr(replay_module, "_Groups", Recorded)
    # Then the replay raises why, at its first write, and leaves no worker behind
    with pytest.raises(RuntimeError, match="cannot create replay_"):
        replay(fresh_db, store_with_reorg, workers=2)
    (groups,) = made
    assert groups.procs and not [p for p in groups.procs if p.is_alive()]
    store_with_reorg.close()


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_workers_that_cannot_start_fail_the_wait(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given worker processes that cannot start (forked here, or by the fork server from a
    # thread, as in a process that has threads)
    import projections.replay as replay_module

    def refuse(self: BaseProcess) -> None:
        raise OSError("cannot fork")

    monkeypatch.setattr(BaseProcess, "start", refuse)
    monkeypatch.setattr(
        replay_module, "worker_context", lambda *_: multiprocessing.get_context(method)
    )
    groups = _Groups("postgresql://127.0.0.1:1/none", 1)
    try:
        assert groups.start_method == method
        groups.assign("replay_x", [all_projections()[:1]], 10)  # does not wait for them
        # Then waiting for them raises why
        with pytest.raises(RuntimeError, match="did not start"):
            groups.wait(lambda: None)
    finally:
        groups.stop()


@contextlib.contextmanager
def _a_thread_running() -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


REPLAY_ONCE = """
import sys
from common.logs import configure_logging
from indexer.store_pg import PostgresEventStore
from projections.replay import replay
configure_logging("json")
print(replay(sys.argv[1], PostgresEventStore(sys.argv[1]), workers=3).state_hash)
"""


def test_forked_workers_replay_to_the_fork_servers_state_hash(
    fresh_db: str, store_with_reorg: PostgresEventStore
) -> None:
    # Given a replay whose workers come from the fork server (this process has a thread)
    with _a_thread_running():
        served = replay(fresh_db, store_with_reorg, workers=3)
    # When a single-threaded process replays, forking its workers
    forked = subprocess.run(
        [sys.executable, "-c", REPLAY_ONCE, fresh_db],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # Then it did fork them, and the state hashes are equal
    assert '"start_method": "fork"' in forked.stderr
    assert forked.stdout.split()[-1] == served.state_hash
    store_with_reorg.close()


REPLAY_FOREVER = """
import sys
from indexer.store_pg import PostgresEventStore
from projections.replay import replay
store = PostgresEventStore(sys.argv[1])
while True:
    replay(sys.argv[1], store, workers=3)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_kill_9_of_a_replay_leaves_no_worker(
    fresh_db: str, store_with_reorg: PostgresEventStore
) -> None:
    # Given a process replaying over and over with worker processes
    proc = subprocess.Popen(
        [sys.executable, "-c", REPLAY_FOREVER, fresh_db],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        workers: set[int] = set()
        deadline = time.monotonic() + 60
        while len(workers) < 2:  # at least two group workers (forked: no fork server)
            assert proc.poll() is None, "the replay exited"
            assert time.monotonic() < deadline, "no replay workers appeared"
            workers |= descendants(proc.pid)
            time.sleep(0.01)
    finally:
        # When it is killed with SIGKILL
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # Then its workers exit on their own
    deadline = time.monotonic() + 20
    while any(alive(p) for p in workers):
        assert time.monotonic() < deadline, "replay workers outlived their parent"
        time.sleep(0.05)
    store_with_reorg.close()


def test_a_replay_sweeps_schemas_of_replays_that_died(
    fresh_db: str, store_with_reorg: PostgresEventStore
) -> None:
    # Given the schema of a replay that died (still marked in progress), one a live replay
    # is building (its lock held), and a kept replay
    with psycopg.connect(fresh_db, autocommit=True) as holder:
        holder.execute(
            "SELECT pg_advisory_lock(hashtextextended(%s, 0))", ("datacoin.replay.replay_running",)
        )
        kept = replay(fresh_db, store_with_reorg, workers=1, keep=True)
        for name in ("replay_dead", "replay_running"):
            holder.execute(f"CREATE SCHEMA {name}")
            holder.execute(f"COMMENT ON SCHEMA {name} IS '{IN_PROGRESS}'")
        # When another replay runs
        replay(fresh_db, store_with_reorg, workers=2)
        # Then only the dead one is gone
        schemas = {r[0] for r in holder.execute("SELECT nspname FROM pg_namespace")}
    assert "replay_dead" not in schemas
    assert {"replay_running", kept.schema} <= schemas
    assert sweep_abandoned(fresh_db) == ["replay_running"]  # its builder is gone now
    store_with_reorg.close()


def test_gc_pause_is_reentrant() -> None:
    assert gc.isenabled()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
