"""Backfill through fetch processes (indexer.fetch_pool): the same store, faults included,
and no fetch process outlives a ``kill -9`` of its indexer."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from indexer.fetch_pool import FetchPool
from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store import InMemoryEventStore
from indexer.store_pg import PostgresEventStore
from indexer.sync import EncodedBatch
from indexer.verify import verify_hash_chain
from tests.conftest import Platform
from tests.indexer.activity import (
    canonical_events,
    dense_history,
    fund,
    list_datasets,
    mine,
    random_activity,
    stored_events,
)
from tests.indexer.faultproxy import FaultProxy
from tests.indexer.test_indexer_anvil import url_of, wait_for
from tests.procs import alive, descendants


def with_workers(**config: float) -> IndexerConfig:
    """An indexer config whose backfill always uses two worker processes."""
    return IndexerConfig(fetch_processes=2, fetch_processes_min_blocks=0, **config)  # type: ignore[arg-type]


@pytest.fixture
def store(fresh_db: str) -> Iterator[PostgresEventStore]:
    pg = PostgresEventStore(fresh_db)
    yield pg
    pg.close()


@pytest.fixture
def warm_pool(chain: Platform) -> None:
    """Start this process's fork server now, so that a backfill's pool is up at once and
    every range goes through the workers (the first start would overlap the backfill)."""
    contracts = {n: c.address for n, c in chain.deployment.contracts.items()}
    with FetchPool(
        RpcClient(url_of(chain)), contracts, chain_id=chain.deployment.chain_id, processes=2
    ) as pool:
        pool.warm_up()


class CountingStore(PostgresEventStore):
    """Counts the appends of each kind."""

    appended: int = 0
    appended_encoded: int = 0

    def append(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.appended += 1
        return super().append(*args, **kwargs)

    def append_encoded(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.appended_encoded += 1
        return super().append_encoded(*args, **kwargs)


@pytest.mark.usefixtures("warm_pool")
def test_backfill_in_worker_processes_equals_the_reference_store(
    chain: Platform, fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given varied activity and batches of events in single transactions
    fund(chain, [1, 2, 3, 4, 5])
    random_activity(chain, random.Random(5), 30)
    list_datasets(chain, 2, 150)
    mine(chain.client.w3, 5)
    head = chain.client.w3.eth.block_number
    submitted: list[tuple[int, int]] = []
    submit = FetchPool.submit

    def counting_submit(pool: FetchPool, start: int, end: int) -> Future[EncodedBatch]:
        submitted.append((start, end))
        return submit(pool, start, end)

    monkeypatch.setattr(FetchPool, "submit", counting_submit)
    # When the indexer backfills with worker processes and tiny, adaptive ranges (cut
    # short past 4 x 20 logs, at block boundaries: the 150-log block stays whole)
    store = CountingStore(fresh_db)
    cfg = with_workers(confirmations=0, initial_range=3, concurrency=3, target_logs=20)
    Indexer(RpcClient(url_of(chain)), store, chain.deployment, config=cfg).run(to_block=head)
    # and, for reference, into the in-memory store (decoded events, canonical_encoding)
    memory = InMemoryEventStore()
    Indexer(RpcClient(url_of(chain)), memory, chain.deployment, config=cfg).run(to_block=head)
    # Then the workers fetched every range and the store holds exactly the chain's logs
    assert len(submitted) >= 5 and store.appended_encoded > 1 and store.appended == 0
    assert stored_events(store, chain.deployment.chain_id) == canonical_events(
        url_of(chain), chain.deployment, head
    )
    assert verify_hash_chain(store).ok
    # And the same hash chain as the reference implementation, entry for entry
    assert store.head() == memory.head()
    assert store.read_after(0, 100_000) == memory.read_after(0, 100_000)
    store.close()


@pytest.mark.usefixtures("warm_pool")
def test_faults_in_workers_give_the_same_store(chain: Platform, store: PostgresEventStore) -> None:
    # Given activity spread over many blocks, some with many events
    fund(chain, [1, 2, 3, 4, 5])
    random_activity(chain, random.Random(4), 30)
    for i in range(10):
        list_datasets(chain, 1 + i % 5, 25)
    mine(chain.client.w3, 3)
    head = chain.client.w3.eth.block_number
    # When the workers talk to the node through a proxy that fails a third of the calls
    # (their errors, range hints included, travel back to the main process)
    with FaultProxy(url_of(chain), rate=0.3, seed=5) as proxy:
        cfg = with_workers(confirmations=0, initial_range=500, max_backoff=0.2, poll_interval=0.02)
        Indexer(RpcClient(proxy.url, timeout=1.0), store, chain.deployment, config=cfg).run(
            to_block=head
        )
    # Then faults happened, and the store still equals the chain exactly
    assert proxy.injected["range"] > 0 and proxy.injected["http500"] > 0
    assert stored_events(store, chain.deployment.chain_id) == canonical_events(
        url_of(chain), chain.deployment, head
    )
    assert verify_hash_chain(store).ok


INDEX_SCRIPT = """
import sys
from pathlib import Path
from common.manifest import Deployment
from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from indexer.fetch_pool import FetchPool
rpc_url, db_url, manifest, head = sys.argv[1:5]
deployment = Deployment.load(Path(manifest))
contracts = {n: c.address for n, c in deployment.contracts.items()}
with FetchPool(RpcClient(rpc_url), contracts, chain_id=deployment.chain_id, processes=2) as pool:
    pool.warm_up()  # so that every range goes through the workers
