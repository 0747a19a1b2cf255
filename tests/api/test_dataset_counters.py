"""A dataset's purchase count and rating live in ``dataset_counters``, apart from its
listing (``datasets``): the API answers as if they were one row, whose last change is the
later of the two rows' and which is final when both are."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from api.routers.datasets import find_datasets
from bench.api_rows import CHAIN, dataset_rows
from common.db import make_engine
from common.settings import Settings
from projections.datasets import DatasetCounters, Datasets
from projections.schema import create_schema
from projections.writer import prepare_connection, write_rows

SCHEMA = "rm"


def _dataset(db_url: str) -> dict[str, Any]:
    settings = Settings(database_url=db_url, read_schema=SCHEMA)

    async def read() -> list[dict[str, Any]]:
        async with AsyncConnectionPool(db_url, min_size=1, open=False) as pool:
            return await find_datasets(pool, settings, 1, CHAIN)

    (found,) = asyncio.run(read())
    return found


def _set(db_url: str, *, listing: int, counters: int, finalized: int) -> None:
    """Dataset 1's rows last changed at blocks `listing` and `counters`; the chain final
    up to block `finalized`."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            f"UPDATE {SCHEMA}.datasets SET block_number = %s WHERE dataset_id = 1", (listing,)
        )
        conn.execute(
            f"UPDATE {SCHEMA}.dataset_counters SET block_number = %s, purchases = 3"
            " WHERE dataset_id = 1",
            (counters,),
        )
        conn.execute(
            "INSERT INTO cursors (chain_id, block_number, block_hash, finalized_number)"
            " VALUES (%s, 100, %s, %s) ON CONFLICT (chain_id) DO UPDATE"
            " SET finalized_number = EXCLUDED.finalized_number",
            (CHAIN, bytes(32), finalized),
        )


def test_a_datasets_last_change_and_finality_cover_its_listing_and_its_counters(
    fresh_db: str,
) -> None:
    engine = make_engine(fresh_db)
    with engine.begin() as setup:
        create_schema(setup, SCHEMA)
    engine.dispose()
    with psycopg.connect(fresh_db) as conn, conn.cursor() as cur:
        prepare_connection(conn)
        rows = list(dataset_rows(1, 1))
        write_rows(cur, SCHEMA, Datasets.table, inserts=rows)
        write_rows(cur, SCHEMA, DatasetCounters.table, inserts=rows)
    # Given a dataset listed at block 5 and last bought at block 9, final up to block 7
    _set(fresh_db, listing=5, counters=9, finalized=7)
    # Then its last change is the purchase's block, and it is not final
    dataset = _dataset(fresh_db)
    assert (dataset["purchases"], dataset["block_number"], dataset["finalized"]) == (3, 9, False)
    # And once block 9 is final, it is
    _set(fresh_db, listing=5, counters=9, finalized=9)
    assert (_dataset(fresh_db)["block_number"], _dataset(fresh_db)["finalized"]) == (9, True)
    # Given its price changed at block 12 after that purchase: the listing's block counts
    _set(fresh_db, listing=12, counters=9, finalized=9)
    assert (_dataset(fresh_db)["block_number"], _dataset(fresh_db)["finalized"]) == (12, False)
    _set(fresh_db, listing=12, counters=9, finalized=12)
    assert (_dataset(fresh_db)["block_number"], _dataset(fresh_db)["finalized"]) == (12, True)
