"""`datacoin index` as a service sees it: PostgreSQL connections lost, SIGTERM to the
process or to its whole process group (what systemd and Docker send).

Each test runs the real command in a subprocess of its own session (so that signalling its
process group never reaches pytest), against anvil and a fresh database, and checks the
store it leaves against an uninterrupted index of the same chain: the same events and the
same hash-chain head."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from indexer.events import Head
from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from indexer.verify import verify_hash_chain
from tests.conftest import Platform, clone_database, drop_database, terminate_backends
from tests.indexer.activity import (
    canonical_events,
    dense_history,
    list_datasets,
    mine,
    stored_events,
)
from tests.indexer.faultproxy import FaultProxy
from tests.indexer.test_indexer_anvil import url_of
from tests.procs import descendants

#: How long a stopped indexer may take to exit (a service manager waits 10 s by default).
STOP_WITHIN_S = 5.0


@dataclass
class IndexRun:
    """A `datacoin index` subprocess, leader of its own process group."""

    proc: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None


def _group_members(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid` (Linux /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


@pytest.fixture
def index_runs(tmp_path: Path) -> Iterator[Callable[..., IndexRun]]:
    """Starts `datacoin index` subprocesses; kills whatever of them is left at the end."""
    started: list[IndexRun] = []

    def start(
        chain: Platform, db_url: str, *args: str, rpc_url: str | None = None, workers: int = 2
    ) -> IndexRun:
        manifest = tmp_path / "deployment.json"
        chain.deployment.save(manifest)
        env = {
            **os.environ,
            "DATACOIN_DATABASE_URL": db_url,
            "DATACOIN_RPC_URL": rpc_url or url_of(chain),
            "DATACOIN_CONFIRMATIONS": "2",
            "DATACOIN_POLL_INTERVAL": "0.02",
            "DATACOIN_INDEX_INITIAL_RANGE": "3",
            "DATACOIN_INDEX_CONCURRENCY": "2",
            "DATACOIN_INDEX_WORKERS": str(workers),
            "DATACOIN_LOG_FORMAT": "json",
        }
        stderr_path = tmp_path / f"index-{len(started)}.stderr"
        with stderr_path.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "index", "--manifest", str(manifest), *args],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own process group: killpg reaches only it
            )
        run = IndexRun(proc, stderr_path)
        started.append(run)
        return run

    try:
        yield start
    finally:
        for run in started:
            for pid in _group_members(run.proc.pid):
                os.kill(pid, signal.SIGKILL)
            run.proc.wait()


@pytest.fixture
def reference_db(migrated_template: str) -> Iterator[str]:
    """A second fresh database, for the uninterrupted index to compare with."""
    url = clone_database(migrated_template)
    yield url
    drop_database(url)


def _db_state(db_url: str, chain_id: int) -> tuple[int, int]:
    """(last position, indexed block) read on a connection of its own (0, -1 before any)."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT (SELECT coalesce(max(position), 0) FROM events),"
            " (SELECT coalesce(max(block_number), -1) FROM cursors WHERE chain_id = %s)",
            (chain_id,),
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def _wait(run: IndexRun, condition: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert run.alive(), f"the indexer exited ({run.proc.returncode}):\n{run.stderr[-3000:]}"
        assert time.monotonic() < deadline, f"no progress in {timeout} s:\n{run.stderr[-3000:]}"
        time.sleep(0.02)


def _stop(run: IndexRun, *, group: bool) -> float:
    """SIGTERM to the process (or its group); seconds until it exited."""
    started = time.monotonic()
    if group:
        os.killpg(run.proc.pid, signal.SIGTERM)
    else:
        run.proc.send_signal(signal.SIGTERM)
    try:
        run.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"SIGTERM ignored for 60 s:\n{run.stderr[-3000:]}")
    return time.monotonic() - started


def _uninterrupted_head(chain: Platform, db_url: str, to_block: int) -> Head:
    """The head an uninterrupted index of the same chain up to `to_block` ends on."""
    store = PostgresEventStore(db_url)
    try:
        config = IndexerConfig(confirmations=0, poll_interval=0.02, fetch_processes=0)
        Indexer(RpcClient(url_of(chain)), store, chain.deployment, config=config).run(
            to_block=to_block
        )
        return store.head()
    finally:
        store.close()


def _assert_same_store(chain: Platform, db_url: str, reference_db: str, head: int) -> None:
    """The store equals the chain, and an uninterrupted index: no gap, no duplicate."""
    store = PostgresEventStore(db_url)
    try:
        chain_id = chain.deployment.chain_id
        assert stored_events(store, chain_id) == canonical_events(
            url_of(chain), chain.deployment, head
        )
        assert verify_hash_chain(store).ok
        assert store.head() == _uninterrupted_head(chain, reference_db, head)
    finally:
        store.close()


