"""Benchmark: the dApp's API under load, and head-to-API latency.

1. ``GET /datasets`` with a mix of filters, search, sorts and pagination over 10k datasets
   in the read models, at a fixed arrival rate from a second process (open loop: requests
   are sent on schedule whether or not earlier ones answered; ``bench/openloop.py``), each
   latency measured from the request's scheduled send time. Prints p50/p99 latency and
   achieved req/s. Target: p99 <= 25 ms at 500 req/s.
2. Head-to-API: a block with a listing mined on anvil -> its event on ``/stream``, over
   200 blocks, with ``datacoin index`` and ``datacoin serve`` running as in production.
   Target: p50 <= 250 ms.

Run: ``.venv/bin/python -m bench.api_load --datasets 10000 --rate 500 --seconds 20``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
import uvloop
from psycopg.types.json import Jsonb
from web3 import Web3

from bench import openloop
from bench.cpu import cpu_busy
from common.anvil import free_port, start_anvil
from common.chain import Transactor, connect, dev_account
from common.deploy import deploy_platform
from contracts.artifacts import load_artifact
from indexer.events import BlockRecord, Checkpoint, NewEvent
from indexer.store_pg import PostgresEventStore
from migrations.runner import upgrade
from projections.projector import Projector

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
WORDS = [
    "iris",
    "housing",
    "titanic",
    "wine",
    "penguin",
    "fraud",
    "weather",
    "traffic",
    "energy",
    "retail",
    "genome",
    "sensor",
    "climate",
    "soil",
    "crop",
    "finance",
    "credit",
    "churn",
    "sales",
    "images",
    "audio",
    "text",
]
CATEGORIES = ["tabular", "images", "text", "finance", "science"]


def _event(block: int, log_index: int, name: str, args: dict[str, str], tx: bytes) -> NewEvent:
    return NewEvent(
        chain_id=31337,
        block_number=block,
        block_hash=block.to_bytes(32, "big"),
        parent_hash=(block - 1).to_bytes(32, "big"),
        block_timestamp=1_700_000_000 + block,
        tx_hash=tx,
        tx_index=0,
        log_index=log_index,
        address=b"\x11" * 20,
        event_name=name,
        args=args,
    )


def seed(db_url: str, count: int) -> None:
    """`count` listings (and ratings) projected, with their metadata documents."""
    rng = random.Random(7)
    providers = ["0x" + rng.randbytes(20).hex() for _ in range(200)]
    events: list[NewEvent] = []
    for i in range(1, count + 1):
        events.append(
            _event(
                i,
                0,
                "DatasetListed",
                {
                    "datasetId": str(i),
                    "provider": rng.choice(providers),
                    "price": str(rng.randint(1, 1000) * 10**18),
                    "accessDuration": "0",
                    "metadataCid": f"bafy-bench-{i}",
                    "contentHash": "0x" + "00" * 32,
                    "category": rng.choice(CATEGORIES),
                },
                rng.randbytes(32),
            )
        )
        for j in range(rng.randint(0, 3)):
            rating = {
                "datasetId": str(i),
                "rater": rng.choice(providers),
                "score": str(rng.randint(1, 5)),
            }
            events.append(_event(i, 1 + j, "Rated", rating, rng.randbytes(32)))
    store = PostgresEventStore(db_url)
    last = events[-1]
    block = BlockRecord(last.block_number, last.block_hash, last.parent_hash, 0)
    store.append(
        events,
        Checkpoint(
            chain_id=31337,
            block_number=last.block_number,
            block_hash=last.block_hash,
            finalized_number=last.block_number,
            blocks=(block,),
        ),
        None,
    )
    Projector(db_url, store, batch_size=50_000).run_once()
    rows = []
    for i in range(1, count + 1):
        title = " ".join(rng.sample(WORDS, 3)).title()
        about = f"{title}: {' '.join(rng.sample(WORDS, 8))}"
        rows.append(
            (
                f"bafy-bench-{i}",
                title,
                about,
                "",
                "csv",
                rng.randint(10, 10**6),
                rng.randint(2, 50),
                Jsonb({}),
            )
        )
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO dataset_metadata (cid, title, description, tags, format, rows, columns,"
            " document) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        cur.execute("ANALYZE")
    store.close()


def query_mix(rng: random.Random) -> dict[str, Any]:
    """One dApp-like query."""
    kind = rng.random()
    params: dict[str, Any] = {
        "limit": 20,
        "sort": rng.choice(["newest", "price", "purchases", "rating"]),
    }
    if kind < 0.3:
        params["q"] = rng.choice(WORDS)
    elif kind < 0.55:
        params["category"] = rng.choice(CATEGORIES)
    elif kind < 0.75:
        low = rng.randint(1, 500) * 10**18
        params["min_price"], params["max_price"] = str(low), str(low + 200 * 10**18)
    return params


async def _load(url: str, rate: float, seconds: float) -> tuple[list[float], int, int, float]:
    rng = random.Random(1)
    # A next page repeats its first page's query with the cursor added: a cursor names a
    # position in one sort and filter (the API refuses it with any other, 400).
    follow_ups: list[str] = []

    def target() -> str:
        if follow_ups and rng.random() < 0.2:
            return follow_ups.pop()
        return "/datasets?" + urlencode(query_mix(rng))

    def keep_cursor(sent: str, body: bytes) -> None:
        # The page's last key; a full JSON parse would cost the generator more than the
        # server spends rendering the page.
        at = body.rfind(b'"next_cursor":"')
        if at >= 0 and len(follow_ups) < 1000:
            start = at + len(b'"next_cursor":"')
            cursor = body[start : body.index(b'"', start)].decode()
            first_page = sent.split("&cursor=", 1)[0]
            follow_ups.append(f"{first_page}&{urlencode({'cursor': cursor})}")

    result = await openloop.run(url, rate, seconds, next_target=target, on_body=keep_cursor)
    return result.latencies, result.errors, result.total, result.elapsed


def load_process(url: str, rate: float, seconds: float, out: Any) -> None:
    """Runs in a second process, so the load generator does not share the server's GIL."""
    # This module's imports leave ~150k objects on the heap: a full collection in the middle
    # of the run stalled the generator ~150 ms, and that stall was measured as server latency.
    gc.collect()
    gc.freeze()
    uvloop.install()
    started = time.process_time()
    result = asyncio.run(_load(url, rate, seconds))
    out.send((*result, time.process_time() - started))


TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: [state, ppid, ...]."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) used by process `pid` so far; 0 once it is gone."""
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


class CpuMeter:
    """CPU seconds used by the server's processes, the database's backends and the whole
    machine between `start` and `stop`: what a request costs, and how busy the shared cores
    were with anything else (other benchmarks and test runs share this machine). Linux only."""

    def __init__(self, server_pid: int, database: str) -> None:
        self.server_pid, self.database = server_pid, database

    def _pids(self) -> dict[str, list[int]]:
        workers = []
        for entry in os.listdir("/proc"):
            with contextlib.suppress(OSError, IndexError):
                if entry.isdigit() and int(_stat(int(entry))[1]) == self.server_pid:
                    workers.append(int(entry))
        with psycopg.connect(ADMIN) as conn:
            query = "SELECT pid FROM pg_stat_activity WHERE datname = %s"
            backends = [r[0] for r in conn.execute(query, [self.database])]
        return {"server": [self.server_pid, *workers], "postgres": backends}

    @staticmethod
    def _busy() -> float:
        return cpu_busy()[0] / TICK  # /proc/stat counts in the same clock ticks

    def start(self) -> None:
        self.before = {g: {p: _cpu(p) for p in pids} for g, pids in self._pids().items()}
        self.busy_before = self._busy()

    def stop(self) -> dict[str, float]:
        """Seconds of CPU per group (a backend opened during the run counts from zero)."""
        used = {
            g: sum(_cpu(p) - self.before[g].get(p, 0.0) for p in pids)
            for g, pids in self._pids().items()
        }
        return {**used, "machine": self._busy() - self.busy_before}


