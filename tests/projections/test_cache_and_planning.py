"""The packed row cache (round trip, eviction, its bound in bytes) and the replay's
planning by estimated rows (the largest tables apart, groups balanced by their weights)."""

from __future__ import annotations

import datetime
import random
import tracemalloc
from typing import Any

from bench.projection_replay import append, synthesize
from indexer.store import InMemoryEventStore
from projections.base import Projection
from projections.cache import MAX_ROWS, PackedRows, RowCache
from projections.registry import all_projections
from projections.replay import OVERFLOW_COST, ROW_COST, _row_estimates, plan_groups

COLUMNS = [
    "chain_id",
    "dataset_id",
    "provider",
    "price",
    "access_duration",
    "metadata_cid",
    "content_hash",
    "category",
    "status",
    "purchases",
    "rating_count",
    "rating_sum",
    "listed_at",
    "listed_block",
    "block_number",
]


def _dataset_row(i: int, rng: random.Random) -> dict[str, Any]:
    """A row shaped like a `datasets` row (the widest cached table)."""
    return {
        "chain_id": 31337,
        "dataset_id": i,
        "provider": rng.randbytes(20),
        "price": rng.randint(1, 10**21),
        "access_duration": 86400,
        "metadata_cid": f"bafy{rng.getrandbits(128):x}",
        "content_hash": rng.randbytes(32),
        "category": "tabular",
        "status": "listed",
        "purchases": rng.randint(0, 10),
        "rating_count": 3,
        "rating_sum": 12,
        "listed_at": datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
        + datetime.timedelta(seconds=i),
        "listed_block": i // 50 + 1,
        "block_number": i // 50 + 1000,
    }


def test_packed_rows_round_trip_and_know_absent_keys() -> None:
    rows = PackedRows(COLUMNS)
    row = _dataset_row(7, random.Random(1))
    rows.put((31337, 7), row)
    rows.put((31337, 8), None)  # known absent
    got = rows.get((31337, 7))
    assert got == row and got is not row
    assert got is not rows.get((31337, 7))  # a fresh dict each time: callers may change it
    assert (31337, 8) in rows and rows.get((31337, 8)) is None
    assert (31337, 9) not in rows and rows.get((31337, 9)) is None
    assert rows.packed[(31337, 8)] is None and len(rows) == 2
    rows.discard((31337, 7))
    assert (31337, 7) not in rows
    single = PackedRows(["k"])  # one column: still a tuple
    single.update({(1,): {"k": 1}})
    assert single.packed[(1,)] == (1,) and single.get((1,)) == {"k": 1}


def test_the_cache_evicts_the_largest_projections_to_half_its_bound() -> None:
    by_name = {p.name: p for p in all_projections()}
    big, small = by_name["access_grants"], by_name["stakes"]
    cache = RowCache([big, small], schema="s", max_rows=10)
    cache.reset(complete=[big.name, small.name])

    def grant(i: int) -> dict[str, Any]:
        return {c.name: i for c in big.table.columns}

    def stake(i: int) -> dict[str, Any]:
        return {c.name: i for c in small.table.columns}

    cache.remember({big.name: {(1, i, b"a"): grant(i) for i in range(8)}})
    cache.remember({small.name: {(1, i): stake(i) for i in range(2)}})
    assert cache.mirrors([big.name, small.name])  # 10 rows: at the bound
    assert cache.rows[big.name].get((1, 3, b"a")) == grant(3)
    cache.remember({small.name: {(1, 2): stake(2)}})  # 11: the largest goes
    assert len(cache.rows[big.name]) == 0 and not cache.is_complete(big.name)
    assert cache.is_complete(small.name) and len(cache.rows[small.name]) == 3
    # An incomplete projection's deleted row is known absent; a complete one's is a miss
    cache.remember({big.name: {(1, 0, b"a"): None}, small.name: {(1, 0): None}})
    assert (1, 0, b"a") in cache.rows[big.name] and (1, 0) not in cache.rows[small.name]


