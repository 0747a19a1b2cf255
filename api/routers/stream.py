"""GET /stream: Server-Sent Events of new and changed datasets, purchases, jobs, stakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from sse_starlette.sse import EventSourceResponse

from api.deps import Pool
from api.stream import EventHub, read_updates

router = APIRouter(tags=["stream"])


@router.get("/stream", response_class=EventSourceResponse)
async def stream(
    request: Request,
    pool: Pool,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", pattern=r"^[0-9]{1,18}$")
    ] = None,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="resume after position")
    ] = None,
) -> EventSourceResponse:
    """Live updates as SSE; each `id` is an event-store position. Reconnect with
    `Last-Event-ID` (browsers do it for you) to get what you missed, then live ones."""
    hub: EventHub = request.app.state.hub
    queue = hub.subscribe()
    start = int(last_event_id) if last_event_id is not None else after
    sent = hub.position if start is None else start

    async def updates() -> AsyncIterator[dict[str, Any]]:
        nonlocal sent
        try:
            while backlog := await read_updates(pool, sent):
                for update in backlog:
                    yield {"id": str(update.id), "event": update.event, "data": update.data}
                sent = backlog[-1].id
            while queue in hub.subscribers:
                try:
                    live = await asyncio.wait_for(queue.get(), timeout=5.0)
                except TimeoutError:
                    continue  # sse-starlette sends keep-alive pings meanwhile
                if live is None:
                    return
                if live.id > sent:
                    yield {"id": str(live.id), "event": live.event, "data": live.data}
                    sent = live.id
        finally:
            hub.unsubscribe(queue)

    return EventSourceResponse(updates(), ping=10)
