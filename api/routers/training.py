"""GET /training-jobs (a filtered page) and GET /training-jobs/{job_id} (one job, with its
spec and model card)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import Field

from api.deps import ADDRESS, Pool, SettingsDep, parse_address, table
from api.pages import Page
from api.render import (
    address,
    cursor_bigint,
    cursor_uint256,
    decode_cursor,
    encode_cursor,
    hex0x,
    uint,
)
from api.schemas import ERRORS, TrainingJob
from common.errors import DatacoinError
from storage.base import BlobStore
from workers.training.spec import MAX_SPEC_BYTES
from workers.training.stored import fetch_limited

router = APIRouter(tags=["training"])
#: A job row with its model card (public: metrics and provenance, never data).
SELECT = (
    "SELECT j.*, c.document AS card FROM {jobs} j LEFT JOIN model_cards c ON c.cid = j.metrics_cid"
)


class TrainingJobDetail(TrainingJob):
    """A job with its spec document and model card."""

    spec: dict[str, Any] | None = Field(description="the spec document, when readable")
    model_card: dict[str, Any] | None = Field(description="the public model card, once fetched")


def to_job(row: dict[str, Any]) -> TrainingJob:
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
) -> list[dict[str, Any]]:
    """Job `job_id` (on `chain_id`, or on every chain), with its model card."""
    query = SELECT + " WHERE j.job_id = %s"
    params: list[Any] = [job_id]
    if chain_id is not None:
        query += " AND j.chain_id = %s"
        params.append(chain_id)
    statement = sql.SQL(query).format(jobs=table(settings, "training_jobs_v"))
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, params)
        rows: list[dict[str, Any]] = await cur.fetchall()
    return rows


def read_spec(store: BlobStore, cid: str) -> dict[str, Any] | None:
    """The spec document at `cid` (bounded, CID-verified), or None when unreadable: it is
    the requester's choice of CID, not necessarily a spec."""
    try:
        document = orjson.loads(fetch_limited(store, cid, MAX_SPEC_BYTES))
    except (DatacoinError, orjson.JSONDecodeError):
        return None
    return document if isinstance(document, dict) else None


@router.get("/training-jobs", response_model=Page[TrainingJob], responses=ERRORS)
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
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    for clause, value in (
        ("j.requester = %s", parse_address(requester) if requester else None),
        ("j.dataset_id = %s", int(dataset) if dataset else None),
        ("j.status = %s", status),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    if cursor:
        # (job_id, chain_id): the keyset of the last row of a page
        where.append("(j.job_id, j.chain_id) < (%s, %s)")
        params += decode_cursor(cursor, [cursor_uint256, cursor_bigint])
    query = SELECT + " WHERE " + " AND ".join(where)
    query += " ORDER BY j.job_id DESC, j.chain_id DESC LIMIT %s"
    statement = sql.SQL(query).format(jobs=table(settings, "training_jobs_v"))
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, [*params, limit + 1])
        rows = await cur.fetchall()
    page = rows[:limit]
    last = page[-1] if len(rows) > limit else None
    next_cursor = encode_cursor([str(last["job_id"]), last["chain_id"]]) if last else None
    return Page[TrainingJob](items=[to_job(r) for r in page], next_cursor=next_cursor)


@router.get("/training-jobs/{job_id}", response_model=TrainingJobDetail, responses=ERRORS)
async def get_training_job(
    request: Request,
    pool: Pool,
    settings: SettingsDep,
    job_id: Annotated[str, Path(pattern=r"^[0-9]{1,78}$")],
    chain_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> TrainingJobDetail:
    """A job's status (with finality), spec, model CID, metrics, model card and
    transaction hashes."""
    rows = await find_jobs(pool, settings, int(job_id), chain_id)
    if not rows:
        raise HTTPException(404, f"training job {job_id} not found")
    if len(rows) > 1:
        raise HTTPException(400, f"job {job_id} exists on several chains: pass chain_id")
    row = rows[0]
    spec = await asyncio.to_thread(read_spec, request.app.state.store, row["spec_cid"])
    job = to_job(row)
    return TrainingJobDetail(**job.model_dump(), spec=spec, model_card=row.get("card"))
