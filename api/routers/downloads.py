"""GET /datasets/{dataset_id}/download: decrypted, CID-verified bytes for buyers only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse
from psycopg import sql
from pydantic import ValidationError

from api.deps import Pool, SettingsDep, SignedIn, parse_address, table
from api.routers.datasets import find_datasets
from api.schemas import ERRORS
from common.documents import DatasetDocument
from common.errors import PermanentError, RetryableError
from storage.base import BlobStore
from storage.envelope import decrypt

router = APIRouter(tags=["datasets"])
MEDIA = {
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}


# A grant is live while its expiry is after the indexed head block's timestamp: the chain's
# clock, as `Marketplace.hasAccess` judges (`expiry > block.timestamp`), never PostgreSQL's
# (anvil's time can be moved; a real chain's runs a little behind or ahead of ours). The
# head is the newest block the indexer recorded at or below its cursor (`indexed_blocks`
# keeps the cursor's block: every committed batch records its last header).
ACCESS_CHECK = (
    "SELECT 1 FROM {grants} g JOIN cursors c ON c.chain_id = g.chain_id"
    " WHERE g.chain_id = %s AND g.dataset_id = %s AND g.buyer = %s AND g.finalized"
    " AND (g.expires_at IS NULL OR g.expires_at > (SELECT to_timestamp(b.timestamp)"
    " FROM indexed_blocks b WHERE b.chain_id = c.chain_id AND b.number <= c.block_number"
    " ORDER BY b.number DESC LIMIT 1))"
)


def content_disposition(filename: str) -> str:
    """`attachment` with the file name as RFC 6266 asks: `filename*` (RFC 5987: UTF-8,
    percent-encoded) for any name, and an ASCII `filename` for clients that predate it.
    Header values are Latin-1 on the wire: a raw non-Latin-1 name cannot be sent at all."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def has_access(
    pool: Pool, settings: SettingsDep, *, chain_id: int, dataset_id: int, account: bytes
) -> bool:
    """Whether `account` holds a final purchase of the dataset, unexpired by chain time."""
    check = sql.SQL(ACCESS_CHECK).format(grants=table(settings, "access_grants_v"))
    async with pool.connection() as conn:
        row = await (await conn.execute(check, [chain_id, dataset_id, account])).fetchone()
    return row is not None


def _unavailable(what: str, cid: str, exc: Exception) -> HTTPException:
    """404 for content that is not there or not what it claims (retrying will not help:
    the CID on chain is the provider's choice); 503 when the store itself does not answer."""
    if isinstance(exc, RetryableError):
        return HTTPException(503, f"service unavailable: the blob store did not answer for {cid}")
    return HTTPException(404, f"no downloadable {what} at {cid!r}: {exc}")


def _read_document(store: BlobStore, cid: str) -> DatasetDocument:
    """The dataset document at `cid`, read from storage (every block CID-verified)."""
    try:
        return DatasetDocument.model_validate(orjson.loads(b"".join(store.get(cid))))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise _unavailable("document", cid, ValueError("not a dataset document")) from exc
    except (PermanentError, RetryableError) as exc:
        raise _unavailable("document", cid, exc) from None


async def dataset_document(pool: Pool, request: Request, cid: str) -> DatasetDocument:
    """The dataset's metadata document: as the resolver stored it, or (not resolved yet)
    read from storage ourselves, in a thread (a Kubo read blocks)."""
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT document FROM dataset_metadata WHERE cid = %s", [cid])
        ).fetchone()
    if row is None:
        return await asyncio.to_thread(_read_document, request.app.state.store, cid)
    try:
        return DatasetDocument.model_validate(row[0])
    except ValidationError:
        raise _unavailable("document", cid, ValueError("not a dataset document")) from None


def _open_content(store: BlobStore, cid: str) -> Iterator[bytes]:
    """The content's blocks; a missing root or a bad CID is found here, before the
    response starts (later a failure can only cut the stream short)."""
    try:
        return store.get(cid)
    except (PermanentError, RetryableError) as exc:
        raise _unavailable("content", cid, exc) from None


@router.get("/datasets/{dataset_id}/download", responses=ERRORS, response_class=StreamingResponse)
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
    if parse_address(dataset["provider"]) != me and not await has_access(
        pool, settings, chain_id=dataset["chain_id"], dataset_id=int(dataset_id), account=me
    ):
        raise HTTPException(403, "no final purchase or active subscription for this account")
    doc = await dataset_document(pool, request, dataset["metadata_cid"])
    store, keyring = request.app.state.store, request.app.state.keyring
    # every block is re-verified against its CID as it streams
    chunks = await asyncio.to_thread(_open_content, store, doc.content_cid)

    def stream() -> Iterator[bytes]:
        yield from decrypt(chunks, keyring) if doc.encrypted else chunks

    headers = {"Content-Disposition": content_disposition(doc.filename)}
    return StreamingResponse(stream(), media_type=MEDIA[doc.format], headers=headers)
