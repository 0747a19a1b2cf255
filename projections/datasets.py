"""Datasets: listing terms, status, purchase count and rating per (chain, dataset)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import BigInteger, Index, Integer, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import AddressBytes, Bytes32, Uint256
from contracts.events import DatasetDelisted, DatasetListed, PriceChanged, Purchased, Rated
from indexer.events import Fact
from projections.base import Key, Projection, ReadModelBase, Refold, Row, addr, changed, event_names
from projections.clock import block_time


class DatasetRow(ReadModelBase):
    """One listed dataset."""

    __tablename__ = "datasets"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dataset_id: Mapped[Uint256] = mapped_column(primary_key=True)
    provider: Mapped[AddressBytes]
    price: Mapped[Uint256]
    access_duration: Mapped[int] = mapped_column(BigInteger, comment="seconds; 0 = perpetual")
    metadata_cid: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[Bytes32]
    category: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, comment="listed | delisted")
    purchases: Mapped[int] = mapped_column(Integer)
    rating_count: Mapped[int] = mapped_column(Integer)
    rating_sum: Mapped[int] = mapped_column(Integer)
    listed_at: Mapped[datetime]
    listed_block: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger, comment="last change")

    # The API's sort orders and filters (keyset pagination walks these indexes).
    __table_args__ = (
        Index("ix_datasets_newest", text("listed_block DESC, chain_id DESC, dataset_id DESC")),
        Index("ix_datasets_price", "price", "chain_id", "dataset_id"),
        Index("ix_datasets_purchases", text("purchases DESC, chain_id DESC, dataset_id DESC")),
        # Rating high to low, then ids ascending, as one ascending key: the negated
        # rating. A page after a cursor is then one row comparison, a range of this index
        # (with `rating DESC, ids ASC` it was an OR the planner walked from the top:
        # ~1 s at the middle of 1M datasets).
        Index(
            "ix_datasets_rating",
            text("(-(rating_sum::float8 / greatest(rating_count, 1))), chain_id, dataset_id"),
        ),
        Index("ix_datasets_category", "category"),
        # GET /datasets?q= for a rare word: from its matching documents to their datasets.
        Index("ix_datasets_metadata_cid", "metadata_cid"),
        # A provider's datasets newest first (the account page, GET /datasets?provider=):
        # a range of this index in order. On `provider` alone the planner walked
        # ix_datasets_newest for a provider with few datasets (292 ms at 1M).
        Index(
            "ix_datasets_provider",
            text("provider, listed_block DESC, chain_id DESC, dataset_id DESC"),
        ),
    )


class Datasets(Projection):
    """Marketplace listing events folded per dataset."""

    name = "datasets"
    table: ClassVar[Table] = DatasetRow.__table__  # type: ignore[assignment]
    events = event_names(DatasetListed, PriceChanged, DatasetDelisted, Purchased, Rated)
    cost = 1.2  # a row copy per event, six indexes to fill

    def keys(self, fact: Fact) -> list[Key]:
        match fact.event:
            case (
                DatasetListed(dataset_id=dataset_id)
                | PriceChanged(dataset_id=dataset_id)
                | DatasetDelisted(dataset_id=dataset_id)
                | Purchased(dataset_id=dataset_id)
                | Rated(dataset_id=dataset_id)
            ):
                return [(fact.chain_id, dataset_id)]
        return []

    def refold(self, key: Key, fact: Fact) -> Refold:
        return Refold(key[0], self.events, {"datasetId": str(key[1])})

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        match fact.event:
            case DatasetListed() as listed:
                return {
                    "chain_id": fact.chain_id,
                    "dataset_id": listed.dataset_id,
                    "provider": addr(listed.provider),
                    "price": listed.price,
                    "access_duration": listed.access_duration,
                    "metadata_cid": listed.metadata_cid,
                    "content_hash": listed.content_hash,
                    "category": listed.category,
                    "status": "listed",
                    "purchases": 0,
                    "rating_count": 0,
                    "rating_sum": 0,
                    "listed_at": block_time(fact.block_timestamp),
                    "listed_block": fact.block_number,
                    "block_number": fact.block_number,
                }
            case _ if row is None:
                return None  # an event for a dataset we never saw listed: nothing to fold
            case PriceChanged(new_price=price):
                return changed(row, fact, price=price)
            case DatasetDelisted():
                return changed(row, fact, status="delisted")
            case Purchased():
                return changed(row, fact, purchases=row["purchases"] + 1)
            case Rated(score=score):
                return changed(
                    row,
                    fact,
                    rating_count=row["rating_count"] + 1,
                    rating_sum=row["rating_sum"] + score,
                )
        return row
