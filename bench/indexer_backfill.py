"""Backfill benchmark: our indexer against the raw ceiling and against Ponder, in one run.

    .venv/bin/python -m bench.indexer_backfill --events 100000

1. Starts its own anvil (block gas limit raised), deploys the platform and generates
   ``--events`` events, many per transaction: ``DataCoin.multicall`` of ``transfer`` calls
   (Transfer) mixed with ``Marketplace.multicall`` of ``listDataset`` calls (DatasetListed,
   with strings). Transactions are signed locally with explicit nonces and gas and sent in
   JSON-RPC batches; the receipts are checked at the end. Then 50 empty blocks are mined so
   Ponder's 30-block unfinalized hold-back hides nothing. With ``--anvil-state PATH`` the
   chain is dumped there after generation (``anvil_dumpState``, gzip, with what was
   generated in ``PATH.meta.json``) and, on later runs with the same ``--events``,
   ``--events-per-tx`` and ``--listing-every``, loaded instead of generated (anvil
   ``--load-state``); a loaded chain must serve, through ``eth_getLogs`` of every block,
   exactly the logs it was dumped with, or the script says so and generates.
2. Measures, ``--repeats`` times each (medians reported):
   (a) the raw ceiling: ``eth_getLogs`` in ~1k-log chunks (``RpcClient``, 4 in flight, in
       order) and a binary COPY of the undecoded rows into a scratch table, one commit per
       chunk; a getLogs-only pass is timed too, to show the transport's share;
   (b) our backfill: ``Indexer.run(to_block=head)`` with ``confirmations=0`` into a fresh
       migrated database, then checks the store holds exactly the chain's events;
       The peak RSS of the process tree (this script's process, the fetch worker processes
       and their fork server), sampled from /proc every 50 ms, is printed per run;
   (c) Ponder 0.16.10 (``bench/ponder``) once per ``--ponder-runs``, ``ponder start`` against
       a fresh database, timed until its tables hold every event;
   (d) Paradigm's cryo (``--cryo-runs``; PyPI ``cryo`` 0.3.2 installed outside the locks,
       ``--cryo-path``): ``cryo.freeze("logs")`` over the same blocks and contracts to
       Parquet in a temporary directory, checked to hold every platform log: what fetching
       to files alone costs;
   (e) empty database -> API (``--up-runs``): ``datacoin db upgrade`` then ``datacoin up``
       (indexer, projector, API and worker in one process) against the bench's anvil and
       manifest, timed from the first process's start until ``GET /health`` shows the chain
       indexed to the head and the read models at the store's last position, and
       ``GET /stats`` counts every listing; compared with Ponder's start to its last row.
3. Prints events/s and the ratios ours / raw ceiling and ours / Ponder, and writes them to
   ``bench/RESULTS.md`` (``--results``; text below the notes marker is kept), or, with
   ``--results-section HEADING``, as that subsection of the issue-20 block (``scale:start``
   to ``scale:end``), before its targets table, leaving the rest of the file alone.

Everything it starts (anvil, ponder) is stopped and every database it creates is dropped,
also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import http.client
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence, Set
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
import psycopg
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from bench.cpu import cpu_busy
from common.anvil import AnvilNode, find_anvil, free_port, start_anvil
from common.chain import Transactor, connect, dev_account
from common.deploy import deploy_platform
from common.logs import configure_logging
from common.manifest import Deployment
from contracts.artifacts import load_artifact
from indexer.decode import EventDecoder, event_specs
from indexer.rpc import JsonObj, RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from migrations.runner import upgrade

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PONDER_DIR = BENCH_DIR / "ponder"
DEFAULT_RESULTS = BENCH_DIR / "RESULTS.md"
NOTES_MARKER = "<!-- notes: everything below this line is kept when the benchmark rewrites -->"

BLOCK_GAS_LIMIT = 1_000_000_000
EMPTY_BLOCKS = 50  # > Ponder's 30-block finality hold-back for unknown chains
RAW_CHUNK_LOGS = 1_000
RAW_CONCURRENCY = 4  # the indexer's default getLogs concurrency
LISTING_TXS_PER_BLOCK = 10
MAX_FEE = 20 * 10**9
PRIORITY_FEE = 10**9


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def _topic(contract: str, event: str) -> str:
    for spec in event_specs(load_artifact(contract)["abi"]):
        if spec.name == event:
            return spec.topic0
    raise KeyError(f"{contract} has no event {event}")


# -- 1. the chain ------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    """What was generated on the chain."""

    deployment: Deployment
    head: int
    transactions: int
    generated: int  # Transfer + DatasetListed events from the workload's transactions
    expected_total: int  # every platform log from the start block (what our store must hold)
    expected_by_name: dict[str, int]
    expected_ponder: int  # DataCoin Transfer + Marketplace DatasetListed (Ponder's handlers)
    blocks: int
    seconds: float


def _transfer_calls(first: int, count: int) -> list[bytes]:
    selector = _selector("transfer(address,uint256)")
    calls = []
    for i in range(first, first + count):
        recipient = (0x1000 + i % 64).to_bytes(32, "big")  # 64 recipients, never address(0)
        calls.append(selector + recipient + (1 + i % 997).to_bytes(32, "big"))
    return calls


def _listing_calls(first: int, count: int) -> list[bytes]:
    selector = _selector("listDataset(string,bytes32,string,uint256,uint64)")
    types = ["string", "bytes32", "string", "uint256", "uint64"]
    categories = ("tabular", "image", "text", "audio")
    return [
        selector
        + abi_encode(
            types,
            [
                f"bafybench{i:012d}",
                hashlib.sha256(i.to_bytes(8, "big")).digest(),
                categories[i % len(categories)],
                (i + 1) * 10**15,
                3600 * (i % 2),
            ],
        )
        for i in range(first, first + count)
    ]


def _multicall(calls: list[bytes]) -> bytes:
    return _selector("multicall(bytes[])") + abi_encode(["bytes[]"], [calls])


def _plan(events: int, per_tx: int, listing_every: int) -> list[tuple[str, int, int]]:
    """(kind, first index of its kind, count) per transaction, `events` events in all."""
    plan: list[tuple[str, int, int]] = []
    made = {"transfer": 0, "listing": 0}
    left = events
    while left > 0:
        kind = (
            "listing"
            if listing_every and len(plan) % listing_every == listing_every - 1
            else "transfer"
        )
        count = min(per_tx, left)
        plan.append((kind, made[kind], count))
        made[kind] += count
        left -= count
    return plan


def _estimate(rpc: RpcClient, sender: str, to: str, data: bytes) -> int:
    tx = {"from": sender, "to": to, "data": "0x" + data.hex()}
    gas = int(rpc.call("eth_estimateGas", [tx, "pending"]), 16)
    return gas + gas // 4 + 50_000


def _mine_blocks(rpc: RpcClient, blocks: list[list[bytes]]) -> list[str]:
    """Send each block's raw transactions, then mine exactly that block (automine is off)."""
    hashes: list[str] = []
    for raw_txs in blocks:
        hashes.extend(rpc.batch([("eth_sendRawTransaction", ["0x" + r.hex()]) for r in raw_txs]))
        rpc.call("evm_mine")
    return hashes


