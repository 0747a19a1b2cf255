"""Purchases (one row per Purchased event) and access grants (one per dataset and buyer)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import BigInteger, Index, Integer, Table, text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import AddressBytes, Bytes32, Uint256
from contracts.events import Purchased
from indexer.events import Fact
from projections.base import (
    Key,
    LogProjection,
    Projection,
    ReadModelBase,
    Refold,
    Row,
    addr,
    changed,
    event_names,
)
from projections.clock import block_time


class PurchaseRow(ReadModelBase):
    """One purchase, as paid on chain."""

    __tablename__ = "purchases"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_hash: Mapped[Bytes32] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[Uint256]
    buyer: Mapped[AddressBytes]
    provider: Mapped[AddressBytes]
    price: Mapped[Uint256]
    fee: Mapped[Uint256]
    expires_at: Mapped[datetime | None]
    tx_hash: Mapped[Bytes32]
    purchased_at: Mapped[datetime]
    block_number: Mapped[int] = mapped_column(BigInteger)

    # GET /accounts/{address}/purchases: a buyer's newest purchases first.
    __table_args__ = (
        Index(
            "ix_purchases_buyer",
            text("buyer, block_number DESC, chain_id DESC, log_index DESC"),
        ),
    )


class AccessGrantRow(ReadModelBase):
    """A buyer's current access to a dataset (expires_at NULL = perpetual)."""

    __tablename__ = "access_grants"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dataset_id: Mapped[Uint256] = mapped_column(primary_key=True)
    buyer: Mapped[AddressBytes] = mapped_column(primary_key=True)
    expires_at: Mapped[datetime | None]
    purchases: Mapped[int] = mapped_column(Integer)
    first_purchased_at: Mapped[datetime]
    block_number: Mapped[int] = mapped_column(BigInteger, comment="last purchase")


def _expiry(seconds: int) -> datetime | None:
    """A purchase's expiry (0 on chain: perpetual)."""
    return None if seconds == 0 else block_time(seconds)


class Purchases(LogProjection):
    """Every Purchased event as a row."""

    name = "purchases"
    table: ClassVar[Table] = PurchaseRow.__table__  # type: ignore[assignment]
    events = event_names(Purchased)
    cost = 1.3  # a row per event

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        purchase = fact.event
        if not isinstance(purchase, Purchased):
            return row
        return {
            "chain_id": fact.chain_id,
            "block_hash": fact.block_hash,
            "log_index": fact.log_index,
            "dataset_id": purchase.dataset_id,
            "buyer": addr(purchase.buyer),
            "provider": addr(purchase.provider),
            "price": purchase.price,
            "fee": purchase.fee,
            "expires_at": _expiry(purchase.expires_at),
            "tx_hash": fact.tx_hash,
            "purchased_at": block_time(fact.block_timestamp),
            "block_number": fact.block_number,
        }


class AccessGrants(Projection):
    """Purchases folded per (dataset, buyer): the latest expiry wins."""

    name = "access_grants"
    table: ClassVar[Table] = AccessGrantRow.__table__  # type: ignore[assignment]
    events = event_names(Purchased)

    def keys(self, fact: Fact) -> list[Key]:
        purchase = fact.event
        if not isinstance(purchase, Purchased):
            return []
        return [(fact.chain_id, purchase.dataset_id, addr(purchase.buyer))]

    def refold(self, key: Key, fact: Fact) -> Refold:
        return Refold(key[0], self.events, {"datasetId": str(key[1]), "buyer": "0x" + key[2].hex()})

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        purchase = fact.event
        if not isinstance(purchase, Purchased):
            return row
        expires = _expiry(purchase.expires_at)
        if row is None:
            return {
                "chain_id": fact.chain_id,
                "dataset_id": purchase.dataset_id,
                "buyer": addr(purchase.buyer),
                "expires_at": expires,
                "purchases": 1,
                "first_purchased_at": block_time(fact.block_timestamp),
                "block_number": fact.block_number,
            }
        # The contract extends subscriptions itself: the event's expiry is the new one.
        return changed(row, fact, expires_at=expires, purchases=row["purchases"] + 1)
