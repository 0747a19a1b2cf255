"""GET /training-jobs pages come off an index in order: no sort of every job (or of every
job of a requester) for each page, however many there are."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from api.routers.training import JOB_LIST
from common.db import make_engine
from projections.schema import create_schema
from projections.training import TrainingJobs
from projections.writer import prepare_connection, write_rows
from tests.conftest import clone_database, drop_database

SCHEMA = "rm"
JOBS = 20_000
#: A requested job's columns that settle later (logged or refunded).
UNSETTLED = (
    "worker",
    "model_cid",
    "model_hash",
    "metrics_cid",
    "metrics_hash",
    "worker_amount",
    "provider_amount",
    "settled_at",
    "settle_tx",
)


@pytest.fixture(scope="module")
def jobs_db(migrated_template: str) -> Iterator[str]:
    """A database whose read schema holds 20,000 jobs of 200 requesters on two chains."""
    url = clone_database(migrated_template)
    engine = make_engine(url)
    with engine.begin() as conn:
        create_schema(conn, SCHEMA)
    engine.dispose()
    when = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[dict[str, Any]] = [
        {
            "chain_id": 31337 + n % 2,
            "job_id": n,
            "dataset_id": n % 50,
            "requester": bytes([n % 200]) * 20,
            "spec_cid": "bafyspec",
            "payment": 10**18,
            "deadline": when,
            "status": "requested",
            "requested_at": when,
            "request_tx": n.to_bytes(32, "big"),
            "block_number": n,
            **dict.fromkeys(UNSETTLED, None),
        }
        for n in range(1, JOBS + 1)
    ]
    with psycopg.connect(url) as conn:
        prepare_connection(conn)
        with conn.cursor() as cur:
            write_rows(cur, SCHEMA, TrainingJobs.table, inserts=rows)
        conn.execute(f'ANALYZE "{SCHEMA}".training_jobs')
    yield url
    drop_database(url)


@pytest.mark.parametrize(
    ("filters", "params"),
    [
        ({}, {}),
        ({"requester": True}, {"requester": bytes([7]) * 20}),
        ({"after": True}, {"after_job_id": 15_000, "after_chain_id": 31337}),
        (
            {"requester": True, "after": True},
            {"requester": bytes([7]) * 20, "after_job_id": 15_000, "after_chain_id": 31337},
        ),
    ],
)
def test_a_page_of_jobs_reads_an_index_in_order(
    jobs_db: str, filters: dict[str, bool], params: dict[str, Any]
) -> None:
    present = frozenset(name for name, on in filters.items() if on and name != "after")
    sql = JOB_LIST.query(present, after=filters.get("after", False)).sql(SCHEMA)
    with psycopg.connect(jobs_db) as conn:
        plan = "\n".join(
            row[0] for row in conn.execute("EXPLAIN " + sql, {**params, "limit": 21}).fetchall()
        )
    assert "Index Scan" in plan and "ix_training_jobs_" in plan, plan
    assert "Sort" not in plan, plan
