"""The one definition of an event-store row: its columns, their order and types, and the
code that turns a row read back into the objects the rest of the code sees.

Everything that writes or reads ``events`` derives from ``COLUMNS``: the binary COPY of
``indexer.encode`` (its column list and field count), the SELECT lists of
``indexer.store_pg`` and the builders below (whose unpacking order a test checks against
``COLUMNS``, value by value). ``schema.py``/the migrations declare the same table for
PostgreSQL.

Format versions: ``format`` says how a row's hash was computed (``indexer.events``,
``CANONICAL_ENCODINGS``). Every row written so far is version 1; the column defaults to 1,
so the COPY leaves it out (its bytes, and the stored form of existing rows, are what they
were) and a reader reads it back to pick the canonical encoding. A version 2 would add the
column to what it writes, and an encoding to ``CANONICAL_ENCODINGS``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import orjson

from indexer.events import Fact, NewEvent, StoredEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    """One column of ``events``: its name and PostgreSQL type (the binary COPY format)."""

    name: str
    type: str


def _columns(*pairs: str) -> tuple[Column, ...]:
    return tuple(Column(name=n, type=t) for n, t in (p.split(":") for p in pairs))


#: Columns of ``events`` as written (the COPY column list, in order): the entry's own
#: fields, then its event's (``NewEvent``'s fields, in their order).
COLUMNS: tuple[Column, ...] = _columns(
    "position:int8",
    "kind:text",
    "incarnation:int2",
    "retracts:int8",
    "hash:bytea",
    "chain_id:int8",
    "block_number:int8",
    "block_hash:bytea",
    "parent_hash:bytea",
    "block_timestamp:int8",
    "tx_hash:bytea",
    "tx_index:int4",
    "log_index:int4",
    "address:bytea",
    "event_name:text",
    "args:jsonb",
)
#: The format column: not written (its default, 1, is every row so far), read back.
FORMAT_COLUMN = Column(name="format", type="int2")
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
_ENTRY_FIELDS = 5  # position .. hash; NewEvent's fields follow
assert COLUMN_NAMES[_ENTRY_FIELDS:] == tuple(f.name for f in fields(NewEvent))

COPY_SQL = f"COPY events ({', '.join(COLUMN_NAMES)}) FROM STDIN WITH (FORMAT BINARY)"


def select_list(names: tuple[str, ...]) -> str:
    """`names` as a SELECT list; args as text, parsed with orjson in a binary-format result
    (bytea arrives as bytes, integers unparsed): ~2x faster than text results with
    psycopg's jsonb loader (0.41 s against 0.85 s for 100k entries)."""
    return ", ".join("args::text" if n == "args" else n for n in names)


#: What ``stored_event`` reads: every column, then the format.
STORED_READ = (*COLUMN_NAMES, FORMAT_COLUMN.name)
STORED_COLUMNS = select_list(STORED_READ)
#: What ``fact`` reads: a ``Fact``'s fields, in their order.
FACT_READ = tuple(f.name for f in fields(Fact) if f.init)
FACT_COLUMNS = select_list(FACT_READ)
assert set(FACT_READ) <= set(COLUMN_NAMES)


# The builders unpack a row in STORED_READ / FACT_READ order and build by keyword. They
# are written out, not derived with zip(): a replay builds one per entry (100k+), and the
# order is checked by a test (tests/indexer/test_row.py).
def stored_event(row: tuple[Any, ...]) -> StoredEvent:
    """The entry of a row read as ``STORED_COLUMNS``."""
    (
        position,
        kind,
        incarnation,
        retracts,
        hash_,
        chain_id,
        block_number,
        block_hash,
        parent_hash,
        block_timestamp,
        tx_hash,
        tx_index,
        log_index,
        address,
        event_name,
        args,
        format_,
    ) = row
    event = NewEvent(
        chain_id=chain_id,
        block_number=block_number,
        block_hash=block_hash,
        parent_hash=parent_hash,
        block_timestamp=block_timestamp,
        tx_hash=tx_hash,
        tx_index=tx_index,
        log_index=log_index,
        address=address,
        event_name=event_name,
        args=orjson.loads(args),
    )
    return StoredEvent(
        position=position,
        kind=kind,
        incarnation=incarnation,
        retracts=retracts,
        hash=hash_,
        event=event,
        format=format_,
    )


def facts(rows: list[tuple[Any, ...]]) -> list[Fact]:
    """The facts of rows read as ``FACT_COLUMNS``."""
    loads = orjson.loads
    return [
        Fact(
            position=position,
            kind=kind,
            chain_id=chain_id,
            block_number=block_number,
            block_hash=block_hash,
            block_timestamp=block_timestamp,
            tx_hash=tx_hash,
            log_index=log_index,
            address=address,
            event_name=event_name,
            args=loads(args),
        )
        for (
            position,
            kind,
            chain_id,
            block_number,
            block_hash,
            block_timestamp,
            tx_hash,
            log_index,
            address,
            event_name,
            args,
        ) in rows
    ]
