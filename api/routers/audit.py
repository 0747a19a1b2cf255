"""Auditors: GET /events (the raw log, retractions included) and GET /state-hash."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query
from psycopg.rows import dict_row

from api.deps import Pool, SettingsDep
from api.render import hex0x
from api.schemas import EventEntry, EventPage, StateHash
from projections.statehash import state_snapshot
from projections.tracking import tracking_position

router = APIRouter(tags=["audit"])


@router.get("/events", response_model=EventPage)
async def get_events(
    pool: Pool,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="position")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    """Event-store entries after `after`, in order (hash-chained: see `datacoin verify`)."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM events WHERE position > %s ORDER BY position LIMIT %s", [after, limit]
        )
        rows = await cur.fetchall()
    items = [
        EventEntry(
            position=r["position"],
            kind=r["kind"],
            incarnation=r["incarnation"],
            retracts=r["retracts"],
            hash=hex0x(r["hash"]) or "",
            chain_id=r["chain_id"],
            block_number=r["block_number"],
            block_hash=hex0x(r["block_hash"]) or "",
            parent_hash=hex0x(r["parent_hash"]) or "",
            block_timestamp=r["block_timestamp"],
            tx_hash=hex0x(r["tx_hash"]) or "",
            tx_index=r["tx_index"],
            log_index=r["log_index"],
            address=hex0x(r["address"]) or "",
            event_name=r["event_name"],
            args=r["args"],
        )
        for r in rows
    ]
    return EventPage(items=items, next_after=items[-1].position if items else after)


@router.get("/state-hash", response_model=StateHash)
async def get_state_hash(pool: Pool, settings: SettingsDep) -> StateHash:
    """The live read models' state hash (compare with `datacoin replay`)."""
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT coalesce(max(position), 0) FROM events")).fetchone()
    head = int(row[0]) if row else 0
    url, schema = settings.database_url, settings.read_schema
    if await asyncio.to_thread(tracking_position, url, schema) is None:
        return StateHash(state_hash=None, read_model_position=None, event_store_head=head)
    digest, position = await asyncio.to_thread(state_snapshot, url, schema)
    return StateHash(state_hash=digest, read_model_position=position, event_store_head=head)
