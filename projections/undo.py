"""Undo records: how a retraction takes its event back out of a row without reading the
event store's history, so a reorg costs the same at 10M events in the store as at 10k.

When the projector folds an event that may still be retracted (its block is above its
chain's finalized block, or the store already holds its retraction: a catch-up over an
old reorg), it records, for each row of a refolding projection the event changes, the row
as it was just before (None: no row). A reorg retracts every live event of its chain
above a block, newest first, so when a row's retractions have been seen down to event E,
every event folded into the row after E is retracted too: the row as it was before E is
exactly what refolding it from the events still live would give. The projector restores
that version (``restore``) and refolds from the store only where no record exists (a
reorg below finality: already a loud failure of its own).

Records commit with the rows they describe (one transaction) in the schema's
``projection_undo`` table: an operational table, never hashed nor replayed. A record goes
once its block is final and its retraction, if the store has one, has been folded
(``prune``). Invertible projections (whose retraction subtracts its event) and write-once
ones (whose retraction deletes their row) need none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

import orjson
import psycopg
from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, Numeric, Table, Text
from sqlalchemy import DateTime as SaDateTime
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Bytes32
from projections.base import Key, Projection, ReadModelBase, Row


class UndoRow(ReadModelBase):
    """The version of one row from before one event was folded into it."""

    __tablename__ = "projection_undo"
    projection: Mapped[str] = mapped_column(Text, primary_key=True)
    block_hash: Mapped[Bytes32] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    row_key: Mapped[str] = mapped_column(Text, primary_key=True, comment="the row's key, JSON")
    chain_id: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(BigInteger, comment="the event's store position")
    previous: Mapped[str | None] = mapped_column(Text, comment="the row before, JSON; NULL: none")

    __table_args__ = (Index("ix_projection_undo_block", "chain_id", "block_number"),)


UNDO: Table = UndoRow.__table__  # type: ignore[assignment]


class UndoKey(NamedTuple):
    """Which record: a projection's row `key`, before the event at (block, log index)."""

    projection: str
    key: Key
    block_hash: bytes
    log_index: int


class UndoRecord(NamedTuple):
    """One record's value: the row before the event (None: none), and the event's place."""

    previous: Row | None
    chain_id: int
    block_number: int
    position: int


#: Records of one window (or of the window committing meanwhile), by key.
Records = dict[UndoKey, UndoRecord]


# -- a row as JSON, by its columns' types --------------------------------------------------
def _identity(value: Any) -> Any:
    return value


def _column_codec(column: Column[Any]) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """(to JSON, from JSON) for one column's values (None stays None)."""
    kind = column.type
    if isinstance(kind, Numeric):  # uint256: beyond JSON numbers of 64 bits
        return str, int
    if isinstance(kind, LargeBinary):
        return bytes.hex, bytes.fromhex
    if isinstance(kind, SaDateTime):
        return datetime.isoformat, datetime.fromisoformat
    return _identity, _identity


class RowCodec:
    """A projection table's rows and keys as JSON text, and back, exactly (uint256 as
    decimal strings, bytes as hex, times as ISO 8601 with their offset)."""

    def __init__(self, table: Table) -> None:
        self._columns = [(c.name, *_column_codec(c)) for c in table.columns]
        self._keys = [_column_codec(c) for c in table.primary_key.columns]

    def dump_key(self, key: Key) -> str:
        """`key` as JSON text (equal keys, equal text)."""
        values = [
            None if v is None else dump(v) for (dump, _), v in zip(self._keys, key, strict=True)
        ]
        return orjson.dumps(values).decode()

    def dump_row(self, row: Row | None) -> str | None:
        """`row` as JSON text (None: none)."""
        if row is None:
            return None
        return orjson.dumps(
            [None if row[n] is None else dump(row[n]) for n, dump, _ in self._columns]
        ).decode()

    def load_row(self, text: str | None) -> Row | None:
        """``dump_row``'s inverse."""
        if text is None:
            return None
        values = orjson.loads(text)
        return {
            n: None if v is None else load(v)
            for (n, _, load), v in zip(self._columns, values, strict=True)
        }


# -- the database side -------------------------------------------------------------------------
def _table(schema: str) -> str:
    return f'"{schema}".{UNDO.name}'


def write(
    cur: psycopg.Cursor[Any], schema: str, records: Records, tables: dict[str, Table]
) -> None:
    """Store `records` (a record of the same key replaces the older one: the same log
    folded again after its block came back in a reorg)."""
    if not records:
        return
    codecs = {name: codec_for(table) for name, table in tables.items()}
    cur.executemany(
        f"INSERT INTO {_table(schema)} (projection, block_hash, log_index, row_key, chain_id,"
        " block_number, position, previous) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (projection, block_hash, log_index, row_key) DO UPDATE SET"
        " chain_id = EXCLUDED.chain_id, block_number = EXCLUDED.block_number,"
        " position = EXCLUDED.position, previous = EXCLUDED.previous",
        [
            (
                k.projection,
                k.block_hash,
                k.log_index,
                codecs[k.projection].dump_key(k.key),
                r.chain_id,
                r.block_number,
                r.position,
                codecs[k.projection].dump_row(r.previous),
            )
            for k, r in records.items()
        ],
    )


def prune(
    cur: psycopg.Cursor[Any],
    schema: str,
    projections: Sequence[str],
    finalized: dict[int, int],
    position: int,
) -> None:
    """Drop the records of `projections` (folded up to `position`) that no retraction
    can need any more: their block is final (`finalized`: block number per chain) and
    their event was not retracted, or its retraction is folded already."""
    for chain_id, final in finalized.items():
        cur.execute(
            f"DELETE FROM {_table(schema)} u WHERE u.chain_id = %s AND u.block_number <= %s"
            " AND u.projection = ANY(%s) AND NOT EXISTS (SELECT 1 FROM public.events r"
            " WHERE r.retracts = u.position AND r.position > %s)",
            (chain_id, final, list(projections), position),
        )


def load(
    cur: psycopg.Cursor[Any], schema: str, wanted: Iterable[UndoKey], codec: RowCodec
) -> dict[UndoKey, Row | None]:
    """The stored records of `wanted` (all of one projection, whose table `codec` is
    for), by key; absent ones left out. One query: a join on the keys unnested from
    arrays."""
    by_text = {(k.block_hash, k.log_index, codec.dump_key(k.key)): k for k in wanted}
    if not by_text:
        return {}
    projection = next(iter(by_text.values())).projection
    hashes, indexes, keys = (list(c) for c in zip(*by_text, strict=True))
    cur.execute(
        f"SELECT u.block_hash, u.log_index, u.row_key, u.previous FROM {_table(schema)} u"
        " JOIN unnest(%s::bytea[], %s::int4[], %s::text[]) AS k(block_hash, log_index, row_key)"
        " ON u.block_hash = k.block_hash AND u.log_index = k.log_index"
        " AND u.row_key = k.row_key WHERE u.projection = %s",
        (hashes, indexes, keys, projection),
    )
    return {
        by_text[(bytes(h), i, key)]: codec.load_row(previous)
        for h, i, key, previous in cur.fetchall()
    }


@cache
def codec_for(table: Table) -> RowCodec:
    """`table`'s codec (built once per table)."""
    return RowCodec(table)


def keeps_records(p: Projection) -> bool:
    """Whether a retraction restores `p`'s rows from undo records (otherwise it deletes
    them, write-once, or subtracts its event, invertible)."""
    return not p.write_once and not p.invertible
