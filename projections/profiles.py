"""Profiles: each account's current profile document CID per chain.

``Profiles.setProfile`` and ``clearProfile`` both emit ``ProfileUpdated`` carrying the whole
new value, so a row is the account's newest event; an empty CID is a cleared profile and
leaves no row. The document itself is fetched by the resolver into ``profile_documents``
(projections/metadata.py), like a listing's metadata document.
"""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import BigInteger, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import AddressBytes
from contracts.events import ProfileUpdated
from indexer.events import Fact
from projections.base import Key, Projection, ReadModelBase, Refold, Row, addr, event_names


class ProfileRow(ReadModelBase):
    """One account's current profile."""

    __tablename__ = "profiles"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account: Mapped[AddressBytes] = mapped_column(primary_key=True)
    profile_cid: Mapped[str] = mapped_column(Text, comment="the profile document's CID")
    block_number: Mapped[int] = mapped_column(BigInteger, comment="when it was set")


class Profiles(Projection):
    """``ProfileUpdated`` folded per account: the newest value wins."""

    name = "profiles"
    table: ClassVar[Table] = ProfileRow.__table__  # type: ignore[assignment]
    events = event_names(ProfileUpdated)
    cost = 0.3  # few rows (one per account), no secondary index

    def keys(self, fact: Fact) -> list[Key]:
        match fact.event:
            case ProfileUpdated(account=account):
                return [(fact.chain_id, addr(account))]
        return []

    def refold(self, key: Key, fact: Fact) -> Refold:
        return Refold(key[0], self.events, {"account": "0x" + key[1].hex()})

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        match fact.event:
            case ProfileUpdated(cid=""):
                return None  # cleared
            case ProfileUpdated(cid=cid):
                return {
                    "chain_id": fact.chain_id,
                    "account": key[1],
                    "profile_cid": cid,
                    "block_number": fact.block_number,
                }
        return row
