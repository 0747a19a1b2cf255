"""Auditors: GET /events (the raw log, retractions included) and GET /state-hash."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Pool, SettingsDep
from api.pages import KeysetPage, Page
from api.problems import problem_responses
from api.render import cursor_bigint, decode_cursor, encode_cursor, hex0x
from api.schemas import INVALID, EventEntry, StateHash
from indexer.reader import StoredEvent, entries_after, head_position
from projections.statehash import state_snapshot
from projections.tracking import tracking_position

router = APIRouter(tags=["audit"])
EVENT_ERRORS = INVALID | problem_responses({400: "the cursor is not one we issued"})


@router.get("/events", name="events", response_model=Page[EventEntry], responses=EVENT_ERRORS)
async def get_events(
    pool: Pool,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="start after this position (or: cursor)")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[EventEntry]:
    """Event-store entries in order (hash-chained: see `datacoin verify`), after `cursor`
    or, without one, after position `after`. A tailing auditor polls with `after` set to
    the last position it holds: `next_cursor` is null at the head."""
    start = int(decode_cursor(cursor, [cursor_bigint])[0]) if cursor else after
    rows = await entries_after(pool, start, limit + 1)
    page = KeysetPage.of(
        rows, limit=limit, cursor_after=lambda last: encode_cursor([last.position])
    )
    return page.render(to_entry)


def to_entry(stored: StoredEvent) -> EventEntry:
    """An event-store entry as the API model."""
    event = stored.event
    return EventEntry(
        position=stored.position,
        kind=stored.kind,
        incarnation=stored.incarnation,
        retracts=stored.retracts,
        hash=hex0x(stored.hash) or "",
        chain_id=event.chain_id,
        block_number=event.block_number,
        block_hash=hex0x(event.block_hash) or "",
        parent_hash=hex0x(event.parent_hash) or "",
        block_timestamp=event.block_timestamp,
        tx_hash=hex0x(event.tx_hash) or "",
        tx_index=event.tx_index,
        log_index=event.log_index,
        address=hex0x(event.address) or "",
        event_name=event.event_name,
        args=event.args,
    )


@router.get("/state-hash", name="state_hash", response_model=StateHash)
async def get_state_hash(pool: Pool, settings: SettingsDep) -> StateHash:
    """The live read models' state hash (compare with `datacoin replay`)."""
    head = await head_position(pool)
    url, schema = settings.database_url, settings.read_schema
    if await asyncio.to_thread(tracking_position, url, schema) is None:
        return StateHash(state_hash=None, read_model_position=None, event_store_head=head)
    digest, position = await asyncio.to_thread(state_snapshot, url, schema)
    return StateHash(state_hash=digest, read_model_position=position, event_store_head=head)
