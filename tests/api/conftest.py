"""An API over read models built by the real indexer and projections from a real anvil."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from api.app import create_app
from common.anvil import AnvilNode, free_port, start_anvil
from common.settings import Settings
from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from projections.projector import Projector
from tests.conftest import Platform, clone_database, deploy_fresh, drop_database, service_missing
from tests.indexer.activity import WAD, fund, mine

TITLES = [
    "Iris flowers",
    "Boston housing prices",
    "Titanic passengers",
    "Wine quality",
    "Penguins of Palmer station",
    "Credit card fraud",
]


@dataclass
class World:
    """The chain, database and settings an API test runs against."""

    platform: Platform
    db_url: str
    settings: Settings
    node: AnvilNode

    def sync(self) -> None:
        """Index the chain to its head and project."""
        store = PostgresEventStore(self.db_url)
        cfg = IndexerConfig(confirmations=2, use_finalized_tag=False, poll_interval=0.01)
        Indexer(RpcClient(self.node.url), store, self.platform.deployment, config=cfg).run(
            to_block=self.platform.client.w3.eth.block_number
        )
        runner = Projector(self.db_url, store)
        runner.run_once()
        runner.close()
        store.close()


def put_metadata(db_url: str, cid: str, doc: dict[str, Any]) -> None:
    """What the metadata resolver stores for a fetched document."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO dataset_metadata (cid, title, description, tags, format, rows, columns,"
            " document) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (
                cid,
                doc["title"],
                doc["description"],
                " ".join(doc.get("tags", [])),
                doc.get("format"),
                doc.get("rows"),
                doc.get("columns"),
                Jsonb(doc),
            ),
        )


@pytest.fixture(scope="module")
def world(
    migrated_template: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Six datasets from three providers, purchases, ratings, stakes, a price change."""
    try:
        node = start_anvil()
    except Exception as exc:
        service_missing("anvil", exc)
        raise
    platform = deploy_fresh(node)
    db_url = clone_database(migrated_template)
    market = platform.client.contract("Marketplace")
    coin = platform.client.contract("DataCoin")
    staking = platform.client.contract("Staking")
    fund(platform, [1, 2, 3, 4, 5])
    for i in range(1, 6):
        platform.account(i).send(coin.functions.approve(market.address, 2**255))
        platform.account(i).send(coin.functions.approve(staking.address, 2**255))
    for n, title in enumerate(TITLES):
        cid = f"bafy-meta-{n}"
        put_metadata(
            db_url,
            cid,
            {
                "title": title,
                "description": f"{title}: a classic dataset",
                "tags": ["classic"],
                "format": "csv",
                "rows": 100 + n,
                "columns": 4 + n,
            },
        )
        category = "tabular" if n % 2 == 0 else "finance"
        platform.account(1 + n % 3).send(
            market.functions.listDataset(cid, bytes(32), category, (n + 1) * WAD, 0)
        )
    for buyer, dataset, score in [(4, 1, 5), (5, 1, 3), (4, 2, 4), (5, 3, 1), (4, 6, 2)]:
        platform.account(buyer).send(market.functions.purchase(dataset, 2**255))
        platform.account(buyer).send(market.functions.rate(dataset, score))
    platform.account(2).send(market.functions.setPrice(2, 42 * WAD))
    platform.account(4).send(staking.functions.stake(500 * WAD))
    mine(platform.client.w3, 3)
    data_dir = tmp_path_factory.mktemp("api-data")
    manifest = data_dir / "deployment.json"
    platform.deployment.save(manifest)
    settings = Settings(
        database_url=db_url,
        redis_url=redis_url,
        siwe_domain="datacoin.test",
        siwe_uri="https://datacoin.test",
        siwe_chain_ids=[31337],
        data_dir=data_dir,
        manifest_path=manifest,
        upload_max_bytes=2 * 2**20,
    )
    w = World(platform, db_url, settings, node)
    w.sync()
    yield w
    node.stop()
    drop_database(db_url)


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings)) as c:
        yield c


@dataclass
class Server:
    """A real uvicorn serving the app on a free loopback port."""

    url: str
    server: uvicorn.Server


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[Server]:
    port = free_port()
    config = uvicorn.Config(
        create_app(world.settings), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Server(f"http://127.0.0.1:{port}", srv)
    srv.should_exit = True
    thread.join(timeout=10)
