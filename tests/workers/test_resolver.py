"""The metadata resolver against garbage CIDs (real PostgreSQL and the embedded store):
permanent failures recorded once and counted, transient ones backed off per CID, and
thousands of failing CIDs never hiding the resolvable ones."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg.rows import dict_row
from structlog.testing import capture_logs

from common.db import make_engine
from projections.outage import backoff_delay
from projections.schema import create_schema
from storage.blockstore import EmbeddedBlockStore
from workers.resolver import Resolver

SCHEMA = "readmodels"


@pytest.fixture
def db(fresh_db: str) -> Iterator[str]:
    """A fresh database with its read-model schema, as the projector creates it."""
    engine = make_engine(fresh_db)
    with engine.begin() as conn:
        create_schema(conn, SCHEMA)
    engine.dispose()
    yield fresh_db


@pytest.fixture
def blobs(tmp_path: Path) -> EmbeddedBlockStore:
    return EmbeddedBlockStore(tmp_path / "blocks")


def list_datasets(db: str, cids: list[str]) -> None:
    """Listings pointing at `cids`, as the datasets projection writes them."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        (31337, i, b"\x01" * 20, 1, 0, cid, b"\x02" * 32, "tabular", "listed", at, i, i)
        for i, cid in enumerate(cids, start=1)
    ]
    with psycopg.connect(db) as conn, conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {SCHEMA}.datasets (chain_id, dataset_id, provider, price,"
            " access_duration, metadata_cid, content_hash, category, status, listed_at,"
            " listed_block, block_number) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        cur.executemany(
            f"INSERT INTO {SCHEMA}.dataset_counters (chain_id, dataset_id, purchases,"
            " rating_count, rating_sum, block_number) VALUES (%s, %s, 0, 0, 0, %s)",
            [(31337, i, i) for i in range(1, len(cids) + 1)],
        )


def document(title: str) -> bytes:
    return orjson.dumps(
        {
            "title": title,
            "category": "tabular",
            "format": "csv",
            "rows": 1,
            "columns": [],
            "size": 1,
            "sha256": "0" * 64,
            "filename": "x.csv",
            "content_cid": "bafyx",
            "content_sha256": "0" * 64,
            "encrypted": False,
        }
    )


def failures(db: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(db, row_factory=dict_row) as conn:
        rows = conn.execute(f"SELECT * FROM {SCHEMA}.document_failures").fetchall()
    return {r["cid"]: r for r in rows}


def stored(db: str) -> set[str]:
    with psycopg.connect(db) as conn:
        return {cid for (cid,) in conn.execute("SELECT cid FROM dataset_metadata")}


def counted(resolver: Resolver, permanent: bool) -> float:
    value = resolver.metrics.registry.get_sample_value(
        "datacoin_resolver_failures_total",
        {"kind": "metadata", "permanent": str(permanent).lower()},
    )
    return value or 0.0


def test_a_cid_that_can_never_resolve_is_recorded_once(db: str, blobs: EmbeddedBlockStore) -> None:
    # Given listings whose metadata CIDs are not CIDs, or name invalid documents
    invalid = blobs.put([b'{"title": "no format"}']).cid
    list_datasets(db, ["not-a-cid", "Qm!!", invalid])
    resolver = Resolver(db, blobs, retry_after=0.0)
    # When the resolver runs many times (retry_after 0: nothing would hold a retry back)
    with capture_logs() as logs:
        for _ in range(5):
            resolver.resolve_once()
    # Then each is tried once, recorded with its reason, counted and logged once
    recorded = failures(db)
    assert set(recorded) == {"not-a-cid", "Qm!!", invalid}
    assert all(r["permanent"] and r["attempts"] == 1 for r in recorded.values())
    assert all(r["next_attempt_at"] is None for r in recorded.values())
    assert "not a CID" in recorded["not-a-cid"]["reason"]
    assert "ValidationError" in recorded[invalid]["reason"]
    assert counted(resolver, permanent=True) == 3
    assert len([e for e in logs if e["log_level"] == "warning"]) == 3
    assert resolver.resolve_once() == 0


def test_a_missing_document_is_retried_with_backoff_then_resolved(
    db: str, blobs: EmbeddedBlockStore, tmp_path: Path
) -> None:
    # Given a listing whose (well-formed) CID is not stored yet
    elsewhere = EmbeddedBlockStore(tmp_path / "elsewhere")
    raw = document("late")
    cid = elsewhere.put([raw]).cid
    list_datasets(db, [cid])
    resolver = Resolver(db, blobs, retry_after=60.0)
    # When it fails, it is a transient failure, due again only after the backoff
    assert resolver.resolve_once() == 1
    first = failures(db)[cid]
    assert not first["permanent"] and first["attempts"] == 1
    wait = (first["next_attempt_at"] - first["last_failed_at"]).total_seconds()
    assert 30 <= wait <= 60
    assert resolver.resolve_once() == 0  # not due
    # And once due, a second failure waits longer (the step doubles)
    with psycopg.connect(db) as conn:
        conn.execute(f"UPDATE {SCHEMA}.document_failures SET next_attempt_at = now()")
    assert resolver.resolve_once() == 1
    second = failures(db)[cid]
    assert second["attempts"] == 2
    assert 60 <= (second["next_attempt_at"] - second["last_failed_at"]).total_seconds() <= 120
    assert counted(resolver, permanent=False) == 2
    # Then when the document appears and the retry is due, it is resolved and forgotten
    blobs.put([raw])
    with psycopg.connect(db) as conn:
        conn.execute(f"UPDATE {SCHEMA}.document_failures SET next_attempt_at = now()")
    assert resolver.resolve_once() == 1
    assert stored(db) == {cid}
    assert failures(db) == {}


def test_backoff_is_exponential_jittered_and_capped() -> None:
    rng = random.Random(3)
    for attempt, step in [(1, 30.0), (2, 60.0), (3, 120.0), (10, 3600.0), (500, 3600.0)]:
        delays = {backoff_delay(attempt, 30.0, 3600.0, rng) for _ in range(50)}
        assert all(step / 2 <= d <= step for d in delays)
        assert len(delays) > 1  # jittered


def test_failing_cids_never_hide_resolvable_ones(db: str, blobs: EmbeddedBlockStore) -> None:
    # Given 1,000 listings with CIDs that fail, and three resolvable ones among them
    good = [blobs.put([document(f"good {i}")]).cid for i in range(3)]
    bad = [f"aaa-not-a-cid-{i:04d}" for i in range(1_000)]
    list_datasets(db, [*bad, *good])
    resolver = Resolver(db, blobs, retry_after=3600.0)
    # When the resolver runs as its loop would, a few more times than 1,003 / 200
    for _ in range(8):
        resolver.resolve_once()
    # Then the resolvable ones are resolved, and every failing one recorded once
    assert stored(db) == set(good)
    assert len(failures(db)) == 1_000
    assert counted(resolver, permanent=True) == 1_000
