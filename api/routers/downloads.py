"""GET /datasets/{dataset_id}/download: decrypted, CID-verified bytes for buyers only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse
from psycopg import sql

from api.deps import Pool, SettingsDep, SignedIn, parse_address, table
from api.routers.datasets import find_datasets
from api.schemas import ERRORS
from common.documents import DatasetDocument
from storage.envelope import decrypt

router = APIRouter(tags=["datasets"])
MEDIA = {"csv": "text/csv", "jsonl": "application/x-ndjson", "json": "application/json",
         "parquet": "application/vnd.apache.parquet"}  # fmt: skip


async def _document(pool: Pool, request: Request, cid: str) -> DatasetDocument:
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT document FROM dataset_metadata WHERE cid = %s", [cid])
        ).fetchone()
    if row is not None:
        return DatasetDocument.model_validate(row[0])
    # Not resolved yet: read it from storage (CID-verified) ourselves.
    raw = b"".join(request.app.state.store.get(cid))
    return DatasetDocument.model_validate(orjson.loads(raw))


@router.get("/datasets/{dataset_id}/download", responses=ERRORS,
            response_class=StreamingResponse)  # fmt: skip
async def download(
    request: Request,
    pool: Pool,
    settings: SettingsDep,
    account: SignedIn,
    dataset_id: Annotated[str, Path(pattern=r"^[0-9]{1,78}$")],
    chain_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> StreamingResponse:
    """The dataset's bytes, for its provider or a buyer whose purchase is final (and whose
    subscription is active). Everyone else gets 403."""
    rows = await find_datasets(pool, settings, int(dataset_id), chain_id)
    if not rows:
        raise HTTPException(404, f"dataset {dataset_id} not found")
    if len(rows) > 1:
        raise HTTPException(400, f"dataset {dataset_id} exists on several chains: pass chain_id")
    dataset = rows[0]
    me = parse_address(account)
    if parse_address(dataset["provider"]) != me:
        check = sql.SQL(
            "SELECT 1 FROM {} WHERE chain_id = %s AND dataset_id = %s AND buyer = %s AND finalized"
            " AND (expires_at IS NULL OR expires_at > now())"
        ).format(table(settings, "access_grants_v"))
        async with pool.connection() as conn:
            granted = await (
                await conn.execute(check, [dataset["chain_id"], int(dataset_id), me])
            ).fetchone()
        if granted is None:
            raise HTTPException(403, "no final purchase or active subscription for this account")
    doc = await _document(pool, request, dataset["metadata_cid"])
    store, keyring = request.app.state.store, request.app.state.keyring

    def stream() -> Iterator[bytes]:
        chunks = store.get(doc.content_cid)  # every block re-verified against its CID
        yield from decrypt(chunks, keyring) if doc.encrypted else chunks

    headers = {"Content-Disposition": f'attachment; filename="{doc.filename}"'}
    return StreamingResponse(stream(), media_type=MEDIA[doc.format], headers=headers)
