"""A canonical digest of every read-model row: equal digests, equal read models."""

from __future__ import annotations

import hashlib

import psycopg
from psycopg import sql

from common.db import libpq_url
from projections.registry import all_projections
from projections.schema import check_schema_name


def state_hash(database_url: str, schema: str) -> str:
    """sha256 over every projection table (registry order), rows in primary-key order.

    Rows are streamed as PostgreSQL's COPY text, with the session pinned to settings that
    fix that text (UTC, ISO dates, exact floats), so equal rows give equal bytes.
    """
    check_schema_name(schema)
    digest = hashlib.sha256()
    with psycopg.connect(libpq_url(database_url)) as conn, conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute("SET DateStyle = 'ISO, YMD'")
        cur.execute("SET extra_float_digits = 3")
        cur.execute("SET bytea_output = 'hex'")
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
    return digest.hexdigest()