def _check_receipts(rpc: RpcClient, hashes: list[str], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while rpc.call("eth_getTransactionReceipt", [hashes[-1]]) is None:
        if time.monotonic() > deadline:
            raise RuntimeError("the last benchmark transaction was not mined in time")
        time.sleep(0.1)
    for i in range(0, len(hashes), 200):
        chunk = hashes[i : i + 200]
        receipts = rpc.batch([("eth_getTransactionReceipt", [h]) for h in chunk])
        for tx_hash, receipt in zip(chunk, receipts, strict=True):
            if receipt is None or receipt.get("status") != "0x1":
                raise RuntimeError(f"benchmark transaction {tx_hash} failed: {receipt}")


def _survey(rpc: RpcClient, deployment: Deployment, head: int) -> tuple[int, dict[str, int], int]:
    """Count the chain's platform logs (untimed): total, by event name, Ponder's share."""
    decoder = EventDecoder(deployment.addresses_by_artifact())
    coin = deployment.address("DataCoin").lower()
    market = deployment.address("Marketplace").lower()
    ponder_keys = {
        (coin, _topic("DataCoin", "Transfer")),
        (market, _topic("Marketplace", "DatasetListed")),
    }
    by_name: Counter[str] = Counter()
    total = ponder = 0
    step = 100
    for start in range(deployment.start_block, head + 1, step):
        end = min(head, start + step - 1)
        for raw in rpc.get_logs(start, end, decoder.addresses, decoder.topics):
            total += 1
            by_name[decoder.spec_for(raw["address"], raw["topics"][0]).name] += 1
            ponder += (raw["address"].lower(), raw["topics"][0].lower()) in ponder_keys
    return total, dict(by_name), ponder


def _pack(plan: list[tuple[str, int, int]], raw_txs: list[bytes]) -> list[list[bytes]]:
    """Blocks: each transfer transaction alone, then the listing transactions
    LISTING_TXS_PER_BLOCK to a block.

    anvil's cost per mined block grows with the chain's whole state (it rebuilds the state
    root), and every listing adds Marketplace storage while transfers between a fixed set of
    holders add none. Interleaving listings with one block per transaction made generation
    quadratic (~90 s for 100k events); mining the transfer blocks first and the listings in
    few blocks keeps it to seconds. The indexers do not care about the order."""
    transfers = [raw for (kind, _, _), raw in zip(plan, raw_txs, strict=True) if kind == "transfer"]
    listings = [raw for (kind, _, _), raw in zip(plan, raw_txs, strict=True) if kind != "transfer"]
    step = LISTING_TXS_PER_BLOCK
    return [[raw] for raw in transfers] + [
        listings[i : i + step] for i in range(0, len(listings), step)
    ]


def generate(
    node: AnvilNode, events: int, per_tx: int, listing_every: int, say: Callable[[str], None]
) -> Workload:
    """Deploy the platform and emit `events` events; return what the chain now holds."""
    started = time.perf_counter()
    deployer: LocalAccount = dev_account(0)
    deployment = deploy_platform(Transactor(connect(node.url), deployer))
    rpc = RpcClient(node.url, timeout=120.0)
    # Transfers come from the deployer (it holds the supply), listings from account 1: two
    # nonce sequences, so listing transactions can wait for their block without a nonce gap.
    senders = {"transfer": deployer, "listing": dev_account(1)}
    targets = {
        "transfer": deployment.address("DataCoin"),
        "listing": deployment.address("Marketplace"),
    }
    encoders = {"transfer": _transfer_calls, "listing": _listing_calls}
    plan = _plan(events, per_tx, listing_every)
    say(f"deployed at block {deployment.start_block}; encoding and signing {len(plan)} txs")

    chain_id = rpc.chain_id()
    gas: dict[str, int] = {}
    nonces: dict[str, int] = {}
    for kind, account in senders.items():
        # Gas of the largest transaction of its kind, estimated once, with a margin.
        data = _multicall(encoders[kind](0, per_tx))
        gas[kind] = _estimate(rpc, account.address, targets[kind], data)
        nonces[kind] = int(rpc.call("eth_getTransactionCount", [account.address, "pending"]), 16)
    raw_txs: list[bytes] = []
    for kind, first, count in plan:
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": chain_id,
            "nonce": nonces[kind],
            "to": targets[kind],
            "value": 0,
            "data": _multicall(encoders[kind](first, count)),
            "gas": gas[kind],
            "maxFeePerGas": MAX_FEE,
            "maxPriorityFeePerGas": PRIORITY_FEE,
        }
        nonces[kind] += 1
        raw_txs.append(bytes(senders[kind].sign_transaction(tx).raw_transaction))
    blocks = _pack(plan, raw_txs)
    say(f"gas per tx: {gas}; mining {len(blocks)} blocks")
    rpc.call("evm_setAutomine", [False])
    try:
        hashes = _mine_blocks(rpc, blocks)
    finally:
        rpc.call("evm_setAutomine", [True])
    _check_receipts(rpc, hashes)
    # One block per call with a long timeout: at 1M events each block costs anvil seconds
    # (its state root over 250k listings), and a 120 s call for all 50 timed out.
    slow = RpcClient(node.url, timeout=600.0)
    for _ in range(EMPTY_BLOCKS):
        slow.call("evm_mine")
    head = rpc.block_number()
    total, by_name, ponder = _survey(rpc, deployment, head)
    seconds = time.perf_counter() - started
    return Workload(
        deployment,
        head,
        len(plan),
        events,
        total,
        by_name,
        ponder,
        head - deployment.start_block + 1,
        seconds,
    )


def _workload_json(work: Workload) -> dict[str, Any]:
    fields = {k: v for k, v in vars(work).items() if k != "deployment"}
    return {"deployment": work.deployment.model_dump(mode="json"), **fields}


def _workload_from_json(data: dict[str, Any]) -> Workload:
    return Workload(deployment=Deployment.model_validate(data.pop("deployment")), **data)


