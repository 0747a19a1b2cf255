"""Benchmark: the costs that could grow with history, at 100k, 1M and 10M events.

One scratch database holds a synthetic event store (``bench.scale_store``: the
synthetic chain of ``bench.projection_replay``, streamed and appended through the store's
own path, finality 64 blocks behind the head) that grows through ``--sizes``. At each
size S, in one run:

- **append**: events/s of the appends that grew the store (encode, hash chain, COPY),
  and the appending process's peak RSS;
- **bytes per event**: the ``events`` table (heap + TOAST) and each of its indexes,
  after ``VACUUM (ANALYZE)`` (autovacuum is off on this machine);
- **catch-up behind by N**, for each N of ``--behind`` (default ``--sizes``) up to S:
  the live projector (``Projector``, as ``datacoin up`` runs it) of a schema that holds
  the read models of the first S - N events, started in a fresh process (an empty row
  cache, as after a restart), folds the last N events; events/s and that process's peak
  RSS. The schema is built first by a replay up to S - N, kept (its rate is printed
  too). With N = S the schema is empty: from ``projections.projector.REBUILD_FROM``
  entries on, the projector rebuilds it by replay and swaps it in;
- **reorg of depth ``--depth``** (``--reorgs`` times, median): the projector that just
  caught up (its cache warm, at the head) waits; the store retracts the last blocks and
  appends a new fork of as many blocks (50 events each; timed: the indexer's part), then
  the projector folds it (timed: the projector's part). The sum is "new head to read
  models consistent";
- **replay** (sizes of at least ``--replay-from``): ``projections.replay.replay`` in a
  fresh process, as ``datacoin replay`` runs it (its state hash included); its state
  hash must equal the live schema's that went through the reorgs, or the run fails.

The database is dropped at the end. Run: ``nice -n 5 .venv/bin/python -m bench.scale``
(``--sizes 100000 1000000`` for a quicker run; 10M takes ~30-60 minutes here;
``--sizes 1000000 --behind 100000 --replay-from 2000000``: the catch-up 900k -> 1M alone).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any

import psycopg

from bench.cpu import cores_busy, cpu_busy
from bench.scale_store import GrowingStore
from bench.scratch import scratch_database
from indexer.store_pg import PostgresEventStore
from projections.projector import Projector
from projections.replay import replay
from projections.statehash import state_hash


def _rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _python_cpu() -> float:
    """CPU seconds of this process (every thread) and of its waited-for children."""
    mine, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


class BackendCpu:
    """CPU seconds PostgreSQL's backends of one database used meanwhile: /proc sampled
    every 0.2 s in a thread of the parent (the children must stay thread-free: a replay
    forks), each backend's last reading kept (backends come and go)."""

    def __init__(self, database: str) -> None:
        self.marker = f" {database} ".encode()
        self.seen: dict[int, float] = {}
        self.before: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _read(self) -> dict[int, float]:
        out = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if self.marker not in f.read().replace(b"\0", b" ") + b" ":
                        continue
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[int(entry)] = (int(fields[11]) + int(fields[12])) / TICK
        return out

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.seen.update(self._read())

    def __enter__(self) -> BackendCpu:
        self.before = self._read()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.seen.update(self._read())

    @property
    def seconds(self) -> float:
        """CPU seconds used since entering."""
        return sum(cpu - self.before.get(pid, 0.0) for pid, cpu in self.seen.items())


TICK = os.sysconf("SC_CLK_TCK")
#: Marks a child's report on its stdout (its logs may share the stream).
REPORT = "@bench.scale "
#: A child's log lines passed on to stderr (where its time went); the rest are dropped.
KEPT_LOGS = ("group_done", "rebuild", "warning", "error")


def _emit(out: IO[str], **values: Any) -> None:
    out.write(REPORT + json.dumps(values) + "\n")
    out.flush()


