"""`account(address)`: an account's counts, stakes, activity and purchases."""

from __future__ import annotations

import strawberry

from api.graphql.connections import Connection, connection, page_size
from api.graphql.context import Info
from api.graphql.types import Activity, Purchase, Stake, from_model
from api.routers.accounts import read_purchases, recent_activity, stakes_of, to_purchase


@strawberry.type(description="An account's footprint on the marketplace.")
class Account:
    address: str = strawberry.field(description="EIP-55 address")
    datasets_listed: int
    purchase_count: int = strawberry.field(description="purchases made, on every chain")
    raw: strawberry.Private[bytes]

    @strawberry.field(description="the account's stake on every indexed chain")
    async def stakes(self, info: Info) -> list[Stake]:
        stakes = await stakes_of(info.context.pool, info.context.settings, self.raw)
        return [from_model(Stake, s) for s in stakes]

    @strawberry.field(description="the latest events of the account, newest first")
    async def activity(self, info: Info, first: int = 20) -> list[Activity]:
        context = info.context
        recent = await recent_activity(
            context.pool, context.settings, self.raw, limit=page_size(first)
        )
        return [from_model(Activity, a) for a in recent]

    @strawberry.field(description="the account's purchases, newest first")
    async def purchases(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[Purchase]:
        context = info.context
        page = await read_purchases(
            context.pool, context.settings, self.raw, limit=page_size(first), cursor=after
        )
        return connection(page, lambda row: from_model(Purchase, to_purchase(row)))