def test_lost_postgres_connections_mid_backfill_and_live(
    chain: Platform, fresh_db: str, reference_db: str, index_runs: Callable[..., IndexRun]
) -> None:
    chain_id = chain.deployment.chain_id
    dense_history(chain)
    # Given `datacoin index` backfilling through a slow node (so the fault lands mid-way)
    with FaultProxy(url_of(chain), rate=0, max_range=10**9, delay_s=0.05) as slow:
        run = index_runs(chain, fresh_db, rpc_url=slow.url)
        _wait(run, lambda: _db_state(fresh_db, chain_id)[0] >= 150)
        # When every connection it has to PostgreSQL is terminated mid-backfill
        assert _db_state(fresh_db, chain_id)[0] < 600, "the fault should land mid-backfill"
        assert terminate_backends(fresh_db) >= 1
        # Then it carries on to the head
        head = chain.client.w3.eth.block_number
        _wait(run, lambda: _db_state(fresh_db, chain_id)[1] >= head)
        # And when its connections are terminated again while it follows the head
        for i in range(4):
            list_datasets(chain, 1 + i % 5, 3)
        assert terminate_backends(fresh_db) >= 1
        for i in range(4):
            list_datasets(chain, 1 + i % 5, 3)
        mine(chain.client.w3, 3)
        head = chain.client.w3.eth.block_number
        # Then it follows on to the new head, and stops cleanly when told to
        _wait(run, lambda: _db_state(fresh_db, chain_id)[1] >= head)
        assert _stop(run, group=False) < STOP_WITHIN_S
        assert run.proc.returncode == 0, run.stderr[-3000:]
    # With one event per lost connection, and no traceback
    assert run.stderr.count('"indexer.store.unavailable"') >= 2, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    # And the store is what an uninterrupted index of the same chain gives
    _assert_same_store(chain, fresh_db, reference_db, head)


@pytest.mark.parametrize("target", ["process", "group"])
def test_sigterm_mid_backfill_stops_cleanly_and_resumes(
    target: str,
    chain: Platform,
    fresh_db: str,
    reference_db: str,
    index_runs: Callable[..., IndexRun],
) -> None:
    chain_id = chain.deployment.chain_id
    # Given a backfill of ~1.6k blocks (so worker processes fetch them) through a node
    # that answers slowly and in ranges of at most 5 blocks: a backfill of many seconds
    dense_history(chain)
    mine(chain.client.w3, 1_500)
    head = chain.client.w3.eth.block_number
    with FaultProxy(url_of(chain), rate=0, max_range=5, delay_s=0.05) as slow:
        run = index_runs(chain, fresh_db, rpc_url=slow.url)
        _wait(run, lambda: _db_state(fresh_db, chain_id)[0] >= 100)
        # When SIGTERM is sent to the process, or to its whole process group
        took = _stop(run, group=target == "group")
    # Then it exits 0 within seconds, without a traceback, part-way through the backfill
    assert run.proc.returncode == 0, run.stderr[-3000:]
    assert took < STOP_WITHIN_S, f"took {took:.1f} s to stop"
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    stopped_at = _db_state(fresh_db, chain_id)[1]
    assert stopped_at < head - 100, f"stopped at {stopped_at} of {head}:\n{run.stderr[-3000:]}"
    # And nothing of its process group is left behind (fork server, workers)
    deadline = time.monotonic() + STOP_WITHIN_S
    while _group_members(run.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _group_members(run.proc.pid), "processes of the indexer's group outlived it"
    # And a restart resumes there and ends on the store an uninterrupted run gives
    rerun = index_runs(chain, fresh_db, "--to-block", str(head))
    assert rerun.proc.wait(timeout=120) == 0, rerun.stderr[-3000:]
    _assert_same_store(chain, fresh_db, reference_db, head)


def _backfill_workers(pid: int) -> list[int]:
    """The backfill worker processes below `pid`: the children of its fork server (its
    child whose command line runs multiprocessing.forkserver; they inherit that line)."""
    for child in descendants(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            stat = Path(f"/proc/{child}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if b"multiprocessing.forkserver" in cmdline and parent == pid:
            return sorted(descendants(child))
    return []


def test_killed_backfill_worker_is_replaced_and_the_store_converges(
    chain: Platform, fresh_db: str, reference_db: str, index_runs: Callable[..., IndexRun]
) -> None:
    chain_id = chain.deployment.chain_id
    # Given a backfill whose ranges worker processes fetch (slowly: it lasts a while)
    dense_history(chain)
    mine(chain.client.w3, 1_500)
    head = chain.client.w3.eth.block_number
    with FaultProxy(url_of(chain), rate=0, max_range=5, delay_s=0.05) as slow:
        run = index_runs(chain, fresh_db, "--to-block", str(head), rpc_url=slow.url)
        _wait(run, lambda: '"indexer.fetch_pool.ready"' in run.stderr)
        _wait(run, lambda: _db_state(fresh_db, chain_id)[0] >= 100)
        # When one of them is killed (as the OOM killer would)
        workers = _backfill_workers(run.proc.pid)
        assert workers, "no backfill worker found"
        os.kill(workers[0], signal.SIGKILL)
        # Then the indexer logs it, starts again from its cursor and ends at the head
        assert run.proc.wait(timeout=180) == 0, run.stderr[-3000:]
    assert '"indexer.fetch_pool.broken"' in run.stderr, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    # And it starts again at once: the survivors are not waited for (a process killed in
    # the middle of reading the task queue leaves its lock held: they could never finish)
    logged = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    died = next(e for e in logged if e["event"] == "indexer.fetch_pool.died")
    again = [e for e in logged if e["event"] == "indexer.start"][1]
    took = datetime.fromisoformat(again["timestamp"]) - datetime.fromisoformat(died["timestamp"])
    assert took.total_seconds() < 5, f"restarted {took} after the fetch process died"
    _assert_same_store(chain, fresh_db, reference_db, head)
