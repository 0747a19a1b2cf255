"""The event store's natural key led by block number (migration 0007) against the key led
by block hash (0006, the peer), appending the same events into both, in one run.

    nice -n 5 .venv/bin/python -m bench.event_key --events 1000000

Two scratch databases, one migrated to 0006 and one to the head, grow through the same
synthetic chain (``bench.scale_store``: the store's own ``append``, 10k-event commits,
block hashes sha256-spread like a real chain's) in alternating steps of ``--step``
events, so both see the same machine load. Per step and store: the append rate and the
CPU of its PostgreSQL backend (``/proc/<pid>/stat``, so other processes' load does not
enter). At the end: medians over the steps of each size band, and the ``events``
table's bytes per event (heap and each index). Both databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import psycopg

from bench.scale_store import GrowingStore
from bench.scratch import ADMIN
from indexer.store_pg import PostgresEventStore
from migrations.runner import head_revision, upgrade

PEER_REVISION = "0006"  # the key led by block hash, with ix_events_chain_block
TICKS = os.sysconf("SC_CLK_TCK")


def backend_cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid` (a PostgreSQL backend on this machine)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class Side:
    """One store under test."""

    label: str
    url: str
    growing: GrowingStore
    rates: list[float] = field(default_factory=list)  # events/s per step
    cpu_per_100k: list[float] = field(default_factory=list)  # backend CPU-s per step

    def backend_pid(self) -> int:
        conn = self.growing.store._connection()  # the store's own connection
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        conn.commit()
        assert row is not None
        return int(row[0])

    def step(self, to: int) -> None:
        pid = self.backend_pid()
        head = self.growing.store.head().position
        cpu = backend_cpu_seconds(pid)
        start = time.perf_counter()
        reached = self.growing.grow_to(to)
        elapsed = time.perf_counter() - start
        spent = backend_cpu_seconds(pid) - cpu
        self.rates.append((reached - head) / elapsed)
        self.cpu_per_100k.append(spent * 100_000 / (reached - head))

    def sizes(self) -> dict[str, int]:
        with psycopg.connect(self.url) as conn:
            rows = conn.execute(
                "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND (c.relname = 'events' OR c.oid IN"
                " (SELECT indexrelid FROM pg_index WHERE indrelid = 'public.events'::regclass))"
            ).fetchall()
        return {name: int(size) for name, size in rows}


@contextmanager
def database(name: str, revision: str) -> Iterator[str]:
    url = ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url, revision)
        yield url
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--step", type=int, default=100_000)
    args = parser.parse_args()
    suffix = f"{os.getpid()}"
    with ExitStack() as stack:
        sides = []
        for label, revision in (("peer: key by hash (0006)", PEER_REVISION), ("ours", "head")):
            url = stack.enter_context(database(f"bench_event_key_{revision}_{suffix}", revision))
            store = PostgresEventStore(url)
            stack.callback(store.close)
            sides.append(Side(label=label, url=url, growing=GrowingStore(store)))
        print(f"head revision {head_revision()}; {args.events:,} events in steps of {args.step:,}")
        for to in range(args.step, args.events + 1, args.step):
            for side in sides if (to // args.step) % 2 else reversed(sides):
                side.step(to)
            peer, ours = sides
            print(
                f"{to:>10,}: peer {peer.rates[-1]:>8,.0f}/s {peer.cpu_per_100k[-1]:.2f} s,"
                f" ours {ours.rates[-1]:>8,.0f}/s {ours.cpu_per_100k[-1]:.2f} s"
                " (append rate; backend CPU per 100k)"
            )
        half = len(sides[0].rates) // 2
        print(
            "\n| store | events/s, first half (median) | second half | backend CPU per 100k,"
            " first half | second half | bytes per event (heap + indexes) |"
        )
        print("|---|---:|---:|---:|---:|---|")
        for side in sides:
            sizes = side.sizes()
            heap = sizes.pop("events")
            indexes = " + ".join(f"{n} {s / args.events:.0f}" for n, s in sorted(sizes.items()))
            print(
                f"| {side.label} | {statistics.median(side.rates[:half] or side.rates):,.0f}"
                f" | {statistics.median(side.rates[half:]):,.0f}"
                f" | {statistics.median(side.cpu_per_100k[:half] or side.cpu_per_100k):.2f} s"
                f" | {statistics.median(side.cpu_per_100k[half:]):.2f} s"
                f" | {(heap + sum(sizes.values())) / args.events:.0f}"
                f" ({heap / args.events:.0f} + {indexes}) |"
            )
        peer, ours = sides
        rate = statistics.median(ours.rates) / statistics.median(peer.rates)
        cpu = statistics.median(ours.cpu_per_100k) / statistics.median(peer.cpu_per_100k)
        print(f"\nours / peer: append rate {rate:.2f}, backend CPU {cpu:.2f}")


if __name__ == "__main__":
    main()
