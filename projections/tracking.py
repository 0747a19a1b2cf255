"""Tracking positions: how far each projection of a read-model schema has folded the
event store (``projection_tracking``: one row per projection, committed with its rows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from common.db import libpq_url
from projections.schema import VERSION_KEY, check_schema_name


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
            sql.SQL("SELECT min(position) FROM {} WHERE name <> %s").format(
                sql.Identifier(schema, "projection_tracking")
            ),
            (VERSION_KEY,),
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def load_positions(cur: psycopg.Cursor[Any], schema: str) -> dict[str, int]:
    """Every tracking row of `schema`: name -> position."""
    cur.execute(
        sql.SQL("SELECT name, position FROM {}").format(
            sql.Identifier(schema, "projection_tracking")
        )
    )
    return {name: position for name, position in cur.fetchall()}


def advance_positions(
    cur: psycopg.Cursor[Any], schema: str, names: Sequence[str], position: int
) -> None:
    """Move the projections `names` to `position` (never back), in the caller's
    transaction: the one that writes the rows folded up to it."""
    cur.execute(
        sql.SQL("UPDATE {} SET position = %s WHERE name = ANY(%s) AND position < %s").format(
            sql.Identifier(schema, "projection_tracking")
        ),
        (position, list(names), position),
    )