# -- child processes ------------------------------------------------------------------------
def child_catch_up(db_url: str, schema: str, until: int | None, reorgs: int) -> None:
    """Fold `schema` up to `until` (None: the head) in this fresh process, report; then,
    for each of `reorgs`, wait for the parent's line (a reorg was appended) and fold it."""
    store = PostgresEventStore(db_url)
    projector = Projector(db_url, store, schema=schema)
    projector.prepare()
    start_position = projector.position
    start, cpu = time.perf_counter(), _python_cpu()
    moved = projector.run_once(until=until)
    elapsed = time.perf_counter() - start
    _emit(
        sys.stdout,
        start=start_position,
        moved=moved,
        seconds=elapsed,
        rss_mb=_rss_mb(),
        python_cpu=_python_cpu() - cpu,
    )
    for _ in range(reorgs):
        if not sys.stdin.readline():
            break
        start = time.perf_counter()
        moved = projector.run_once()
        _emit(sys.stdout, moved=moved, seconds=time.perf_counter() - start, rss_mb=_rss_mb())
    projector.close()
    store.close()


def child_replay(db_url: str, until: int | None = None, keep: str | None = None) -> None:
    """One replay, as ``datacoin replay`` runs it (a fresh process with no thread): of
    the whole store, or up to `until` into schema `keep`, kept."""
    store = PostgresEventStore(db_url)
    start, cpu = time.perf_counter(), _python_cpu()
    if keep:
        result = replay(db_url, store, until=until, schema=keep, keep=True)
    else:
        result = replay(db_url, store)
    _emit(
        sys.stdout,
        position=result.position,
        seconds=time.perf_counter() - start,
        state_hash=result.state_hash,
        rss_mb=_rss_mb(),
        workers_rss_mb=_rss_mb(resource.RUSAGE_CHILDREN),
        python_cpu=_python_cpu() - cpu,
    )
    store.close()


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.scale", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _read(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(REPORT):
            return json.loads(line[len(REPORT) :])  # type: ignore[no-any-return]
        if any(word in line for word in KEPT_LOGS):
            sys.stderr.write("    | " + line)
    raise RuntimeError(f"child {proc.args!r} exited with {proc.wait()}")


# -- the parent -------------------------------------------------------------------------------
@dataclass
class SizeResult:
    """Everything measured at one store size."""

    size: int
    append_rate: float = 0.0
    append_rss_mb: float = 0.0
    bytes: dict[str, float] = field(default_factory=dict)
    catch_up: dict[int, dict[str, Any]] = field(default_factory=dict)  # behind by N
    follows: list[dict[str, Any]] = field(default_factory=list)
    reorg_store: list[float] = field(default_factory=list)
    reorg_projector: list[float] = field(default_factory=list)
    replay: dict[str, Any] | None = None
    busy: float = 0.0


def _bytes_per_event(db_url: str, events: int) -> dict[str, float]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) events")
        out = {
            "table (heap + TOAST)": conn.execute("SELECT pg_table_size('events')").fetchone()[0],  # type: ignore[index]
        }
        for name, size in conn.execute(
            "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes"
            " WHERE relname = 'events' ORDER BY indexrelname"
        ).fetchall():
            out[name] = size
    result = {k: v / events for k, v in out.items()}
    result["total"] = sum(result.values())
    return result


def _catch_up(
    db_url: str, schema: str, until: int | None, reorgs: int = 0
) -> tuple[dict[str, Any], subprocess.Popen[str]]:
    proc = _child("--child-catch-up", db_url, schema, str(until or 0), str(reorgs))
    with BackendCpu(_database(db_url)) as backends:
        report = _read(proc)
    report["postgres_cpu"] = backends.seconds
    report["rate"] = report["moved"] / report["seconds"] if report["seconds"] else 0.0
    return report, proc


