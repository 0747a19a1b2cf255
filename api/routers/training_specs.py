"""POST /training-specs and GET /training-specs/schema: a signed-in buyer prepares a job.

The spec is validated as a document (every field bounded: workers.training.spec) and then
against the dataset's own schema — the column profile in its metadata document — so a job
that could never train is refused before anyone pays for it. Only then is the spec stored;
the answer is its CID, the escrow and the ``requestTraining`` calldata. The request itself
is the requester's transaction: the API never writes a read model.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError
from web3 import Web3

from api.bindings import binding, deployments
from api.deps import Pool, SettingsDep, SignedIn, parse_address
from api.problems import Problem
from api.queries import exactly_one
from api.routers.datasets import find_datasets
from api.routers.downloads import has_access
from api.schemas import ERRORS
from api.stored_documents import metadata_document
from common.settings import Settings
from workers.training.canonical import canonical_json
from workers.training.columns import spec_mismatch
from workers.training.price import JOB_PRICE
from workers.training.spec import MAX_SPEC_BYTES, TrainingSpec

router = APIRouter(tags=["training"])
#: The request is the spec plus a dataset id: a little more than a spec may be.
MAX_BODY_BYTES = MAX_SPEC_BYTES + 1024
SPEC_ERRORS = {**ERRORS, 413: ERRORS[400] | {"description": "request too large"}}


class TrainingSpecRequest(BaseModel):
    """What to train, and on which dataset."""

    dataset_id: str = Field(pattern=r"^[0-9]{1,78}$", description="uint256 as a decimal string")
    chain_id: int | None = Field(None, ge=0, le=2**63 - 1, description="needed when ambiguous")
    spec: TrainingSpec


class TrainingCall(BaseModel):
    """The transaction the requester's wallet sends (after approving `escrow` to `to`)."""

    to: str | None
    data: str
    function: str = "requestTraining"
    args: dict[str, Any]
    permit_function: str = Field(
        "requestTrainingWithPermit",
        description="the same call without a prior approve: add an EIP-2612 permit for "
        "`payment` (deadline, v, r, s)",
    )


class TrainingSpecResult(BaseModel):
    """The stored spec and how to pay for its job."""

    spec_cid: str
    chain_id: int
    dataset_id: str
    escrow: str = Field(description="DATACOIN (smallest unit) the job escrows")
    token: str | None = Field(description="the DATACOIN contract to approve")
    spec: TrainingSpec
    call: TrainingCall


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema with its `$defs` inlined (an OpenAPI requestBody cannot hold them)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        return [walk(v) for v in node] if isinstance(node, list) else node

    return dict(walk(schema))


REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {"schema": _inline(TrainingSpecRequest.model_json_schema())}},
}


async def _read_body(request: Request) -> TrainingSpecRequest:
    """The request, read with a bound and validated; 413 / 400 naming the field."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise Problem(
                413, "training_spec.too_large", f"the request exceeds {MAX_BODY_BYTES} bytes"
            )
    try:
        return TrainingSpecRequest.model_validate_json(bytes(body))
    except ValidationError as exc:
        errors = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        where = ".".join(str(p) for p in errors[0]["loc"]) or "body"
        raise Problem(
            400, "training_spec.invalid", f"{where}: {errors[0]['msg']}", errors=errors
        ) from None


async def _dataset(
    pool: Pool, settings: Settings, dataset_id: int, chain_id: int | None
) -> dict[str, Any]:
    """The listing (chain, provider, metadata CID, ...); 404 / 400 when not one listing."""
    rows = await find_datasets(pool, settings, dataset_id, chain_id)
    return exactly_one(rows, kind="dataset", ident=dataset_id)


def _token(request: Request, chain_id: int) -> str | None:
    address = binding(deployments(request), "DataCoin", chain_id).address
    return Web3.to_checksum_address(address) if address else None


def _call(request: Request, chain_id: int, dataset_id: int, spec_cid: str) -> TrainingCall:
    contract = binding(deployments(request), "TrainingLog", chain_id)
    data = contract.encode_abi("requestTraining", args=[dataset_id, spec_cid, JOB_PRICE])
    args = {"datasetId": str(dataset_id), "specCid": spec_cid, "payment": str(JOB_PRICE)}
    return TrainingCall(to=contract.address, data=data, args=args)


@router.get("/training-specs/schema", name="spec_schema", response_model=dict[str, Any])
async def spec_schema() -> dict[str, Any]:
    """The training spec format as JSON Schema (what `spec` in POST /training-specs is)."""
    return TrainingSpec.model_json_schema()


@router.post(
    "/training-specs",
    name="create_spec",
    response_model=TrainingSpecResult,
    status_code=201,
    responses=SPEC_ERRORS,
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def create_spec(
    request: Request, requester: SignedIn, pool: Pool, settings: SettingsDep
) -> TrainingSpecResult:
    """Check a spec against the dataset's schema, store it, and return its CID, the escrow
    and the `requestTraining` calldata. Signed in, with access to the dataset (its provider
    or a final buyer): the contract refuses anyone else's request."""
    body = await _read_body(request)
    dataset_id = int(body.dataset_id)
    dataset = await _dataset(pool, settings, dataset_id, body.chain_id)
    me = parse_address(requester)
    if parse_address(dataset["provider"]) != me and not await has_access(
        pool, settings, chain_id=dataset["chain_id"], dataset_id=dataset_id, account=me
    ):
        raise Problem(
            403, "training_spec.no_access", "no final purchase of this dataset for this account"
        )
    blobs = request.app.state.blobs
    doc = await metadata_document(pool, settings.read_schema, blobs, dataset["metadata_cid"])
    mismatch = spec_mismatch(body.spec, doc.columns, doc.rows)
    if mismatch is not None:
        raise Problem(400, f"training_spec.{mismatch.code}", mismatch.detail)
    document = canonical_json(body.spec.model_dump(mode="json"))
    spec_cid = (await run_in_threadpool(blobs.put, [document])).cid
    await run_in_threadpool(blobs.pin, spec_cid)
    return TrainingSpecResult(
        spec_cid=spec_cid,
        chain_id=dataset["chain_id"],
        dataset_id=body.dataset_id,
        escrow=str(JOB_PRICE),
        token=_token(request, dataset["chain_id"]),
        spec=body.spec,
        call=_call(request, dataset["chain_id"], dataset_id, spec_cid),
    )
