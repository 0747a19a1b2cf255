"""Benchmark: a restarted projector catching up, against folding into an empty schema.

A projector that restarts (deploy, crash) has an empty row cache over a schema full of
rows, so the first events of each aggregate must read its committed row back. This
synthesises ``--events`` events (as ``bench.projection_replay`` does) and appends the first
half; two projectors fold it into their schemas; then the second half is appended (as if
indexed while the projector was down) and, medians over ``--repeat``:

- catch-up: a new ``Projector`` (empty cache) folds the second half, reading back
  the rows it has not cached (one query per projection and batch);
- baseline: the projector that folded the first half goes on (no restart: its cache
  mirrors the table, nothing is read back). Both write the same rows.

Run: ``.venv/bin/python -m bench.projection_catchup --events 100000``
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

from bench.projection_replay import append, synthesize
from bench.scratch import scratch_database
from indexer.store_pg import PostgresEventStore
from projections.projector import Projector


def _timed(projector: Projector, events: int, until: int) -> float:
    start = time.perf_counter()
    projector.run_once(until=until)
    elapsed = time.perf_counter() - start
    projector.close()
    return events / elapsed


def main() -> None:
    """Run the benchmark and print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    half = args.events // 2
    with scratch_database("datacoin_bench_catchup") as db_url:
        print(f"synthesising {args.events:,} events ...", flush=True)
        events = synthesize(args.events)
        store = PostgresEventStore(db_url)
        append(store, events[:half])
        # Every run's two projectors fold the first half before the second is appended.
        running: list[Projector] = []
        for i in range(args.repeat):
            for schema in (f"restarted_{i}", f"running_{i}"):
                projector = Projector(db_url, store, schema=schema)
                projector.run_once()  # live: unbounded, so its cache is kept
                if schema.startswith("restarted"):
                    projector.close()
                else:
                    running.append(projector)
        append(store, events[half:])
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) events")
        catch_up: list[float] = []
        baseline: list[float] = []
        for i in range(args.repeat):
            catch_up.append(
                _timed(
                    Projector(db_url, store, schema=f"restarted_{i}"),
                    args.events - half,
                    args.events,
                )
            )
            baseline.append(_timed(running[i], args.events - half, args.events))
            print(
                f"  run {i + 1}: restarted {catch_up[-1]:,.0f} events/s;"
                f" not restarted {baseline[-1]:,.0f} events/s",
                flush=True,
            )
        store.close()
        ours, base = statistics.median(catch_up), statistics.median(baseline)
        print(f"\nfolding events {half + 1:,}-{args.events:,}, medians of {args.repeat}:")
        print(f"  restarted (empty cache)            {ours:>10,.0f} events/s")
        print(f"  not restarted (baseline)           {base:>10,.0f} events/s")
        print(f"  ratio                              {ours / base:>10.2f}x")


if __name__ == "__main__":
    main()
