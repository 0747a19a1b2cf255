"""GET /training-jobs (a filtered page) and GET /training-jobs/{job_id} (one job, with its
spec and model card)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from pydantic import Field
from sqlalchemy import bindparam, select

from api.deps import ADDRESS, Pool, SettingsDep, parse_address
from api.pages import KeysetPage, Page
from api.queries import CompiledQuery, KeyColumn, NewestFirst, Row, exactly_one, view
from api.render import (
    address,
    hex0x,
    uint,
)
from api.schemas import ERRORS, TrainingJob
from common.errors import DatacoinError
from projections.metadata import ModelCard
from projections.training import TrainingJobRow
from storage.base import BlobStore
from workers.training.spec import MAX_SPEC_BYTES
from workers.training.stored import fetch_limited

router = APIRouter(tags=["training"])
_JOBS = view(TrainingJobRow.__table__)  # type: ignore[arg-type]
_CARDS = ModelCard.__table__
#: A job row with its model card (public: metrics and provenance, never data).
_WITH_CARD = select(_JOBS, _CARDS.c.document.label("card")).select_from(
    _JOBS.outerjoin(_CARDS, _CARDS.c.cid == _JOBS.c.metrics_cid)
)
_BY_ID = _WITH_CARD.where(_JOBS.c.job_id == bindparam("job_id"))
_ON_ANY_CHAIN = CompiledQuery(_BY_ID)
_ON_CHAIN = CompiledQuery(_BY_ID.where(_JOBS.c.chain_id == bindparam("chain_id")))


class TrainingJobDetail(TrainingJob):
    """A job with its spec document and model card."""

    spec: dict[str, Any] | None = Field(description="the spec document, when readable")
    model_card: dict[str, Any] | None = Field(description="the public model card, once fetched")


def to_job(row: Row) -> TrainingJob:
    """A training_jobs_v row (with its `card`) as the API model."""
    card = row.get("card")
    return TrainingJob(
        chain_id=row["chain_id"],
        job_id=str(row["job_id"]),
        dataset_id=str(row["dataset_id"]),
        requester=address(row["requester"]) or "",
        spec_cid=row["spec_cid"],
        payment=uint(row["payment"]) or "0",
        deadline=row["deadline"],
        status=row["status"],
        requested_at=row["requested_at"],
        request_tx=hex0x(row["request_tx"]) or "",
        worker=address(row["worker"]),
        model_cid=row["model_cid"],
        model_hash=hex0x(row["model_hash"]),
        metrics_cid=row["metrics_cid"],
        metrics_hash=hex0x(row["metrics_hash"]),
        metrics=card.get("metrics") if card else None,
        worker_amount=uint(row["worker_amount"]),
        provider_amount=uint(row["provider_amount"]),
        settled_at=row["settled_at"],
        settle_tx=hex0x(row["settle_tx"]),
        block_number=row["block_number"],
        finalized=row["finalized"],
    )


async def find_jobs(
    pool: Pool, settings: SettingsDep, job_id: int, chain_id: int | None
) -> list[Row]:
    """Job `job_id` (on `chain_id`, or on every chain), with its model card."""
    if chain_id is None:
        return await _ON_ANY_CHAIN.all(pool, settings.read_schema, {"job_id": job_id})
    params = {"job_id": job_id, "chain_id": chain_id}
    return await _ON_CHAIN.all(pool, settings.read_schema, params)


#: Newest first.
JOB_LIST = NewestFirst(
    _WITH_CARD,
    [KeyColumn(column=_JOBS.c.job_id, uint256=True), KeyColumn(column=_JOBS.c.chain_id)],
    {
        "requester": lambda q: q.where(_JOBS.c.requester == bindparam("requester")),
        "dataset_id": lambda q: q.where(_JOBS.c.dataset_id == bindparam("dataset_id")),
        "status": lambda q: q.where(_JOBS.c.status == bindparam("status")),
    },
)


def read_spec(blobs: BlobStore, cid: str) -> dict[str, Any] | None:
    """The spec document at `cid` (bounded, CID-verified), or None when unreadable: it is
    the requester's choice of CID, not necessarily a spec."""
    try:
        document = orjson.loads(fetch_limited(blobs, cid, MAX_SPEC_BYTES))
    except (DatacoinError, orjson.JSONDecodeError):
        return None
    return document if isinstance(document, dict) else None


@router.get("/training-jobs", name="list_jobs", response_model=Page[TrainingJob], responses=ERRORS)
async def list_training_jobs(
    pool: Pool,
    settings: SettingsDep,
    requester: Annotated[str | None, Query(pattern=ADDRESS.pattern)] = None,
    dataset: Annotated[str | None, Query(pattern=r"^[0-9]{1,78}$")] = None,
    status: Annotated[str | None, Query(pattern="^(requested|logged|refunded)$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[TrainingJob]:
    """Training jobs, newest first, by requester, dataset and status."""
    filters = JobFilter(
        requester=requester, dataset_id=int(dataset) if dataset else None, status=status
    )
    page = await read_jobs(pool, settings, filters, limit=limit, cursor=cursor)
    return page.render(to_job)


@dataclass(frozen=True, kw_only=True)
class JobFilter:
    """The filters of a jobs page (None: not filtered)."""

    requester: str | None = None
    dataset_id: int | None = None
    status: str | None = None


async def read_jobs(
    pool: Pool, settings: SettingsDep, filters: JobFilter, *, limit: int, cursor: str | None
) -> KeysetPage[Row]:
    """A page of jobs (rows with their `card`: render with `to_job`), newest first."""
    values = {
        "requester": parse_address(filters.requester) if filters.requester else None,
        "dataset_id": filters.dataset_id,
        "status": filters.status or None,
    }
    return await JOB_LIST.read(pool, settings.read_schema, values, limit=limit, cursor=cursor)


@router.get(
    "/training-jobs/{job_id}", name="get_job", response_model=TrainingJobDetail, responses=ERRORS
)
async def get_training_job(
    request: Request,
    pool: Pool,
    settings: SettingsDep,
    job_id: Annotated[str, Path(pattern=r"^[0-9]{1,78}$")],
    chain_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> TrainingJobDetail:
    """A job's status (with finality), spec, model CID, metrics, model card and
    transaction hashes."""
    row = exactly_one(
        await find_jobs(pool, settings, int(job_id), chain_id),
        kind="training_job",
        ident=job_id,
    )
    spec = await asyncio.to_thread(read_spec, request.app.state.blobs, row["spec_cid"])
    job = to_job(row)
    return TrainingJobDetail(**job.model_dump(), spec=spec, model_card=row.get("card"))
