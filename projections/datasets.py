"""Datasets: listing terms and status per (chain, dataset); their purchase count and
rating in a narrow table of their own (``dataset_counters``).

Purchases and ratings are most of a marketplace's events, and their counters are sort
keys: an update that changes an indexed column is never HOT, so while they lived in
``datasets`` each purchase and rating wrote a new heap tuple and an entry in each of its
8 indexes. In ``dataset_counters`` (one row per dataset, the key and the counters only)
the same update writes a ~60-byte tuple and 3 index entries (the key and the two sorts);
the listing's row changes only with its terms. The API joins the two on the key (see
``api/routers/datasets.py``): a dataset's ``block_number`` (its last change) is the later
of the two rows'.
"""

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
    listed_at: Mapped[datetime]
    listed_block: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(
        BigInteger, comment="last change of the listing (its counters: dataset_counters)"
    )

    # The API's sort orders and filters (keyset pagination walks these indexes).
    __table_args__ = (
        Index("ix_datasets_newest", text("listed_block DESC, chain_id DESC, dataset_id DESC")),
        Index("ix_datasets_price", "price", "chain_id", "dataset_id"),
        # (The purchase and rating orders are dataset_counters' indexes.)
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


class DatasetCounterRow(ReadModelBase):
    """A listed dataset's purchase count and rating (one row per ``datasets`` row, the
    same key): what changes with every purchase and rating, apart from the listing."""

    __tablename__ = "dataset_counters"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dataset_id: Mapped[Uint256] = mapped_column(primary_key=True)
    purchases: Mapped[int] = mapped_column(Integer)
    rating_count: Mapped[int] = mapped_column(Integer)
    rating_sum: Mapped[int] = mapped_column(Integer)
    block_number: Mapped[int] = mapped_column(
        BigInteger, comment="last purchase or rating (or the listing)"
    )

    # GET /datasets?sort=purchases|rating walks these, joining `datasets` by key. No
    # other index: each purchase or rating writes one entry in each (the tuple is new).
    __table_args__ = (
        Index(
            "ix_dataset_counters_purchases",
            text("purchases DESC, chain_id DESC, dataset_id DESC"),
        ),
        # Rating high to low, then ids ascending, as one ascending key: the negated
        # rating. A page after a cursor is then one row comparison, a range of this index
        # (with `rating DESC, ids ASC` it was an OR the planner walked from the top:
        # ~1 s at the middle of 1M datasets).
        Index(
            "ix_dataset_counters_rating",
            text("(-(rating_sum::float8 / greatest(rating_count, 1))), chain_id, dataset_id"),
        ),
    )


def _dataset_key(fact: Fact) -> list[Key]:
    """(chain_id, dataset_id) of a marketplace event about one dataset."""
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


class _PerDataset(Projection):
    """A row per dataset, keyed (chain_id, dataset_id) by the marketplace's events."""

    def keys(self, fact: Fact) -> list[Key]:
        return _dataset_key(fact)

    def refold(self, key: Key, fact: Fact) -> Refold:
        return Refold(key[0], self.events, {"datasetId": str(key[1])})


class Datasets(_PerDataset):
    """Marketplace listing events folded per dataset: its terms and status."""

    name = "datasets"
    table: ClassVar[Table] = DatasetRow.__table__  # type: ignore[assignment]
    events = event_names(DatasetListed, PriceChanged, DatasetDelisted)
    cost = 1.2  # a wide row per listing, six indexes to fill

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
        return row


class DatasetCounters(_PerDataset):
    """Purchases and ratings folded per listed dataset (a listing starts its counters
    at zero: a dataset listed again starts over, as its ``datasets`` row does; events
    of a dataset never listed fold into nothing)."""

    name = "dataset_counters"
    table: ClassVar[Table] = DatasetCounterRow.__table__  # type: ignore[assignment]
    events = event_names(DatasetListed, Purchased, Rated)
    cost = 0.8  # a narrow row, two indexes

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        match fact.event:
            case DatasetListed() as listed:
                return {
                    "chain_id": fact.chain_id,
                    "dataset_id": listed.dataset_id,
                    "purchases": 0,
                    "rating_count": 0,
                    "rating_sum": 0,
                    "block_number": fact.block_number,
                }
            case _ if row is None:
                return None  # an event for a dataset we never saw listed: nothing to fold
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
