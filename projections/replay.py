"""Rebuild read models from position 0 into a fresh schema, and compare state hashes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from common.db import libpq_url, make_engine
from indexer.store import EventStore
from projections.runner import ProjectionRunner
from projections.schema import check_schema_name, drop_schema
from projections.statehash import state_hash


@dataclass(frozen=True)
class ReplayResult:
    """Where a replay ended and what it produced."""

    schema: str
    position: int
    state_hash: str


def tracking_position(database_url: str, schema: str) -> int | None:
    """The lowest tracking position of a read-model schema (None if it does not exist)."""
    check_schema_name(schema)
    with psycopg.connect(libpq_url(database_url)) as conn:
        exists = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s"
            " AND table_name = 'projection_tracking'",
            (schema,),
        ).fetchone()
        if not exists:
            return None
        row = conn.execute(
            sql.SQL("SELECT min(position) FROM {} WHERE name <> '__version__'").format(
                sql.Identifier(schema, "projection_tracking")
            )
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def replay(
    database_url: str,
    store: EventStore,
    until: int | None = None,
    schema: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    keep: bool = False,
) -> ReplayResult:
    """Fold the whole event store (up to `until`) into a new schema; return its state hash.

    The schema is dropped afterwards unless `keep`.
    """
    target = check_schema_name(schema or f"replay_{uuid.uuid4().hex[:12]}")
    engine = make_engine(database_url)
    with engine.begin() as conn:
        drop_schema(conn, target)
    runner = ProjectionRunner(database_url, store, target, batch_size=20_000,
                              on_progress=on_progress)  # fmt: skip
    try:
        runner.run_once(until=until)
        result = ReplayResult(target, runner.position, state_hash(database_url, target))
    finally:
        runner.close()
        if not keep:
            with engine.begin() as conn:
                drop_schema(conn, target)
        engine.dispose()
    return result
