"""GET /training-jobs/{job_id}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from psycopg import sql
from psycopg.rows import dict_row

from api.deps import Pool, SettingsDep, table
from api.render import address, hex0x, uint
from api.schemas import ERRORS, TrainingJob

router = APIRouter(tags=["training"])


def to_job(row: dict[str, Any], metrics: dict[str, Any] | None) -> TrainingJob:
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
    query = "SELECT * FROM {} WHERE job_id = %s"
    params: list[Any] = [int(job_id)]
    if chain_id is not None:
        query += " AND chain_id = %s"
        params.append(chain_id)
    statement = sql.SQL(query).format(table(settings, "training_jobs_v"))
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, params)
        rows = await cur.fetchall()
        if not rows:
            raise HTTPException(404, f"training job {job_id} not found")
        if len(rows) > 1:
            raise HTTPException(400, f"job {job_id} exists on several chains: pass chain_id")
        row = rows[0]
        metrics = None
        if row["metrics_cid"]:
            await cur.execute(
                "SELECT document FROM model_cards WHERE cid = %s", [row["metrics_cid"]]
            )
            card = await cur.fetchone()
            metrics = card["document"].get("metrics") if card else None
    return to_job(row, metrics)