def _measure_size(
    args: argparse.Namespace, db_url: str, grower: GrowingStore, size: int
) -> SizeResult:
    result = SizeResult(size=size)
    before = grower.append_seconds
    start_head = grower.store.head().position
    head = grower.grow_to(size)
    result.append_rate = (head - start_head) / max(grower.append_seconds - before, 1e-9)
    result.append_rss_mb = _rss_mb()
    result.bytes = _bytes_per_event(db_url, head)
    print(
        f"\n== {head:,} entries in the store: appended at {result.append_rate:,.0f}/s", flush=True
    )
    busy = cpu_busy()
    behind = sorted((n for n in args.behind or args.sizes if n <= size), reverse=True)
    for n in behind:
        schema = f"behind_{n}"
        if head - n > 0:  # the read models of the first head - n events: by replay
            report = _replay(db_url, head - n, keep=schema)
            result.follows.append({"schema": schema, **report})
            print(
                f"  {schema} built by replay up to {head - n:,}: {report['rate']:,.0f} events/s;"
                f" {_cpu_note(report, report['position'])}",
                flush=True,
            )
        else:  # from empty (through the projector's rebuild by replay from REBUILD_FROM)
            with psycopg.connect(db_url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        last = n == behind[-1]
        report, proc = _catch_up(db_url, schema, None, args.reorgs if last else 0)
        result.catch_up[n] = report
        print(
            f"  catch-up behind by {report['moved']:,}: {report['rate']:,.0f} events/s"
            f" ({report['seconds']:.1f} s, RSS {report['rss_mb']:,.0f} MB);"
            f" {_cpu_note(report, report['moved'])}",
            flush=True,
        )
        if last:
            _reorgs(args, grower, proc, result)
        proc.wait()
    if size >= args.replay_from:
        report = _replay(db_url)
        result.replay = report
        live = state_hash(db_url, f"behind_{behind[-1]}")
        assert live == report["state_hash"], "the live schema after the reorgs != the replay"
        print(
            f"  replay: {report['rate']:,.0f} events/s ({report['seconds']:.1f} s, RSS"
            f" {report['rss_mb']:,.0f} MB, workers {report['workers_rss_mb']:,.0f} MB);"
            " state hash = the live schema's after its reorgs;"
            f" {_cpu_note(report, report['position'])}",
            flush=True,
        )
    result.busy = cores_busy(busy, cpu_busy(), 2)
    return result


def _database(db_url: str) -> str:
    return db_url.rsplit("/", 1)[1]


def _cpu_note(report: dict[str, Any], events: int) -> str:
    """CPU seconds per 100k events: Python (every process), PostgreSQL's backends."""
    per = 100_000 / max(events, 1)
    return (
        f"CPU per 100k: Python {report['python_cpu'] * per:.2f} s,"
        f" PostgreSQL {report['postgres_cpu'] * per:.2f} s"
    )


def _per_100k(report: dict[str, Any], events: int) -> str:
    per = 100_000 / max(events, 1)
    return f"{report['python_cpu'] * per:.2f}, {report['postgres_cpu'] * per:.2f}"


def _replay(db_url: str, until: int = 0, keep: str = "") -> dict[str, Any]:
    """A replay in a fresh process (of the whole store, or up to `until` into the schema
    `keep`, kept); its report."""
    proc = _child("--child-replay", db_url, str(until), keep)
    with BackendCpu(_database(db_url)) as backends:
        report = _read(proc)
    report["postgres_cpu"] = backends.seconds
    proc.wait()
    report["rate"] = report["position"] / report["seconds"]
    return report


def _reorgs(
    args: argparse.Namespace,
    grower: GrowingStore,
    proc: subprocess.Popen[str],
    result: SizeResult,
) -> None:
    assert proc.stdin is not None
    for _ in range(args.reorgs):
        start = time.perf_counter()
        grower.reorg(args.depth)
        result.reorg_store.append(time.perf_counter() - start)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        report = _read(proc)
        result.reorg_projector.append(report["seconds"])
        print(
            f"  reorg of {args.depth} blocks: store {result.reorg_store[-1] * 1000:.0f} ms,"
            f" projector {report['seconds'] * 1000:.0f} ms ({report['moved']} entries)",
            flush=True,
        )
    proc.stdin.close()


def _report(args: argparse.Namespace, results: list[SizeResult]) -> None:
    print(f"\n# bench.scale, sizes {', '.join(f'{s:,}' for s in args.sizes)}\n")
    _report_store(results)
    _report_catch_up(results)
    _report_reorgs(args, results)
    _report_replays(results)
    _report_ratios(results)


def _report_store(results: list[SizeResult]) -> None:
    print("| store size | append events/s | appender RSS MB | bytes/event (table + indexes) |")
    print("|---:|---:|---:|---:|")
    for r in results:
        table = r.bytes["table (heap + TOAST)"]
        print(
            f"| {r.size:,} | {r.append_rate:,.0f} | {r.append_rss_mb:,.0f} |"
            f" {r.bytes['total']:,.0f} ({table:,.0f} + {r.bytes['total'] - table:,.0f}) |"
        )
    for r in results:
        by_relation = {k: round(v) for k, v in r.bytes.items()}
        print(f"  {r.size:,} bytes per event by relation: {json.dumps(by_relation)}")


def _report_catch_up(results: list[SizeResult]) -> None:
    print(
        "\n| store size | behind by | catch-up events/s | projector RSS MB |"
        " CPU s per 100k: Python, PostgreSQL |"
    )
    print("|---:|---:|---:|---:|---|")
    for r in results:
        for _, c in sorted(r.catch_up.items()):
            print(
                f"| {r.size:,} | {c['moved']:,} | {c['rate']:,.0f} | {c['rss_mb']:,.0f} |"
                f" {_per_100k(c, c['moved'])} |"
            )
        for f in r.follows:
            print(
                f"| {r.size:,} | ({f['schema']} built by replay of {f['position']:,}) |"
                f" {f['rate']:,.0f} | {f['rss_mb']:,.0f} / {f['workers_rss_mb']:,.0f} |"
                f" {_per_100k(f, f['position'])} |"
            )


def _report_reorgs(args: argparse.Namespace, results: list[SizeResult]) -> None:
    print(
        f"\n| store size | reorg depth {args.depth}: store ms | projector ms | total ms"
        " (median) | runs (total) |"
    )
    print("|---:|---:|---:|---:|---|")
    for r in results:
        if not r.reorg_store:
            continue
        totals = [a + b for a, b in zip(r.reorg_store, r.reorg_projector, strict=True)]
        print(
            f"| {r.size:,} | {statistics.median(r.reorg_store) * 1000:,.0f} |"
            f" {statistics.median(r.reorg_projector) * 1000:,.0f} |"
            f" {statistics.median(totals) * 1000:,.0f} |"
            f" {', '.join(f'{t * 1000:,.0f}' for t in totals)} |"
        )


def _report_replays(results: list[SizeResult]) -> None:
    print(
        "\n| store size | replay events/s | seconds | RSS MB (parent / workers) |"
        " CPU s per 100k: Python, PostgreSQL |"
    )
    print("|---:|---:|---:|---:|---|")
    for r in results:
        if r.replay:
            p = r.replay
            print(
                f"| {p['position']:,} | {p['rate']:,.0f} | {p['seconds']:.1f} |"
                f" {p['rss_mb']:,.0f} / {p['workers_rss_mb']:,.0f} |"
                f" {_per_100k(p, p['position'])} |"
            )


def _report_ratios(results: list[SizeResult]) -> None:
    base = results[0]
    print("\nratios to the smallest size:")
    for r in results[1:]:
        ratios = [
            f"catch-up by {n:,}: {c['rate'] / base.catch_up[n]['rate']:.2f}"
            for n, c in r.catch_up.items()
            if n in base.catch_up
        ]
        if r.reorg_projector and base.reorg_projector:
            grown = statistics.median(r.reorg_projector) / statistics.median(base.reorg_projector)
            ratios.append(f"reorg (projector): {grown:.2f}")
        ratios.append(f"bytes/event: {r.bytes['total'] / base.bytes['total']:.2f}")
        print(f"  {r.size:,}: " + "; ".join(ratios))
    for r in results:
        print(f"  machine busy at {r.size:,}: {r.busy:.2f} of 2 cores")


def main() -> None:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--depth", type=int, default=3, help="blocks a reorg orphans")
    parser.add_argument("--reorgs", type=int, default=3, help="reorgs per size (median)")
    parser.add_argument("--replay-from", type=int, default=1_000_000)
    parser.add_argument(
        "--behind",
        type=int,
        nargs="+",
        help="catch-ups to measure at each size, behind by N (default: --sizes); e.g."
        " `--sizes 1000000 --behind 100000 --replay-from 2000000` measures the catch-up"
        " 900k -> 1M alone",
    )
    parser.add_argument("--child-catch-up", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--child-replay", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_catch_up:
        db_url, schema, until, reorgs = args.child_catch_up
        child_catch_up(db_url, schema, int(until) or None, int(reorgs))
        return
    if args.child_replay:
        db_url, until, keep = args.child_replay
        child_replay(db_url, int(until) or None, keep or None)
        return
    args.sizes = sorted(args.sizes)
    with scratch_database("datacoin_bench_scale") as db_url:
        grower = GrowingStore(PostgresEventStore(db_url))
        results = [_measure_size(args, db_url, grower, size) for size in args.sizes]
        grower.store.close()
    _report(args, results)


if __name__ == "__main__":
    main()
