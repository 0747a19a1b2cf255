"""GET /training-jobs/{job_id}/model: the trained model, for the account that paid for it.

The model is stored sealed (workers.training.stored); the API opens it for the job's
requester once the ``TrainingLogged`` is final — final as downloads judge a purchase: its
block at or below the indexer's finalized cursor — and checks the plaintext against the
chain's ``modelHash`` before a byte is sent. Everyone else gets 403; the model card stays
public on GET /training-jobs/{job_id}.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.deps import Pool, SettingsDep, SignedIn, parse_address
from api.problems import Problem
from api.queries import exactly_one
from api.routers.training import find_jobs
from api.schemas import ERRORS
from common.errors import PermanentError, RetryableError
from workers.training.stored import ModelMismatchError, open_model

router = APIRouter(tags=["training"])
MEDIA_TYPE = "application/octet-stream"
MODEL_ERRORS = {
    **ERRORS,
    409: ERRORS[400] | {"description": "the job is not logged (requested or refunded)"},
    425: ERRORS[400] | {"description": "logged, but not final yet: try again shortly"},
    502: ERRORS[400] | {"description": "the stored model is not the one on chain"},
    503: ERRORS[400] | {"description": "the blob store did not answer"},
}


def _check_ready(row: dict[str, Any]) -> None:
    """409 unless the job is logged, 425 until that log is final."""
    if row["status"] != "logged":
        raise Problem(
            409, "model.not_logged", f"job {row['job_id']} is {row['status']}: no model logged"
        )
    if not row["finalized"]:
        raise Problem(
            425,
            "model.not_final",
            f"job {row['job_id']}'s TrainingLogged is not final yet: try again shortly",
            headers={"Retry-After": "5"},
        )


def _open(request: Request, row: dict[str, Any]) -> bytes:
    blobs, keyring = request.app.state.blobs, request.app.state.keyring
    try:
        return open_model(blobs, keyring, row["model_cid"], bytes(row["model_hash"]))
    except ModelMismatchError as exc:
        raise Problem(502, "model.hash_mismatch", str(exc)) from None
    except RetryableError:
        raise Problem(503, "model.store_unavailable", "the blob store did not answer") from None
    except PermanentError as exc:
        raise Problem(
            502, "model.unreadable", f"the stored model cannot be opened: {exc}"
        ) from None


@router.get(
    "/training-jobs/{job_id}/model",
    name="download_model",
    responses=MODEL_ERRORS
    | {200: {"content": {MEDIA_TYPE: {}}, "description": "safetensors (PyTorch) or .keras"}},
    response_class=Response,
)
async def download_model(
    request: Request,
    pool: Pool,
    settings: SettingsDep,
    account: SignedIn,
    job_id: Annotated[str, Path(pattern=r"^[0-9]{1,78}$")],
    chain_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> Response:
    """The model's bytes (safetensors for a PyTorch job, a .keras file for a TensorFlow
    one), verified against the chain's modelHash, for the job's requester once its
    TrainingLogged is final."""
    row = exactly_one(
        await find_jobs(pool, settings, int(job_id), chain_id),
        kind="training_job",
        ident=job_id,
    )
    if bytes(row["requester"]) != parse_address(account):
        raise Problem(403, "model.not_requester", "only the account that paid for the job")
    _check_ready(row)
    model = await asyncio.to_thread(_open, request, row)
    suffix = "keras" if model.startswith(b"PK\x03\x04") else "safetensors"  # .keras: a ZIP
    filename = f"model-{row['chain_id']}-{job_id}.{suffix}"
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Model-Sha256": bytes(row["model_hash"]).hex(),
    }
    return Response(model, media_type=MEDIA_TYPE, headers=headers)
