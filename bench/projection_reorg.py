"""Benchmark: the live projector through a reorg, against refolding after each retraction.

A reorg appends a retraction of every orphaned event, then the new fork's events. The
projector refolds each aggregate those retractions touched from the events still live in
the store. This synthesises ``--events`` events (as ``bench.projection_replay`` does),
lets live projectors fold them all, then reorgs the last ``--depth`` blocks (50 events
each) onto a new fork of as many blocks, and times, medians over ``--repeat``:

- ours: the projector as it runs (reads of up to 5,000 entries): a run of retractions
  marks rows stale, refolded together in one store read per projection; the whole-chain
  stats subtract the retracted events (``invertible``);
- baseline: as every reorg cost before those two changes: the same projector reading one
  entry per batch, so every retraction's refolds run before the next entry (one store
  read per retraction and touched row, plus ~1 ms per one-entry read), the stats refolded
  like the rest (from the chain's whole history).

Both must end with the same state hash, or the run fails.
Run: ``.venv/bin/python -m bench.projection_reorg --events 50000 --depth 3``
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import psycopg

from bench.projection_replay import CHAIN, append, synthesize
from bench.scratch import scratch_database
from indexer.events import Checkpoint, NewEvent
from indexer.store_pg import PostgresEventStore
from projections.projector import Projector
from projections.registry import all_projections
from projections.statehash import state_hash
from projections.stats import Stats

PER_BLOCK = 50  # events per block in ``synthesize``'s chain


def new_fork(events: list[NewEvent], depth: int) -> list[NewEvent]:
    """`depth` blocks of other events replacing the last `depth` blocks of `events`."""
    first = events[-1].block_number - depth + 1

    def fork_hash(number: int) -> bytes:
        return (10**9 + number).to_bytes(32, "big")

    out = []
    for e in synthesize(depth * PER_BLOCK, seed=2):
        number = first + e.block_number - 1
        parent = (number - 1).to_bytes(32, "big") if number == first else fork_hash(number - 1)
        out.append(
            replace(e, block_number=number, block_hash=fork_hash(number), parent_hash=parent)
        )
    return out


def reorg(store: PostgresEventStore, events: list[NewEvent], depth: int) -> int:
    """Retract the last `depth` blocks and append a new fork of as many; the new head."""
    last = events[-1].block_number
    keep = last - depth
    head = store.checkpoint(CHAIN)
    assert head is not None
    store.retract(
        CHAIN,
        keep,
        Checkpoint(
            chain_id=CHAIN,
            block_number=keep,
            block_hash=keep.to_bytes(32, "big"),
            finalized_number=0,
        ),
        (head.block_number, head.block_hash),
    )
    append(store, new_fork(events, depth))
    return store.head().position


class _RefoldedStats(Stats):
    """The stats as the baseline folds them: refolded on a retraction, not subtracted."""

    invertible = False


def _at_head(
    db_url: str, store: PostgresEventStore, schema: str, baseline: bool = False
) -> Projector:
    """A live projector (its row cache warm) that has folded the store into `schema`."""
    projections = all_projections()
    if baseline:
        projections = [_RefoldedStats() if isinstance(p, Stats) else p for p in projections]
    projector = Projector(db_url, store, schema=schema, projections=projections)
    projector.run_once()
    return projector


def main() -> None:
    """Run the benchmark and print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--depth", type=int, default=3, help="blocks orphaned (50 events each)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with scratch_database("datacoin_bench_reorg") as db_url:
        print(f"synthesising {args.events:,} events ...", flush=True)
        events = synthesize(args.events)
        store = PostgresEventStore(db_url)
        append(store, events)
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) events")
        live = [
            (
                _at_head(db_url, store, f"ours_{i}"),
                _at_head(db_url, store, f"baseline_{i}", baseline=True),
            )
            for i in range(args.repeat)
        ]
        before = store.head().position
        head = reorg(store, events, args.depth)
        print(
            f"reorg: {args.depth} blocks orphaned, {head - before:,} entries appended"
            " (retractions and the new fork)",
            flush=True,
        )
        ours: list[float] = []
        baseline: list[float] = []
        for i, (batched, one_by_one) in enumerate(live):
            one_by_one.batch_size = 1
            for projector, times in ((batched, ours), (one_by_one, baseline)):
                start = time.perf_counter()
                assert projector.run_once() == head - before
                times.append(time.perf_counter() - start)
                projector.close()
            same = state_hash(db_url, f"ours_{i}") == state_hash(db_url, f"baseline_{i}")
            assert same, "the two projectors disagree"
            print(
                f"  run {i + 1}: ours {ours[-1]:.3f} s; baseline {baseline[-1]:.3f} s"
                " (same state hash)",
                flush=True,
            )
        store.close()
        ours_m, base_m = statistics.median(ours), statistics.median(baseline)
        print(
            f"\nreorg of {args.depth} blocks on {args.events:,} events, medians of {args.repeat}:"
        )
        print(f"  ours (stale rows refolded together)  {ours_m:>8.3f} s")
        print(f"  baseline (refold per retraction)     {base_m:>8.3f} s   (stats refolded too)")
        print(f"  ratio                                {base_m / ours_m:>8.1f}x faster")


if __name__ == "__main__":
    main()
