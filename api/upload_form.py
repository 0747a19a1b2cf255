"""The POST /uploads form: read only after sign-in, bounded while streamed, and every field
checked exactly as `Marketplace.listDataset` checks it, before anything is stored.

FastAPI reads a declared form body before it runs any dependency, so the route declares
no form parameters (the OpenAPI request body is described by hand) and parses the stream
itself, once the session is known.
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from api.preview import MAX_PREVIEW_ROWS
from api.profile import UploadRejectedError

# Mirrors of contracts/src/Marketplace.sol (a test compares them with the deployed contract):
# lengths are counted in bytes of UTF-8, as Solidity's bytes(s).length counts them.
MAX_CATEGORY_BYTES = 32
MAX_CID_BYTES = 128
UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1
MAX_FILENAME_BYTES = 255  # what most file systems allow for one name
FORM_OVERHEAD = 64 * 1024  # boundaries, part headers and the text fields around the file
MAX_FIELD_BYTES = 32 * 1024  # one text field (a 5000-character description fits)
MAX_FIELDS = 16


def _category(value: str) -> str:
    size = len(value.encode())
    if not 1 <= size <= MAX_CATEGORY_BYTES:
        raise ValueError(
            f"must be 1 to {MAX_CATEGORY_BYTES} bytes of UTF-8 (the contract's "
            f"MAX_CATEGORY_LENGTH); got {size}"
        )
    return value


def _uint256(value: str) -> str:
    if int(value) > UINT256_MAX:
        raise ValueError("must fit a uint256 (at most 2^256-1)")
    return value


class UploadForm(BaseModel):
    """The text fields of an upload; `file` travels beside them."""

    title: str = Field(min_length=1, max_length=200)
    category: Annotated[str, AfterValidator(_category)] = Field(
        description=f"1 to {MAX_CATEGORY_BYTES} bytes of UTF-8 (the contract counts bytes)"
    )
    price: Annotated[str, AfterValidator(_uint256)] = Field(
        pattern=r"^[0-9]{1,78}$", description="DATACOIN wei, at most 2^256-1"
    )
    description: str = Field("", max_length=5000)
    tags: str = Field("", max_length=500, description="comma-separated")
    license: str | None = Field(None, max_length=100)
    access_duration: int = Field(0, ge=0, le=UINT64_MAX, description="seconds; 0 = perpetual")
    encrypted: bool | None = Field(None, description="default: encrypt when price > 0")
    preview_rows: int = Field(
        0,
        ge=0,
        le=MAX_PREVIEW_ROWS,
        description="the file's first rows (an image archive: thumbnails) to publish "
        "unencrypted, for buyers to judge it by",
    )


def request_body_schema() -> dict[str, Any]:
    """The OpenAPI requestBody of POST /uploads (FastAPI cannot infer it: see the module)."""
    schema = UploadForm.model_json_schema()
    schema["properties"]["file"] = {
        "type": "string",
        "format": "binary",
        "description": "CSV, JSON, JSON Lines or Parquet; or an image classification "
        "archive (ZIP or tar of class folders, or of images and a labels.csv)",
    }
    schema["required"] = [*schema.get("required", []), "file"]
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


def safe_filename(sent: str) -> str:
    """The base name only: no directories (either separator), no control or format
    characters; 400 when longer than MAX_FILENAME_BYTES of UTF-8."""
    base = sent.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in base if unicodedata.category(c) not in {"Cc", "Cf"}).strip()
    if len(name.encode()) > MAX_FILENAME_BYTES:
        raise UploadRejectedError(
            400,
            f"filename too long: {len(name.encode())} bytes of UTF-8, "
            f"the limit is {MAX_FILENAME_BYTES}",
        )
    return name


def check_listing_args(metadata_cid: str, content_hash: bytes) -> None:
    """The calldata fields the platform computes (not the sender): bounded as the contract
    bounds them, so the calldata handed out cannot revert with InvalidCid."""
    if not 1 <= len(metadata_cid.encode()) <= MAX_CID_BYTES or len(content_hash) != 32:
        raise RuntimeError(f"listing arguments out of the contract's bounds: {metadata_cid!r}")


async def _bounded(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    """The request body, refused with 413 as soon as it passes `limit` bytes (chunked
    bodies declare no length: only counting stops them)."""
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > limit:
            raise UploadRejectedError(
                413,
                f"the request body exceeds {limit} bytes "
                "(the upload limit plus the form around the file)",
            )
        yield chunk


def _one(form: FormData, name: str) -> str | None:
    values = form.getlist(name)
    if len(values) > 1:
        raise UploadRejectedError(400, f"{name}: sent {len(values)} times")
    value = values[0] if values else None
    if value is not None and not isinstance(value, str):
        raise UploadRejectedError(400, f"{name}: must be a text field, not a file")
    return value


def _validate(form: FormData) -> UploadForm:
    names = UploadForm.model_fields
    sent = {name: value for name in names if (value := _one(form, name)) is not None}
    try:
        return UploadForm.model_validate(sent)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}" for e in exc.errors()
        )
        raise UploadRejectedError(400, reasons) from None


async def read_upload_form(request: Request, max_file_bytes: int) -> tuple[UploadForm, UploadFile]:
    """Parse the multipart body (at most one file, a few small fields, `max_file_bytes`
    plus FORM_OVERHEAD in all) and validate its fields; UploadRejectedError otherwise."""
    declared = request.headers.get("content-length", "")
    limit = max_file_bytes + FORM_OVERHEAD
    if declared.isdigit() and int(declared) > limit:
        raise UploadRejectedError(413, f"the upload exceeds {max_file_bytes} bytes")
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise UploadRejectedError(400, "send multipart/form-data (a file and the form fields)")
    parser = MultiPartParser(
        request.headers,
        _bounded(request.stream(), limit),
        max_files=1,
        max_fields=MAX_FIELDS,
        max_part_size=MAX_FIELD_BYTES,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise UploadRejectedError(400, f"malformed multipart body: {exc.message}") from None
    file = form.get("file")
    if not isinstance(file, UploadFile):
        await form.close()
        raise UploadRejectedError(400, "file: a file part named 'file' is required")
    try:
        return _validate(form), file
    except UploadRejectedError:
        await form.close()
        raise
