"""GET /stream: live updates within moments of indexing, and resume with Last-Event-ID."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import httpx

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
