"""Protocol statistics per chain."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import BigInteger, Table
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Uint256
from indexer.events import Fact
from projections.base import Key, Projection, ReadModelBase, Refold, Row, changed


class StatsRow(ReadModelBase):
    """Counters and volumes of one chain's marketplace."""

    __tablename__ = "protocol_stats"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    datasets_listed: Mapped[int]
    datasets_delisted: Mapped[int]
    purchases: Mapped[int]
    purchase_volume: Mapped[Uint256]
    fees: Mapped[Uint256]
    ratings: Mapped[int]
    jobs_requested: Mapped[int]
    jobs_logged: Mapped[int]
    jobs_refunded: Mapped[int]
    training_volume: Mapped[Uint256]
    total_staked: Mapped[Uint256]
    block_number: Mapped[int] = mapped_column(BigInteger)


ZERO: Row = {
    "datasets_listed": 0, "datasets_delisted": 0, "purchases": 0, "purchase_volume": 0,
    "fees": 0, "ratings": 0, "jobs_requested": 0, "jobs_logged": 0, "jobs_refunded": 0,
    "training_volume": 0, "total_staked": 0,
}  # fmt: skip


class Stats(Projection):
    """Every counted event folded into one row per chain."""

    name = "protocol_stats"
    table: ClassVar[Table] = StatsRow.__table__  # type: ignore[assignment]
    events = frozenset({
        "DatasetListed", "DatasetDelisted", "Purchased", "Rated", "TrainingRequested",
        "TrainingLogged", "TrainingRefunded", "Staked", "UnstakeRequested",
    })  # fmt: skip
    cost = 0.15  # one row per chain

    def keys(self, event: Fact) -> list[Key]:
        return [(event.chain_id,)]

    def refold(self, key: Key, event: Fact) -> Refold:
        # A whole-chain aggregate: refolding scans the chain's counted events (rare: reorgs).
        return Refold(key[0], self.events, {})

    def apply(self, key: Key, row: Row | None, event: Fact) -> Row | None:
        a = event.args
        r = row or {"chain_id": event.chain_id, **ZERO, "block_number": event.block_number}
        match event.event_name:
            case "DatasetListed":
                return changed(r, event, datasets_listed=r["datasets_listed"] + 1)
            case "DatasetDelisted":
                return changed(r, event, datasets_delisted=r["datasets_delisted"] + 1)
            case "Purchased":
                return changed(r, event, purchases=r["purchases"] + 1,
                               purchase_volume=r["purchase_volume"] + int(a["price"]),
                               fees=r["fees"] + int(a["fee"]))  # fmt: skip
            case "Rated":
                return changed(r, event, ratings=r["ratings"] + 1)
            case "TrainingRequested":
                volume = r["training_volume"] + int(a["payment"])
                return changed(r, event, jobs_requested=r["jobs_requested"] + 1,
                               training_volume=volume)  # fmt: skip
            case "TrainingLogged":
                return changed(r, event, jobs_logged=r["jobs_logged"] + 1)
            case "TrainingRefunded":
                return changed(r, event, jobs_refunded=r["jobs_refunded"] + 1)
            case "Staked":
                return changed(r, event, total_staked=r["total_staked"] + int(a["amount"]))
            case "UnstakeRequested":
                return changed(r, event, total_staked=r["total_staked"] - int(a["amount"]))
        return r
