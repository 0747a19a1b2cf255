"""kill -9 of the projector at random points: the restarted projector ends with the same
state hash as a replay from zero (exactly-once effect)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from projections.replay import replay
from projections.statehash import state_hash
from projections.tracking import tracking_position
from tests.conftest import Platform
from tests.indexer.activity import WAD, fund, list_datasets, mine


def _projector(db_url: str, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATACOIN_DATABASE_URL": db_url,
        "DATACOIN_PROJECTION_BATCH_SIZE": "11",
        "DATACOIN_PROJECTION_COMMIT_ROWS": "11",
        "DATACOIN_LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "project", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_kill_9_projector_then_restart_gives_the_replay_state(
    chain: Platform, fresh_db: str
) -> None:
    # Given an event store with a few thousand entries of varied events
    fund(chain, [1, 2, 3, 4])
    market = chain.client.contract("Marketplace")
    coin = chain.client.contract("DataCoin")
    for i in range(1, 5):
        chain.account(i).send(coin.functions.approve(market.address, 2**255))
    for i in range(40):
        list_datasets(chain, 1 + i % 4, 25, price=WAD)
    for d in range(1, 200, 3):
        chain.account(1 + d % 4).send(market.functions.purchase(d, 2**255))
    mine(chain.client.w3, 2)
    store = PostgresEventStore(fresh_db)
    url = chain.client.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    Indexer(RpcClient(url), store, chain.deployment, config=IndexerConfig(confirmations=0)).run(
        to_block=chain.client.w3.eth.block_number
    )
    head = store.head().position
    assert head > 1000
    # When the projector is killed with SIGKILL at random points, five times
    rng = random.Random(5)
    last = 0
    for _ in range(5):
        proc = _projector(fresh_db)
        deadline = time.monotonic() + 60
        while (tracking_position(fresh_db, "readmodels") or 0) <= last:
            assert proc.poll() is None and time.monotonic() < deadline, "no progress"
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        last = tracking_position(fresh_db, "readmodels") or 0
    killed_at = tracking_position(fresh_db, "readmodels")
    assert killed_at is not None and 0 < killed_at < head, "kills must land mid-way"
    # And restarted to finish
    assert _projector(fresh_db, "--once").wait(timeout=120) == 0
    # Then the read models equal a replay from zero, byte for byte
    assert tracking_position(fresh_db, "readmodels") == head
    assert state_hash(fresh_db, "readmodels") == replay(fresh_db, store).state_hash
    store.close()
