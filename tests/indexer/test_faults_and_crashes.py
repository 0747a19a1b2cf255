"""Faults between the indexer and the node, kill -9 of the indexer, and two chains."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.anvil import start_anvil
from common.chain import ChainClient, Transactor, connect, dev_account
from common.deploy import deploy_platform
from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store import live_events
from indexer.store_pg import PostgresEventStore
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
from tests.indexer.test_indexer_anvil import Following, url_of, wait_for


@pytest.fixture
def store(fresh_db: str) -> Iterator[PostgresEventStore]:
    pg = PostgresEventStore(fresh_db)
    yield pg
    pg.close()


def test_faulty_rpc_gives_the_same_store(chain: Platform, store: PostgresEventStore) -> None:
    # Given activity spread over many blocks, some with many events
    fund(chain, [1, 2, 3, 4, 5])
    random_activity(chain, random.Random(3), 30)
    for i in range(10):
        list_datasets(chain, 1 + i % 5, 25)
    mine(chain.client.w3, 3)
    head = chain.client.w3.eth.block_number
    # When the indexer talks to the node through a proxy that fails a third of the calls
    with FaultProxy(url_of(chain), rate=0.3) as proxy:
        cfg = IndexerConfig(confirmations=0, initial_range=500, max_backoff=0.2, poll_interval=0.02)
        Indexer(RpcClient(proxy.url, timeout=1.0), store, chain.deployment, config=cfg).run(
            to_block=head
        )
    # Then every kind of fault happened, and the store still equals the chain exactly
    assert all(
        proxy.injected[f] > 0 for f in ("http500", "too_many", "unknown", "range", "reorder")
    )
    assert stored_events(store, chain.deployment.chain_id) == canonical_events(
        url_of(chain), chain.deployment, head
    )
    assert verify_hash_chain(store).ok


def test_faulty_rpc_in_live_mode(chain: Platform, store: PostgresEventStore) -> None:
    fund(chain, [1, 2, 3])
    with FaultProxy(url_of(chain), rate=0.3, seed=11) as proxy:
        cfg = IndexerConfig(confirmations=2, max_backoff=0.2, poll_interval=0.02)
        indexer = Indexer(RpcClient(proxy.url, timeout=1.0), store, chain.deployment, config=cfg)
        with Following(indexer) as run:
            for i in range(15):
                list_datasets(chain, 1 + i % 3, 4)
            head = chain.client.w3.eth.block_number
            wait_for(lambda: run.caught_up(head), timeout=60)
    assert stored_events(store, chain.deployment.chain_id) == canonical_events(
        url_of(chain), chain.deployment, head
    )


def _index_process(
    chain: Platform, db_url: str, manifest: Path, *args: str, rpc_url: str | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATACOIN_DATABASE_URL": db_url,
        "DATACOIN_RPC_URL": rpc_url or url_of(chain),
        "DATACOIN_CONFIRMATIONS": "2",
        "DATACOIN_POLL_INTERVAL": "0.02",
        "DATACOIN_INDEX_INITIAL_RANGE": "3",
        "DATACOIN_INDEX_CONCURRENCY": "2",
        "DATACOIN_LOG_FORMAT": "json",
    }
    cmd = [sys.executable, "-m", "cli.main", "index", "--manifest", str(manifest), *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_when(proc: subprocess.Popen[bytes], store: PostgresEventStore, events: int) -> None:
    deadline = time.monotonic() + 60
    while store.head().position < events:
        assert proc.poll() is None, "indexer exited early"
        assert time.monotonic() < deadline, "indexer made no progress"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_kill_9_mid_backfill_and_mid_live_then_restart(
    chain: Platform, store: PostgresEventStore, fresh_db: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "deployment.json"
    chain.deployment.save(manifest)
    dense_history(chain)
    # Given a backfill killed with SIGKILL part-way through (its node answers after 50 ms,
    # so that the backfill lasts long enough for the kill to land in the middle of it)
    with FaultProxy(url_of(chain), rate=0, max_range=10**9, delay_s=0.05) as slow:
        proc = _index_process(chain, fresh_db, manifest, rpc_url=slow.url)
        _kill_when(proc, store, 150)
    assert store.head().position < 600, "the kill should land mid-backfill"
    # When it restarts and reaches live mode, and is killed again while following
    proc = _index_process(chain, fresh_db, manifest)
    try:
        head = chain.client.w3.eth.block_number
        wait_for(
            lambda: (cp := store.checkpoint(chain.deployment.chain_id)) and cp.block_number >= head,
            60,
        )
        before = store.head().position
        for i in range(10):
            list_datasets(chain, 1 + i % 5, 3)
        _kill_when(proc, store, before + 6)
    finally:
        if proc.poll() is None:
            proc.kill()
    # And once more activity happens, a final restart catches up
    list_datasets(chain, 1, 5)
    mine(chain.client.w3, 3)
    head = chain.client.w3.eth.block_number
    proc = _index_process(chain, fresh_db, manifest, "--to-block", str(head))
    assert proc.wait(timeout=120) == 0
    # Then no gap and no duplicate: the store equals the chain, and the hash chain holds
    assert stored_events(store, chain.deployment.chain_id) == canonical_events(
        url_of(chain), chain.deployment, head
    )
    assert verify_hash_chain(store).ok


def test_two_chains_index_into_one_store(chain: Platform, store: PostgresEventStore) -> None:
    # Given a second chain (another anvil with chain id 137) with its own deployment
    with start_anvil(extra_args=["--chain-id", "137"]) as other:
        w3b = connect(other.url)
        platform_b = Platform(
            client=ChainClient(w3b, deploy_platform(Transactor(w3b, dev_account(0)))),
            deployer=Transactor(w3b, dev_account(0)),
            config=chain.config,
        )
        fund(chain, [1, 2])
        fund(platform_b, [1, 2])
        for i in range(5):
            list_datasets(chain, 1, 4)
            list_datasets(platform_b, 2, 3 + i)
        head_a, head_b = chain.client.w3.eth.block_number, w3b.eth.block_number
        # When one indexer per chain runs concurrently into the same store
        cfg = IndexerConfig(confirmations=0, poll_interval=0.02, initial_range=2)
        store_b = PostgresEventStore(store._dsn)
        ia = Indexer(RpcClient(url_of(chain)), store, chain.deployment, config=cfg)
        ib = Indexer(RpcClient(other.url), store_b, platform_b.deployment, config=cfg)
        with Following(ia) as ra, Following(ib) as rb:
            wait_for(lambda: ra.caught_up(head_a) and rb.caught_up(head_b))
        store_b.close()
        # Then each chain's events are exactly its own, in one gap-free, hash-chained log
        assert stored_events(store, 31337) == canonical_events(
            url_of(chain), chain.deployment, head_a
        )
        assert stored_events(store, 137) == canonical_events(
            other.url, platform_b.deployment, head_b
        )
        positions = [e.position for e in store.read_after(0, 100_000)]
        assert positions == list(range(1, len(positions) + 1))
        assert {e.event.chain_id for e in live_events(store)} == {31337, 137}
        assert verify_hash_chain(store).ok
