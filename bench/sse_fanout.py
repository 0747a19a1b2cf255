"""Benchmark: one block, N clients on ``/stream``; block mined -> event at each client.

A fresh anvil with the platform deployed, ``datacoin index`` following it (it NOTIFYs on
each commit; the API's ``EventHub`` reads the new entries once per process and fans them
out) and ``datacoin serve --workers W`` (the product's compose file runs one worker per
container). ``--clients`` SSE clients (each list item is one run, on a fresh stack) are
opened from ``--client-procs`` separate processes (asyncio on uvloop, a bare HTTP/1.1
protocol that de-chunks the body and parses ``id:`` and ``data:`` lines), so their CPU is
not the server's. Once every client has its response head (its hub subscription exists
before the head is sent), ``--rounds`` blocks are mined ``--gap`` seconds apart, each with
one ``listDataset`` (one streamed ``dataset`` event): anvil's automine is off, the
transaction is sent, and the clock starts when ``evm_mine`` returns (the block exists).

Per run it prints clients connected, deliveries received against expected (every client
must get every round's event exactly once, with the same ``id`` at every client, the
position of that listing), latency from the mining to each client's receipt of the event
(p50/p90/p99/max over all deliveries), split at the NOTIFY (a LISTEN connection in this
process stamps when it arrives: mined -> NOTIFY is the indexer's part, NOTIFY -> client the
API's fan-out and the clients' reading), and CPU-seconds during the rounds of the API
process(es), the indexer, PostgreSQL's backends, the client processes and the rest of the
machine, per delivered event. Everything started is stopped and the databases dropped, on
failure and Ctrl-C too.

Run: ``nice -n 5 .venv/bin/python -m bench.sse_fanout`` (``--clients 100 1000``)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import cast

import psycopg
import uvloop
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import Nonce, TxParams

from bench.api_load import TICK, CpuMeter, _cpu, _stat, serve
from bench.scratch import scratch_database
from common.anvil import AnvilNode, free_port, start_anvil
from common.chain import Transactor, connect, dev_account
from common.deploy import deploy_platform
from common.logs import configure_logging
from contracts.artifacts import load_artifact
from indexer.store_pg import NOTIFY_CHANNEL

#: The listing of round r carries this metadata CID (the clients find their round by it).
CID_PREFIX = "bafy-sse-"
CID_MARK = b'"metadata_cid":"' + CID_PREFIX.encode()
#: Clients opened at once per client process while connecting (the API reads a backlog
#: per new stream from a pool of 10 connections: a burst of 1,000 would queue on it).
CONNECT_BATCH = 50


@dataclass(frozen=True)
class Delivery:
    """One SSE message with an id, as one client received it."""

    client: int
    round: int
    id: int
    at: float  # time.monotonic() when the bytes that completed it arrived


@dataclass
class ClientResults:
    """What a client process sends back at the end."""

    connected: int
    failed: int
    deliveries: list[Delivery]
    cpu_s: float  # the process's CPU-seconds between "start" and "stop"


class _SseClient(asyncio.Protocol):
    """One ``GET /stream`` on a bare connection: de-chunks the body, parses messages."""

    def __init__(self, index: int, request: bytes, out: list[Delivery]) -> None:
        self.index, self.request, self.out = index, request, out
        self.head: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.raw = bytearray()  # bytes not yet de-chunked
        self.body = bytearray()  # de-chunked bytes not yet parsed into messages
        self.chunk_left = -1  # bytes left in the current chunk (+2 for its CRLF); -1: size next
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_result(False)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.raw += data
        if not self.head.done():
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.raw[:end]).lower()
            del self.raw[: end + 4]
            ok = head.startswith(b"http/1.1 200") and b"transfer-encoding: chunked" in head
            self.head.set_result(ok)
            if not ok:
                assert self.transport is not None
                self.transport.close()
                return
        self._dechunk()
        self._messages(now)

    def _dechunk(self) -> None:
        while self.raw:
            if self.chunk_left < 0:
                line_end = self.raw.find(b"\r\n")
                if line_end < 0:
                    return
                size = int(bytes(self.raw[:line_end]).split(b";", 1)[0], 16)
                del self.raw[: line_end + 2]
                self.chunk_left = size + 2
            take = min(self.chunk_left, len(self.raw))
            self.body += self.raw[:take]
            del self.raw[:take]
            self.chunk_left -= take
            if self.chunk_left == 0:
                del self.body[-2:]  # the chunk's trailing CRLF
                self.chunk_left = -1

    def _messages(self, now: float) -> None:
        while (end := self.body.find(b"\r\n\r\n")) >= 0:
            message = bytes(self.body[:end])
            del self.body[: end + 4]
            if not message.startswith(b"id: "):
                continue  # a ping (a comment)
            ident = int(message[4 : message.index(b"\r\n")])
            at = message.find(CID_MARK)
            if at < 0:
                continue  # not one of this benchmark's listings
            start = at + len(CID_MARK)
            round_ = int(message[start : message.index(b'"', start)])
            self.out.append(Delivery(self.index, round_, ident, now))


async def _connect(
    port: int, first: int, count: int, out: list[Delivery]
) -> tuple[list[_SseClient], int]:
    """Open clients `first`.. in batches; the ones whose response head came, and failures."""
    loop = asyncio.get_running_loop()
    request = (
        f"GET /stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    streams: list[_SseClient] = []
    failed = 0
    for batch in range(first, first + count, CONNECT_BATCH):
        opened = []
        for index in range(batch, min(batch + CONNECT_BATCH, first + count)):
            client = _SseClient(index, request, out)
            try:
                await loop.create_connection(lambda c=client: c, "127.0.0.1", port)  # type: ignore[misc]
            except OSError:
                failed += 1
                continue
            opened.append(client)
        for client in opened:
            try:
                ok = await asyncio.wait_for(client.head, 30)
            except TimeoutError:
                ok = False
            if ok:
                streams.append(client)
            else:
                failed += 1
    return streams, failed


async def _clients(port: int, first: int, count: int, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    deliveries: list[Delivery] = []
    streams, failed = await _connect(port, first, count, deliveries)
    pipe.send(("connected", len(streams), failed))
    cpu_start = 0.0
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command == "start":
            cpu_start = time.process_time()
        elif command == "count":
            pipe.send(len(deliveries))
        elif command == "stop":
            cpu = time.process_time() - cpu_start
            pipe.send(ClientResults(len(streams), failed, deliveries, cpu))
            break
    for client in streams:
        if client.transport is not None:
            client.transport.close()


def client_process(port: int, first: int, count: int, pipe: Connection) -> None:
    """Runs in its own process: `count` clients numbered from `first`, driven by `pipe`."""
    _raise_nofile()
    gc.collect()
    gc.freeze()  # no full collection of the imports' objects in the middle of a round
    uvloop.install()
    asyncio.run(_clients(port, first, count, pipe))


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class NotifyStamps:
    """A LISTEN connection on the indexer's channel in a thread: when each NOTIFY arrived."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.stamps: list[float] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> NotifyStamps:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._ready.set()
            while not self._stop.is_set():
                for _ in conn.notifies(timeout=0.2):
                    self.stamps.append(time.monotonic())

    def first_after(self, t: float) -> float | None:
        """When the first NOTIFY after `t` arrived (None if none did)."""
        return next((s for s in self.stamps if s >= t), None)


