"""GET /datasets costs the same at any number of datasets: every sort pages off its index
from any cursor (the cursor is a range bound of the index, not a filter walked from the
top), and a search reads at most a bounded walk of the sort order or the datasets of its
matching documents, never every dataset; pages read that way are the planner's own."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from api.render import decode_cursor
from api.routers.datasets import (
    _SORTS,
    SEARCH_WALK,
    DatasetFilter,
    Plan,
    Sort,
    _statement,
    read_datasets,
)
from bench.api_rows import add_datasets
from common.db import make_engine
from common.settings import Settings
from projections.schema import create_schema
from tests.conftest import clone_database, drop_database

SCHEMA = "rm"
DATASETS = 20_000
INDEX = {
    Sort.newest: "ix_datasets_newest",
    Sort.price: "ix_datasets_price",
    Sort.purchases: "ix_dataset_counters_purchases",
    Sort.rating: "ix_dataset_counters_rating",
}
#: A cursor in the middle of each order: (sort key, chain, dataset id).
MIDDLE: dict[Sort, dict[str, Any]] = {
    Sort.newest: {"after_key": DATASETS // 2},
    Sort.price: {"after_key": 500 * 10**18},
    Sort.purchases: {"after_key": 0},
    Sort.rating: {"after_key": 3.0},
}


@pytest.fixture(scope="module")
def datasets_db(migrated_template: str) -> Iterator[str]:
    """A database whose read schema holds 20,000 synthetic datasets and documents."""
    url = clone_database(migrated_template)
    engine = make_engine(url)
    with engine.begin() as conn:
        create_schema(conn, SCHEMA)
    engine.dispose()
    add_datasets(url, SCHEMA, 1, DATASETS)
    yield url
    drop_database(url)


def _plan(db_url: str, sql: str, params: dict[str, Any], analyze: bool = False) -> str:
    with psycopg.connect(db_url) as conn:
        explain = "EXPLAIN (ANALYZE, TIMING OFF) " if analyze else "EXPLAIN "
        return "\n".join(r[0] for r in conn.execute(explain + sql, params).fetchall())


@pytest.mark.parametrize("sort", list(Sort))
def test_a_page_after_any_cursor_is_a_range_of_the_sorts_index(
    datasets_db: str, sort: Sort
) -> None:
    params = {**MIDDLE[sort], "after_chain": 31337, "after_id": DATASETS // 2}
    plan = _plan(datasets_db, _statement(SCHEMA, (), sort, True, limit=21), params)
    # The index is walked in order from the cursor: the keyset bounds the index scan
    scan = re.search(rf"Index Scan using {INDEX[sort]} .*\n\s+Index Cond: (.*)", plan)
    assert scan is not None and "ROW(" in scan.group(1), plan
    assert "Sort" not in plan and "Filter" not in plan, plan


@pytest.mark.parametrize("sort", list(Sort))
def test_a_search_for_an_absent_word_reads_a_bounded_walk_then_the_full_text_index(
    datasets_db: str, sort: Sort
) -> None:
    params = {"q": "zebra"}
    # The walk stops after SEARCH_WALK datasets of the order (the planner's own plan
    # walked all of them, expecting 0.5% of documents to match a word it has no
    # statistics for)
    walk = _plan(datasets_db, _statement(SCHEMA, ("q",), sort, False, Plan.walk, 21), params, True)
    scanned = re.search(rf"Index Scan using {INDEX[sort]} .*actual rows=(\d+)", walk)
    assert scanned is not None and int(scanned.group(1)) <= SEARCH_WALK < DATASETS, walk
    # And the datasets of the matching documents come from the full-text index
    found = _plan(datasets_db, _statement(SCHEMA, ("q",), sort, False, Plan.matches, 21), params)
    assert "ix_dataset_metadata_search" in found, found
    assert not re.search(rf"Scan using {INDEX[sort]}", found), found


@pytest.mark.parametrize("q", ["penguin", "penguin fraud genome", "lot7", "item123", "zebra"])
def test_search_pages_equal_the_planners_own(datasets_db: str, q: str) -> None:
    settings = Settings(database_url=datasets_db, read_schema=SCHEMA)

    async def route(sort: Sort, cursor: str | None) -> tuple[list[str], str | None]:
        async with AsyncConnectionPool(datasets_db, min_size=1, open=False) as pool:
            page = await read_datasets(
                pool, settings, DatasetFilter(q=q), sort=sort, limit=20, cursor=cursor
            )
        return [r["dataset_id"] for r in page.rows][:20], page.next_cursor

    def planners(sort: Sort, cursor: str | None) -> list[str]:
        params: dict[str, Any] = {"q": q}
        if cursor:
            values = decode_cursor(cursor, _SORTS[sort].fields)
            params.update(zip(("after_key", "after_chain", "after_id"), values, strict=True))
        with psycopg.connect(datasets_db) as conn:
            rows = conn.execute(_statement(SCHEMA, ("q",), sort, bool(cursor), limit=21), params)
            return [r[1] for r in rows.fetchall()][:20]

    # Given each sort, three pages of the search through the route (a bounded walk, then
    # the matches when the walk found less than a page)
    for sort in Sort:
        cursor = None
        for _ in range(3):
            ours, following = asyncio.run(route(sort, cursor))
            # Then each page is the planner's own query's page at the same cursor
            assert ours == planners(sort, cursor), (sort, cursor)
            if following is None:
                break
            cursor = following


def test_a_providers_newest_datasets_are_a_range_of_its_index(datasets_db: str) -> None:
    # Given a provider with no dataset (the planner takes it to have its share of them)
    params = {"provider": b"\xff" * 20}
    plan = _plan(
        datasets_db, _statement(SCHEMA, ("provider",), Sort.newest, False, limit=21), params, True
    )
    # Then its page is read off the provider's range of ix_datasets_provider, not by
    # walking every dataset newest first (1.6 s at 1M datasets with an index on
    # `provider` alone), and that range is in the page's order
    assert "ix_datasets_provider" in plan and "ix_datasets_newest" not in plan, plan
    with psycopg.connect(datasets_db) as conn:
        row = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s"
            " AND indexname = 'ix_datasets_provider'",
            (SCHEMA,),
        ).fetchone()
    assert row is not None and "(provider, listed_block DESC, chain_id DESC" in row[0], row