@dataclass(frozen=True)
class ChainShape:
    """What determines the generated chain (the generation is deterministic given these)."""

    events: int
    events_per_tx: int
    listing_every: int


def _state_meta_path(state: Path) -> Path:
    return state.with_name(state.name + ".meta.json")


def save_state(node: AnvilNode, state: Path, shape: ChainShape, work: Workload) -> None:
    """Dump anvil's state (``anvil_dumpState``: gzip, blocks, transactions and receipts
    included) to `state`, and what was generated next to it (``<state>.meta.json``)."""
    dumped = RpcClient(node.url, timeout=600.0).call("anvil_dumpState")
    state.parent.mkdir(parents=True, exist_ok=True)
    tmp = state.with_name(state.name + ".tmp")
    tmp.write_bytes(bytes.fromhex(dumped[2:]))
    tmp.replace(state)
    meta = {"shape": vars(shape), "workload": _workload_json(work)}
    _state_meta_path(state).write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))


def load_state(
    state: Path, shape: ChainShape, say: Callable[[str], None]
) -> tuple[AnvilNode, Workload] | None:
    """Start anvil from a state `save_state` wrote for the same `shape`; None (and say why)
    when there is none, it was made for another shape, or the loaded chain does not serve
    exactly the logs it was dumped with (every block's, through ``eth_getLogs``)."""
    meta_path = _state_meta_path(state)
    if not state.exists() or not meta_path.exists():
        say(f"no anvil state at {state}: generating")
        return None
    meta = orjson.loads(meta_path.read_bytes())
    if meta["shape"] != vars(shape):
        say(f"anvil state {state} is for {meta['shape']}, not {vars(shape)}: generating")
        return None
    work = _workload_from_json(meta["workload"])
    started = time.perf_counter()
    # anvil's --load-state reads plain JSON only; the dump is gzip (about 15x smaller).
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as plain:
        plain.write(gzip.decompress(state.read_bytes()))
    try:
        node = start_anvil(
            extra_args=["--gas-limit", str(BLOCK_GAS_LIMIT), "--load-state", plain.name],
            ready_timeout=600.0,
        )
    finally:
        Path(plain.name).unlink(missing_ok=True)
    try:
        rpc = RpcClient(node.url, timeout=120.0)
        head = rpc.block_number()
        total, by_name, ponder = _survey(rpc, work.deployment, work.head)
    except BaseException:
        node.stop()
        raise
    seen = (head, total, by_name, ponder)
    wanted = (work.head, work.expected_total, work.expected_by_name, work.expected_ponder)
    if seen != wanted:
        node.stop()
        say(f"anvil state {state} serves {seen}, it was dumped with {wanted}: generating")
        return None
    say(
        f"anvil state {state} loaded and checked in {time.perf_counter() - started:.1f} s"
        f" (eth_getLogs of every block: {total:,} platform logs, head {head})"
    )
    return node, work


# -- databases ---------------------------------------------------------------------------
@dataclass
class Databases:
    """Creates uniquely named databases and drops every one of them on close."""

    base_url: str  # postgresql://user@host:port (no database)
    prefix: str = field(default_factory=lambda: f"datacoin_bench_{os.getpid()}")
    created: list[str] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def name(self, tag: str) -> str:
        name = f"{self.prefix}_{tag}"
        self.created.append(name)
        return name

    def create(self, tag: str) -> str:
        name = self.name(tag)
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for name in list(self.created):
            self.drop(name)


# -- 2a. raw ceiling ---------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """One measured run."""

    events: int
    seconds: float
    head_hash: bytes = b""  # the event store's last hash, where there is one
    peak_rss: int = 0  # bytes: the process and its children, sampled (0: not measured)
    base_rss: int = 0  # bytes: the same tree just before the run
    peak_main_rss: int = 0  # bytes: the main process alone

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def _children(pid: int) -> list[int]:
    """Child process ids of `pid`, from /proc (every thread's list: a child belongs to the
    thread that forked it)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _rss(pid: int) -> int:
    """Resident bytes of `pid` (0 once it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakRss:
    """Samples the resident memory of a process and all its descendants (the indexer's
    fetch worker processes and their fork server included) every `interval` seconds, in a
    thread, from /proc; `peak` is the largest sum seen. Sampling stops on exit. Processes in
    `exclude` (anvil, a child of this script) are left out, with their descendants."""

    def __init__(
        self, pid: int | None = None, interval: float = 0.05, exclude: Set[int] = frozenset()
    ) -> None:
        self.pid = pid or os.getpid()
        self.exclude = exclude
        self.interval = interval
        self.peak = 0
        self.peak_root = 0  # the process alone (its children left out)
        self.before = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)

    def tree_rss(self) -> int:
        total, todo = 0, [self.pid]
        while todo:
            pid = todo.pop()
            if pid in self.exclude:
                continue
            total += _rss(pid)
            todo += _children(pid)
        return total

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.tree_rss())
            self.peak_root = max(self.peak_root, _rss(self.pid))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PeakRss:
        self.before = self.tree_rss()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.tree_rss())


def _ranges(start: int, end: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(end, s + size - 1)) for s in range(start, end + 1, size)]


def _ordered_fetch(
    rpc: RpcClient, ranges: Sequence[tuple[int, int]], addresses: list[str], topics: list[str]
) -> Iterator[list[JsonObj]]:
    """getLogs of each range, RAW_CONCURRENCY in flight, yielded in range order."""
    with ThreadPoolExecutor(RAW_CONCURRENCY, thread_name_prefix="raw-getlogs") as pool:
        pending: deque[Future[list[JsonObj]]] = deque()
        todo = iter(ranges)
        while True:
            while len(pending) < RAW_CONCURRENCY and (r := next(todo, None)) is not None:
                pending.append(pool.submit(rpc.get_logs, r[0], r[1], addresses, topics))
            if not pending:
                return
            yield pending.popleft().result()


RAW_TABLE = (
    "CREATE TABLE raw_logs (block_number int8 NOT NULL, block_hash bytea NOT NULL,"
    " log_index int4 NOT NULL, address bytea NOT NULL, topics bytea NOT NULL,"
    " data bytea NOT NULL)"
)


