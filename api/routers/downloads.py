"""GET /datasets/{dataset_id}/download: decrypted, CID-verified bytes for buyers only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import bindparam, func, literal_column, or_, select

from api.deps import Pool, SettingsDep, SignedIn, parse_address
from api.problems import Problem
from api.queries import CompiledQuery, exactly_one, view
from api.routers.datasets import find_datasets
from api.schemas import ERRORS
from api.stored_documents import metadata_document, unavailable
from common.errors import PermanentError, RetryableError
from indexer.schema import Cursor, IndexedBlock
from projections.purchases import AccessGrantRow
from storage.base import BlobStore
from storage.envelope import decrypt

router = APIRouter(tags=["datasets"])
MEDIA = {
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
    "zip": "application/zip",
    "tar": "application/x-tar",
}


_GRANTS = view(AccessGrantRow.__table__)  # type: ignore[arg-type]
_CURSORS, _BLOCKS = Cursor.__table__, IndexedBlock.__table__
# A grant is live while its expiry is after the indexed head block's timestamp: the chain's
# clock, as `Marketplace.hasAccess` judges (`expiry > block.timestamp`), never PostgreSQL's
# (anvil's time can be moved; a real chain's runs a little behind or ahead of ours). The
# head is the newest block the indexer recorded at or below its cursor (`indexed_blocks`
# keeps the cursor's block: every committed batch records its last header).
_HEAD_TIME = (
    select(func.to_timestamp(_BLOCKS.c.timestamp))
    .where(_BLOCKS.c.chain_id == _CURSORS.c.chain_id, _BLOCKS.c.number <= _CURSORS.c.block_number)
    .order_by(_BLOCKS.c.number.desc())
    .limit(literal_column("1"))
    .scalar_subquery()
)
_ACCESS = CompiledQuery(
    select(literal_column("1"))
    .select_from(_GRANTS.join(_CURSORS, _CURSORS.c.chain_id == _GRANTS.c.chain_id))
    .where(
        _GRANTS.c.chain_id == bindparam("chain_id"),
        _GRANTS.c.dataset_id == bindparam("dataset_id"),
        _GRANTS.c.buyer == bindparam("buyer"),
        _GRANTS.c.finalized,
        or_(_GRANTS.c.expires_at.is_(None), _GRANTS.c.expires_at > _HEAD_TIME),
    )
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
    params = {"chain_id": chain_id, "dataset_id": dataset_id, "buyer": account}
    return bool(await _ACCESS.all(pool, settings.read_schema, params))


def _open_content(blobs: BlobStore, cid: str) -> Iterator[bytes]:
    """The content's blocks; a missing root or a bad CID is found here, before the
    response starts (later a failure can only cut the stream short)."""
    try:
        return blobs.get(cid)
    except (PermanentError, RetryableError) as exc:
        raise unavailable("content", cid, exc) from None


@router.get(
    "/datasets/{dataset_id}/download",
    name="download",
    responses=ERRORS,
    response_class=StreamingResponse,
)
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
    dataset = exactly_one(
        await find_datasets(pool, settings, int(dataset_id), chain_id),
        kind="dataset",
        ident=dataset_id,
    )
    me = parse_address(account)
    if parse_address(dataset["provider"]) != me and not await has_access(
        pool, settings, chain_id=dataset["chain_id"], dataset_id=int(dataset_id), account=me
    ):
        raise Problem(
            403,
            "download.no_access",
            "no final purchase or active subscription for this account",
        )
    blobs, keyring = request.app.state.blobs, request.app.state.keyring
    doc = await metadata_document(pool, settings.read_schema, blobs, dataset["metadata_cid"])
    # every block is re-verified against its CID as it streams
    chunks = await asyncio.to_thread(_open_content, blobs, doc.content_cid)

    def stream() -> Iterator[bytes]:
        yield from decrypt(chunks, keyring) if doc.encrypted else chunks

    headers = {"Content-Disposition": content_disposition(doc.filename)}
    return StreamingResponse(stream(), media_type=MEDIA[doc.format], headers=headers)
