"""The documents a listing points to (metadata, preview), read by API routes: the metadata
document as the resolver cached it, or from storage while it is not resolved yet."""

from __future__ import annotations

import asyncio
from typing import TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import bindparam, select

from api.deps import Pool
from api.problems import Problem
from api.queries import CompiledQuery
from common.documents import ColumnProfile, DatasetDocument
from common.errors import PermanentError, RetryableError
from projections.metadata import DatasetMetadata
from storage.base import BlobStore

Document = TypeVar("Document", bound=BaseModel)
MAX_DOCUMENT = 4 << 20  # a metadata or preview document is small; anything bigger is garbage


def unavailable(what: str, cid: str, exc: Exception) -> Problem:
    """404 for a document that is not there or not what it claims (retrying will not help:
    the CID on chain is the provider's choice); 503 when the store itself does not answer."""
    if isinstance(exc, RetryableError):
        return Problem(
            503,
            "storage.unavailable",
            f"service unavailable: the blob store did not answer for {cid}",
        )
    return Problem(404, f"{what}.unavailable", f"no usable {what} at {cid!r}: {exc}")


def read_stored(blobs: BlobStore, cid: str, model: type[Document], what: str) -> Document:
    """The `model` document at `cid`, read from storage (every block CID-verified)."""
    raw = bytearray()
    try:
        for chunk in blobs.get(cid):
            raw += chunk
            if len(raw) > MAX_DOCUMENT:
                raise unavailable(what, cid, ValueError(f"larger than {MAX_DOCUMENT} bytes"))
        return model.model_validate_json(bytes(raw))
    except ValidationError:
        raise unavailable(what, cid, ValueError(f"not a {what} document")) from None
    except (PermanentError, RetryableError) as exc:
        raise unavailable(what, cid, exc) from None


_METADATA = DatasetMetadata.__table__
_DOCUMENT = CompiledQuery(select(_METADATA.c.document).where(_METADATA.c.cid == bindparam("cid")))


async def cached_document(pool: Pool, schema: str, cid: str) -> DatasetDocument | None:
    """The metadata document as the resolver stored it; None until it is resolved."""
    rows = await _DOCUMENT.all(pool, schema, {"cid": cid})
    if not rows:
        return None
    try:
        return DatasetDocument.model_validate(rows[0]["document"])
    except ValidationError:
        raise unavailable("document", cid, ValueError("not a dataset document")) from None


async def metadata_document(pool: Pool, schema: str, blobs: BlobStore, cid: str) -> DatasetDocument:
    """The dataset's metadata document: as the resolver stored it, or (not resolved yet)
    read from storage ourselves, in a thread (a Kubo read blocks)."""
    cached = await cached_document(pool, schema, cid)
    if cached is not None:
        return cached
    return await asyncio.to_thread(read_stored, blobs, cid, DatasetDocument, "document")


COLUMNS = TypeAdapter(list[ColumnProfile])


async def column_schema(pool: Pool, schema: str, cid: str) -> list[ColumnProfile] | None:
    """The column schema of the cached metadata document; None until it is resolved (or
    when the cached document has none)."""
    rows = await _DOCUMENT.all(pool, schema, {"cid": cid})
    columns = rows[0]["document"].get("columns") if rows else None
    try:
        return COLUMNS.validate_python(columns) if columns is not None else None
    except ValidationError:
        return None
