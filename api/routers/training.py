"""GET /training-jobs/{job_id}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import bindparam, select

from api.deps import Pool, SettingsDep
from api.queries import CompiledQuery, Row, view
from api.render import address, hex0x, uint
from api.schemas import ERRORS, TrainingJob
from projections.metadata import ModelCard
from projections.training import TrainingJobRow

router = APIRouter(tags=["training"])
_JOBS = view(TrainingJobRow.__table__)  # type: ignore[arg-type]
_BY_ID = select(_JOBS).where(_JOBS.c.job_id == bindparam("job_id"))
_ON_ANY_CHAIN = CompiledQuery(_BY_ID)
_ON_CHAIN = CompiledQuery(_BY_ID.where(_JOBS.c.chain_id == bindparam("chain_id")))
_CARDS = ModelCard.__table__
_CARD = CompiledQuery(select(_CARDS.c.document).where(_CARDS.c.cid == bindparam("cid")))


def to_job(row: Row, metrics: dict[str, Any] | None) -> TrainingJob:
    """A training_jobs_v row as the API model."""
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
        metrics=metrics,
        worker_amount=uint(row["worker_amount"]),
        provider_amount=uint(row["provider_amount"]),
        settled_at=row["settled_at"],
        settle_tx=hex0x(row["settle_tx"]),
        block_number=row["block_number"],
        finalized=row["finalized"],
    )


@router.get("/training-jobs/{job_id}", response_model=TrainingJob, responses=ERRORS)
async def get_training_job(
    pool: Pool,
    settings: SettingsDep,
    job_id: Annotated[str, Path(pattern=r"^[0-9]{1,78}$")],
    chain_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> TrainingJob:
    """A job's status, spec, model CID, metrics and transaction hashes."""
    params: dict[str, Any] = {"job_id": int(job_id)}
    if chain_id is not None:
        params["chain_id"] = chain_id
    query = _ON_CHAIN if chain_id is not None else _ON_ANY_CHAIN
    rows = await query.all(pool, settings.read_schema, params)
    if not rows:
        raise HTTPException(404, f"training job {job_id} not found")
    if len(rows) > 1:
        raise HTTPException(400, f"job {job_id} exists on several chains: pass chain_id")
    row, metrics = rows[0], None
    if row["metrics_cid"]:
        cards = await _CARD.all(pool, settings.read_schema, {"cid": row["metrics_cid"]})
        metrics = cards[0]["document"].get("metrics") if cards else None
    return to_job(row, metrics)
