"""POST /uploads: a signed-in provider stores a dataset and gets the listing calldata.

Validation and profiling happen before anything is stored; the stored blocks are pinned
only once both the content and its metadata document are in, so a failure leaves nothing
pinned behind (unpinned blocks are garbage).
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import orjson
from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.deps import SettingsDep, SignedIn
from api.profile import UploadRejectedError, format_of, profile_table
from api.schemas import ERRORS
from common.documents import ColumnProfile, DatasetDocument
from common.settings import Settings
from storage.base import BlobStore
from storage.envelope import encrypt
from storage.keyring import KeyRing

router = APIRouter(tags=["uploads"])
CHUNK = 1 << 20
UPLOAD_ERRORS = {**ERRORS, 413: ERRORS[400] | {"description": "too large"},
                 415: ERRORS[400] | {"description": "unsupported file type"}}  # fmt: skip


class ListingCall(BaseModel):
    """The transaction the wallet sends to list the dataset."""

    to: str | None
    data: str
    function: str
    args: dict[str, Any]


class UploadResult(BaseModel):
    """Where the dataset and its metadata document were stored."""

    metadata_cid: str
    content_cid: str
    content_hash: str
    encrypted: bool
    rows: int
    columns: list[ColumnProfile]
    listing: ListingCall


def _spool(source: BinaryIO, target: Path, limit: int) -> tuple[int, str]:
    """Copy the upload to disk, hashing it and enforcing the size limit."""
    digest, size = hashlib.sha256(), 0
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise UploadRejectedError(413, f"the upload exceeds {limit} bytes")
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        raise UploadRejectedError(400, "the file is empty")
    return size, digest.hexdigest()


def _chunks(path: Path) -> Any:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def store_upload(
    settings: Settings, store: BlobStore, keyring: KeyRing, source: BinaryIO, filename: str,
    fields: dict[str, Any], encrypted: bool,
) -> tuple[DatasetDocument, str]:  # fmt: skip
    """Validate, profile, (encrypt,) store and pin; returns the document and its CID."""
    format_of(filename)  # 415 before reading a byte
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.data_dir, prefix="upload-") as tmp:
        path = Path(tmp) / "data"
        size, sha = _spool(source, path, settings.upload_max_bytes)
        profile = profile_table(
            path, filename, settings.upload_max_rows, settings.upload_max_columns
        )
        chunks = _chunks(path)
        content = store.put(encrypt(chunks, keyring) if encrypted else chunks)
    doc = DatasetDocument(
        **fields, format=profile.format, rows=profile.rows, columns=profile.columns, size=size,
        sha256=sha, filename=Path(filename).name, content_cid=content.cid,
        content_sha256=content.sha256, encrypted=encrypted,
    )  # fmt: skip
    meta = store.put([orjson.dumps(doc.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)])
    store.pin(content.cid)
    store.pin(meta.cid)
    return doc, meta.cid


@router.post("/uploads", response_model=UploadResult, status_code=201, responses=UPLOAD_ERRORS)
async def upload(
    request: Request,
    provider: SignedIn,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV, JSON, JSON Lines or Parquet")],
    title: Annotated[str, Form(min_length=1, max_length=200)],
    category: Annotated[str, Form(min_length=1, max_length=32)],
    price: Annotated[str, Form(pattern=r"^[0-9]{1,78}$", description="DATACOIN wei")],
    description: Annotated[str, Form(max_length=5000)] = "",
    tags: Annotated[str, Form(max_length=500, description="comma-separated")] = "",
    license: Annotated[str | None, Form(max_length=100)] = None,
    access_duration: Annotated[
        int, Form(ge=0, le=2**64 - 1, description="seconds; 0 = perpetual")
    ] = 0,
    encrypted: Annotated[bool | None, Form(description="default: encrypt when price > 0")] = None,
) -> UploadResult:
    """Store a dataset (encrypted when paid) and its metadata; returns the CIDs and the
    `listDataset` calldata for the provider's wallet."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.upload_max_bytes + 65536:
        raise HTTPException(413, f"the upload exceeds {settings.upload_max_bytes} bytes")
    labels = [t.strip() for t in tags.split(",") if t.strip()][:20]
    fields = {"title": title, "description": description, "license": license,
              "category": category, "tags": labels}  # fmt: skip
    secret = int(price) > 0 if encrypted is None else encrypted
    try:
        doc, metadata_cid = await run_in_threadpool(
            store_upload, settings, request.app.state.store, request.app.state.keyring,
            file.file, file.filename or "", fields, secret,
        )  # fmt: skip
    except UploadRejectedError as exc:
        raise HTTPException(exc.status, exc.reason) from None
    content_hash = "0x" + doc.content_sha256
    args = {"metadataCid": metadata_cid, "contentHash": content_hash, "category": category,
            "price": price, "accessDuration": access_duration}  # fmt: skip
    market = request.app.state.marketplace
    call = [metadata_cid, bytes.fromhex(doc.content_sha256), category, int(price), access_duration]
    data = market.encode_abi("listDataset", args=call)
    return UploadResult(
        metadata_cid=metadata_cid, content_cid=doc.content_cid, content_hash=content_hash,
        encrypted=doc.encrypted, rows=doc.rows, columns=doc.columns,
        listing=ListingCall(to=market.address, data=data, function="listDataset", args=args),
    )  # fmt: skip
