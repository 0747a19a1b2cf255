"""Protocol statistics per chain."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import BigInteger, Table
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Uint256
from contracts.events import (
    DatasetDelisted,
    DatasetListed,
    Purchased,
    Rated,
    Staked,
    TrainingLogged,
    TrainingRefunded,
    TrainingRequested,
    UnstakeRequested,
)
from indexer.events import Fact
from projections.base import Key, Projection, ReadModelBase, Refold, Row, event_names


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
    "datasets_listed": 0,
    "datasets_delisted": 0,
    "purchases": 0,
    "purchase_volume": 0,
    "fees": 0,
    "ratings": 0,
    "jobs_requested": 0,
    "jobs_logged": 0,
    "jobs_refunded": 0,
    "training_volume": 0,
    "total_staked": 0,
}


class Stats(Projection):
    """Every counted event folded into one row per chain."""

    name = "protocol_stats"
    table: ClassVar[Table] = StatsRow.__table__  # type: ignore[assignment]
    events = event_names(
        DatasetListed,
        DatasetDelisted,
        Purchased,
        Rated,
        TrainingRequested,
        TrainingLogged,
        TrainingRefunded,
        Staked,
        UnstakeRequested,
    )
    cost = 0.15  # one row per chain
    invertible = True  # a reorg subtracts its events: refolding reads the chain's history

    def keys(self, fact: Fact) -> list[Key]:
        return [(fact.chain_id,)]

    def refold(self, key: Key, fact: Fact) -> Refold:
        # The chain's counted events: a retraction subtracts its event instead, and reads
        # only the newest of these for the row's block (see `invertible`).
        return Refold(key[0], self.events, {})

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        r = row or {"chain_id": fact.chain_id, **ZERO}
        return {**r, **_add(r, fact, 1), "block_number": fact.block_number}

    def unapply(self, key: Key, row: Row, fact: Fact) -> Row:
        return {**row, **_add(row, fact, -1)}


def _add(r: Row, fact: Fact, sign: int) -> Row:
    """The counters `fact` changes, with its contribution added (`sign` 1) or taken
    away (-1): ``apply`` and ``unapply`` share it, so one is the other's exact inverse."""
    match fact.event:
        case DatasetListed():
            return {"datasets_listed": r["datasets_listed"] + sign}
        case DatasetDelisted():
            return {"datasets_delisted": r["datasets_delisted"] + sign}
        case Purchased(price=price, fee=fee):
            return {
                "purchases": r["purchases"] + sign,
                "purchase_volume": r["purchase_volume"] + sign * price,
                "fees": r["fees"] + sign * fee,
            }
        case Rated():
            return {"ratings": r["ratings"] + sign}
        case TrainingRequested(payment=payment):
            return {
                "jobs_requested": r["jobs_requested"] + sign,
                "training_volume": r["training_volume"] + sign * payment,
            }
        case TrainingLogged():
            return {"jobs_logged": r["jobs_logged"] + sign}
        case TrainingRefunded():
            return {"jobs_refunded": r["jobs_refunded"] + sign}
        case Staked(amount=amount):
            return {"total_staked": r["total_staked"] + sign * amount}
        case UnstakeRequested(amount=amount):
            return {"total_staked": r["total_staked"] - sign * amount}
    return {}