def raw_ceiling(work: Workload, rpc_url: str, db_url: str) -> tuple[Timing, Timing]:
    """(getLogs + COPY of undecoded rows, getLogs alone) over the whole range."""
    dep = work.deployment
    decoder = EventDecoder(dep.addresses_by_artifact())
    addresses, topics = decoder.addresses, decoder.topics
    size = max(1, work.blocks * RAW_CHUNK_LOGS // max(1, work.expected_total))
    ranges = _ranges(dep.start_block, work.head, size)
    rpc = RpcClient(rpc_url)

    started = time.perf_counter()
    fetched = sum(len(logs) for logs in _ordered_fetch(rpc, ranges, addresses, topics))
    fetch_only = Timing(fetched, time.perf_counter() - started)

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS raw_logs")
        conn.execute(RAW_TABLE)
        rows = 0
        started = time.perf_counter()
        for logs in _ordered_fetch(rpc, ranges, addresses, topics):
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy("COPY raw_logs FROM STDIN WITH (FORMAT BINARY)") as copy,
            ):
                copy.set_types(["int8", "bytea", "int4", "bytea", "bytea", "bytea"])
                for raw in logs:
                    copy.write_row(
                        (
                            int(raw["blockNumber"], 16),
                            bytes.fromhex(raw["blockHash"][2:]),
                            int(raw["logIndex"], 16),
                            bytes.fromhex(raw["address"][2:]),
                            bytes.fromhex("".join(t[2:] for t in raw["topics"])),
                            bytes.fromhex(raw["data"][2:]),
                        )
                    )
            rows += len(logs)
        full = Timing(rows, time.perf_counter() - started)
        row = conn.execute("SELECT count(*) FROM raw_logs").fetchone()
        conn.execute("DROP TABLE raw_logs")
    if fetched != work.expected_total or rows != work.expected_total or not row:
        raise RuntimeError(f"raw pass saw {fetched}/{rows} logs, chain has {work.expected_total}")
    if row[0] != rows:
        raise RuntimeError(f"raw_logs holds {row[0]} rows, COPY wrote {rows}")
    return full, fetch_only


# -- 2b. our backfill --------------------------------------------------------------------
#: How (b) runs: the indexer as configured (worker processes for the backfill), or with
#: ``fetch_processes=0`` (fetch and decode in threads of the main process, for comparison).
MODES = ("indexer", "threads")


def our_backfill(
    work: Workload,
    rpc_url: str,
    db_url: str,
    config: IndexerConfig,
    mode: str = "indexer",
    *,
    not_ours: Set[int] = frozenset(),
) -> Timing:
    """Backfill into a freshly migrated database; verify the store holds every event.
    `not_ours`: child processes of this script left out of the RSS (anvil)."""
    upgrade(db_url)  # untimed: schema creation is not backfill work
    if mode == "threads":
        config = replace(config, fetch_processes=0)
    store = PostgresEventStore(db_url)
    try:
        indexer = Indexer(RpcClient(rpc_url), store, work.deployment, config=config)
        with PeakRss(exclude=not_ours) as rss:
            started = time.perf_counter()
            indexer.run(to_block=work.head)
            seconds = time.perf_counter() - started
    finally:
        store.close()
    with psycopg.connect(db_url) as conn:
        by_name: dict[str, int] = dict(
            conn.execute(
                "SELECT event_name, count(*) FROM events WHERE kind = 'log' GROUP BY 1"
            ).fetchall()
        )
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (block_hash, log_index)), max(position),"
            " (SELECT count(*) FROM dead_letters), (SELECT block_number FROM cursors),"
            " (SELECT hash FROM events ORDER BY position DESC LIMIT 1)"
            " FROM events"
        ).fetchone()
    assert row is not None
    total, distinct, last_position, dead, cursor, head_hash = row
    problems = []
    if by_name != work.expected_by_name:
        problems.append(f"events by name {by_name} != chain {work.expected_by_name}")
    if not total == distinct == last_position == work.expected_total:
        problems.append(f"rows {total}, distinct {distinct}, last position {last_position}")
    if dead or cursor != work.head:
        problems.append(f"dead letters {dead}, cursor {cursor} (head {work.head})")
    if problems:
        raise RuntimeError("our store does not match the chain: " + "; ".join(problems))
    return Timing(total, seconds, bytes(head_hash), rss.peak, rss.before, rss.peak_root)


# -- 2c. Ponder --------------------------------------------------------------------------
@dataclass(frozen=True)
class PonderRun:
    """One Ponder backfill: `startup` is process start to /health answering."""

    events: int
    startup: float
    total: float

    @property
    def rate(self) -> float:
        """Indexing rate, startup excluded (the figure most favourable to Ponder)."""
        return self.events / (self.total - self.startup)

    @property
    def wall_rate(self) -> float:
        return self.events / self.total


