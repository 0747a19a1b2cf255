"""The event store as the API reads it: async, read-only, over the API's connection pool.

Three reads and a name: an auditor's page of entries after a position, the head position,
the entries the live stream sends (as projections see them), and the channel the indexer
NOTIFYs on each commit. The API reads the store through this module only.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from typing import Any

from psycopg.rows import dict_row, kwargs_row
from psycopg_pool import AsyncConnectionPool

from indexer.events import Fact, NewEvent, StoredEvent
from indexer.store_pg import NOTIFY_CHANNEL

__all__ = [
    "NOTIFY_CHANNEL",
    "Fact",
    "StoredEvent",
    "entries_after",
    "facts_after",
    "head_position",
]

_ENTRY_FIELDS = ("position", "kind", "incarnation", "retracts", "hash")
_EVENT_FIELDS = (
    "chain_id",
    "block_number",
    "block_hash",
    "parent_hash",
    "block_timestamp",
    "tx_hash",
    "tx_index",
    "log_index",
    "address",
    "event_name",
    "args",
)
# Column names are the fields' names (see indexer/schema.py: EventRow), so rows build the
# entries by keyword.
_ENTRIES = (
    f"SELECT {', '.join(_ENTRY_FIELDS + _EVENT_FIELDS)} FROM events"
    " WHERE position > %(after)s ORDER BY position LIMIT %(limit)s"
)
# A Fact's fields, from its declaration (a field added there is read here too).
_FACTS = (
    f"SELECT {', '.join(f.name for f in fields(Fact) if f.init)} FROM events"
    " WHERE position > %(after)s AND event_name = ANY(%(names)s) ORDER BY position"
    " LIMIT %(limit)s"
)


def _entry(row: dict[str, Any]) -> StoredEvent:
    event = NewEvent(**{name: row[name] for name in _EVENT_FIELDS})
    return StoredEvent(**{name: row[name] for name in _ENTRY_FIELDS}, event=event)


async def entries_after(
    pool: AsyncConnectionPool[Any], after: int, limit: int
) -> list[StoredEvent]:
    """Up to `limit` entries after position `after`, in order, retractions included."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_ENTRIES, {"after": after, "limit": limit})
        return [_entry(row) for row in await cur.fetchall()]


async def facts_after(
    pool: AsyncConnectionPool[Any], after: int, *, names: Collection[str], limit: int
) -> list[Fact]:
    """Up to `limit` entries after position `after` of the events named `names`, in
    order, retractions included, as projections see them."""
    async with pool.connection() as conn, conn.cursor(row_factory=kwargs_row(Fact)) as cur:
        await cur.execute(_FACTS, {"after": after, "names": sorted(names), "limit": limit})
        facts: list[Fact] = await cur.fetchall()
        return facts


async def head_position(pool: AsyncConnectionPool[Any]) -> int:
    """The position of the newest entry; 0 while the store is empty."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT coalesce(max(position), 0) FROM events")
        row = await cur.fetchone()
    return int(row[0]) if row else 0
