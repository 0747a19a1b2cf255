"""A canonical digest of every read-model row: equal digests, equal read models."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from psycopg import sql

from common.db import libpq_url
from projections.registry import all_projections
from projections.schema import check_schema_name


def _canonical(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def state_hash(database_url: str, schema: str) -> str:
    """sha256 over every projection table (registry order), rows in primary-key order."""
    check_schema_name(schema)
    digest = hashlib.sha256()
    with psycopg.connect(libpq_url(database_url)) as conn, conn.cursor() as cur:
        for projection in all_projections():
            table = projection.table
            keys = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.primary_key.columns)
            cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns)
            cur.execute(sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
                cols, sql.Identifier(schema, table.name), keys))  # fmt: skip
            digest.update(table.name.encode() + b"\n")
            for row in cur:
                encoded = [_canonical(v) for v in row]
                digest.update(orjson.dumps(encoded, option=orjson.OPT_SORT_KEYS) + b"\n")
    return digest.hexdigest()
