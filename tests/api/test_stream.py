"""GET /stream: live updates within moments of indexing, and resume with Last-Event-ID."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sse_starlette.event import ServerSentEvent

from api.stream import EventHub
from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from tests.api.conftest import Server, World
from tests.indexer.test_indexer_anvil import Following


def listen(
    url: str,
    out: queue.Queue[dict[str, Any]],
    stop: threading.Event,
    headers: dict[str, str] | None = None,
) -> None:
    with (
        httpx.Client(timeout=None) as http,
        http.stream("GET", url + "/stream", headers=headers) as r,
    ):
        message: dict[str, Any] = {}
        for line in r.iter_lines():
            if stop.is_set():
                return
            if not line:
                if "data" in message:
                    out.put({**message, "received": time.monotonic()})
                message = {}
            elif ":" in line and not line.startswith(":"):
                field, _, value = line.partition(":")
                message[field] = value.strip()


def test_stream_pushes_listings_and_resumes(server: Server, world: World) -> None:
    market = world.platform.client.contract("Marketplace")
    provider = world.platform.account(2)
    store = PostgresEventStore(world.db_url)
    cfg = IndexerConfig(confirmations=2, use_finalized_tag=False, poll_interval=0.01)
    indexer = Indexer(RpcClient(world.node.url), store, world.platform.deployment, config=cfg)
    received: queue.Queue[dict[str, Any]] = queue.Queue()
    stop = threading.Event()
    with Following(indexer):
        threading.Thread(target=listen, args=(server.url, received, stop), daemon=True).start()
        time.sleep(0.5)  # the subscription is open
        latencies = []
        for i in range(5):
            provider.send(
                market.functions.listDataset(f"bafy-live-{i}", bytes(32), "tabular", 1, 0)
            )
            mined = time.monotonic()
            message = received.get(timeout=10)
            latencies.append(message["received"] - mined)
            assert message["event"] == "dataset"
            body = json.loads(message["data"])
            assert body["event"] == "DatasetListed" and body["metadata_cid"] == f"bafy-live-{i}"
            # ... spelled as the REST routes spell it: EIP-55 address, decimal-string uint
            assert body["provider"] == provider.address and body["price"] == "1"
        last_id = int(message["id"])
        stop.set()
        # While nobody listens, two more listings land
        for i in range(2):
            provider.send(
                market.functions.listDataset(f"bafy-missed-{i}", bytes(32), "tabular", 1, 0)
            )
        head = world.platform.client.w3.eth.block_number
        deadline = time.monotonic() + 10
        while indexer.cursor.number < head:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # A client resuming with Last-Event-ID gets exactly what it missed, in order
        resumed: queue.Queue[dict[str, Any]] = queue.Queue()
        stop2 = threading.Event()
        resume = {"Last-Event-ID": str(last_id)}
        args = (server.url, resumed, stop2, resume)
        threading.Thread(target=listen, args=args, daemon=True).start()
        got = [json.loads(resumed.get(timeout=10)["data"]) for _ in range(2)]
        stop2.set()
    store.close()
    assert [g["metadata_cid"] for g in got] == ["bafy-missed-0", "bafy-missed-1"]
    assert all(int(g["position"]) > last_id for g in got)
    assert sorted(latencies)[len(latencies) // 2] < 1.0, latencies


def test_each_update_is_encoded_once_for_all_subscribers(
    server: Server, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub encodes a message once; each stream writes those bytes (per-client encoding
    was ~10 us per client and event: 10 ms of every event with 1,000 clients)."""
    encoded: list[bytes] = []
    original = ServerSentEvent.encode

    def counting(self: ServerSentEvent) -> bytes:
        frame = original(self)
        if self.data is not None:  # (pings are comments)
            encoded.append(frame)
        return frame

    monkeypatch.setattr(ServerSentEvent, "encode", counting)
    market = world.platform.client.contract("Marketplace")
    provider = world.platform.account(2)
    store = PostgresEventStore(world.db_url)
    cfg = IndexerConfig(confirmations=2, use_finalized_tag=False, poll_interval=0.01)
    indexer = Indexer(RpcClient(world.node.url), store, world.platform.deployment, config=cfg)
    streams = [queue.Queue[dict[str, Any]]() for _ in range(3)]
    stop = threading.Event()
    with Following(indexer):
        for received in streams:
            threading.Thread(target=listen, args=(server.url, received, stop), daemon=True).start()
        time.sleep(0.5)  # the subscriptions are open
        provider.send(market.functions.listDataset("bafy-once", bytes(32), "tabular", 1, 0))
        messages = [received.get(timeout=10) for received in streams]
        stop.set()
    store.close()
    assert all(json.loads(m["data"])["metadata_cid"] == "bafy-once" for m in messages)
    assert len({m["id"] for m in messages}) == 1
    # Once, by the hub, whatever the number of subscribers; on the wire as sse-starlette
    # spells a message (the browser's EventSource parses it).
    assert len(encoded) == 1, encoded
    body = messages[0]
    assert encoded[0] == (
        f"id: {body['id']}\r\nevent: dataset\r\ndata: {body['data']}\r\n\r\n".encode()
    )


def test_a_client_that_leaves_frees_its_subscription(server: Server) -> None:
    """A stream whose client hangs up ends while it waits for a message: its queue leaves
    the hub (the hub would otherwise fan out to it until it overflowed)."""
    app = server.server.config.app
    assert isinstance(app, FastAPI)
    hub: EventHub = app.state.hub
    before = len(hub.subscribers)
    with (
        httpx.Client(timeout=10) as http,
        http.stream("GET", server.url + "/stream") as response,
    ):
        assert response.status_code == 200
        assert len(hub.subscribers) == before + 1
    # (the connection is closed: the stream is waiting in queue.get(), not sending)
    deadline = time.monotonic() + 5
    while len(hub.subscribers) > before:
        assert time.monotonic() < deadline, "the stream outlived its client"
        time.sleep(0.02)