@dataclass
class RunResult:
    """One run's numbers (latencies in seconds)."""

    clients: int
    connected: int
    failed: int
    rounds: int
    expected: int
    received: int = 0
    duplicates: int = 0
    id_mismatches: int = 0
    latencies: list[float] = field(default_factory=list)
    to_notify: list[float] = field(default_factory=list)
    notify_to_client: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    window_s: float = 0.0


@contextlib.contextmanager
def _processes(procs: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _index(node: AnvilNode, db_url: str, manifest: Path, poll: float) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATACOIN_DATABASE_URL": db_url,
        "DATACOIN_RPC_URL": node.url,
        "DATACOIN_CONFIRMATIONS": "2",
        "DATACOIN_POLL_INTERVAL": str(poll),
        "DATACOIN_LOG_FORMAT": "json",
        "DATACOIN_LOG_LEVEL": "WARNING",
    }
    args = [sys.executable, "-m", "cli.main", "index", "--manifest", str(manifest)]
    return subprocess.Popen(args, env=env)


def _wait_indexed(db_url: str, block: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(db_url, autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT max(number) FROM indexed_blocks").fetchone()
            if row and row[0] is not None and row[0] >= block:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the indexer did not reach block {block}")
            time.sleep(0.1)


@dataclass
class Stack:
    """What one run started (stopped by `measure`, whatever happens)."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    children: list[tuple[mp.process.BaseProcess, Connection]] = field(default_factory=list)


def measure(clients: int, args: argparse.Namespace, api_tree: Path | None = None) -> RunResult:
    """One run on a fresh anvil, database, indexer and API (`api_tree`'s API if given)."""
    stack = Stack()
    with (
        start_anvil() as node,
        scratch_database("wt_sse_bench") as db_url,
        tempfile.TemporaryDirectory() as tmp,
        _processes(stack.procs),
    ):
        try:
            return _run(
                clients,
                args,
                node=node,
                db_url=db_url,
                data_dir=Path(tmp),
                stack=stack,
                api_tree=api_tree,
            )
        finally:
            for child, pipe in stack.children:
                with contextlib.suppress(OSError):
                    pipe.send("stop")
                child.join(10)
                if child.is_alive():
                    child.kill()
                    child.join()


def _start_clients(clients: int, procs: int, port: int, stack: Stack) -> tuple[int, int]:
    """Start the client processes; (connected, failed) once every client tried."""
    ctx = mp.get_context("spawn")
    first = 0
    for i in range(procs):
        count = clients // procs + (i < clients % procs)
        parent, child_end = ctx.Pipe()
        child = ctx.Process(target=client_process, args=(port, first, count, child_end))
        child.start()
        stack.children.append((child, parent))
        first += count
    connected = failed = 0
    for _, pipe in stack.children:
        _, ok, bad = pipe.recv()
        connected, failed = connected + ok, failed + bad
    return connected, failed


def _mine(
    w3: Web3, market: Contract, rounds: int, gap: float
) -> tuple[list[float], list[HexBytes]]:
    """`rounds` blocks `gap` s apart, one listing each: when each `evm_mine` returned."""
    provider = dev_account(1)
    nonce = w3.eth.get_transaction_count(provider.address)
    chain_id = w3.eth.chain_id
    mined: list[float] = []
    tx_hashes = []
    t0 = time.monotonic()
    for r in range(rounds):
        time.sleep(max(0.0, t0 + r * gap - time.monotonic()))
        params: TxParams = {
            "from": provider.address,
            "nonce": Nonce(nonce + r),
            "chainId": chain_id,
            "gas": 1_000_000,
        }
        call = market.functions.listDataset(f"{CID_PREFIX}{r}", bytes(32), "tabular", 1, 0)
        signed = provider.sign_transaction(dict(call.build_transaction(params)))  # type: ignore[arg-type]
        tx_hashes.append(w3.eth.send_raw_transaction(signed.raw_transaction))
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        mined.append(time.monotonic())
    return mined, tx_hashes


def _run(
    clients: int,
    args: argparse.Namespace,
    *,
    node: AnvilNode,
    db_url: str,
    data_dir: Path,
    stack: Stack,
    api_tree: Path | None,
) -> RunResult:
    w3 = connect(node.url)
    deployment = deploy_platform(Transactor(w3, dev_account(0)))
    manifest = data_dir / "deployment.json"
    deployment.save(manifest)
    indexer = _index(node, db_url, manifest, args.poll)
    stack.procs.append(indexer)
    _wait_indexed(db_url, w3.eth.block_number)
    port = free_port()
    server = serve(db_url, data_dir, port, args.workers, cwd=api_tree)
    stack.procs.append(server)
    connected, failed = _start_clients(clients, args.client_procs, port, stack)
    time.sleep(1.0)  # let the connections' first backlog reads settle

    market = w3.eth.contract(
        address=Web3.to_checksum_address(deployment.address("Marketplace")),
        abi=load_artifact("Marketplace")["abi"],
    )
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    meter = CpuMeter(server.pid, db_url.rsplit("/", 1)[1])
    with NotifyStamps(db_url) as notifies:
        meter.start()
        before = {"indexer": _cpu(indexer.pid), "api_system": _system_cpu(server.pid)}
        for _, pipe in stack.children:
            pipe.send("start")
        t0 = time.monotonic()
        mined, tx_hashes = _mine(w3, market, args.rounds, args.gap)
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            got = 0
            for _, pipe in stack.children:
                pipe.send("count")
                got += pipe.recv()
            if got >= connected * args.rounds:
                break
            time.sleep(0.1)
        window = time.monotonic() - t0
        cpu = meter.stop()
        cpu["indexer"] = _cpu(indexer.pid) - before["indexer"]
        cpu["api_system"] = _system_cpu(server.pid) - before["api_system"]
        results: list[ClientResults] = []
        for _, pipe in stack.children:
            pipe.send("stop")
            results.append(pipe.recv())
        cpu["clients"] = sum(r.cpu_s for r in results)
    for tx_hash in tx_hashes:
        assert w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
    result = RunResult(
        clients=clients,
        connected=connected,
        failed=failed,
        rounds=args.rounds,
        expected=connected * args.rounds,
        cpu=cpu,
        window_s=window,
    )
    _tally(result, mined, notifies, [d for r in results for d in r.deliveries])
    return result


def _system_cpu(pid: int) -> float:
    """Kernel CPU-seconds of `pid` and its children so far (the socket writes, mostly)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if entry.isdigit() and (int(entry) == pid or int(_stat(int(entry))[1]) == pid):
                total += int(_stat(int(entry))[12]) / TICK
    return total


def _tally(
    result: RunResult, mined: list[float], notifies: NotifyStamps, deliveries: list[Delivery]
) -> None:
    """Count and time the deliveries into `result`: each (client, round) once."""
    seen: set[tuple[int, int]] = set()
    ids_by_round: dict[int, set[int]] = {}
    notify_at = [notifies.first_after(t) for t in mined]
    for d in deliveries:
        if (d.client, d.round) in seen:
            result.duplicates += 1
            continue
        seen.add((d.client, d.round))
        ids_by_round.setdefault(d.round, set()).add(d.id)
        result.received += 1
        result.latencies.append(d.at - mined[d.round])
        if (n := notify_at[d.round]) is not None:
            result.notify_to_client.append(d.at - n)
    # Every client must see a round's listing under the same id (its position).
    result.id_mismatches = sum(len(ids) - 1 for ids in ids_by_round.values())
    result.to_notify = [n - m for n, m in zip(notify_at, mined, strict=True) if n is not None]


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) in milliseconds; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report(result: RunResult, args: argparse.Namespace, api: str) -> None:
    """Print one run."""
    r = result
    print(
        f"\n{api}: {r.clients:,} clients ({args.client_procs} client processes), datacoin serve"
        f" --workers {args.workers}, indexer poll {args.poll} s, {r.rounds} rounds {args.gap} s"
        " apart:"
    )
    print(
        f"  connected {r.connected:,} (failed {r.failed}); deliveries {r.received:,} of"
        f" {r.expected:,} expected, duplicates {r.duplicates}, id mismatches {r.id_mismatches}"
    )
    lat = r.latencies
    print(
        f"  mined -> client: p50 {pct(lat, 0.5):.0f} ms  p90 {pct(lat, 0.9):.0f} ms"
        f"  p99 {pct(lat, 0.99):.0f} ms  max {pct(lat, 1.0):.0f} ms   (target p99 <= 500 ms)"
    )
    print(
        f"  of which mined -> NOTIFY (indexer) median {pct(r.to_notify, 0.5):.0f} ms, max"
        f" {pct(r.to_notify, 1.0):.0f} ms; NOTIFY -> client p50"
        f" {pct(r.notify_to_client, 0.5):.0f} ms, p99 {pct(r.notify_to_client, 0.99):.0f} ms"
    )
    per = max(r.received, 1)
    c = r.cpu
    others = c["machine"] - c["server"] - c["postgres"] - c["indexer"] - c["clients"]
    print(
        f"  CPU per delivered event: API {c['server'] / per * 1e6:.0f} us, indexer"
        f" {c['indexer'] / per * 1e6:.1f} us, PostgreSQL {c['postgres'] / per * 1e6:.1f} us,"
        f" clients {c['clients'] / per * 1e6:.0f} us (API in the kernel:"
        f" {c['api_system'] / per * 1e6:.0f} us)"
    )
    print(
        f"  CPU-seconds over the {r.window_s:.1f} s of rounds: API {c['server']:.2f}, indexer"
        f" {c['indexer']:.2f}, PostgreSQL {c['postgres']:.2f}, clients {c['clients']:.2f},"
        f" other processes {others:.2f} ({others / r.window_s:.0%} of a core); machine"
        f" {c['machine'] / r.window_s:.2f} of {os.cpu_count()} cores busy; load average"
        f" {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    """Run each client count on a fresh stack and print the numbers."""
    parser = argparse.ArgumentParser(prog="python -m bench.sse_fanout")
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between blocks")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--poll", type=float, default=0.05, help="indexer head poll (s)")
    parser.add_argument("--drain", type=float, default=15.0, help="seconds to wait after")
    parser.add_argument(
        "--peer",
        type=Path,
        help="another checkout whose API runs each size first (an A/B in one run: e.g. a"
        " `git worktree add --detach` of the commit before a change; same .venv)",
    )
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    _raise_nofile()  # (inherited by the API and the client processes)
    for clients in args.clients:
        peer = measure(clients, args, args.peer) if args.peer else None
        this = measure(clients, args)
        if peer is not None:
            report(peer, args, f"peer {args.peer}")
        report(this, args, "this checkout")
        if peer is not None:
            p99 = pct(this.latencies, 0.99) / pct(peer.latencies, 0.99)
            cpu = _per(this, "server") / _per(peer, "server")
            print(f"  ratios this/peer: p99 {p99:.2f}, API CPU per delivery {cpu:.2f}")


def _per(result: RunResult, group: str) -> float:
    return result.cpu[group] / max(result.received, 1)


if __name__ == "__main__":
    main()
