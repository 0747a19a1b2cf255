"""The API's query layer: SELECTs over the declared read-model tables, compiled once.

Statements are SQLAlchemy Core over the projections' ``Table`` objects, so every column a
route reads is checked against its declaration when the module loads. Each is compiled to
psycopg's SQL once per read schema (``compiled``: routes cache it) and runs on the async
pool; rows come back as dicts keyed by column name (``fetch_all``), the one row style of
every route. The API reads each read model through its ``<table>_v`` view, which adds
``finalized`` (see projections/schema.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Boolean, Column, MetaData, Select, Table, bindparam, tuple_
from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2
from sqlalchemy.sql.expression import ClauseElement, ColumnElement

from api.pages import KeysetPage
from api.problems import Problem
from api.render import (
    CursorField,
    cursor_bigint,
    cursor_uint256,
    decode_cursor,
    encode_cursor,
)

#: Stands for the configured read schema in statements; ``compiled`` names the real one.
READ_SCHEMA = "read_schema"
_READ = MetaData(schema=READ_SCHEMA)
# psycopg2's dialect compiles to the same `%(name)s` placeholders psycopg 3 binds, without
# the `::type` casts the psycopg dialect adds to parameters (which could hide an index).
_DIALECT = PGDialect_psycopg2()  # type: ignore[no-untyped-call]

Row = dict[str, Any]


def read_table(table: Table) -> Table:
    """A read-model table (declared without a schema) in the read schema."""
    return table.to_metadata(_READ)


def view(table: Table) -> Table:
    """The ``<table>_v`` view of a read-model table: its columns, then ``finalized``."""
    name = f"{table.name}_v"
    if (key := f"{READ_SCHEMA}.{name}") in _READ.tables:
        return _READ.tables[key]
    columns = [Column(c.name, c.type) for c in table.columns]
    return Table(name, _READ, *columns, Column("finalized", Boolean))


def compiled(statement: ClauseElement, schema: str) -> str:
    """`statement` as SQL for psycopg, with named `%(name)s` parameters, in `schema`."""
    return str(
        statement.compile(
            dialect=_DIALECT,
            schema_translate_map={READ_SCHEMA: schema},
            render_schema_translate=True,
        )
    )


class CompiledQuery:
    """A fixed Core statement, compiled once per read schema."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._sql: dict[str, str] = {}

    def sql(self, schema: str) -> str:
        """The statement's SQL in `schema`."""
        if (text := self._sql.get(schema)) is None:
            text = self._sql[schema] = compiled(self.statement, schema)
        return text

    async def all(
        self, pool: AsyncConnectionPool[Any], schema: str, params: Mapping[str, Any] | None = None
    ) -> list[Row]:
        """The statement's rows in `schema`, as dicts by column name."""
        return await fetch_all(pool, self.sql(schema), params)


async def fetch_all(
    pool: AsyncConnectionPool[Any], statement: str, params: Mapping[str, Any] | None = None
) -> list[Row]:
    """The rows of `statement`, as dicts by column name. Binary results: bytea arrives as
    bytes and integers and timestamps unparsed (less work on both sides)."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, params, binary=True)
        rows: list[Row] = await cur.fetchall()
        return rows


def exactly_one(rows: list[Row], *, kind: str, ident: object) -> Row:
    """The one row of a lookup by id (datasets and jobs are numbered per chain): 404
    ``<kind>.not_found`` without one, 400 ``<kind>.ambiguous`` when the id exists on
    several chains and the client must pass ``chain_id``."""
    what = f"{kind.replace('_', ' ')} {ident}"
    if not rows:
        raise Problem(404, f"{kind}.not_found", f"{what} not found")
    if len(rows) > 1:
        chains = sorted(r["chain_id"] for r in rows)
        raise Problem(400, f"{kind}.ambiguous", f"{what} exists on chains {chains}: pass chain_id")
    return rows[0]


@dataclass(frozen=True, kw_only=True)
class KeyColumn:
    """A column of a list's keyset, as rows name it and cursors spell it."""

    column: ColumnElement[Any]
    #: A uint256 key travels in cursors as a decimal string (a JSON number loses precision
    #: past 2**53); any other key is a BIGINT.
    uint256: bool = False

    @property
    def name(self) -> str:
        """The row's key for this column (and, prefixed ``after_``, its bind parameter)."""
        return str(self.column.key)


#: Adds one filter's condition to a list's statement (its value bound by name).
Filter = Callable[[Select[Any]], Select[Any]]


class NewestFirst:
    """A list in descending keyset order, paged by cursor: `base` narrowed by the filters
    present, one statement compiled per combination of them (and of a cursor or none).

    Each list of the API that pages newest first (bridge transfers, proposals, votes,
    training jobs) is one of these: the same cursor shape (the last row's keys), the same
    checks of a cursor (hostile input: 400 with the reason), the same ``LIMIT limit + 1``.
    """

    def __init__(
        self, base: Select[Any], keyset: Sequence[KeyColumn], filters: Mapping[str, Filter]
    ) -> None:
        self.base = base
        self.keyset = tuple(keyset)
        self.filters = dict(filters)
        self._fields: list[CursorField] = [
            cursor_uint256 if key.uint256 else cursor_bigint for key in self.keyset
        ]
        self._pages: dict[tuple[frozenset[str], bool], CompiledQuery] = {}

    def query(self, present: frozenset[str], *, after: bool) -> CompiledQuery:
        """The statement for the filters `present`, after a cursor or not (its binds: each
        filter's name, ``after_<key>`` per keyset column, ``limit``)."""
        if (query := self._pages.get((present, after))) is None:
            statement = self.base
            for name in sorted(present):
                statement = self.filters[name](statement)
            columns = tuple_(*(key.column for key in self.keyset))
            if after:
                marks = tuple_(*(bindparam(f"after_{key.name}") for key in self.keyset))
                statement = statement.where(columns < marks)
            order = (key.column.desc() for key in self.keyset)
            statement = statement.order_by(*order).limit(bindparam("limit"))
            query = self._pages[(present, after)] = CompiledQuery(statement)
        return query

    def cursor_after(self, row: Row) -> str:
        """The cursor of the rows that follow `row`."""
        return encode_cursor(
            [str(row[key.name]) if key.uint256 else row[key.name] for key in self.keyset]
        )

    async def read(
        self,
        pool: AsyncConnectionPool[Any],
        schema: str,
        filters: Mapping[str, Any],
        *,
        limit: int,
        cursor: str | None,
    ) -> KeysetPage[Row]:
        """A page of at most `limit` rows after `cursor`; `filters` holds the bound value
        of each filter present, by its name (None values: not filtered)."""
        present = {name: value for name, value in filters.items() if value is not None}
        unknown = present.keys() - self.filters.keys()
        assert not unknown, f"no such filter: {sorted(unknown)}"
        params: dict[str, Any] = {"limit": limit + 1, **present}
        if cursor:
            values = decode_cursor(cursor, self._fields)
            params |= {f"after_{k.name}": v for k, v in zip(self.keyset, values, strict=True)}
        query = self.query(frozenset(present), after=bool(cursor))
        rows = await query.all(pool, schema, params)
        return KeysetPage.of(rows, limit=limit, cursor_after=self.cursor_after)
