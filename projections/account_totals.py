"""Account totals: how many datasets an account listed, bought and asked training for, per
chain, so that ``GET /accounts/{a}`` reads one row per chain instead of counting the
account's rows (which grows with its history: 20 ms for 100k purchases, and more without
a vacuumed visibility map).

Each counter is the number of the account's live events of its kind: the counts of
``purchases`` (by buyer) and ``training_jobs`` (by requester), each row written by one
such event, and of ``datasets`` (by provider) on any real chain, where the Marketplace
numbers the datasets (a synthetic history that lists an id twice counts both listings).
A reorg restores a row from its undo record; the refold it falls back to without one
reads the chain's listings, purchases and requests (every account's: ``apply`` keeps
the key's own).
"""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import BigInteger, Index, Integer, Table
from sqlalchemy.orm import Mapped, mapped_column

from common.db import AddressBytes
from contracts.events import DatasetListed, Purchased, TrainingRequested
from indexer.events import Fact
from projections.base import Key, Projection, ReadModelBase, Refold, Row, addr, changed, event_names


class AccountTotalsRow(ReadModelBase):
    """One account's totals on one chain."""

    __tablename__ = "account_totals"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account: Mapped[AddressBytes] = mapped_column(primary_key=True)
    datasets_listed: Mapped[int] = mapped_column(Integer)
    purchases: Mapped[int] = mapped_column(Integer)
    training_jobs: Mapped[int] = mapped_column(Integer)
    block_number: Mapped[int] = mapped_column(BigInteger, comment="last change")

    # GET /accounts/{a}: an account's rows on every chain.
    __table_args__ = (Index("ix_account_totals_account", "account"),)


class AccountTotals(Projection):
    """Listings by provider, purchases by buyer, training requests by requester."""

    name = "account_totals"
    table: ClassVar[Table] = AccountTotalsRow.__table__  # type: ignore[assignment]
    events = event_names(DatasetListed, Purchased, TrainingRequested)
    cost = 0.3  # one small row per account, no secondary index

    def keys(self, fact: Fact) -> list[Key]:
        account = _account(fact)
        return [] if account is None else [(fact.chain_id, account)]

    def refold(self, key: Key, fact: Fact) -> Refold:
        # The account is a different argument per event: every one of them, filtered by
        # `apply` (only without an undo record: a reorg below finality).
        return Refold(key[0], self.events, {})

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        if _account(fact) != key[1]:
            return row
        current = row or {
            "chain_id": fact.chain_id,
            "account": key[1],
            "datasets_listed": 0,
            "purchases": 0,
            "training_jobs": 0,
        }
        counter = _COUNTERS[fact.event_name]
        return changed(current, fact, **{counter: current[counter] + 1})


_COUNTERS = {
    DatasetListed.event_name: "datasets_listed",
    Purchased.event_name: "purchases",
    TrainingRequested.event_name: "training_jobs",
}


def _account(fact: Fact) -> bytes | None:
    """The account an event counts for (None: not one of ours)."""
    match fact.event:
        case DatasetListed(provider=account) | Purchased(buyer=account):
            return addr(account)
        case TrainingRequested(requester=account):
            return addr(account)
    return None
