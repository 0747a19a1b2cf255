"""Response models: what the dApp and auditors get (uint256 values as decimal strings)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from api.account_profiles import AccountProfile
from api.problems import problem_responses
from common.documents import ColumnProfile

#: Query parameters every list shares: a page's size, its cursor, and a chain id filter.
Limit = Annotated[int, Query(ge=1, le=100)]
CursorParam = Annotated[str | None, Query(max_length=200)]
ChainId = Annotated[int | None, Query(ge=0, le=2**63 - 1)]

#: OpenAPI `responses=` of a route whose parameters can fail validation (problem+json).
INVALID = problem_responses({422: "a parameter or the body does not validate"})
#: OpenAPI `responses=` for routes that can refuse with our own errors (problem+json).
ERRORS = INVALID | problem_responses(
    {
        400: "bad request (the detail says why, the code what)",
        401: "not signed in",
        403: "not allowed",
        404: "not found",
    }
)


class Dataset(BaseModel):
    """A listed dataset with its metadata and marketplace counters."""

    chain_id: int
    dataset_id: str = Field(description="uint256 as a decimal string")
    provider: str = Field(description="EIP-55 address")
    price: str = Field(description="DATACOIN wei as a decimal string")
    access_duration: int = Field(description="seconds of access per purchase; 0 = perpetual")
    metadata_cid: str
    content_hash: str
    title: str | None
    description: str | None
    category: str
    format: str | None
    rows: int | None
    columns: int | None
    purchases: int
    rating: float | None = Field(description="mean score 1-5, null before the first rating")
    rating_count: int
    status: str
    listed_at: datetime
    block_number: int = Field(description="block of the last change")
    finalized: bool


class DatasetDetail(Dataset):
    """One dataset, with its metadata document's column schema."""

    column_schema: list[ColumnProfile] | None = Field(
        description="each column's type and statistics; null until the document is fetched"
    )


class DatasetPage(BaseModel):
    """One page of datasets; pass `next_cursor` back as `cursor` for the next one."""

    items: list[Dataset]
    next_cursor: str | None


class Purchase(BaseModel):
    """One purchase."""

    chain_id: int
    dataset_id: str
    buyer: str
    provider: str
    price: str
    fee: str
    expires_at: datetime | None
    tx_hash: str
    purchased_at: datetime
    block_number: int
    finalized: bool


class Activity(BaseModel):
    """Something an account did or received."""

    chain_id: int
    event: str
    role: str
    dataset_id: str | None
    job_id: str | None
    amount: str | None
    tx_hash: str
    occurred_at: datetime
    block_number: int
    finalized: bool


class Stake(BaseModel):
    """An account's stake on one chain."""

    chain_id: int
    account: str
    staked: str
    pending: str
    available_at: datetime | None
    withdrawn: str
    block_number: int
    finalized: bool


class Account(BaseModel):
    """An account's footprint on the marketplace."""

    address: str
    datasets_listed: int
    purchases: int
    stakes: list[Stake]
    recent_activity: list[Activity]
    profile: AccountProfile | None = Field(None, description="null: no profile set")
    training_jobs: int = Field(0, description="training jobs the account requested")
    listings: DatasetPage | None = Field(
        None, description="its newest datasets; next_cursor continues on /datasets?provider="
    )


class TrainingJob(BaseModel):
    """A training job and, once logged, its model and metrics."""

    chain_id: int
    job_id: str
    dataset_id: str
    requester: str
    spec_cid: str
    payment: str
    deadline: datetime
    status: str
    requested_at: datetime
    request_tx: str
    worker: str | None
    model_cid: str | None
    model_hash: str | None
    metrics_cid: str | None
    metrics_hash: str | None
    metrics: dict[str, Any] | None = Field(description="from the model card, when fetched")
    worker_amount: str | None
    provider_amount: str | None
    settled_at: datetime | None
    settle_tx: str | None
    block_number: int
    finalized: bool


class Stats(BaseModel):
    """A chain's protocol counters."""

    chain_id: int
    datasets_listed: int
    datasets_delisted: int
    purchases: int
    purchase_volume: str
    fees: str
    ratings: int
    jobs_requested: int
    jobs_logged: int
    jobs_refunded: int
    training_volume: str
    total_staked: str
    block_number: int
    finalized: bool


class EventEntry(BaseModel):
    """One event-store entry, as an auditor replays it."""

    position: int
    kind: str
    incarnation: int
    retracts: int | None
    hash: str
    chain_id: int
    block_number: int
    block_hash: str
    parent_hash: str
    block_timestamp: int
    tx_hash: str
    tx_index: int
    log_index: int
    address: str
    event_name: str
    args: dict[str, Any]


class StateHash(BaseModel):
    """The read models' state hash and how far they and the store are."""

    state_hash: str | None
    read_model_position: int | None
    event_store_head: int


class Health(BaseModel):
    """Liveness of the API and what it depends on."""

    status: str
    database: bool
    redis: bool
    chains: list[dict[str, int]]
    read_model_position: int | None


class Nonce(BaseModel):
    """A single-use sign-in nonce and what the message must say."""

    nonce: str
    domain: str
    uri: str
    chain_ids: list[int]
    expires_at: datetime


class VerifyRequest(BaseModel):
    """An EIP-4361 message and the wallet's signature of it."""

    message: str = Field(max_length=4096)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


class Session(BaseModel):
    """A session token for `Authorization: Bearer`."""

    token: str
    address: str
    expires_at: datetime
