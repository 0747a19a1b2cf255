"""GET /stream: Server-Sent Events of new and changed datasets, purchases, jobs, stakes."""

from __future__ import annotations

import asyncio
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request
from sse_starlette.sse import EventSourceResponse

from api.deps import Pool
from api.schemas import INVALID
from api.stream import EventHub, Update, read_updates

router = APIRouter(tags=["stream"])
#: Seconds an open stream gets to end by itself once the server shuts down.
SHUTDOWN_GRACE = 2.0


@router.get("/stream", name="subscribe", responses=INVALID, response_class=EventSourceResponse)
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

    # Set by sse-starlette when the server shuts down: the stream then ends by itself,
    # completing its response, instead of being cancelled mid-response (which uvicorn
    # logs as an error). The client reconnects with Last-Event-ID and misses nothing.
    shutdown = anyio.Event()

    async def updates() -> AsyncIterator[dict[str, Any]]:
        nonlocal sent
        try:
            while backlog := await read_updates(pool, sent):
                for update in backlog:
                    yield {"id": str(update.id), "event": update.event, "data": update.data}
                sent = backlog[-1].id
            while queue in hub.subscribers and not shutdown.is_set():
                try:
                    live = await _next_update(queue, shutdown)
                except TimeoutError:
                    continue  # sse-starlette sends keep-alive pings meanwhile
                if live is None:
                    return
                if live.id > sent:
                    yield {"id": str(live.id), "event": live.event, "data": live.data}
                    sent = live.id
        finally:
            hub.unsubscribe(queue)

    return EventSourceResponse(
        updates(), ping=10, shutdown_event=shutdown, shutdown_grace_period=SHUTDOWN_GRACE
    )


async def _next_update(queue: asyncio.Queue[Update | None], shutdown: anyio.Event) -> Update | None:
    """The next live update; None once the stream must end (the hub stopped, or the
    server shuts down). Raises TimeoutError after 5 s without either: time to check the
    subscription still stands (the hub drops a client that falls too far behind)."""
    get = asyncio.ensure_future(queue.get())
    stop = asyncio.ensure_future(shutdown.wait())
    try:
        done, _ = await asyncio.wait({get, stop}, timeout=5.0, return_when=FIRST_COMPLETED)
    finally:
        get.cancel()
        stop.cancel()
    if get in done:
        return get.result()
    if stop in done:
        return None
    raise TimeoutError
