"""Bulk reads and writes of read-model rows against a real schema."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from common.db import make_engine
from projections.purchases import AccessGrants
from projections.schema import create_schema
from projections.writer import load_rows, prepare_connection, write_rows


def test_load_rows_reads_many_keys_in_one_query_and_leaves_absent_ones_out(
    fresh_db: str,
) -> None:
    # Given grants keyed by (chain, uint256 dataset id, address bytes)
    engine = make_engine(fresh_db)
    with engine.begin() as conn:
        create_schema(conn, "rm")
    engine.dispose()
    table = AccessGrants.table
    big = 2**255 + 7  # beyond int8: the key column is NUMERIC(78, 0)
    rows = [
        {
            "chain_id": 1,
            "dataset_id": dataset,
            "buyer": bytes([n]) * 20,
            "expires_at": None,
            "purchases": n,
            "first_purchased_at": datetime(2026, 1, 1, tzinfo=UTC),
            "block_number": 10 + n,
        }
        for n, dataset in enumerate([5, big, 5], start=1)
    ]
    with psycopg.connect(fresh_db) as conn:
        prepare_connection(conn)
        with conn.cursor() as cur:
            write_rows(cur, "rm", table, inserts=rows)
        conn.commit()
        # When loading present and absent keys together
        keys = [
            (1, 5, b"\x01" * 20),
            (1, big, b"\x02" * 20),
            (1, 6, b"\x01" * 20),
            (2, 5, b"\x03" * 20),
        ]
        with conn.cursor() as cur:
            found = load_rows(cur, "rm", table, keys)
            assert load_rows(cur, "rm", table, []) == {}
    # Then only the present ones come back, keyed and typed as the handlers' keys are
    assert set(found) == {keys[0], keys[1]}
    assert found[keys[1]] == rows[1]
    assert found[keys[0]]["purchases"] == 1 and isinstance(found[keys[1]]["dataset_id"], int)
