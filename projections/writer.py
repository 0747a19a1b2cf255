"""Writing: a planned window's rows and positions in one transaction, rows in bulk (COPY
for new rows; COPY into a temp table, then one upsert, for the others); and bulk reads of
rows by key for the row cache."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.adapt import PyFormat
from psycopg.types.json import set_json_dumps
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql

from projections import undo
from projections.base import Key, Row
from projections.planning import WritePlan
from projections.tracking import advance_positions

_COPY_TYPES = {
    "BIGINT": "int8",
    "INTEGER": "int4",
    "SMALLINT": "int2",
    "TEXT": "text",
    "BOOLEAN": "bool",
    "JSONB": "jsonb",
    "BYTEA": "bytea",
    "NUMERIC": "numeric",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


def copy_types(table: Table) -> list[str]:
    """PostgreSQL type names of a table's columns, for binary COPY."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return [_COPY_TYPES[c.type.compile(dialect=dialect).split("(")[0]] for c in table.columns]


def prepare_connection(conn: psycopg.Connection[Any]) -> None:
    """Set a writer connection's dumpers for binary COPY by column type: JSON through
    orjson, and bytea through psycopg's C dumper (by type, bytea otherwise resolves to the
    Python dumper of the DB-API ``Binary`` wrapper: ~2.5% of a replay)."""
    set_json_dumps(orjson.dumps, conn)
    conn.adapters.register_dumper(bytes, psycopg.adapters.get_dumper(bytes, PyFormat.BINARY))


def _copy_rows(
    cur: psycopg.Cursor[Any], into: sql.Composable, table: Table, rows: Sequence[Row]
) -> None:
    columns = [c.name for c in table.columns]
    col_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    query = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(into, col_list)
    with cur.copy(query) as copy:
        copy.set_types(copy_types(table))  # dumpers by column type: JSON values are plain
        pick = itemgetter(*columns)  # one C call per row instead of a Python list build
        for row in rows:
            copy.write_row(pick(row))


def write_rows(
    cur: psycopg.Cursor[Any],
    schema: str,
    table: Table,
    *,
    upserts: Sequence[Row] = (),
    deletes: Sequence[Key] = (),
    inserts: Sequence[Row] = (),
) -> None:
    """In `schema.table`: delete the rows at `deletes`, upsert `upserts`, and COPY
    `inserts` (rows the caller knows are new) straight in."""
    target = sql.Identifier(schema, table.name)
    columns = [c.name for c in table.columns]
    keys = [c.name for c in table.primary_key.columns]
    if deletes:
        match = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in keys)
        cur.executemany(sql.SQL("DELETE FROM {} WHERE {}").format(target, match), list(deletes))
    if inserts:
        _copy_rows(cur, target, table, inserts)
    if not upserts:
        return
    tmp = sql.Identifier(f"tmp_{table.name}")
    cur.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(
            tmp, target
        )
    )
    _copy_rows(cur, tmp, table, upserts)
    col_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    updates = [c for c in columns if c not in keys]
    cur.execute(
        sql.SQL(
            "INSERT INTO {target} ({cols}) SELECT {cols} FROM {tmp}"
            " ON CONFLICT ({keys}) DO UPDATE SET {sets}"
        ).format(
            target=target,
            cols=col_list,
            tmp=tmp,
            keys=sql.SQL(", ").join(map(sql.Identifier, keys)),
            sets=sql.SQL(", ").join(
                sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in updates
            ),
        )
    )


def commit_plan(
    conn: psycopg.Connection[Any], schema: str, plan: WritePlan, names: Sequence[str]
) -> None:
    """Commit `plan`'s rows and undo records in `schema` and move projections `names` to
    its position, in one transaction: a crash loses the window as a whole (exactly-once
    effect)."""
    with conn.transaction(), conn.cursor() as cur:
        for table in plan.tables:
            write_rows(
                cur,
                schema,
                table.projection.table,
                upserts=table.upserts,
                deletes=table.deletes,
                inserts=table.inserts,
            )
        tables = {t.projection.name: t.projection.table for t in plan.tables}
        undo.write(cur, schema, plan.undo, tables)
        undo.prune(cur, schema, names, plan.finalized, plan.position)
        advance_positions(cur, schema, names, plan.position)


def load_rows(
    cur: psycopg.Cursor[Any], schema: str, table: Table, keys: Sequence[Key]
) -> dict[Key, Row]:
    """The rows at primary keys `keys` (absent ones left out) as column -> value dicts, by
    key, in one query: a join on the keys unnested from one array per key column (a
    catch-up used to read each row it had not cached with a query of its own)."""
    if not keys:
        return {}
    pk = [c.name for c in table.primary_key.columns]
    types = dict(zip([c.name for c in table.columns], copy_types(table), strict=True))
    query = sql.SQL("SELECT t.* FROM {} t JOIN unnest({}) AS k({}) ON {}").format(
        sql.Identifier(schema, table.name),
        sql.SQL(", ").join(sql.SQL("%s::{}[]").format(sql.SQL(types[k])) for k in pk),
        sql.SQL(", ").join(map(sql.Identifier, pk)),
        sql.SQL(" AND ").join(sql.SQL("t.{c} = k.{c}").format(c=sql.Identifier(k)) for k in pk),
    )
    cur.execute(query, [list(column) for column in zip(*keys, strict=True)])
    names = [d.name for d in cur.description or ()]
    found: dict[Key, Row] = {}
    for values in cur.fetchall():
        # NUMERIC(78,0) comes back as Decimal; handlers and the state hash work on ints.
        row = {
            n: int(v) if isinstance(v, Decimal) else v for n, v in zip(names, values, strict=True)
        }
        found[tuple(row[k] for k in pk)] = row
    return found
