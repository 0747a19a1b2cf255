"""Bulk writes of changed read-model rows: COPY into a temp table, then one upsert."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import JSONB

from projections.base import Key, Row


def _adapt(table: Table) -> list[bool]:
    return [isinstance(c.type, JSONB) for c in table.columns]


def write_rows(
    cur: psycopg.Cursor[Any],
    schema: str,
    table: Table,
    upserts: Sequence[Row],
    deletes: Sequence[Key],
) -> None:
    """Upsert `upserts` and delete the rows at `deletes` (primary keys) in `schema.table`."""
    target = sql.Identifier(schema, table.name)
    columns = [c.name for c in table.columns]
    keys = [c.name for c in table.primary_key.columns]
    if deletes:
        match = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in keys)
        cur.executemany(sql.SQL("DELETE FROM {} WHERE {}").format(target, match), list(deletes))
    if not upserts:
        return
    tmp = sql.Identifier(f"tmp_{table.name}")
    cur.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(
            tmp, target
        )
    )
    col_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    is_json = _adapt(table)
    with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(tmp, col_list)) as copy:
        for row in upserts:
            copy.write_row(
                [Jsonb(row[c]) if j else row[c] for c, j in zip(columns, is_json, strict=True)]
            )
    updates = [c for c in columns if c not in keys]
    cur.execute(sql.SQL(
        "INSERT INTO {target} ({cols}) SELECT {cols} FROM {tmp}"
        " ON CONFLICT ({keys}) DO UPDATE SET {sets}"
    ).format(
        target=target, cols=col_list, tmp=tmp,
        keys=sql.SQL(", ").join(map(sql.Identifier, keys)),
        sets=sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in updates
        ),
    ))  # fmt: skip


def load_row(cur: psycopg.Cursor[Any], schema: str, table: Table, key: Key) -> Row | None:
    """The row at primary key `key`, as a column -> value dict, or None."""
    keys = [c.name for c in table.primary_key.columns]
    match = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in keys)
    cur.execute(
        sql.SQL("SELECT * FROM {} WHERE {}").format(sql.Identifier(schema, table.name), match),
        list(key),
    )
    found = cur.fetchone()
    if found is None:
        return None
    names = [d.name for d in cur.description or ()]
    # NUMERIC(78,0) comes back as Decimal; handlers and the state hash work on ints.
    return {n: int(v) if isinstance(v, Decimal) else v for n, v in zip(names, found, strict=True)}
