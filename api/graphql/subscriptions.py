"""The root `Subscription`: dataset, purchase and job updates from the `EventHub` that
feeds GET /stream (graphql-transport-ws over WebSocket)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import Any

import orjson
import strawberry
from strawberry.scalars import JSON

from api.graphql.context import Info
from api.graphql.scalars import BigInt
from api.stream import EventHub, Update

#: Seconds between checks that the hub still serves a quiet subscription (it drops one
#: that falls too far behind; the subscription then ends and the client resubscribes).
CHECK_EVERY_S = 5.0


@strawberry.type(description="One event-store entry, as GET /stream sends it.")
class ChainUpdate:
    position: int = strawberry.field(description="the entry's event-store position")
    chain_id: int
    block_number: int
    tx_hash: str
    event: str = strawberry.field(description="the event's name, e.g. DatasetListed")
    retracted: bool = strawberry.field(description="true: a reorg took the event back")
    dataset_id: BigInt | None
    job_id: BigInt | None
    args: JSON = strawberry.field(description="the event's fields (snake_case, as REST)")

    @classmethod
    def of(cls, body: dict[str, Any]) -> ChainUpdate:
        """The update of one /stream message body."""
        fixed = ("position", "chain_id", "block_number", "tx_hash", "event", "retracted")
        return cls(
            **{name: body[name] for name in fixed},
            dataset_id=body.get("dataset_id"),
            job_id=body.get("job_id"),
            args=JSON({k: v for k, v in body.items() if k not in fixed}),
        )


async def follow(
    hub: EventHub, topic: str, wanted: Callable[[dict[str, Any]], bool]
) -> AsyncGenerator[ChainUpdate, None]:
    """The hub's live updates of `topic` (retractions included) that `wanted` keeps,
    until the hub stops or drops this subscriber. Unsubscribes however it ends."""
    queue = hub.subscribe()
    try:
        while queue in hub.subscribers:
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps every
                # message's get() in a task of its own (the cost /stream shed, see
                # bench.sse_fanout)
                async with asyncio.timeout(CHECK_EVERY_S):
                    update = await queue.get()
            except TimeoutError:
                continue
            if update is None:
                return
            if _topic(update) == topic and wanted(body := orjson.loads(update.data)):
                yield ChainUpdate.of(body)
    finally:
        hub.unsubscribe(queue)


def _topic(update: Update) -> str:
    return update.event.removesuffix(".retracted")


def _matches(field: str, value: str | None) -> Callable[[dict[str, Any]], bool]:
    """Keeps the bodies whose `field` is `value` (every body when `value` is None)."""
    if value is None:
        return lambda body: True
    return lambda body: str(body.get(field, "")).lower() == value.lower()


@strawberry.type
class Subscription:
    """Live updates, pushed as the indexer stores them."""

    @strawberry.subscription(description="Listings, price changes, delistings and ratings.")
    async def dataset_updates(
        self, info: Info, dataset_id: BigInt | None = None
    ) -> AsyncGenerator[ChainUpdate, None]:
        async for update in follow(info.context.hub, "dataset", _matches("dataset_id", dataset_id)):
            yield update

    @strawberry.subscription(description="Purchases, of one buyer when `buyer` is given.")
    async def purchase_updates(
        self, info: Info, buyer: str | None = None
    ) -> AsyncGenerator[ChainUpdate, None]:
        async for update in follow(info.context.hub, "purchase", _matches("buyer", buyer)):
            yield update

    @strawberry.subscription(description="Training jobs requested, logged and refunded.")
    async def job_updates(
        self, info: Info, job_id: BigInt | None = None
    ) -> AsyncGenerator[ChainUpdate, None]:
        async for update in follow(info.context.hub, "job", _matches("job_id", job_id)):
            yield update
