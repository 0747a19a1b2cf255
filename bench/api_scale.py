"""Benchmark: GET /datasets at 10k, 100k and 1M datasets, and an account with 100k purchases.

The read models are synthesised rows (``bench.api_rows``: datasets and their metadata
documents, then one account's 100,000 purchases among 1M), written straight into a read
schema and vacuumed (autovacuum is off on this machine); ``datacoin serve --workers N``
serves them. Per size:

- ``GET /datasets`` at ``--rate`` req/s for ``--seconds`` from a second process (open
  loop, ``bench/openloop.py``: latency from each request's scheduled send time), mixing
  every sort with no filter, a category, a price range and a search (common words, a word
  in 0.1% of documents, a word of one document, a word of none), pages after a cursor in
  the middle of the order ("deep"), and next pages of earlier answers. p50/p99, errors,
  CPU per request;
- each kind of request alone, 100 times one after the other: p50/p99 by kind.

Then ``GET /accounts/{a}/purchases`` (the first page, a page after a cursor in the middle
of its 100,000 purchases) and ``GET /accounts/{a}`` (its counts), 200 times each.
Run: ``nice -n 5 .venv/bin/python -m bench.api_scale`` (``--sizes 10000 100000`` quicker)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import uvloop

from api.render import encode_cursor
from bench import openloop
from bench.api_load import CATEGORIES, WORDS, CpuMeter, pct, serve
from bench.api_rows import CHAIN, RARE, add_datasets, add_purchases
from bench.scratch import scratch_database
from common.anvil import free_port
from common.db import make_engine
from projections.schema import create_schema

SCHEMA = "readmodels"
BUYER = b"\xaa" * 20
SORTS = ["newest", "price", "purchases", "rating"]


def _deep_cursor(rng: random.Random, sort: str, size: int) -> str:
    """A cursor somewhere in the middle of `sort`'s order (as the API would issue)."""
    ident = str(rng.randint(1, size))
    key: Any = {
        "newest": rng.randint(1, size),
        "price": str(rng.randint(1, 1000) * 10**18),
        "purchases": rng.randint(0, 3),
        "rating": round(rng.uniform(0, 5), 2),
    }[sort]
    return encode_cursor([key, CHAIN, ident])


def _search(rng: random.Random, size: int) -> str:
    kind = rng.random()
    if kind < 0.5:
        return rng.choice(WORDS)
    if kind < 0.75:
        return f"lot{rng.randrange(RARE)}"  # 0.1% of the documents
    if kind < 0.9:
        return f"item{rng.randint(1, size)}"  # one document
    return f"zebra{rng.randrange(1000)}"  # none


#: The request kinds of the mix, each a query builder (rng, size) -> parameters.
KINDS: dict[str, Callable[[random.Random, int], dict[str, Any]]] = {
    "sort only": lambda rng, size: {},
    "category": lambda rng, size: {"category": rng.choice(CATEGORIES)},
    "price range": lambda rng, size: _price_range(rng),
    "search": lambda rng, size: {"q": _search(rng, size)},
    "deep cursor": lambda rng, size: {"deep": True},
    "deep cursor + search": lambda rng, size: {"deep": True, "q": _search(rng, size)},
}
WEIGHTS = [25, 15, 15, 20, 15, 10]


def _price_range(rng: random.Random) -> dict[str, str]:
    low = rng.randint(1, 900) * 10**18
    return {"min_price": str(low), "max_price": str(low + 100 * 10**18)}


def target(rng: random.Random, size: int, kind: str) -> str:
    """One GET /datasets path of `kind`."""
    params: dict[str, Any] = {"limit": 20, "sort": rng.choice(SORTS), **KINDS[kind](rng, size)}
    if params.pop("deep", False):
        params["cursor"] = _deep_cursor(rng, params["sort"], size)
    return "/datasets?" + urlencode(params)


async def _load(url: str, rate: float, seconds: float, size: int) -> openloop.Result:
    rng = random.Random(1)
    follow_ups: list[str] = []

    def next_target() -> str:
        if follow_ups and rng.random() < 0.15:
            return follow_ups.pop()
        return target(rng, size, rng.choices(list(KINDS), WEIGHTS)[0])

    def keep_cursor(sent: str, body: bytes) -> None:
        at = body.rfind(b'"next_cursor":"')
        if at >= 0 and len(follow_ups) < 1000:
            start = at + len(b'"next_cursor":"')
            cursor = body[start : body.index(b'"', start)].decode()
            first_page = sent.split("&cursor=", 1)[0]
            follow_ups.append(f"{first_page}&{urlencode({'cursor': cursor})}")

    return await openloop.run(url, rate, seconds, next_target=next_target, on_body=keep_cursor)


def load_process(url: str, rate: float, seconds: float, size: int, out: Any) -> None:
    """The open-loop generator, in its own process (see ``bench.api_load``)."""
    gc.collect()
    gc.freeze()
    uvloop.install()
    started = time.process_time()
    result = asyncio.run(_load(url, rate, seconds, size))
    out.send(
        (
            result.latencies,
            result.errors,
            result.total,
            result.elapsed,
            time.process_time() - started,
        )
    )


def _closed_loop(http: httpx.Client, paths: list[str]) -> list[float]:
    """Milliseconds of each GET, one after the other (each must answer 200)."""
    out = []
    for path in paths:
        start = time.perf_counter()
        answer = http.get(path)
        out.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:200])
    return out