def test_packed_rows_fit_the_bound_in_the_bytes_dicts_took_for_half_as_many() -> None:
    """The bound: ``MAX_ROWS`` packed rows take about what 1M dict rows took (~1.2 GB
    for `datasets`' rows, the widest cached ones, with their keys)."""
    rng = random.Random(2)
    count = 20_000
    made = [((31337, i), _dataset_row(i, rng)) for i in range(count)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        as_dicts = {key: dict(row) for key, row in made}
        dict_bytes = tracemalloc.get_traced_memory()[0] - before
        del as_dicts
        before = tracemalloc.get_traced_memory()[0]
        packed = PackedRows(COLUMNS)
        packed.update({key: dict(row) for key, row in made})
        packed_bytes = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # (the values are shared by both, as in the cache: what differs is the container)
    assert packed_bytes * 2 <= dict_bytes * 1.05, (packed_bytes, dict_bytes)
    assert MAX_ROWS == 2 * 1_000_000


def _counts(n: int) -> dict[str, int]:
    return {
        "DatasetListed": n // 4,
        "Purchased": 35 * n // 100,
        "Rated": 15 * n // 100,
        "Staked": 15 * n // 100,
        "TrainingRequested": n // 10,
    }


def _rows(n: int) -> dict[str, int]:
    return {
        "datasets": n // 4,
        "access_grants": 35 * n // 100,
        "training_jobs": n // 10,
        "account_totals": 500,
        "stakes": 500,
        "protocol_stats": 1,
    }


def _load(group: list[Projection], counts: dict[str, int], rows: dict[str, int]) -> float:
    """A group's work as ``plan_groups`` weighs it (no overflow: below the bound)."""
    names = set().union(*(p.events for p in group))
    reads = sum(counts.get(n, 0) for n in names)
    folds = sum(p.cost * sum(counts.get(n, 0) for n in p.events) for p in group)
    return reads + folds + ROW_COST * sum(rows.get(p.name, 0) for p in group)


def _group_of(groups: list[list[Projection]], name: str) -> int:
    return next(i for i, g in enumerate(groups) if any(p.name == name for p in g))


def test_the_largest_tables_get_groups_of_their_own_past_one_groups_bound() -> None:
    projections = all_projections()
    n = 3_000_000  # 750k datasets and 1.05M grants: 2.1M rows with the rest
    plain = plan_groups(projections, _counts(n), 2)
    assert _group_of(plain, "datasets") == _group_of(plain, "access_grants")  # (shared reads)
    groups = plan_groups(projections, _counts(n), 2, rows=_rows(n), max_rows=MAX_ROWS)
    assert _group_of(groups, "datasets") != _group_of(groups, "access_grants")
    assert sorted(p.name for g in groups for p in g) == sorted(p.name for p in projections)
    # Below one group's bound, together or not is the balance's choice
    small = plan_groups(projections, _counts(n), 2, rows=_rows(n), max_rows=10 * n)
    assert sorted(p.name for g in small for p in g) == sorted(p.name for p in projections)


def test_groups_are_balanced_by_the_weights_of_their_rows() -> None:
    projections = all_projections()
    n = 1_000_000
    counts, rows = _counts(n), _rows(n)
    weighed = plan_groups(projections, counts, 2, rows=rows)
    unweighed = plan_groups(projections, counts, 2)
    worst = max(_load(g, counts, rows) for g in weighed)
    assert worst < max(_load(g, counts, rows) for g in unweighed)
    total = sum(_load(g, counts, rows) for g in weighed)
    assert worst <= 0.6 * total  # within 10% of the mean of two
    # A row past the bound weighs more than one within it
    assert OVERFLOW_COST > 0


def test_rows_are_estimated_from_the_growth_of_keys_in_a_sample() -> None:
    store = InMemoryEventStore()
    append(store, synthesize(20_000))  # type: ignore[arg-type]
    projections = all_projections()
    until = 200_000  # ten times the sample, as if the store were that long
    estimates = _row_estimates(store, projections, until, sample=20_000)
    assert abs(estimates["datasets"] - until // 4) <= until // 40  # a row per listing
    assert abs(estimates["access_grants"] - 35 * until // 100) <= until // 20
    assert abs(estimates["training_jobs"] - until // 10) <= until // 100
    # Per account (500): seen early, then few new ones: hundreds, not a share of events
    assert estimates["account_totals"] <= 2_000
    assert estimates["stakes"] <= 2_000
    assert "account_activity" not in estimates  # write-once: never cached
