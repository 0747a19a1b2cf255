"""POST /uploads: a signed-in provider stores a dataset and gets the listing calldata.

The session is checked before a byte of the body is read; the body is then streamed with a
hard bound, and every field is validated (as the contract will validate the calldata) and
the table profiled before anything is stored. The stored blocks are pinned only once both
the content and its metadata document are in, so a failure leaves nothing pinned behind
(unpinned blocks are garbage), and a rejection stores nothing at all.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError

from api.bindings import binding, deployments
from api.column_stats import fit
from api.deps import SettingsDep, SignedIn
from api.problems import Problem, problem_responses
from api.profile import Limits, UploadRejectedError, format_of, profile_table
from api.schemas import ERRORS
from api.upload_form import (
    UploadForm,
    check_listing_args,
    read_upload_form,
    request_body_schema,
    safe_filename,
)
from common.documents import ColumnProfile, DatasetDocument
from common.settings import Settings
from storage.base import BlobStore
from storage.envelope import encrypt
from storage.keyring import KeyRing

router = APIRouter(tags=["uploads"])
CHUNK = 1 << 20
# Parquet may decode to this many times the upload limit (a zstd column of zeros decodes
# to thousands of times its size): counted while reading, refused with 413 beyond it.
DECODED_PER_UPLOADED_BYTE = 4
PLACEHOLDER_SHA256 = "0" * 64
# The column profiles' share of the metadata document, which the resolver caps at 1 MiB.
COLUMNS_BUDGET = 512 * 1024
UPLOAD_ERRORS = ERRORS | problem_responses({413: "too large", 415: "unsupported file type"})
#: The problem code of each status an UploadRejectedError carries.
UPLOAD_CODES = {413: "upload.too_large", 415: "upload.unsupported_type"}


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


def _document(fields: dict[str, Any], **computed: Any) -> DatasetDocument:
    """The metadata document, validated before anything is stored (its content CID and
    hash are filled in once the content is in)."""
    try:
        return DatasetDocument(
            **fields, **computed, content_cid="", content_sha256=PLACEHOLDER_SHA256
        )
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise UploadRejectedError(400, reasons) from None


def store_upload(
    *,
    settings: Settings,
    blobs: BlobStore,
    keyring: KeyRing,
    source: BinaryIO,
    filename: str,
    fields: dict[str, Any],
    encrypted: bool,
    preview_rows: int = 0,
) -> tuple[DatasetDocument, str]:
    """Validate, profile, (encrypt,) store and pin; returns the document and its CID.
    The first `preview_rows` rows are stored beside it, unencrypted, as a PreviewDocument.

    Raises UploadRejectedError, with nothing stored, for anything it cannot accept."""
    name = safe_filename(filename)
    format_of(name)  # 415 before reading a byte
    limits = Limits(
        max_rows=settings.upload_max_rows,
        max_columns=settings.upload_max_columns,
        max_decoded_bytes=DECODED_PER_UPLOADED_BYTE * settings.upload_max_bytes,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.data_dir, prefix="upload-") as tmp:
        path = Path(tmp) / "data"
        size, sha = _spool(source, path, settings.upload_max_bytes)
        profile = profile_table(path, name, limits, preview_rows)
        doc = _document(
            fields,
            format=profile.format,
            rows=profile.rows,
            size=size,
            sha256=sha,
            columns=fit(profile.columns, COLUMNS_BUDGET),
            filename=name,
            encrypted=encrypted,
            images=profile.images,
        )
        chunks = _chunks(path)
        content = blobs.put(encrypt(chunks, keyring) if encrypted else chunks)
    preview = blobs.put([_json(profile.preview)]) if profile.preview else None
    doc = doc.model_copy(
        update={
            "content_cid": content.cid,
            "content_sha256": content.sha256,
            "preview_cid": preview.cid if preview else None,
        }
    )
    meta = blobs.put([_json(doc)])
    check_listing_args(meta.cid, bytes.fromhex(doc.content_sha256))
    for stored in (content, preview, meta):
        if stored:
            blobs.pin(stored.cid)
    return doc, meta.cid


def _json(document: BaseModel) -> bytes:
    return orjson.dumps(document.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)


def _fields(form: UploadForm) -> dict[str, Any]:
    labels = [t.strip() for t in form.tags.split(",") if t.strip()][:20]
    return {
        "title": form.title,
        "description": form.description,
        "license": form.license,
        "category": form.category,
        "tags": labels,
    }


@router.post(
    "/uploads",
    name="create",
    response_model=UploadResult,
    status_code=201,
    responses=UPLOAD_ERRORS,
    openapi_extra={"requestBody": request_body_schema()},
)
async def upload(
    request: Request,
    provider: SignedIn,
    settings: SettingsDep,
    chain_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> UploadResult:
    """Store a dataset (encrypted when paid) and its metadata; returns the CIDs and the
    `listDataset` calldata for the provider's wallet, for chain `chain_id`'s Marketplace
    (the home chain's when unset).

    Signed-in first: without a session the body is never read; nor with an unknown chain."""
    market = binding(deployments(request), "Marketplace", chain_id)
    try:
        form, file = await read_upload_form(request, settings.upload_max_bytes)
        try:
            secret = int(form.price) > 0 if form.encrypted is None else form.encrypted
            doc, metadata_cid = await run_in_threadpool(
                store_upload,
                settings=settings,
                blobs=request.app.state.blobs,
                keyring=request.app.state.keyring,
                source=file.file,
                filename=file.filename or "",
                fields=_fields(form),
                encrypted=secret,
                preview_rows=form.preview_rows,
            )
        finally:
            await file.close()
    except UploadRejectedError as exc:
        code = exc.code or UPLOAD_CODES.get(exc.status, "upload.invalid")
        raise Problem(exc.status, code, exc.reason) from None
    content_hash = "0x" + doc.content_sha256
    args = {
        "metadataCid": metadata_cid,
        "contentHash": content_hash,
        "category": form.category,
        "price": form.price,
        "accessDuration": form.access_duration,
    }
    call = [
        metadata_cid,
        bytes.fromhex(doc.content_sha256),
        form.category,
        int(form.price),
        form.access_duration,
    ]
    data = market.encode_abi("listDataset", args=call)
    return UploadResult(
        metadata_cid=metadata_cid,
        content_cid=doc.content_cid,
        content_hash=content_hash,
        encrypted=doc.encrypted,
        rows=doc.rows,
        columns=doc.columns,
        listing=ListingCall(to=market.address, data=data, function="listDataset", args=args),
    )
