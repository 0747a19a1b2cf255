"""Backfill through a faulty RPC: the same chain at 0%, 20% and 50% of requests failing.

    .venv/bin/python -m bench.backfill_faults --events 80000 --repeats 3

Generates the workload of ``bench.indexer_backfill`` on its own anvil, then runs
``Indexer.run(to_block=head)`` (default config: 2 worker processes, 4 ranges in flight)
into a fresh database through ``tests/indexer/faultproxy.py``, run in its own process (a
proxy inside this one would compete with the indexer for the GIL). The proxy fails each
request with probability `rate` (seeded), the kinds in rotation: HTTP 500, HTTP 429, a
connection reset, a hang longer than the client's per-request timeout, a truncated body
and an error text no provider uses. The 0% run goes through the same proxy, so the
ratios compare like with like. Each run is checked: the store holds exactly the chain's
events. Prints events/s per fault rate (medians), the ratios to the fault-free rate, and
the longest time without a commit.
Everything it starts is stopped and every database it creates dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import psycopg

from bench.indexer_backfill import BLOCK_GAS_LIMIT, Databases, Workload, generate
from common.anvil import start_anvil
from common.logs import configure_logging
from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig, Progress
from indexer.store_pg import PostgresEventStore
from migrations.runner import upgrade
from tests.indexer.faultproxy import TRANSIENT

#: The issue's mix: transient faults and an unknown error text (no size errors).
FAULTS = (*TRANSIENT, "unknown")


@dataclass(frozen=True)
class Run:
    """One backfill through the proxy."""

    rate: float
    events: int
    seconds: float
    longest_gap: float  # seconds without a commit (the start counts as one)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds


@contextlib.contextmanager
def fault_proxy(upstream: str, rate: float, slow_s: float) -> Iterator[str]:
    """A fault proxy in its own process; yields its URL."""
    cmd = [sys.executable, "-m", "tests.indexer.faultproxy", "--upstream", upstream]
    cmd += ["--rate", str(rate), "--slow-s", str(slow_s), "--faults", ",".join(FAULTS)]
    cmd += ["--random"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def backfill_once(work: Workload, rpc_url: str, db_url: str, timeout: float, rate: float) -> Run:
    """Backfill into a freshly migrated database; check the store holds every event."""
    upgrade(db_url)
    commits: list[float] = []
    store = PostgresEventStore(db_url)
    try:
        config = IndexerConfig(confirmations=0)
        rpc = RpcClient(rpc_url, timeout=timeout)

        def progress(_: Progress) -> None:
            commits.append(time.perf_counter())

        indexer = Indexer(rpc, store, work.deployment, config=config, on_progress=progress)
        started = time.perf_counter()
        indexer.run(to_block=work.head)
        seconds = time.perf_counter() - started
    finally:
        store.close()
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*), (SELECT block_number FROM cursors) FROM events"
        ).fetchone()
    if row is None or row[0] != work.expected_total or row[1] != work.head:
        expected = f"{work.expected_total} events up to block {work.head}"
        raise RuntimeError(f"store holds {row} (events, cursor); the chain has {expected}")
    times = [started, *commits]
    gap = max((b - a for a, b in itertools.pairwise(times)), default=seconds)
    return Run(rate, work.expected_total, seconds, gap)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.backfill_faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--events", type=int, default=80_000, help="events to generate")
    p.add_argument("--repeats", type=int, default=3, help="runs per fault rate")
    p.add_argument("--rates", type=float, nargs="+", default=[0.0, 0.2, 0.5])
    p.add_argument("--timeout", type=float, default=2.0, help="per-request timeout (s)")
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    return p.parse_args(argv)


def run(args: argparse.Namespace, say: Callable[[str], None]) -> dict[float, list[Run]]:
    """Every run, by fault rate; rates alternate within each repeat (a noisy machine)."""
    runs: dict[float, list[Run]] = {rate: [] for rate in args.rates}
    with contextlib.ExitStack() as stack:
        dbs = Databases(args.pg.rstrip("/"))
        stack.callback(dbs.close)
        node = start_anvil(extra_args=["--gas-limit", str(BLOCK_GAS_LIMIT)])
        stack.callback(node.stop)
        work = generate(node, args.events, 100, 4, say)
        say(f"{work.expected_total:,} events over {work.blocks:,} blocks")
        for i in range(args.repeats):
            for rate in args.rates:
                # A hang holds the request twice the client's timeout: it must be abandoned.
                with fault_proxy(node.url, rate, 2 * args.timeout) as url:
                    name = dbs.create(f"faults{i}_{int(rate * 100)}")
                    one = backfill_once(work, url, dbs.url(name), args.timeout, rate)
                    dbs.drop(name)
                runs[rate].append(one)
                speed = f"{one.events_per_s:,.0f} events/s ({one.seconds:.2f} s)"
                say(
                    f"{rate:.0%} faults #{i + 1}: {speed}, longest without a commit "
                    + f"{one.longest_gap:.2f} s"
                )
    return runs


def table(runs: dict[float, list[Run]], timeout: float) -> str:
    """Markdown: medians per fault rate and the ratio to the fault-free median."""
    base = statistics.median(r.events_per_s for r in runs[min(runs)])
    lines = [
        "| faults | median events/s | / fault-free | longest time without a commit | runs |",
        "|---:|---:|---:|---:|---|",
    ]
    for rate, rs in runs.items():
        rate_eps = statistics.median(r.events_per_s for r in rs)
        each = ", ".join(f"{r.events_per_s:,.0f} ({r.seconds:.2f} s)" for r in rs)
        gap = max(r.longest_gap for r in rs)
        row = [f"{rate:.0%}", f"{rate_eps:,.0f}", f"{rate_eps / base:.2f}"]
        row += [f"{gap:.2f} s (timeout {timeout:g} s)", each]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("console", os.environ.get("BENCH_LOG_LEVEL", "ERROR"))
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    started = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", flush=True)

    runs = run(args, say)
    print()
    print(table(runs, args.timeout))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