def serve(
    db_url: str, data_dir: Path, port: int, workers: int, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """`datacoin serve` on `port`, once it answers /health; `cwd`: run another checkout's
    API (a peer in an A/B; the same virtual environment)."""
    env = {
        **os.environ,
        "DATACOIN_DATABASE_URL": db_url,
        "DATACOIN_DATA_DIR": str(data_dir),
        "DATACOIN_LOG_FORMAT": "json",
        "DATACOIN_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=cwd,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("datacoin serve did not come up")
        time.sleep(0.2)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def head_to_api(db_url: str, data_dir: Path, blocks: int) -> list[float]:
    """Mine `blocks` blocks with one listing each; time until each shows on /stream."""
    node = start_anvil()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        w3 = connect(node.url)
        deployer = Transactor(w3, dev_account(0))
        deployment = deploy_platform(deployer)
        manifest = data_dir / "deployment.json"
        deployment.save(manifest)
        env = {
            **os.environ,
            "DATACOIN_DATABASE_URL": db_url,
            "DATACOIN_RPC_URL": node.url,
            "DATACOIN_CONFIRMATIONS": "2",
            "DATACOIN_POLL_INTERVAL": "0.05",
            "DATACOIN_LOG_FORMAT": "json",
            "DATACOIN_LOG_LEVEL": "WARNING",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "cli.main", "index", "--manifest", str(manifest)], env=env
            )
        )
        port = free_port()
        procs.append(serve(db_url, data_dir, port, 1))
        seen: dict[str, float] = {}
        ready = threading.Event()

        def listen() -> None:
            try:
                with (
                    httpx.Client(timeout=None) as http,
                    http.stream("GET", f"http://127.0.0.1:{port}/stream") as r,
                ):
                    ready.set()
                    for line in r.iter_lines():
                        if line.startswith("data:") and '"metadata_cid"' in line:
                            cid = line.split('"metadata_cid":"')[1].split('"')[0]
                            seen[cid] = time.perf_counter()
            except httpx.HTTPError:
                return  # the server stopped at the end of the run

        threading.Thread(target=listen, daemon=True).start()
        ready.wait(10)
        time.sleep(1.0)
        address = Web3.to_checksum_address(deployment.address("Marketplace"))
        market = w3.eth.contract(address=address, abi=load_artifact("Marketplace")["abi"])
        provider = Transactor(w3, dev_account(1))
        mined: dict[str, float] = {}
        for i in range(blocks):
            cid = f"bafy-head-{i}"
            provider.send(market.functions.listDataset(cid, bytes(32), "tabular", 1, 0))
            mined[cid] = time.perf_counter()
            time.sleep(0.05)
        deadline = time.monotonic() + 30
        while len(seen) < blocks and time.monotonic() < deadline:
            time.sleep(0.1)
        return [seen[c] - mined[c] for c in mined if c in seen]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        node.stop()


def main() -> None:
    """Run both measurements and print medians, percentiles and the verdicts."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--blocks", type=int, default=200)
    args = parser.parse_args()
    name = f"datacoin_bench_api_{uuid.uuid4().hex[:8]}"
    db_url = f"{ADMIN.rsplit('/', 1)[0]}/{name}"
    data_dir = Path(f"/tmp/{name}")
    data_dir.mkdir()
    upgrade(db_url)
    try:
        seed(db_url, args.datasets)
        port = free_port()
        server = serve(db_url, data_dir, port, args.workers)
        try:
            parent, child = mp.Pipe()
            loader = mp.get_context("spawn").Process(
                target=load_process,
                args=(f"http://127.0.0.1:{port}", args.rate, args.seconds, child),
            )
            meter = CpuMeter(server.pid, name)
            meter.start()
            loader.start()
            latencies, errors, total, elapsed, loader_cpu = parent.recv()
            cpu = meter.stop()
            loader.join()
        finally:
            server.terminate()
            server.wait(timeout=10)
        ms = [x * 1000 for x in latencies]
        print(
            f"\nGET /datasets, {args.datasets:,} datasets, {args.workers} uvicorn workers, "
            f"offered {args.rate:.0f} req/s for {args.seconds:.0f} s:"
        )
        print(f"  achieved {len(latencies) / elapsed:,.0f} req/s, errors {errors}/{total}")
        print(f"  p50 {pct(ms, 0.5):.1f} ms   p99 {pct(ms, 0.99):.1f} ms   (target p99 <= 25 ms)")
        us = {k: v / total * 1e6 for k, v in {**cpu, "load generator": loader_cpu}.items()}
        others = cpu["machine"] - cpu["server"] - cpu["postgres"] - loader_cpu
        print(
            f"  CPU per request: server {us['server']:.0f} us, PostgreSQL {us['postgres']:.0f}"
            f" us, load generator {us['load generator']:.0f} us; the machine's {os.cpu_count()}"
            f" cores {cpu['machine'] / elapsed:.0%} busy, {others / elapsed:.0%} of a core"
            " with other processes"
        )
        head_db = f"{db_url}_head"
        upgrade(head_db)
        lat = [x * 1000 for x in head_to_api(head_db, data_dir, args.blocks)]
        print(f"\nhead -> /stream over {len(lat)} of {args.blocks} blocks:")
        p50, p99 = statistics.median(lat), pct(lat, 0.99)
        print(f"  p50 {p50:.0f} ms   p99 {p99:.0f} ms   (target p50 <= 250 ms)")
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP DATABASE IF EXISTS "{name}_head" WITH (FORCE)')


if __name__ == "__main__":
    main()
