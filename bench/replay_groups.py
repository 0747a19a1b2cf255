"""Benchmark: one replay of a kept synthetic store, with each group's fold time and CPU.

``bench.scale``'s store (its synthetic chain, appended through the store's path) is built
once in database `--database` (kept, so runs of two versions of the code replay the same
store; ``--drop`` drops it at the end), then each of `--repeat` replays runs in a fresh
process as ``datacoin replay`` does (``bench.scale``'s child). Prints each group's
``projections.replay.group_done`` log (its projections, fold and CPU seconds), the rate,
and CPU seconds per 100k events: Python (every process) and PostgreSQL's backends.

Run: ``nice -n 5 .venv/bin/python -m bench.replay_groups --events 1000000``
"""

from __future__ import annotations

import argparse
import os
import statistics

import psycopg

from bench.cpu import cores_busy, cpu_busy
from bench.scale import _per_100k, _replay
from bench.scale_store import GrowingStore
from bench.scratch import ADMIN
from indexer.store_pg import PostgresEventStore
from migrations.runner import upgrade


def main() -> None:
    """Build (or reuse) the store, replay it `--repeat` times, print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database", default="wt_replay_bench")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    args = parser.parse_args()
    url = ADMIN.rsplit("/", 1)[0] + f"/{args.database}_{args.events}"
    upgrade(url)
    store = PostgresEventStore(url)
    head = store.head().position
    if head < args.events:
        print(f"appending {args.events - head:,} events ...", flush=True)
        GrowingStore(store).grow_to(args.events)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) events")
    head = store.head().position
    store.close()
    rates = []
    for i in range(args.repeat):
        before = cpu_busy()
        report = _replay(url)
        busy = cores_busy(before, cpu_busy(), os.cpu_count() or 1)
        rates.append(report["rate"])
        print(
            f"replay {i + 1} of {head:,}: {report['rate']:,.0f} events/s"
            f" ({report['seconds']:.1f} s); CPU per 100k (Python, PostgreSQL):"
            f" {_per_100k(report, head)} s; RSS parent {report['rss_mb']:.0f} MB, workers"
            f" {report['workers_rss_mb']:.0f} MB; hash {report['state_hash'][:16]};"
            f" machine busy {busy:.2f} cores",
            flush=True,
        )
    print(f"median {statistics.median(rates):,.0f} events/s")
    if args.drop:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.database}_{args.events}" WITH (FORCE)')


if __name__ == "__main__":
    main()
