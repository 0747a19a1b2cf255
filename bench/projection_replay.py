"""Benchmark: replay of the read models from position 0, against a naive baseline.

Synthesises a realistic event store (listings, purchases, ratings, stakes, training jobs)
directly through the store's append path, then measures in one run:

- ours: ``projections.replay.replay`` as ``datacoin replay`` runs it: projection groups
  folded in parallel processes, COPY into a fresh schema, and the state hash of the result
  (timed: a replay is done when its hash is known);
- ours in one process (``workers=1``), to show what the parallel groups add;
- naive: the same pure handlers, but one ORM object per row and one commit per event
  (measured on the first ``--naive-events`` events: its cost per event is constant).

"Cold" runs each replay once in a fresh process, as ``datacoin replay`` does: the process
has no thread, so it forks its worker processes. "Warm" runs replay in this process, a
long-lived one whose worker fork server runs (started first, then warmed by an untimed
replay), as in a process with threads (which cannot fork safely). The synthesised store
is vacuumed and analysed first, as autovacuum leaves a store (otherwise autovacuum's first
pass over the fresh rows runs during the first replays).

Prints events/s (medians over ``--repeat`` runs), the ratio, and how busy the machine was.
Run: ``.venv/bin/python -m bench.projection_replay --events 100000``
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing.forkserver
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from functools import lru_cache
from hashlib import sha256
from typing import Any

import psycopg
from sqlalchemy.orm import Session

from bench.cpu import cores_busy, cpu_busy
from bench.scratch import scratch_database
from common.db import make_engine
from common.procs import forkserver_context
from indexer.events import BlockRecord, Checkpoint, NewEvent
from indexer.store_pg import PostgresEventStore
from projections.registry import all_projections
from projections.replay import default_workers, replay
from projections.schema import drop_schema, ensure_schema

CHAIN = 31337


def synthesize(count: int, seed: int = 1) -> list[NewEvent]:
    """`count` platform events in a plausible order, 50 per block."""
    return list(itertools.islice(synthesize_stream(seed), count))


def synthesize_stream(seed: int = 1, *, hashed: bool = False) -> Iterator[NewEvent]:
    """``synthesize``'s events, without end and one at a time (the first `count` are
    ``synthesize(count, seed)``): a store of millions of events is built from it without
    holding them (``bench.scale``). Block hashes are the block numbers, or with `hashed`
    their sha256, spread like a real chain's (what the store's block-hash index sees)."""
    block_hash = _hashed_block if hashed else _numbered_block
    rng = random.Random(seed)
    accounts = ["0x" + rng.randbytes(20).hex() for _ in range(500)]
    datasets = jobs = 0
    for n in itertools.count():
        block = 1 + n // 50
        kind = rng.random()
        someone = rng.choice(accounts)
        if datasets == 0 or kind < 0.25:
            datasets += 1
            name, args = (
                "DatasetListed",
                {
                    "datasetId": str(datasets),
                    "provider": someone,
                    "price": str(rng.randint(1, 10**21)),
                    "accessDuration": str(rng.choice([0, 86400])),
                    "metadataCid": f"bafy{rng.getrandbits(128):x}",
                    "contentHash": "0x" + rng.randbytes(32).hex(),
                    "category": rng.choice(["tabular", "images", "text"]),
                },
            )
        elif kind < 0.6:
            name, args = (
                "Purchased",
                {
                    "datasetId": str(rng.randint(1, datasets)),
                    "buyer": someone,
                    "provider": rng.choice(accounts),
                    "price": str(10**18),
                    "fee": str(25 * 10**15),
                    "expiresAt": "0",
                },
            )
        elif kind < 0.75:
            name, args = (
                "Rated",
                {
                    "datasetId": str(rng.randint(1, datasets)),
                    "rater": someone,
                    "score": str(rng.randint(1, 5)),
                },
            )
        elif kind < 0.9:
            name, args = (
                "Staked",
                {
                    "account": someone,
                    "amount": str(10**18),
                    "newStake": str(rng.randint(1, 10**22)),
                },
            )
        else:
            jobs += 1
            name, args = (
                "TrainingRequested",
                {
                    "jobId": str(jobs),
                    "datasetId": str(rng.randint(1, datasets)),
                    "requester": someone,
                    "specCid": f"bafy{jobs}",
                    "payment": str(10**19),
                    "deadline": str(1_800_000_000),
                },
            )
        yield NewEvent(
            chain_id=CHAIN,
            block_number=block,
            block_hash=block_hash(block),
            parent_hash=block_hash(block - 1),
            block_timestamp=1_700_000_000 + block,
            tx_hash=rng.randbytes(32),
            tx_index=0,
            log_index=n % 50,
            address=b"\x11" * 20,
            event_name=name,
            args=args,
        )


def _numbered_block(number: int) -> bytes:
    return number.to_bytes(32, "big")


@lru_cache(maxsize=4)
def _hashed_block(number: int) -> bytes:
    return sha256(number.to_bytes(32, "big")).digest()


def build_store(db_url: str, events: list[NewEvent]) -> PostgresEventStore:
    """A store holding `events`, appended through the store's own path."""
    store = PostgresEventStore(db_url)
    append(store, events)
    return store


def append(store: PostgresEventStore, events: list[NewEvent]) -> None:
    """Append `events` (the next blocks of ``synthesize``'s chain) in 10k-event commits."""
    checkpoint = store.checkpoint(CHAIN)
    expected = (checkpoint.block_number, checkpoint.block_hash) if checkpoint else None
    for start in range(0, len(events), 10_000):
        chunk = events[start : start + 10_000]
        last = chunk[-1]
        block = BlockRecord(last.block_number, last.block_hash, last.parent_hash, 0)
        cp = Checkpoint(
            chain_id=CHAIN,
            block_number=last.block_number,
            block_hash=last.block_hash,
            finalized_number=last.block_number,
            blocks=(block,),
        )
        store.append(chunk, cp, expected)
        expected = (last.block_number, last.block_hash)


