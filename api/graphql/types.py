"""The GraphQL object types: the REST models' fields, camelCased, uint256 as BigInt.

Each type is built from what the REST route renders (``dataset_item``, ``to_purchase``,
``to_job``...) by keyword, so both APIs spell every value the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import strawberry
from pydantic import BaseModel
from strawberry.scalars import JSON

from api.graphql.scalars import BigInt
from api.routers.datasets import Sort
from api.stored_documents import column_schema

from .context import Info

Model = TypeVar("Model")

# The sort orders of `datasets`: the REST `sort` values, registered as a GraphQL enum.
strawberry.enum(Sort, name="DatasetSort")


def from_model(cls: type[Model], model: BaseModel) -> Model:
    """The GraphQL object of a REST response model (same field names)."""
    return cls(**model.model_dump())


@strawberry.type(description="A listed dataset with its metadata and marketplace counters.")
class Dataset:
    chain_id: int
    dataset_id: BigInt
    provider: str = strawberry.field(description="EIP-55 address")
    price: BigInt = strawberry.field(description="DATACOIN wei")
    access_duration: BigInt = strawberry.field(description="seconds per purchase; 0: forever")
    metadata_cid: str
    content_hash: str
    title: str | None
    description: str | None
    category: str
    format: str | None
    rows: int | None
    columns: int | None
    purchases: int
    rating: float | None = strawberry.field(description="mean score 1-5, null before any")
    rating_count: int
    status: str
    listed_at: datetime
    block_number: int = strawberry.field(description="block of the last change")
    finalized: bool


@strawberry.type(description="One dataset, with its metadata document's column schema.")
class DatasetDetail(Dataset):
    @strawberry.field(description="each column's type and statistics; null until fetched")
    async def column_schema(self, info: Info) -> JSON | None:
        context = info.context
        schema = context.settings.read_schema
        columns = await column_schema(context.pool, schema, self.metadata_cid)
        return None if columns is None else JSON([c.model_dump(mode="json") for c in columns])


@strawberry.type(description="One purchase.")
class Purchase:
    chain_id: int
    dataset_id: BigInt
    buyer: str
    provider: str
    price: BigInt
    fee: BigInt
    expires_at: datetime | None
    tx_hash: str
    purchased_at: datetime
    block_number: int
    finalized: bool


@strawberry.type(description="An account's stake on one chain.")
class Stake:
    chain_id: int
    account: str
    staked: BigInt
    pending: BigInt
    available_at: datetime | None
    withdrawn: BigInt
    block_number: int
    finalized: bool


@strawberry.type(description="Something an account did or received.")
class Activity:
    chain_id: int
    event: str
    role: str
    dataset_id: BigInt | None
    job_id: BigInt | None
    amount: BigInt | None
    tx_hash: str
    occurred_at: datetime
    block_number: int
    finalized: bool


@strawberry.type(description="A training job and, once logged, its model and metrics.")
class TrainingJob:
    chain_id: int
    job_id: BigInt
    dataset_id: BigInt
    requester: str
    spec_cid: str
    payment: BigInt
    deadline: datetime
    status: str
    requested_at: datetime
    request_tx: str
    worker: str | None
    model_cid: str | None
    model_hash: str | None
    metrics_cid: str | None
    metrics_hash: str | None
    metrics: JSON | None = strawberry.field(description="from the model card, when fetched")
    worker_amount: BigInt | None
    provider_amount: BigInt | None
    settled_at: datetime | None
    settle_tx: str | None
    block_number: int
    finalized: bool


@strawberry.type(description="A chain's protocol counters.")
class Stats:
    chain_id: int
    datasets_listed: int
    datasets_delisted: int
    purchases: int
    purchase_volume: BigInt
    fees: BigInt
    ratings: int
    jobs_requested: int
    jobs_logged: int
    jobs_refunded: int
    training_volume: BigInt
    total_staked: BigInt
    block_number: int
    finalized: bool