def _http_ok(port: int, path: str) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _ponder_rows(db_url: str, schema: str) -> int:
    try:
        with psycopg.connect(db_url, autocommit=True, connect_timeout=2) as conn:
            row = conn.execute(
                f'SELECT (SELECT count(*) FROM "{schema}".transfer_event)'
                f' + (SELECT count(*) FROM "{schema}".dataset_listed)'
            ).fetchone()
    except psycopg.Error:
        return 0  # tables not created yet
    return int(row[0]) if row else 0


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process we started in its own session, with everything it spawned."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def ponder_backfill(
    work: Workload, *, rpc_url: str, db_url: str, schema: str, timeout: float, log_path: Path
) -> PonderRun:
    """`ponder start` against a fresh database; timed until its tables hold every event."""
    dep = work.deployment
    bench_config = {
        "rpc": rpc_url,
        "chainId": dep.chain_id,
        "startBlock": dep.start_block,
        "contracts": {
            name: {"address": dep.address(name), "abi": load_artifact(name)["abi"]}
            for name in ("DataCoin", "Marketplace")
        },
    }
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
        f.write(orjson.dumps(bench_config))
        config_path = Path(f.name)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "PONDER_TELEMETRY_DISABLED": "true",
        "PONDER_BENCH_CONFIG": str(config_path),
        "NO_COLOR": "1",
    }
    command = [
        str(PONDER_DIR / "node_modules" / ".bin" / "ponder"),
        *("--log-format", "json", "start", "--schema", schema),
        *("--port", str(port), "--hostname", "127.0.0.1"),
    ]
    startup = 0.0
    try:
        with log_path.open("wb") as log_file:
            started = time.perf_counter()
            process = subprocess.Popen(
                command,
                cwd=PONDER_DIR,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                while True:
                    now = time.perf_counter() - started
                    if process.poll() is not None:
                        raise RuntimeError(f"ponder exited with {process.returncode}: {log_path}")
                    if now > timeout:
                        raise RuntimeError(f"ponder did not finish in {timeout:.0f}s: {log_path}")
                    if not startup and _http_ok(port, "/health"):
                        startup = now
                    if startup and _ponder_rows(db_url, schema) >= work.expected_ponder:
                        total = time.perf_counter() - started
                        break
                    time.sleep(0.1)
            finally:
                _stop(process)
    finally:
        config_path.unlink(missing_ok=True)
    rows = _ponder_rows(db_url, schema)
    if rows != work.expected_ponder:
        raise RuntimeError(f"ponder holds {rows} rows, the chain has {work.expected_ponder}")
    return PonderRun(rows, startup, total)


# -- 2d. cryo ---------------------------------------------------------------------------
#: Where the script looks for Paradigm's cryo (PyPI ``cryo``: a Rust extension, no Python
#: dependencies) unless ``--cryo-path`` says otherwise; installed there, outside the locks:
#: ``.venv/bin/pip install --no-deps --target var/bench-cryo cryo==0.3.2``.
DEFAULT_CRYO_PATH = REPO_ROOT / "var" / "bench-cryo"

_CRYO_CHILD = """
import json, sys, time
import cryo
args = json.loads(sys.argv[1])
started = time.perf_counter()
cryo.freeze("logs", **args)
print(json.dumps({"seconds": time.perf_counter() - started, "version": cryo.__version__}))
"""


@dataclass(frozen=True)
class CryoRun:
    """One ``cryo logs`` extraction to Parquet: `seconds` is the ``cryo.freeze`` call
    (timed in its process, so the interpreter's start is not counted), `wall` the process."""

    events: int
    seconds: float
    wall: float
    files: int
    version: str

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def cryo_available(path: Path) -> bool:
    """Whether ``import cryo`` works with `path` on the module path."""
    env = {**os.environ, "PYTHONPATH": str(path)}
    probe = subprocess.run(
        [sys.executable, "-c", "import cryo"], env=env, capture_output=True, check=False
    )
    return probe.returncode == 0


def cryo_logs(work: Workload, rpc_url: str, path: Path, chunk_size: int | None) -> CryoRun:
    """``cryo logs`` over the platform's start block to the head, the platform's contracts,
    to Parquet in a temporary directory (removed); checks it wrote every platform log."""
    import pyarrow.parquet as pq  # the export's dependency; only this step needs it

    dep = work.deployment
    addresses = EventDecoder(dep.addresses_by_artifact()).addresses
    with tempfile.TemporaryDirectory(prefix="bench_cryo_") as out:
        args: dict[str, Any] = {
            "rpc": rpc_url,
            "blocks": [f"{dep.start_block}:{work.head + 1}"],  # cryo's end is exclusive
            "contract": addresses,
            "output_dir": out,
            "verbose": False,
        }
        if chunk_size:
            args["chunk_size"] = chunk_size
        env = {**os.environ, "PYTHONPATH": str(path)}
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-c", _CRYO_CHILD, orjson.dumps(args).decode()],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if child.returncode != 0:
            raise RuntimeError(f"cryo failed ({child.returncode}): {child.stderr[-2000:]}")
        report = orjson.loads(child.stdout.strip().splitlines()[-1])
        files = sorted(Path(out).glob("*.parquet"))
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    if rows != work.expected_total:
        raise RuntimeError(f"cryo wrote {rows} logs, the chain has {work.expected_total}")
    return CryoRun(rows, report["seconds"], wall, len(files), report["version"])


# -- 2e. empty database -> API ---------------------------------------------------------
@dataclass(frozen=True)
class UpRun:
    """`datacoin db upgrade` then `datacoin up` on an empty database, until the API serves
    the chain's state. Seconds from the first process's start."""

    events: int
    migrated: float  # `datacoin db upgrade` done
    api_up: float  # GET /health first answered
    indexed: float  # /health: the home chain's cursor at the head
    served: float  # /health's read-model position at the store's last event, /stats's
    #: datasets_listed equal to the chain's listings: the API serves the chain's state
    peak_rss: int  # `datacoin up` and its children

    @property
    def rate(self) -> float:
        return self.events / self.served


def _http_json(port: int, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5.0)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return orjson.loads(body) if response.status == 200 else None
    except (OSError, orjson.JSONDecodeError):
        return None
    finally:
        conn.close()


def empty_to_api(
    work: Workload, *, rpc_url: str, db_url: str, redis_url: str, timeout: float, log_path: Path
) -> UpRun:
    """`datacoin db upgrade` (creates and migrates the database), then `datacoin up` with
    settings naming the bench's anvil, manifest and the new database, polled every 0.1 s
    until the API serves the chain's state; everything `up` started is stopped."""
    listings = work.expected_by_name.get("DatasetListed", 0)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench_up_") as data_dir:
        manifest = Path(data_dir) / "deployment.json"
        work.deployment.save(manifest)
        env = {
            **os.environ,
            "DATACOIN_RPC_URL": rpc_url,
            "DATACOIN_DATABASE_URL": db_url,
            "DATACOIN_MANIFEST_PATH": str(manifest),
            "DATACOIN_DATA_DIR": data_dir,
            "DATACOIN_REDIS_URL": redis_url,
            "DATACOIN_BROKER_NAMESPACE": f"bench_up_{os.getpid()}",
            "DATACOIN_API_PORT": str(port),
            "DATACOIN_LOG_FORMAT": "json",
            # No sandbox started ahead: it imports torch (~2 s of CPU on a 2-core machine)
            # for training jobs this chain has none of.
            "DATACOIN_TRAINING_SPARES": "0",
        }
        cli = [sys.executable, "-m", "cli.main"]
        with log_path.open("wb") as log_file:
            started = time.perf_counter()
            subprocess.run(
                [*cli, "db", "upgrade"],
                cwd=REPO_ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=timeout,
            )
            migrated = time.perf_counter() - started
            process = subprocess.Popen(
                [*cli, "up"],
                cwd=REPO_ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            api_up = indexed = 0.0
            try:
                with PeakRss(process.pid, interval=0.2) as rss:
                    while True:
                        now = time.perf_counter() - started
                        if process.poll() is not None:
                            raise RuntimeError(
                                f"datacoin up exited ({process.returncode}): {log_path}"
                            )
                        if now > timeout:
                            raise RuntimeError(
                                f"the API did not serve the chain in {timeout:.0f}s: {log_path}"
                            )
                        health = _http_json(port, "/health")
                        if health is not None:
                            api_up = api_up or now
                            chains = {c["chain_id"]: c["block"] for c in health["chains"]}
                            if not indexed and chains.get(work.deployment.chain_id) == work.head:
                                indexed = now
                            if indexed and health["read_model_position"] == work.expected_total:
                                stats = _http_json(port, "/stats") or []
                                if any(st["datasets_listed"] == listings for st in stats):
                                    served = time.perf_counter() - started
                                    break
                        time.sleep(0.1)
            finally:
                _stop(process)
    return UpRun(work.expected_total, migrated, api_up, indexed, served, rss.peak)


# -- 3/4. report -------------------------------------------------------------------------
def _first_line(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "unknown"
    return (out.stdout or out.stderr).strip().splitlines()[0] if out.stdout or out.stderr else "?"


def machine(pg_url: str) -> dict[str, str]:
    """The facts a reader needs to compare numbers across machines."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    pg = f"PostgreSQL {row[0] if row else '?'} (default durability)"
    ponder_pkg = PONDER_DIR / "node_modules" / "ponder" / "package.json"
    ponder = orjson.loads(ponder_pkg.read_bytes())["version"] if ponder_pkg.exists() else "missing"
    return {
        "cpu": f"{os.cpu_count()} cores, {cpu}",
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgres": pg,
        "anvil": _first_line([find_anvil(), "--version"]),
        "node": _first_line(["node", "--version"]),
        "ponder": ponder,
    }


MODE_LABELS = {
    "indexer": "(b) ours: `Indexer.run` (confirmations=0) into the event store",
    "threads": "(b') ours with `fetch_processes=0`: fetch/decode in threads of the main process",
}


@dataclass(frozen=True)
class Targets:
    """Ratios a run is judged by: the backfill round's by default; issue 20's (scale) are
    0.85 of the raw ceiling and 25x Ponder."""

    raw: float = 0.70
    ponder: float = 10.0


SCALE_TARGETS_RATIOS = Targets(raw=0.85, ponder=25.0)


@dataclass
class Results:
    """Everything measured in one run."""

    work: Workload
    raw: list[Timing] = field(default_factory=list)
    fetch_only: list[Timing] = field(default_factory=list)
    ours: dict[str, list[Timing]] = field(default_factory=dict)
    ponder: list[PonderRun] = field(default_factory=list)
    cryo: list[CryoRun] = field(default_factory=list)
    up: list[UpRun] = field(default_factory=list)
    busy_cores: float = float("nan")  # machine-wide, during (a) and (b)
    state_loaded: bool = False  # the chain came from --anvil-state, not generation

    @staticmethod
    def median(rates: list[float]) -> float:
        return statistics.median(rates) if rates else float("nan")

    def ours_rate(self, mode: str = "indexer") -> float:
        return self.median([t.rate for t in self.ours.get(mode, [])])

    def raw_rate(self) -> float:
        return self.median([t.rate for t in self.raw])

    def ponder_rate(self) -> float:
        return self.median([p.rate for p in self.ponder])

    def ponder_total(self) -> float:
        """Ponder's process start to its last row, seconds (median)."""
        return self.median([p.total for p in self.ponder])

    def peak_rss_mb(self, mode: str = "indexer") -> float:
        return max((t.peak_rss for t in self.ours.get(mode, [])), default=0) / 2**20

    def table(self, targets: Targets | None = None) -> str:
        """The run as a markdown table and a list; `targets`: the ratios to judge by."""
        targets = targets or Targets()

        def runs(timings: list[Timing]) -> str:
            return ", ".join(f"{t.rate:,.0f} ({t.seconds:.2f} s)" for t in timings)

        raw, ponder = self.raw_rate(), self.ponder_rate()
        fetch = self.median([t.rate for t in self.fetch_only])
        lines = [
            "| measurement | median events/s | / raw ceiling | / Ponder | runs |",
            "|---|---:|---:|---:|---|",
            f"| (a) raw ceiling: getLogs (~1k logs/call, {RAW_CONCURRENCY} in flight) + binary"
            f" COPY of undecoded rows, commit per chunk | {raw:,.0f} | 1.00 | | {runs(self.raw)} |",
            f"| (a') getLogs + JSON parse alone, same chunks | {fetch:,.0f} | | "
            f"| {runs(self.fetch_only)} |",
        ]
        for mode, timings in self.ours.items():
            rate = self.ours_rate(mode)
            lines.append(
                f"| {MODE_LABELS[mode]} | {rate:,.0f} | {rate / raw:.2f} "
                f"| {rate / ponder:.1f}x | {runs(timings)} |"
            )
        ponder_runs = ", ".join(
            f"{p.rate:,.0f} ({p.total - p.startup:.1f} s after {p.startup:.1f} s startup)"
            for p in self.ponder
        )
        wall = self.median([p.wall_rate for p in self.ponder])
        lines += [
            f"| (c) Ponder 0.16.10, from /health up to the last row | {ponder:,.0f} "
            f"| {ponder / raw:.2f} | 1.0x | {ponder_runs or 'not run'} |",
            f"| (c') Ponder, wall clock including its startup | {wall:,.0f} | | | |",
        ]
        if self.cryo:
            cryo = self.median([c.rate for c in self.cryo])
            cryo_runs = ", ".join(
                f"{c.rate:,.0f} ({c.seconds:.2f} s, {c.files} files)" for c in self.cryo
            )
            lines.append(
                f"| (d) cryo {self.cryo[0].version}: `cryo logs` to Parquet | {cryo:,.0f} "
                f"| {cryo / raw:.2f} | {cryo / ponder:.1f}x | {cryo_runs} |"
            )
        lines.append("")
        for mode in self.ours:
            lines.append(
                f"- peak RSS of (b) {mode}, its process tree (fetch workers and this script's"
                f" own process included): {self.peak_rss_mb(mode):,.0f} MB (runs, peak / the"
                " tree just before the run / the main process's own peak: "
                + ", ".join(
                    f"{t.peak_rss / 2**20:,.0f} / {t.base_rss / 2**20:,.0f}"
                    f" / {t.peak_main_rss / 2**20:,.0f}"
                    for t in self.ours[mode]
                )
                + " MB)"
            )
        for u in self.up:
            lines.append(
                f"- (e) empty database -> API serving the chain's state (`datacoin db upgrade`"
                f" + `datacoin up`): **{u.served:.1f} s** (migrated {u.migrated:.1f} s, API up"
                f" {u.api_up:.1f} s, indexed to the head {u.indexed:.1f} s; peak RSS"
                f" {u.peak_rss / 2**20:,.0f} MB); Ponder to its last row"
                f" {self.ponder_total():.1f} s: {self.ponder_total() / u.served:.1f}x"
            )
        ours = self.ours_rate()
        lines += [
            f"- ours / raw ceiling = **{ours / raw:.2f}** (target >= {targets.raw:.2f}): "
            f"{'met' if ours / raw >= targets.raw else 'NOT met'}",
            f"- ours / Ponder = **{ours / ponder:.1f}x** (target >= {targets.ponder:g}x): "
            f"{'met' if ours / ponder >= targets.ponder else 'NOT met'}",
            f"- machine CPU busy during (a) and (b): {self.busy_cores:.2f} of {os.cpu_count()}"
            " cores (all processes, the other engineer's included)",
        ]
        return "\n".join(lines)

    def describe_work(self) -> str:
        w = self.work
        names = ", ".join(f"{k} {v:,}" for k, v in sorted(w.expected_by_name.items()))
        return (
            f"{w.generated:,} generated events in {w.transactions:,} transactions over "
            f"{w.blocks:,} blocks (start block {w.deployment.start_block}, head {w.head}, "
            f"{EMPTY_BLOCKS} empty blocks at the end); the store must hold {w.expected_total:,}"
            f" platform events ({names}); Ponder's handlers cover {w.expected_ponder:,}. "
            f"Generation took {w.seconds:.1f} s."
        )


SCALE_END = "<!-- scale:end -->"
SCALE_TARGETS = "### Targets, in one place"


def scale_section(heading: str, command: str, facts: dict[str, str], results: Results) -> str:
    """The run as a subsection of bench/RESULTS.md's issue-20 block."""
    source = "loaded from `--anvil-state`" if results.state_loaded else "generated"
    return (
        f"### {heading}\n\n"
        f"Command (chain {source}):\n\n```\n{command}\n```\n\n"
        f"Machine: {facts['cpu']}; {facts['postgres']}; {facts['anvil']}; ponder"
        f" {facts['ponder']}.\n\n"
        f"Workload: {results.describe_work()}\n\n"
        f"{results.table(SCALE_TARGETS_RATIOS)}\n"
    )


def write_section(path: Path, section: str) -> None:
    """Put `section` into the issue-20 block of `path`, before its targets table, replacing
    a subsection with the same heading; nothing else of the file changes."""
    text = path.read_text()
    heading = section.split("\n", 1)[0]
    if heading + "\n" in text:
        start = text.index(heading + "\n")
        ends = [i for i in (text.find("\n### ", start + 1), text.find(SCALE_END, start)) if i > 0]
        text = text[:start] + section.rstrip("\n") + "\n\n" + text[min(ends) :].lstrip("\n")
    elif SCALE_TARGETS in text:
        at = text.index(SCALE_TARGETS)
        text = text[:at] + section.rstrip("\n") + "\n\n" + text[at:]
    else:
        raise RuntimeError(f"{path} has no {SCALE_TARGETS!r} to put the section before")
    path.write_text(text)


def write_results(path: Path, command: str, facts: dict[str, str], results: Results) -> None:
    """Rewrite the generated part of `path`, keeping any notes below the marker."""
    notes = ""
    if path.exists():
        old = path.read_text()
        if NOTES_MARKER in old:
            notes = old.split(NOTES_MARKER, 1)[1].lstrip("\n")
    machine_lines = "\n".join(f"- {k}: {v}" for k, v in facts.items())
    text = (
        "# Backfill benchmark results\n\n"
        "Generated by `bench/indexer_backfill.py` (see bench/README.md). Command:\n\n"
        f"```\n{command}\n```\n\n"
        f"Machine (shared with other work, so numbers are noisy; medians):\n\n{machine_lines}\n\n"
        f"Workload: {results.describe_work()}\n\n"
        f"{results.table()}\n\n"
        f"{NOTES_MARKER}\n\n{notes}"
    )
    path.write_text(text.rstrip("\n") + "\n")


# -- main --------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.indexer_backfill",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--events", type=int, default=100_000, help="events to generate")
    p.add_argument("--events-per-tx", type=int, default=100, help="calls per multicall")
    p.add_argument(
        "--listing-every",
        type=int,
        default=4,
        help="every Nth transaction lists datasets, the others transfer (0: none)",
    )
    p.add_argument("--repeats", type=int, default=3, help="runs of (a) and (b)")
    p.add_argument("--ponder-runs", type=int, default=1, help="runs of Ponder (0: skip)")
    p.add_argument("--ponder-timeout", type=float, default=600.0, help="seconds per Ponder run")
    p.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432",
        help="PostgreSQL server URL without a database name",
    )
    p.add_argument(
        "--results", default=str(DEFAULT_RESULTS), help="markdown file to write ('-': none)"
    )
    p.add_argument(
        "--initial-range", type=int, default=None, help="IndexerConfig.initial_range for (b)"
    )
    p.add_argument(
        "--compare",
        nargs="*",
        default=[],
        choices=[m for m in MODES if m != "indexer"],
        help="also run (b) another way: threads (fetch_processes=0, no fetch processes)",
    )
    p.add_argument(
        "--fetch-processes", type=int, default=None, help="IndexerConfig.fetch_processes for (b)"
    )
    p.add_argument(
        "--concurrency", type=int, default=None, help="IndexerConfig.concurrency for (b)"
    )
    p.add_argument(
        "--anvil-state",
        type=Path,
        default=None,
        help="reuse anvil's state from this file when it was dumped for the same --events,"
        " --events-per-tx and --listing-every (checked), else generate and dump it there",
    )
    p.add_argument("--cryo-runs", type=int, default=0, help="runs of cryo (d) (0: skip)")
    p.add_argument(
        "--cryo-path",
        type=Path,
        default=DEFAULT_CRYO_PATH,
        help="directory holding the cryo package (pip install --no-deps --target ...)",
    )
    p.add_argument(
        "--cryo-chunk-size", type=int, default=None, help="cryo's blocks per chunk (its default)"
    )
    p.add_argument(
        "--up-runs", type=int, default=0, help="runs of (e) empty database -> API (0: skip)"
    )
    p.add_argument("--up-timeout", type=float, default=900.0, help="seconds per (e) run")
    p.add_argument(
        "--redis", default="redis://127.0.0.1:6379/0", help="Redis URL for (e)'s datacoin up"
    )
    p.add_argument(
        "--results-section",
        default=None,
        metavar="HEADING",
        help="write the run as the subsection '### HEADING' of --results' issue-20 block"
        " (before its targets table, replacing one of that heading) instead of the file's top",
    )
    return p.parse_args(argv)


def _on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _start_chain(
    args: argparse.Namespace, stack: contextlib.ExitStack, say: Callable[[str], None]
) -> tuple[AnvilNode, Workload, bool]:
    """anvil with the workload: from --anvil-state when it fits (True), else generated (and
    dumped to --anvil-state when given). `stack` stops anvil."""
    shape = ChainShape(args.events, args.events_per_tx, args.listing_every)
    loaded = load_state(args.anvil_state, shape, say) if args.anvil_state else None
    if loaded is not None:
        stack.callback(loaded[0].stop)
        return loaded[0], loaded[1], True
    node = start_anvil(extra_args=["--gas-limit", str(BLOCK_GAS_LIMIT)])
    stack.callback(node.stop)
    say(f"anvil on {node.url}")
    work = generate(node, args.events, args.events_per_tx, args.listing_every, say)
    if args.anvil_state:
        save_state(node, args.anvil_state, shape, work)
        say(f"dumped anvil's state to {args.anvil_state}")
    return node, work, False


def _run_references(
    args: argparse.Namespace,
    node: AnvilNode,
    dbs: Databases,
    results: Results,
    say: Callable[[str], None],
) -> None:
    """(c) Ponder, (d) cryo and (e) empty database -> API, as many runs as asked."""
    work = results.work
    for i in range(args.ponder_runs):
        name = dbs.create(f"ponder{i}")
        log_path = Path(tempfile.gettempdir()) / f"{name}.log"
        run_ = ponder_backfill(
            work,
            rpc_url=node.url,
            db_url=dbs.url(name),
            schema="bench",
            timeout=args.ponder_timeout,
            log_path=log_path,
        )
        dbs.drop(name)
        results.ponder.append(run_)
        say(
            f"(c) ponder #{i + 1}: {run_.rate:,.0f} events/s"
            f" ({run_.total - run_.startup:.1f} s + {run_.startup:.1f} s startup;"
            f" log {log_path})"
        )

    if args.cryo_runs and not cryo_available(args.cryo_path):
        raise RuntimeError(
            f"cryo is not importable from {args.cryo_path}: .venv/bin/pip install"
            f" --no-deps --target {args.cryo_path} cryo==0.3.2"
        )
    for i in range(args.cryo_runs):
        try:
            cryo = cryo_logs(work, node.url, args.cryo_path, args.cryo_chunk_size)
        except (RuntimeError, OSError) as exc:  # a reference: keep what was measured
            say(f"(d) cryo #{i + 1} failed: {exc}")
            continue
        results.cryo.append(cryo)
        say(
            f"(d) cryo #{i + 1}: {cryo.rate:,.0f} events/s ({cryo.seconds:.2f} s,"
            f" process {cryo.wall:.2f} s, {cryo.files} Parquet files)"
        )

    for i in range(args.up_runs):
        name = dbs.name(f"up{i}")  # `datacoin db upgrade` creates it
        log_path = Path(tempfile.gettempdir()) / f"{name}.log"
        try:
            up = empty_to_api(
                work,
                rpc_url=node.url,
                db_url=dbs.url(name),
                redis_url=args.redis,
                timeout=args.up_timeout,
                log_path=log_path,
            )
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            say(f"(e) empty -> API #{i + 1} failed: {exc}")
            dbs.drop(name)
            continue
        dbs.drop(name)
        results.up.append(up)
        say(
            f"(e) empty -> API #{i + 1}: {up.served:.1f} s (migrated {up.migrated:.1f} s,"
            f" API up {up.api_up:.1f} s, indexed {up.indexed:.1f} s; peak RSS"
            f" {up.peak_rss / 2**20:,.0f} MB; log {log_path})"
        )


def run(args: argparse.Namespace, say: Callable[[str], None]) -> Results:
    """The whole benchmark; every process and database it makes is gone when it returns."""
    config = IndexerConfig(confirmations=0)
    if args.initial_range:
        config.initial_range = args.initial_range
    if args.concurrency:
        config.concurrency = args.concurrency
    if args.fetch_processes is not None:
        config.fetch_processes = args.fetch_processes
    modes = list(dict.fromkeys(["indexer", *args.compare]))
    with contextlib.ExitStack() as stack:
        dbs = Databases(args.pg.rstrip("/"))
        stack.callback(dbs.close)
        node, work, loaded = _start_chain(args, stack, say)
        results = Results(work, state_loaded=loaded)
        say(results.describe_work())

        scratch = dbs.create("raw")
        busy0, total0 = cpu_busy()
        for i in range(args.repeats):
            full, fetch = raw_ceiling(work, node.url, dbs.url(scratch))
            results.raw.append(full)
            results.fetch_only.append(fetch)
            say(
                f"(a) raw #{i + 1}: {full.rate:,.0f} events/s ({full.seconds:.2f} s);"
                f" getLogs alone {fetch.rate:,.0f}/s"
            )
            for mode in modes:
                name = dbs.name(f"{mode}{i}")
                ours = our_backfill(
                    work, node.url, dbs.url(name), config, mode, not_ours={node.process.pid}
                )
                dbs.drop(name)
                results.ours.setdefault(mode, []).append(ours)
                head = ours.head_hash.hex()[:12]
                say(
                    f"(b) {mode} #{i + 1}: {ours.rate:,.0f} events/s ({ours.seconds:.2f} s),"
                    f" verified {ours.events:,} events, head hash {head},"
                    f" peak RSS {ours.peak_rss / 2**20:,.0f} MB"
                    f" ({ours.base_rss / 2**20:,.0f} MB before the run; main process alone"
                    f" {ours.peak_main_rss / 2**20:,.0f} MB)"
                )
        busy1, total1 = cpu_busy()
        if total1 > total0:
            results.busy_cores = (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1)
        dbs.drop(scratch)
        heads = {t.head_hash for timings in results.ours.values() for t in timings}
        if len(heads) != 1:
            raise RuntimeError(f"the runs disagree on the event store's final hash: {heads}")

        _run_references(args, node, dbs, results, say)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("console", "WARNING")
    signal.signal(signal.SIGTERM, _on_sigterm)
    command = ".venv/bin/python -m bench.indexer_backfill " + shlex.join(
        sys.argv[1:] if argv is None else list(argv)
    )
    started = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", flush=True)

    facts = machine(f"{args.pg.rstrip('/')}/postgres")
    results = run(args, say)
    print()
    print(results.table())
    if args.results != "-" and args.results_section:
        section = scale_section(args.results_section, command.strip(), facts, results)
        write_section(Path(args.results), section)
        say(f"wrote the section {args.results_section!r} of {args.results}")
    elif args.results != "-":
        write_results(Path(args.results), command.strip(), facts, results)
        say(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
