"""The body of POST /profiles: a form (text fields, `links` repeated; multipart with an
`avatar` file, or urlencoded without one) or JSON (the avatar base64 in `avatar_base64`).
Read only after sign-in, bounded while it streams, and validated as a
:class:`~common.documents.ProfileDocument` before anything is stored (the route declares no
body parameters, so FastAPI reads nothing before its dependencies run; see
api/upload_form.py)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import Request

from api.avatars import MAX_AVATAR_BYTES
from api.problems import Problem
from common.documents import ProfileDocument

#: The whole body: an avatar (base64 in JSON: 4/3 of it) and the small fields around it.
MAX_BODY = 2 * MAX_AVATAR_BYTES
TEXT_FIELDS = ("display_name", "bio")
JSON, MULTIPART, URLENCODED = (
    "application/json",
    "multipart/form-data",
    "application/x-www-form-urlencoded",
)


@dataclass(frozen=True)
class ProfileSubmission:
    """A validated document (no avatar CID yet) and the avatar's bytes, unchecked."""

    document: ProfileDocument
    avatar: bytes | None


async def read_profile(request: Request) -> ProfileSubmission:
    """The submission in `request`'s body; Problem (4xx) for anything else."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in (JSON, MULTIPART, URLENCODED):
        raise Problem(415, "profile.media_type", f"send {JSON}, {MULTIPART} or {URLENCODED}")
    body = await _body(request)
    if kind == JSON:
        return _from_json(body)
    return await _from_form(request, body, multipart=kind == MULTIPART)


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise Problem(413, "profile.too_large", f"the request body exceeds {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():  # chunked bodies declare no length: count
        body += chunk
        if len(body) > MAX_BODY:
            raise Problem(413, "profile.too_large", f"the request body exceeds {MAX_BODY} bytes")
    return bytes(body)


def _from_json(body: bytes) -> ProfileSubmission:
    try:
        fields = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Problem(400, "profile.malformed", "the body is not JSON") from None
    if not isinstance(fields, dict):
        raise Problem(400, "profile.malformed", "the body must be a JSON object")
    encoded = fields.pop("avatar_base64", None)
    document = _document(fields)
    if encoded is None:
        return ProfileSubmission(document=document, avatar=None)
    if not isinstance(encoded, str):
        raise Problem(400, "profile.invalid", "avatar_base64: must be a base64 string")
    try:
        avatar = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise Problem(400, "profile.invalid", "avatar_base64: not valid base64") from None
    return ProfileSubmission(document=document, avatar=avatar)


async def _from_form(request: Request, body: bytes, *, multipart: bool) -> ProfileSubmission:
    parser = (
        MultiPartParser(request.headers, _once(body), max_files=1, max_fields=16)
        if multipart
        else FormParser(request.headers, _once(body))
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise Problem(
            400, "profile.malformed", f"malformed multipart body: {exc.message}"
        ) from None
    try:
        document = _document(_text_fields(form))
        return ProfileSubmission(document=document, avatar=await _avatar_part(form))
    finally:
        await form.close()


def _text_fields(form: FormData) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        values = form.getlist(name)
        if len(values) > 1 or not all(isinstance(v, str) for v in values):
            raise Problem(400, "profile.invalid", f"{name}: send it once, as a text field")
        if values:
            fields[name] = values[0]
    links = form.getlist("links")
    if not all(isinstance(v, str) for v in links):
        raise Problem(400, "profile.invalid", "links: text fields (one per link), not files")
    fields["links"] = links
    return fields


async def _avatar_part(form: FormData) -> bytes | None:
    part = form.get("avatar")
    if part is None:
        return None
    if not isinstance(part, UploadFile):
        raise Problem(400, "profile.invalid", "avatar: must be a file part")
    return await part.read()


async def _once(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


def _document(fields: dict[str, Any]) -> ProfileDocument:
    """The document, validated; 400 naming every bad field."""
    fields.pop("avatar_cid", None)  # the platform sets it, from the avatar it stores
    try:
        return ProfileDocument.model_validate(fields)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        where = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors)
        raise Problem(400, "profile.invalid", where, errors=errors) from None
