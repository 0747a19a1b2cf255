"""POST /profiles (a signed-in account stores its profile document and avatar, and gets the
`setProfile` calldata), GET /profiles/{address} and GET /profiles/{address}/avatar.

Nothing is stored until the document and the avatar both pass every check; the avatar is
stored as sent (never re-encoded) and served only if it still passes them, with the type
its bytes show (a profile on chain may point at anything).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import orjson
import structlog
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.account_profiles import AccountProfile, profile_of
from api.avatars import MAX_AVATAR_BYTES, AvatarRejectedError, ImageType, check_avatar
from api.bindings import binding, deployments
from api.deps import ADDRESS, Pool, SettingsDep, SignedIn, parse_address
from api.problems import Problem
from api.profile_form import ProfileSubmission, read_profile
from api.routers.uploads import ListingCall
from api.schemas import ERRORS
from api.stored_documents import unavailable
from common.documents import ProfileDocument
from common.errors import PermanentError, RetryableError
from storage.base import BlobStore

router = APIRouter(tags=["profiles"])
log = structlog.get_logger(__name__)
AddressPath = Annotated[str, Path(pattern=ADDRESS.pattern, description="0x address")]
PROFILE_ERRORS = {
    **ERRORS,
    413: ERRORS[400] | {"description": "too large"},
    415: ERRORS[400] | {"description": "unsupported media type (body or avatar)"},
}


class ProfileResult(BaseModel):
    """Where the profile was stored, and the transaction that makes it the account's."""

    profile_cid: str
    avatar_cid: str | None
    document: ProfileDocument
    call: ListingCall


@dataclass(frozen=True)
class StoredProfile:
    """The stored, pinned document (its avatar CID filled in) and its CID."""

    cid: str
    document: ProfileDocument


def store_profile(blobs: BlobStore, submission: ProfileSubmission) -> StoredProfile:
    """Store the (already checked) avatar, then the document naming it; pin both."""
    document = submission.document
    if submission.avatar is not None:
        avatar = blobs.put([submission.avatar])
        document = document.model_copy(update={"avatar_cid": avatar.cid})
    body = orjson.dumps(document.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    stored = blobs.put([body])
    for cid in (document.avatar_cid, stored.cid):
        if cid is not None:
            blobs.pin(cid)
    return StoredProfile(cid=stored.cid, document=document)


def _request_body() -> dict[str, object]:
    """The OpenAPI requestBody (the route reads its body itself, after sign-in)."""
    schema = ProfileDocument.model_json_schema()
    sent = {k: v for k, v in schema["properties"].items() if k != "avatar_cid"}
    avatar = {"type": "string", "description": "PNG, JPEG or WebP; at most 1 MiB"}
    form = {**schema, "properties": {**sent, "avatar": {**avatar, "format": "binary"}}}
    data = {**schema, "properties": {**sent, "avatar_base64": {**avatar, "format": "byte"}}}
    return {
        "required": True,
        "content": {"application/json": {"schema": data}, "multipart/form-data": {"schema": form}},
    }


@router.post(
    "/profiles",
    response_model=ProfileResult,
    status_code=201,
    responses=PROFILE_ERRORS,
    openapi_extra={"requestBody": _request_body()},
)
async def post_profile(
    request: Request,
    account: SignedIn,
    chain_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> ProfileResult:
    """Store your profile document (display name, bio, up to 5 https links) and avatar (PNG,
    JPEG or WebP, at most 1 MiB and 1024x1024 pixels); returns its CID and the `setProfile`
    calldata for your wallet (for chain `chain_id`'s Profiles; the home chain's when unset).
    Signed-in first: without a session the body is never read."""
    contract = binding(deployments(request), "Profiles", chain_id)  # unknown chain: no read
    submission = await read_profile(request)
    if submission.avatar is not None:
        try:
            check_avatar(submission.avatar)
        except AvatarRejectedError as exc:
            raise Problem(exc.status, exc.code, exc.reason) from None
    stored = await run_in_threadpool(store_profile, request.app.state.blobs, submission)
    log.info("api.profile.stored", account=account, cid=stored.cid)
    return ProfileResult(
        profile_cid=stored.cid,
        avatar_cid=stored.document.avatar_cid,
        document=stored.document,
        call=ListingCall(
            to=contract.address,
            data=contract.encode_abi("setProfile", args=[stored.cid]),
            function="setProfile",
            args={"cid": stored.cid},
        ),
    )


@router.get("/profiles/{address}", response_model=AccountProfile, responses=ERRORS)
async def get_profile(pool: Pool, settings: SettingsDep, address: AddressPath) -> AccountProfile:
    """The account's profile (its fields are null until the document is resolved)."""
    found = await profile_of(pool, settings.read_schema, parse_address(address))
    if found is None:
        raise Problem(404, "profile.not_found", f"{address} has no profile")
    return found


@router.get(
    "/profiles/{address}/avatar",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}},
)
async def get_avatar(
    request: Request, pool: Pool, settings: SettingsDep, address: AddressPath
) -> Response:
    """The avatar's bytes, with the type they show (PNG, JPEG or WebP)."""
    found = await profile_of(pool, settings.read_schema, parse_address(address))
    if found is None or found.avatar_cid is None:
        raise Problem(404, "profile.avatar.not_found", f"{address} has no avatar")
    data = await run_in_threadpool(_read_avatar, request.app.state.blobs, found.avatar_cid)
    kind = _servable(data, found.avatar_cid)
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'"}
    return Response(data, media_type=kind.media_type, headers=headers)


def _read_avatar(blobs: BlobStore, cid: str) -> bytes:
    data = bytearray()
    try:
        for chunk in blobs.get(cid):
            data += chunk
            if len(data) > MAX_AVATAR_BYTES:
                break  # refused by _servable
    except (PermanentError, RetryableError) as exc:
        raise unavailable("avatar", cid, exc) from None
    return bytes(data)


def _servable(data: bytes, cid: str) -> ImageType:
    """The avatar's type if it passes the checks an upload passes; 404 otherwise."""
    try:
        return check_avatar(data)
    except AvatarRejectedError as exc:
        raise Problem(
            404, "avatar.unavailable", f"no usable avatar at {cid!r}: {exc.reason}"
        ) from None
