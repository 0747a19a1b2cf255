"""`datacoin verify --rpc-url` benchmark: entries audited per second at several store sizes.

    .venv/bin/python -m bench.verify --sizes 20000 80000 --baseline-max 20000

For each size: starts its own anvil (block gas limit raised), generates that many events
(``bench.indexer_backfill.generate``: multicalls of transfers and listings), indexes them
with ``Indexer.run`` into a scratch database, then times the two audits ``datacoin verify``
runs: the hash chain (``verify_hash_chain``) and the chain comparison
(``verify_against_chain``: getLogs over the indexed range, eth-abi decoding, key match).
A linear audit keeps its entries/s as the size grows; a quadratic one loses it in
proportion. With ``--baseline-max N``, sizes up to N also time the comparison as it was
before (a list search per log: quadratic), for a before/after on the same machine.

Every audit must come out clean, or the run fails. Anvil is stopped and every database
dropped at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.indexer_backfill import BLOCK_GAS_LIMIT, generate
from bench.scratch import scratch_database
from common.anvil import start_anvil
from common.logs import configure_logging
from common.manifest import Deployment
from indexer.decode import EventDecoder, reference_decode
from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store import live_events
from indexer.store_pg import PostgresEventStore
from indexer.verify import Report, verify_against_chain, verify_hash_chain


@dataclass(frozen=True)
class Measured:
    """One size's audit timings."""

    entries: int
    hash_chain_s: float
    against_chain_s: float
    baseline_s: float | None  # the quadratic comparison, when run

    @staticmethod
    def rate(entries: int, seconds: float | None) -> str:
        return "-" if seconds is None else f"{entries / seconds:,.0f}"


def quadratic_compare(store: PostgresEventStore, rpc: RpcClient, deployment: Deployment) -> int:
    """The chain comparison as it was before (indexer/verify.py up to this benchmark): keys
    matched with ``in`` on lists. Returns the mismatches found (0 on a clean store)."""
    saved = store.checkpoint(deployment.chain_id)
    assert saved is not None
    decoder = EventDecoder(deployment.addresses_by_artifact())
    expected: list[tuple[Any, ...]] = []
    for start in range(deployment.start_block, saved.block_number + 1, 2_000):
        end = min(saved.block_number, start + 1_999)
        for raw in rpc.get_logs(start, end, decoder.addresses, decoder.topics):
            spec = decoder.spec_for(raw["address"], raw["topics"][0])
            expected.append(
                (
                    raw["blockHash"].lower(),
                    int(raw["logIndex"], 16),
                    spec.name,
                    reference_decode(spec, raw["topics"], raw["data"]),
                )
            )
    stored = [
        ("0x" + e.event.block_hash.hex(), e.event.log_index, e.event.event_name, e.event.args)
        for e in live_events(store, deployment.chain_id)
    ]
    return sum(k not in stored for k in expected) + sum(k not in expected for k in stored)


def _timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def _check(what: str, report: Report) -> None:
    if not report.ok:
        raise RuntimeError(f"{what} found problems on a clean store: {report.problems[:5]}")


def measure(events: int, baseline: bool, say: Callable[[str], None]) -> Measured:
    """Generate `events` events on a fresh anvil, index them, time the audits."""
    with contextlib.ExitStack() as stack:
        node = start_anvil(extra_args=["--gas-limit", str(BLOCK_GAS_LIMIT)])
        stack.callback(node.stop)
        work = generate(node, events, 100, 4, say)
        db_url = stack.enter_context(scratch_database("datacoin_bench_verify"))
        store = PostgresEventStore(db_url)
        stack.callback(store.close)
        rpc = RpcClient(node.url, timeout=120.0)
        Indexer(rpc, store, work.deployment, config=IndexerConfig(confirmations=0)).run(work.head)
        say(f"indexed {work.expected_total:,} events over {work.blocks:,} blocks")
        chain_report, hash_s = _timed(lambda: verify_hash_chain(store))
        _check("verify_hash_chain", chain_report)
        logs_report, against_s = _timed(lambda: verify_against_chain(store, rpc, work.deployment))
        _check("verify_against_chain", logs_report)
        baseline_s = None
        if baseline:
            mismatches, baseline_s = _timed(lambda: quadratic_compare(store, rpc, work.deployment))
            if mismatches:
                raise RuntimeError(f"the baseline found {mismatches} mismatches")
        measured = Measured(logs_report.checked, hash_s, against_s, baseline_s)
        before = f", before {baseline_s:.2f} s" if baseline_s is not None else ""
        say(
            f"{measured.entries:,} entries: hash chain {hash_s:.2f} s,"
            f" against chain {against_s:.2f} s{before}"
        )
        return measured


def table(rows: list[Measured]) -> str:
    lines = [
        "| entries | hash chain entries/s | against chain entries/s (s) | before: against chain"
        " entries/s (s) |",
        "|---:|---:|---:|---:|",
    ]
    for m in rows:
        before = (
            f"{Measured.rate(m.entries, m.baseline_s)} ({m.baseline_s:.1f} s)"
            if m.baseline_s is not None
            else "not run"
        )
        lines.append(
            f"| {m.entries:,} | {Measured.rate(m.entries, m.hash_chain_s)} |"
            f" {Measured.rate(m.entries, m.against_chain_s)} ({m.against_chain_s:.2f} s) |"
            f" {before} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.verify",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[20_000, 80_000],
        help="events to generate, one run per size",
    )
    p.add_argument(
        "--baseline-max",
        type=int,
        default=0,
        help="also time the quadratic comparison for sizes up to this",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("console", "WARNING")
    started = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", flush=True)

    rows = [measure(n, n <= args.baseline_max, say) for n in args.sizes]
    args_text = shlex.join(sys.argv[1:] if argv is None else list(argv))
    print(f"\n.venv/bin/python -m bench.verify {args_text}\n\n{table(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
