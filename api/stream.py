"""Live updates: one LISTEN connection per API process fans new entries out to SSE clients.

The hub wakes on the indexer's NOTIFY, reads the new event-store entries once, and puts
them on every subscriber's queue. A client resuming with Last-Event-ID (a position) first
gets the entries it missed from the store, then the live ones, with no gap or repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool
from sse_starlette.event import ServerSentEvent

from common.db import libpq_url
from contracts.events import (
    BridgeBurned,
    BridgeLocked,
    BridgeMinted,
    BridgeReleased,
    DatasetDelisted,
    DatasetListed,
    PriceChanged,
    ProposalCanceled,
    ProposalCreated,
    ProposalExecuted,
    ProposalQueued,
    Purchased,
    Rated,
    Staked,
    TrainingLogged,
    TrainingRefunded,
    TrainingRequested,
    Unstaked,
    UnstakeRequested,
    VoteCast,
    VoteCastWithParams,
)
from indexer.reader import NOTIFY_CHANNEL, Fact, facts_after, head_position
from projections.base import event_names

log = structlog.get_logger(__name__)

#: The SSE topic of each event the dApp cares about (token transfers and role changes are
#: left out).
TOPICS: dict[str, str] = {
    **dict.fromkeys(event_names(DatasetListed, PriceChanged, DatasetDelisted, Rated), "dataset"),
    Purchased.event_name: "purchase",
    **dict.fromkeys(event_names(TrainingRequested, TrainingLogged, TrainingRefunded), "job"),
    **dict.fromkeys(event_names(Staked, UnstakeRequested, Unstaked), "stake"),
    **dict.fromkeys(
        event_names(ProposalCreated, ProposalQueued, ProposalExecuted, ProposalCanceled),
        "proposal",
    ),
    **dict.fromkeys(event_names(VoteCast, VoteCastWithParams), "vote"),
    **dict.fromkeys(
        event_names(BridgeLocked, BridgeBurned, BridgeMinted, BridgeReleased), "bridge"
    ),
}
#: A vote's `support` as the REST routes spell it (GovernorCountingSimple's numbers).
SUPPORT_NAMES = {"0": "against", "1": "for", "2": "abstain"}
STREAMED = frozenset(TOPICS)


@dataclass(frozen=True)
class Update:
    """One SSE message: `id` is the event-store position; `frame` is the message as it goes
    on the wire, encoded once here and written as is to every subscriber (encoding it per
    client cost each of them ~10 us per event; 1,000 clients, 10 ms of every event)."""

    id: int
    event: str
    data: str
    frame: bytes


def to_update(fact: Fact) -> Update:
    """An event-store entry as an SSE update (a retraction says so in its type)."""
    topic = TOPICS[fact.event_name]
    retracted = fact.kind == "retract"
    body = {
        "position": fact.position,
        "chain_id": fact.chain_id,
        "block_number": fact.block_number,
        "tx_hash": "0x" + fact.tx_hash.hex(),
        "event": fact.event_name,
        "retracted": retracted,
        # The event's fields as the REST routes spell them: snake_case, EIP-55 addresses,
        # uint256 as decimal strings (the typed event's JSON form).
        **fact.event.to_json(),
    }
    if topic == "vote":
        body["support"] = SUPPORT_NAMES.get(body["support"], body["support"])
    kind = f"{topic}.retracted" if retracted else topic
    data = orjson.dumps(body).decode()
    frame = ServerSentEvent(data, event=kind, id=str(fact.position)).encode()
    return Update(fact.position, kind, data, frame)


async def read_updates(
    pool: AsyncConnectionPool[Any], after: int, limit: int = 500
) -> list[Update]:
    """Streamed entries after position `after`."""
    return [to_update(f) for f in await facts_after(pool, after, names=STREAMED, limit=limit)]


@dataclass
class EventHub:
    """Fans new entries out to subscriber queues."""

    database_url: str
    pool: AsyncConnectionPool[Any]
    queue_size: int = 1000
    position: int = 0
    subscribers: set[asyncio.Queue[Update | None]] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start listening (from the current head: older entries are read on demand)."""
        self.position = await head_position(self.pool)
        self._task = asyncio.create_task(self._listen(), name="event-hub")

    async def stop(self) -> None:
        """Stop listening and end every subscriber's stream."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for queue in list(self.subscribers):
            queue.put_nowait(None)

    def subscribe(self) -> asyncio.Queue[Update | None]:
        """A new subscriber queue (call `unsubscribe` when the client leaves)."""
        queue: asyncio.Queue[Update | None] = asyncio.Queue(self.queue_size)
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Update | None]) -> None:
        """Forget a subscriber."""
        self.subscribers.discard(queue)

    async def _listen(self) -> None:
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    libpq_url(self.database_url), autocommit=True
                )
                async with conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    await self._publish()  # whatever landed while we were (re)connecting
                    async for _ in conn.notifies():
                        await self._publish()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep serving; reconnect after a pause
                log.warning("api.stream.listen_failed", error=str(exc)[:200])
                await asyncio.sleep(1.0)

    async def _publish(self) -> None:
        while updates := await read_updates(self.pool, self.position):
            self.position = updates[-1].id
            for queue in list(self.subscribers):
                for update in updates:
                    try:
                        queue.put_nowait(update)
                    except asyncio.QueueFull:  # a client too slow to keep up is cut off
                        self.subscribers.discard(queue)
                        break