def _by_kind(base: str, size: int) -> dict[str, list[float]]:
    rng = random.Random(2)
    with httpx.Client(base_url=base, timeout=30) as http:
        return {
            kind: _closed_loop(http, [target(rng, size, kind) for _ in range(100)])
            for kind in KINDS
        }


def _purchases(base: str) -> dict[str, list[float]]:
    account = "0x" + BUYER.hex()
    with httpx.Client(base_url=base, timeout=30) as http:
        first = http.get(f"/accounts/{account}/purchases", params={"limit": 20}).json()
        assert len(first["items"]) == 20
        middle = encode_cursor([3_500_000, CHAIN, 0])  # (block, chain, log index)
        return {
            "GET /accounts/{a}/purchases (first page)": _closed_loop(
                http, [f"/accounts/{account}/purchases?limit=20"] * 200
            ),
            "GET /accounts/{a}/purchases (page after a cursor in the middle)": _closed_loop(
                http, [f"/accounts/{account}/purchases?limit=20&cursor={middle}"] * 200
            ),
            "GET /accounts/{a} (counts, stakes, activity, listings)": _closed_loop(
                http, [f"/accounts/{account}"] * 200
            ),
        }


def _measure(args: argparse.Namespace, db_url: str, data_dir: Path, size: int) -> dict[str, Any]:
    port = free_port()
    server = serve(db_url, data_dir, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        parent, child = mp.Pipe()
        loader = mp.get_context("spawn").Process(
            target=load_process, args=(base, args.rate, args.seconds, size, child)
        )
        meter = CpuMeter(server.pid, db_url.rsplit("/", 1)[1])
        meter.start()
        loader.start()
        latencies, errors, total, elapsed, loader_cpu = parent.recv()
        cpu = meter.stop()
        loader.join()
        by_kind = _by_kind(base, size)
        purchases = _purchases(base) if size == args.sizes[-1] else {}
    finally:
        server.terminate()
        server.wait(timeout=10)
    ms = [x * 1000 for x in latencies]
    return {
        "size": size,
        "achieved": len(latencies) / elapsed,
        "errors": errors,
        "total": total,
        "p50": pct(ms, 0.5),
        "p99": pct(ms, 0.99),
        "server_us": cpu["server"] / total * 1e6,
        "postgres_us": cpu["postgres"] / total * 1e6,
        "others": (cpu["machine"] - cpu["server"] - cpu["postgres"] - loader_cpu) / elapsed,
        "by_kind": by_kind,
        "purchases": purchases,
    }


def _report(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    print(
        f"\n# GET /datasets at {args.rate:.0f} req/s offered, {args.seconds:.0f} s,"
        f" {args.workers} workers\n"
    )
    print(
        "| datasets | achieved req/s | errors | p50 ms | p99 ms |"
        " CPU/request: server, PostgreSQL | other processes |"
    )
    print("|---:|---:|---:|---:|---:|---|---:|")
    for r in results:
        print(
            f"| {r['size']:,} | {r['achieved']:,.0f} | {r['errors']}/{r['total']} |"
            f" {r['p50']:.1f} | {r['p99']:.1f} |"
            f" {r['server_us']:,.0f} us, {r['postgres_us']:,.0f} us |"
            f" {r['others']:.0%} of a core |"
        )
    print("\nby kind, 100 requests one after the other, p50 / p99 ms:\n")
    print("| kind | " + " | ".join(f"{r['size']:,} datasets" for r in results) + " |")
    print("|---|" + "---:|" * len(results))
    for kind in KINDS:
        cells = [
            f"{statistics.median(r['by_kind'][kind]):.1f} / {pct(r['by_kind'][kind], 0.99):.1f}"
            for r in results
        ]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    last = results[-1]
    print(
        "\nan account with 100,000 purchases (of 1,000,000), 200 requests each,"
        f" {last['size']:,} datasets:\n"
    )
    for name, values in last["purchases"].items():
        print(f"  {name}: p50 {statistics.median(values):.1f} ms, p99 {pct(values, 0.99):.1f} ms")


def main() -> None:
    """Grow the datasets through `--sizes`, measuring at each; print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    args.sizes = sorted(args.sizes)
    results = []
    with (
        scratch_database("datacoin_bench_api_scale") as db_url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        engine = make_engine(db_url)
        with engine.begin() as conn:
            create_schema(conn, SCHEMA)
        engine.dispose()
        print("synthesising 1,000,000 purchases (100,000 of one account) ...", flush=True)
        add_purchases(
            db_url, SCHEMA, buyer=BUYER, count=100_000, others=900_000, datasets=args.sizes[-1]
        )
        have = 0
        for size in args.sizes:
            print(f"synthesising datasets {have + 1:,}-{size:,} ...", flush=True)
            add_datasets(db_url, SCHEMA, have + 1, size)
            have = size
            results.append(_measure(args, db_url, Path(tmp), size))
            r = results[-1]
            print(
                f"  {size:,} datasets: p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms,"
                f" achieved {r['achieved']:,.0f} req/s, errors {r['errors']}",
                flush=True,
            )
    _report(args, results)
    print(f"\nmachine: {os.cpu_count()} cores, shared with other sessions")


if __name__ == "__main__":
    main()
