"""The root `Query`: the read models through the REST routes' own query functions."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from api.deps import parse_address
from api.graphql.account import Account
from api.graphql.connections import Connection, connection, page_size
from api.graphql.context import Info
from api.graphql.governance import GovernanceQuery
from api.graphql.scalars import BigInt
from api.graphql.types import (
    Dataset,
    DatasetDetail,
    Stats,
    TrainingJob,
    from_model,
)
from api.queries import Row
from api.routers.accounts import account_counts, address_of
from api.routers.datasets import (
    MAX_CATEGORY,
    MAX_SEARCH,
    DatasetFilter,
    Sort,
    dataset_item,
    find_datasets,
    read_datasets,
)
from api.routers.stats import read_stats
from api.routers.training import JobFilter, find_jobs, read_jobs, to_job


@strawberry.type
class Query(GovernanceQuery):
    """Datasets, accounts, training jobs, protocol counters and governance."""

    @strawberry.field(description="Search and browse datasets (the filters of GET /datasets).")
    async def datasets(
        self,
        info: Info,
        q: str | None = None,
        category: str | None = None,
        provider: str | None = None,
        min_price: BigInt | None = None,
        max_price: BigInt | None = None,
        status: str | None = None,
        chain_id: int | None = None,
        sort: Sort = Sort.newest,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Dataset]:
        if len(q or "") > MAX_SEARCH or len(category or "") > MAX_CATEGORY:
            raise GraphQLError(
                f"q is limited to {MAX_SEARCH} characters, category to {MAX_CATEGORY}",
                extensions={"code": "datasets.filter_too_long"},
            )
        filters = DatasetFilter(
            q=q,
            category=category,
            provider=provider,
            min_price=None if min_price is None else int(min_price),
            max_price=None if max_price is None else int(max_price),
            status=status,
            chain_id=chain_id,
        )
        page = await read_datasets(
            info.context.pool,
            info.context.settings,
            filters,
            sort=sort,
            limit=page_size(first),
            cursor=after,
        )
        return connection(page, lambda row: Dataset(**dataset_item(row)))

    @strawberry.field(description="One dataset; pass chainId when several chains are indexed.")
    async def dataset(
        self, info: Info, id: BigInt, chain_id: int | None = None
    ) -> DatasetDetail | None:
        rows = await find_datasets(info.context.pool, info.context.settings, int(id), chain_id)
        return DatasetDetail(**_only_one(rows, f"dataset {id}")) if rows else None

    @strawberry.field(description="An account's counts, stakes, activity and purchases.")
    async def account(self, info: Info, address: str) -> Account:
        raw = parse_address(address)
        counts = await account_counts(info.context.pool, info.context.settings, raw)
        return Account(
            address=address_of(raw),
            datasets_listed=counts["listed"],
            purchase_count=counts["bought"],
            raw=raw,
        )

    @strawberry.field(description="Training jobs, newest first, by requester, dataset, status.")
    async def training_jobs(
        self,
        info: Info,
        requester: str | None = None,
        dataset_id: BigInt | None = None,
        status: str | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[TrainingJob]:
        filters = JobFilter(
            requester=requester,
            dataset_id=None if dataset_id is None else int(dataset_id),
            status=status,
        )
        context = info.context
        page = await read_jobs(
            context.pool, context.settings, filters, limit=page_size(first), cursor=after
        )
        return connection(page, lambda row: from_model(TrainingJob, to_job(row)))

    @strawberry.field(description="One training job; pass chainId when several are indexed.")
    async def training_job(
        self, info: Info, id: BigInt, chain_id: int | None = None
    ) -> TrainingJob | None:
        rows = await find_jobs(info.context.pool, info.context.settings, int(id), chain_id)
        return from_model(TrainingJob, to_job(_only_one(rows, f"job {id}"))) if rows else None

    @strawberry.field(description="Protocol counters and volumes, one entry per chain.")
    async def stats(self, info: Info) -> list[Stats]:
        return [
            from_model(Stats, s) for s in await read_stats(info.context.pool, info.context.settings)
        ]


def _only_one(rows: list[Row], what: str) -> Row:
    """The one row of an id looked up without a chain: an error when several chains hold
    it (the client must pick one)."""
    if len(rows) > 1:
        chains = sorted(r["chain_id"] for r in rows)
        raise GraphQLError(
            f"{what} exists on chains {chains}: pass chainId",
            extensions={"code": "chain_id.ambiguous"},
        )
    return rows[0]
