"""GraphQL subscriptions (graphql-transport-ws) push what GET /stream pushes, from the
same hub: a listing arrives moments after it is indexed; unsubscribing frees the hub."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import FastAPI
from websockets.sync.client import connect
from websockets.sync.connection import Connection

from api.stream import EventHub
from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from tests.api.conftest import Server, World
from tests.indexer.test_indexer_anvil import Following

SUBSCRIPTION = """subscription {
  datasetUpdates { event datasetId retracted position args }
}"""


def send(ws: Connection, message: dict[str, Any]) -> None:
    ws.send(json.dumps(message))


def receive(ws: Connection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=10))
    return message


def test_a_listing_is_pushed_to_a_subscription(server: Server, world: World) -> None:
    app = server.server.config.app
    assert isinstance(app, FastAPI)
    hub: EventHub = app.state.hub
    market = world.platform.client.contract("Marketplace")
    provider = world.platform.account(2)
    store = PostgresEventStore(world.db_url)
    cfg = IndexerConfig(confirmations=2, use_finalized_tag=False, poll_interval=0.01)
    indexer = Indexer(RpcClient(world.node.url), store, world.platform.deployment, config=cfg)
    url = server.url.replace("http", "ws") + "/graphql"
    with (
        Following(indexer),
        connect(url, subprotocols=["graphql-transport-ws"]) as ws,  # type: ignore[list-item]
    ):
        send(ws, {"type": "connection_init"})
        assert receive(ws)["type"] == "connection_ack"
        before = len(hub.subscribers)
        send(ws, {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
        deadline = time.monotonic() + 5
        while len(hub.subscribers) == before:  # the subscription is open
            assert time.monotonic() < deadline
            time.sleep(0.02)
        provider.send(market.functions.listDataset("bafy-graphql-live", bytes(32), "tabular", 7, 0))
        message = receive(ws)
        assert message["type"] == "next" and message["id"] == "1", message
        update = message["payload"]["data"]["datasetUpdates"]
        assert update["event"] == "DatasetListed" and update["retracted"] is False
        assert update["args"]["metadata_cid"] == "bafy-graphql-live"
        assert update["args"]["provider"] == provider.address  # EIP-55
        assert (
            update["args"]["price"] == "7" and update["datasetId"] == update["args"]["dataset_id"]
        )
        # Unsubscribing frees the hub's queue
        send(ws, {"id": "1", "type": "complete"})
        deadline = time.monotonic() + 5
        while len(hub.subscribers) > before:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    store.close()