def naive_replay(db_url: str, store: PostgresEventStore, limit: int) -> float:
    """Same handlers, ORM object per row, commit per event. Returns events/s."""
    schema = f"naive_{uuid.uuid4().hex[:8]}"
    engine = make_engine(db_url)
    with engine.begin() as conn:
        ensure_schema(conn, schema)
    projections = all_projections()
    models: dict[str, Any] = {p.name: _model_for(p.table) for p in projections}
    entries = [e.fact() for e in store.read_after(0, limit)]
    mapped = engine.execution_options(schema_translate_map={None: schema})
    start = time.perf_counter()
    with Session(mapped) as session:
        for entry in entries:
            for p in projections:
                if entry.event_name not in p.events:
                    continue
                for key in p.keys(entry):
                    obj = session.get(models[p.name], key)
                    row = (
                        None
                        if obj is None
                        else {c.name: getattr(obj, c.name) for c in p.table.columns}
                    )
                    new = p.apply(key, row, entry)
                    if new is None:
                        if obj is not None:
                            session.delete(obj)
                    elif obj is None:
                        session.add(models[p.name](**new))
                    else:
                        for column, value in new.items():
                            setattr(obj, column, value)
            session.commit()
    elapsed = time.perf_counter() - start
    with engine.begin() as conn:
        drop_schema(conn, schema)
    engine.dispose()
    return len(entries) / elapsed


def _model_for(table: Any) -> type:
    for mapper in __import__(
        "projections.base", fromlist=["ReadModelBase"]
    ).ReadModelBase.registry.mappers:
        if mapper.local_table is table:
            return mapper.class_  # type: ignore[no-any-return]
    raise LookupError(table.name)


def _timed(db_url: str, store: PostgresEventStore, events: int, workers: int) -> float:
    start = time.perf_counter()
    result = replay(db_url, store, workers=workers)
    elapsed = time.perf_counter() - start
    assert result.position == events
    return events / elapsed


def _cold(db_url: str, events: int, workers: int) -> float:
    """One replay in a fresh process (as `datacoin replay`: it forks its workers);
    events/s."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.projection_replay",
            "--cold-run",
            db_url,
            "--events",
            str(events),
            "--workers",
            str(workers),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _report(
    args: argparse.Namespace,
    *,
    cold: list[float],
    ours: list[float],
    single: list[float],
    naive: list[float],
    busy: list[float],
) -> None:
    ours_m, cold_m, naive_m = map(statistics.median, (ours, cold, naive))
    print(f"\nreplay of {args.events:,} events, medians of {args.repeat}:")
    print(
        f"  ours, cold   {cold_m:>10,.0f} events/s   (a fresh process each, as `datacoin"
        f" replay` runs; {args.workers} workers; target >= 50,000)"
    )
    print(
        f"  ours, warm   {ours_m:>10,.0f} events/s   (a long-lived process, its fork"
        " server running)"
    )
    print(f"  one process  {statistics.median(single):>10,.0f} events/s")
    print(f"  naive        {naive_m:>10,.0f} events/s   (ORM object per row, commit per event)")
    print(f"  ratio        {cold_m / naive_m:>10,.1f}x   (cold; warm {ours_m / naive_m:,.1f}x)")
    print(
        f"  machine busy {statistics.median(busy):>10.2f} of {os.cpu_count() or 1} cores"
        " during ours (warm)"
    )


def main() -> None:
    """Run the benchmark and print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive-events", type=int, default=3_000)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--cold-run", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_run:  # a child of _cold: one replay, then its rate on stdout
        store = PostgresEventStore(args.cold_run)
        print(_timed(args.cold_run, store, args.events, args.workers))
        store.close()
        return
    cores = os.cpu_count() or 1
    with scratch_database("datacoin_bench_replay") as db_url:
        print(f"synthesising {args.events:,} events ...", flush=True)
        store = build_store(db_url, synthesize(args.events))
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) events")
        cold = []
        for i in range(args.repeat):
            cold.append(_cold(db_url, args.events, args.workers))
            print(f"  cold run {i + 1}: {cold[-1]:,.0f} events/s (a fresh process)", flush=True)
        # Warm: workers come from this process's running fork server (see worker_context).
        forkserver_context("projections.replay")
        multiprocessing.forkserver.ensure_running()
        replay(db_url, store, workers=args.workers)
        ours: list[float] = []
        single: list[float] = []
        busy = []
        for i in range(args.repeat):
            before = cpu_busy()
            ours.append(_timed(db_url, store, args.events, args.workers))
            busy.append(cores_busy(before, cpu_busy(), cores))
            single.append(_timed(db_url, store, args.events, 1))
            print(
                f"  run {i + 1}: ours ({args.workers} workers) {ours[-1]:,.0f} events/s"
                f" ({args.events / ours[-1]:.2f} s, {busy[-1]:.2f} of {cores} cores busy);"
                f" one process {single[-1]:,.0f} events/s",
                flush=True,
            )
        naive = [naive_replay(db_url, store, args.naive_events) for _ in range(args.repeat)]
        for i, rate in enumerate(naive):
            print(f"  naive run {i + 1}: {rate:,.0f} events/s (first {args.naive_events:,} events)")
        _report(args, cold=cold, ours=ours, single=single, naive=naive, busy=busy)
        store.close()


if __name__ == "__main__":
    main()