cfg = IndexerConfig(confirmations=0, initial_range=2, max_range=3, concurrency=2, fetch_processes=2,
                    fetch_processes_min_blocks=0)
store = PostgresEventStore(db_url)
Indexer(RpcClient(rpc_url), store, deployment, config=cfg).run(to_block=int(head))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_kill_9_mid_backfill_leaves_no_worker_and_restart_completes(
    chain: Platform, store: PostgresEventStore, fresh_db: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "deployment.json"
    chain.deployment.save(manifest)
    dense_history(chain)
    head = chain.client.w3.eth.block_number
    # Given an indexer process backfilling through workers, killed with SIGKILL part-way
    proc = subprocess.Popen(
        [sys.executable, "-c", INDEX_SCRIPT, url_of(chain), fresh_db, str(manifest), str(head)],
        env={**os.environ, "DATACOIN_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        workers: set[int] = set()
        deadline = time.monotonic() + 60
        while store.head().position < 10 or not workers:  # early: leave margin under load
            assert proc.poll() is None, "indexer exited early"
            assert time.monotonic() < deadline, "indexer made no progress"
            workers |= descendants(proc.pid)
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert store.head().position < 600, "the kill should land mid-backfill"
    # Then its fork server and workers exit on their own
    wait_for(lambda: not any(alive(p) for p in workers), timeout=20)
    # And a restart completes: no gap, no duplicate, the hash chain holds
    cfg = with_workers(confirmations=0, initial_range=5)
    Indexer(RpcClient(url_of(chain)), store, chain.deployment, config=cfg).run(to_block=head)
    assert stored_events(store, chain.deployment.chain_id) == canonical_events(
        url_of(chain), chain.deployment, head
    )
    assert verify_hash_chain(store).ok


def test_a_killed_fetch_process_fails_its_ranges_while_others_keep_answering(
    chain: Platform,
) -> None:
    contracts = {n: c.address for n, c in chain.deployment.contracts.items()}
    block = chain.client.w3.eth.block_number
    # Given a pool of two processes fetching a steady stream of ranges (50 ms each)
    with (
        FaultProxy(url_of(chain), rate=0, max_range=10**9, delay_s=0.05) as slow,
        FetchPool(
            RpcClient(slow.url),
            contracts,
            chain_id=chain.deployment.chain_id,
            processes=2,
            threads=2,
        ) as pool,
    ):
        pool.warm_up()
        futures = [pool.submit(block, block) for _ in range(200)]
        while sum(f.done() for f in futures) < 10:
            time.sleep(0.01)
        # When one process is killed while the other keeps answering (results keep coming)
        os.kill(pool.pids[0], signal.SIGKILL)
        killed_at = time.monotonic()

        # Then within a second the ranges it held fail with BrokenProcessPool, as do new
        # submissions, and none waits for the survivor's stream to end
        def broken() -> bool:
            return any(f.done() and isinstance(f.exception(), BrokenProcessPool) for f in futures)

        wait_for(broken, timeout=1.0)
        assert time.monotonic() - killed_at < 1.0
        assert not all(f.done() and f.exception() is None for f in futures)
        with pytest.raises(BrokenProcessPool):
            pool.submit(block, block)
