"""An account's profile as the API shows it: the ``profiles`` read model (the CID the
account set on chain) joined to the resolver's ``profile_documents`` cache (its document).

Read by GET /accounts/{address} and the /profiles routes. A profile whose document is not
resolved yet (or never will be: anyone can set any CID) shows its CID with no fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import bindparam, select

from api.deps import Pool
from api.queries import CompiledQuery, Row, view
from api.render import address as checksum
from projections.metadata import ProfileDocumentRow
from projections.profiles import ProfileRow

_PROFILES = view(ProfileRow.__table__)  # type: ignore[arg-type]
_DOCUMENTS = ProfileDocumentRow.__table__
#: The account's profiles (one per chain that holds one): the most recently set (then the
#: lowest chain id) first, and shown.
_PROFILE_OF = CompiledQuery(
    select(_PROFILES, _DOCUMENTS.c.document)
    .select_from(_PROFILES.outerjoin(_DOCUMENTS, _DOCUMENTS.c.cid == _PROFILES.c.profile_cid))
    .where(_PROFILES.c.account == bindparam("account"))
    .order_by(_PROFILES.c.block_number.desc(), _PROFILES.c.chain_id)
)


class AccountProfile(BaseModel):
    """An account's public profile."""

    chain_id: int
    profile_cid: str = Field(description="the profile document's CID, as set on chain")
    resolved: bool = Field(description="false until the document is fetched and validated")
    display_name: str | None
    bio: str | None
    links: list[str]
    avatar_cid: str | None
    avatar_url: str | None = Field(description="GET it for the image bytes")
    block_number: int
    finalized: bool


def to_profile(row: Row) -> AccountProfile:
    """A profiles_v row (with its resolved `document`, if any) as the API model."""
    doc: dict[str, Any] = row["document"] or {}
    avatar = doc.get("avatar_cid")
    account = checksum(row["account"])
    return AccountProfile(
        chain_id=row["chain_id"],
        profile_cid=row["profile_cid"],
        resolved=row["document"] is not None,
        display_name=doc.get("display_name"),
        bio=doc.get("bio"),
        links=doc.get("links", []),
        avatar_cid=avatar,
        avatar_url=f"/profiles/{account}/avatar" if avatar else None,
        block_number=row["block_number"],
        finalized=row["finalized"],
    )


async def profile_of(pool: Pool, schema: str, account: bytes) -> AccountProfile | None:
    """`account`'s profile (20 raw bytes), or None when it has none."""
    rows = await _PROFILE_OF.all(pool, schema, {"account": account})
    return to_profile(rows[0]) if rows else None
