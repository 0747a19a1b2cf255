"""GET /accounts/{a} reads the account's totals, one row per chain off an index, however
many purchases, listings and jobs it has (it used to count them: 20 ms at 100k)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from api.routers.accounts import _COUNTS
from common.db import make_engine
from projections.account_totals import AccountTotals
from projections.schema import create_schema
from projections.writer import prepare_connection, write_rows
from tests.conftest import clone_database, drop_database

SCHEMA = "rm"
ACCOUNTS = 20_000


@pytest.fixture(scope="module")
def totals_db(migrated_template: str) -> Iterator[str]:
    """A read schema with the totals of 20,000 accounts on two chains."""
    url = clone_database(migrated_template)
    engine = make_engine(url)
    with engine.begin() as conn:
        create_schema(conn, SCHEMA)
    engine.dispose()
    rows = [
        {
            "chain_id": 31337 + n % 2,
            "account": n.to_bytes(20, "big"),
            "datasets_listed": n % 3,
            "purchases": n % 100_000,
            "training_jobs": n % 7,
            "block_number": n,
        }
        for n in range(ACCOUNTS)
    ]
    with psycopg.connect(url) as conn:
        prepare_connection(conn)
        with conn.cursor() as cur:
            write_rows(cur, SCHEMA, AccountTotals.table, inserts=rows)
        conn.execute(f'ANALYZE "{SCHEMA}".account_totals')
    yield url
    drop_database(url)


def test_an_accounts_counts_are_its_rows_off_an_index(totals_db: str) -> None:
    account = (12_345).to_bytes(20, "big")
    with psycopg.connect(totals_db) as conn:
        plan = "\n".join(
            r[0] for r in conn.execute("EXPLAIN " + _COUNTS.sql(SCHEMA), {"account": account})
        )
        row = conn.execute(_COUNTS.sql(SCHEMA), {"account": account}).fetchone()
    assert "ix_account_totals_account" in plan and "Seq Scan" not in plan, plan
    assert row == (12_345 % 3, 12_345, 12_345 % 7)
