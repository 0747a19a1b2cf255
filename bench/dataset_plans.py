"""Benchmark: the plan and time of a page of GET /datasets after a cursor in the middle of
each sort order, at ``--datasets`` datasets (rows synthesised as ``bench.api_scale`` does,
``bench.api_rows``), with no filter and with a category: ``EXPLAIN ANALYZE`` of the
route's own statements, the best of 3, and the scans each plan makes (every one should be
an index range of the sort's index, then probes by key).

Run: ``nice -n 5 .venv/bin/python -m bench.dataset_plans --datasets 1000000``
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

import psycopg

from api.routers.datasets import Sort, _statement
from bench.api_rows import CHAIN, add_datasets
from bench.scratch import scratch_database
from common.db import make_engine
from projections.schema import create_schema

SCHEMA = "rm"


def main() -> None:
    """Build the datasets, print one line per sort and filter."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=int, default=1_000_000)
    count = parser.parse_args().datasets
    middle: dict[Sort, Any] = {
        Sort.newest: count // 2,
        Sort.price: 500 * 10**18,
        Sort.purchases: 0,
        Sort.rating: 3.0,
    }
    with scratch_database("datacoin_bench_plans") as url:
        engine = make_engine(url)
        with engine.begin() as conn:
            create_schema(conn, SCHEMA)
        engine.dispose()
        start = time.perf_counter()
        add_datasets(url, SCHEMA, 1, count)
        print(f"{count:,} datasets written in {time.perf_counter() - start:.0f} s", flush=True)
        with psycopg.connect(url) as conn:
            cases = [
                (sort, filters, extra, keyset)
                for sort in Sort
                for filters, extra in (((), {}), (("category",), {"category": "science"}))
                for keyset in (False, True)
            ]
            for sort, filters, extra, keyset in cases:
                if True:
                    params: dict[str, Any] = dict(extra)
                    if keyset:
                        params |= {
                            "after_key": middle[sort],
                            "after_chain": CHAIN,
                            "after_id": count // 2,
                        }
                    sql = _statement(SCHEMA, filters, sort, keyset, limit=21)
                    times, plan = [], []
                    for _ in range(3):
                        rows = conn.execute("EXPLAIN (ANALYZE, TIMING OFF) " + sql, params)
                        plan = [str(r[0]) for r in rows]
                        found = re.search(r"Execution Time: ([\d.]+)", plan[-1])
                        times.append(float(found.group(1)) if found else float("nan"))
                    scans = [
                        re.sub(r"\s+\(cost=.*", "", line.strip().removeprefix("->  "))
                        for line in plan
                        if "Scan" in line or "Sort" in line.split("(")[0]
                    ]
                    print(
                        f"{sort.value:9} {','.join(filters) or '-':9}"
                        f" {'middle' if keyset else 'first':6} {min(times):7.2f} ms:"
                        f" {'; '.join(scans)}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
