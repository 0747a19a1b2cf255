"""The projector keeps the read models' planner statistics fresh (autovacuum's rule),
whether or not autovacuum runs: a freshly filled table is not planned as if empty."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from common.db import make_engine
from projections.purchases import AccessGrants
from projections.schema import create_schema
from projections.statistics import refresh_statistics
from projections.writer import prepare_connection, write_rows

SCHEMA = "rm"


def _planner_rows(conn: psycopg.Connection[Any], table: str) -> float:
    row = conn.execute(
        "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (f"{SCHEMA}.{table}",)
    ).fetchone()
    assert row is not None
    return float(row[0])


def _grants(count: int, start: int = 0) -> list[dict[str, Any]]:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "chain_id": 1,
            "dataset_id": n,
            "buyer": n.to_bytes(20, "big"),
            "expires_at": None,
            "purchases": 1,
            "first_purchased_at": when,
            "block_number": n,
        }
        for n in range(start, start + count)
    ]


def _write(url: str, rows: list[dict[str, Any]]) -> None:
    with psycopg.connect(url) as conn:
        prepare_connection(conn)
        with conn.cursor() as cur:
            write_rows(cur, SCHEMA, AccessGrants.table, inserts=rows)


def _until_counted(conn: psycopg.Connection[Any], table: str, changed: int) -> None:
    """PostgreSQL's per-table counters reach the statistics views shortly after a commit."""
    deadline = time.monotonic() + 10
    query = "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relid = %s::regclass"
    while (conn.execute(query, (f"{SCHEMA}.{table}",)).fetchone() or (0,))[0] < changed:
        assert time.monotonic() < deadline, "the changed-row counter never moved"
        time.sleep(0.05)


def test_a_bulk_filled_read_model_is_analyzed_and_a_quiet_one_is_not(fresh_db: str) -> None:
    engine = make_engine(fresh_db)
    with engine.begin() as conn:
        create_schema(conn, SCHEMA)
    engine.dispose()
    table = AccessGrants.table.name
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        # Given 5,000 rows written in bulk, and a planner that has never counted them
        _write(fresh_db, _grants(5_000))
        _until_counted(conn, table, 5_000)
        assert _planner_rows(conn, table) <= 0
        # When the statistics are refreshed
        analyzed = refresh_statistics(conn, SCHEMA)
        # Then that table is analyzed (and the untouched ones are not)
        assert analyzed == [table]
        assert _planner_rows(conn, table) == 5_000
        # And a few more rows (under 50 + 10%) do not trigger another ANALYZE, many do
        _write(fresh_db, _grants(100, start=10_000))
        _until_counted(conn, table, 100)
        assert refresh_statistics(conn, SCHEMA) == []
        _write(fresh_db, _grants(1_000, start=20_000))
        _until_counted(conn, table, 1_100)
        assert refresh_statistics(conn, SCHEMA) == [table]
        assert _planner_rows(conn, table) == 6_100
