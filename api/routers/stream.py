"""GET /stream: Server-Sent Events of new and changed datasets, purchases, jobs, stakes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Request
from sse_starlette.sse import EventSourceResponse

from api.deps import Pool
from api.schemas import INVALID
from api.stream import EventHub, Update, read_updates

router = APIRouter(tags=["stream"])
#: Seconds an open stream gets to end by itself once the server shuts down.
SHUTDOWN_GRACE = 2.0
#: Seconds a stream waits for a message before checking its subscription still stands.
RECHECK_S = 5.0


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

    async def updates() -> AsyncIterator[bytes]:
        nonlocal sent
        # One task per stream, not per message: it ends the wait below when the server
        # shuts down. Each message is the hub's frame, encoded once for every subscriber.
        ender = asyncio.ensure_future(_end_on(shutdown, queue))
        try:
            while backlog := await read_updates(pool, sent):
                for update in backlog:
                    yield update.frame
                sent = backlog[-1].id
            while queue in hub.subscribers and not shutdown.is_set():
                try:
                    # Every RECHECK_S without a message: time to check the subscription
                    # still stands (the hub drops a client that falls too far behind, and
                    # nothing fills its queue after that). sse-starlette pings meanwhile.
                    async with asyncio.timeout(RECHECK_S):
                        live = await queue.get()
                except TimeoutError:
                    continue
                if live is None:
                    return
                if live.id > sent:
                    yield live.frame
                    sent = live.id
        finally:
            ender.cancel()
            hub.unsubscribe(queue)

    return EventSourceResponse(
        updates(), ping=10, shutdown_event=shutdown, shutdown_grace_period=SHUTDOWN_GRACE
    )


async def _end_on(shutdown: anyio.Event, queue: asyncio.Queue[Update | None]) -> None:
    """Once `shutdown` is set, wake the stream waiting on `queue` (None: the end). A full
    queue needs no wake-up: its stream is not waiting, and sees `shutdown` next turn."""
    await shutdown.wait()
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(None)
