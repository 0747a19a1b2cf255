"""A canonical digest of every read-model row: equal digests, equal read models."""

from __future__ import annotations

import hashlib

import psycopg
from psycopg import sql

from common.db import libpq_url
from projections.registry import all_projections
from projections.schema import check_schema_name


def state_snapshot(database_url: str, schema: str) -> tuple[str, int]:
    """(state hash, tracking position) read from one consistent snapshot.

    The hash is sha256 over every projection table (registry order), rows in primary-key
    order, streamed as PostgreSQL's COPY text with the session pinned to the settings that
    fix that text (UTC, ISO dates, exact floats, hex bytea), so equal rows give equal bytes.
    """
    check_schema_name(schema)
    digest = hashlib.sha256()
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SET LOCAL TIME ZONE 'UTC'")
            cur.execute("SET LOCAL DateStyle = 'ISO, YMD'")
            cur.execute("SET LOCAL extra_float_digits = 3")
            cur.execute("SET LOCAL bytea_output = 'hex'")
            cur.execute(
                sql.SQL("SELECT coalesce(min(position), 0) FROM {} WHERE name <> '__version__'")
                .format(sql.Identifier(schema, "projection_tracking"))
            )  # fmt: skip
            row = cur.fetchone()
            position = int(row[0]) if row else 0
            for projection in all_projections():
                table = projection.table
                keys = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.primary_key.columns)
                cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns)
                digest.update(table.name.encode() + b"\n")
                query = sql.SQL("COPY (SELECT {} FROM {} ORDER BY {}) TO STDOUT").format(
                    cols, sql.Identifier(schema, table.name), keys
                )
                with cur.copy(query) as copy:
                    for chunk in copy:
                        digest.update(chunk)
    return digest.hexdigest(), position


def state_hash(database_url: str, schema: str) -> str:
    """The state hash of a read-model schema (see state_snapshot)."""
    return state_snapshot(database_url, schema)[0]
