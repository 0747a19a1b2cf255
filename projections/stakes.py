"""Stakes per account: active stake and the pending unstake."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import BigInteger, Table
from sqlalchemy.orm import Mapped, mapped_column

from common.db import AddressBytes, Uint256
from contracts.events import Staked, Unstaked, UnstakeRequested
from indexer.events import Fact
from projections.base import Key, Projection, ReadModelBase, Refold, Row, addr, changed, event_names
from projections.clock import block_time


class StakeRow(ReadModelBase):
    """One account's stake."""

    __tablename__ = "stakes"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account: Mapped[AddressBytes] = mapped_column(primary_key=True)
    staked: Mapped[Uint256]
    pending: Mapped[Uint256]
    available_at: Mapped[datetime | None]
    withdrawn: Mapped[Uint256]
    block_number: Mapped[int] = mapped_column(BigInteger)


class Stakes(Projection):
    """Staking events folded per account (the events carry the new totals)."""

    name = "stakes"
    table: ClassVar[Table] = StakeRow.__table__  # type: ignore[assignment]
    events = event_names(Staked, UnstakeRequested, Unstaked)
    cost = 0.3  # few rows (one per account)

    def keys(self, fact: Fact) -> list[Key]:
        match fact.event:
            case (
                Staked(account=account)
                | UnstakeRequested(account=account)
                | Unstaked(account=account)
            ):
                return [(fact.chain_id, addr(account))]
        return []

    def refold(self, key: Key, fact: Fact) -> Refold:
        return Refold(key[0], self.events, {"account": "0x" + key[1].hex()})

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        current = row or {
            "chain_id": fact.chain_id,
            "account": key[1],
            "staked": 0,
            "pending": 0,
            "available_at": None,
            "withdrawn": 0,
            "block_number": fact.block_number,
        }
        match fact.event:
            case Staked(new_stake=new_stake):
                return changed(current, fact, staked=new_stake)
            case UnstakeRequested() as request:
                return changed(
                    current,
                    fact,
                    staked=request.new_stake,
                    pending=request.pending_amount,
                    available_at=block_time(request.available_at),
                )
            case Unstaked(amount=amount):
                return changed(
                    current,
                    fact,
                    pending=0,
                    available_at=None,
                    withdrawn=current["withdrawn"] + amount,
                )
        return row
