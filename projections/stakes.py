"""Stakes per account: active stake and the pending unstake."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import BigInteger, Table
from sqlalchemy.orm import Mapped, mapped_column

from common.db import AddressBytes, Uint256
from indexer.events import Fact
from projections.base import Key, Projection, ReadModelBase, Refold, Row, addr, changed
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
    events = frozenset({"Staked", "UnstakeRequested", "Unstaked"})
    cost = 0.3  # few rows (one per account)

    def keys(self, event: Fact) -> list[Key]:
        return [(event.chain_id, addr(event.args["account"]))]

    def refold(self, key: Key, event: Fact) -> Refold:
        return Refold(key[0], self.events, {"account": "0x" + key[1].hex()})

    def apply(self, key: Key, row: Row | None, event: Fact) -> Row | None:
        a = event.args
        current = row or {
            "chain_id": event.chain_id, "account": addr(a["account"]), "staked": 0, "pending": 0,
            "available_at": None, "withdrawn": 0, "block_number": event.block_number,
        }  # fmt: skip
        match event.event_name:
            case "Staked":
                return changed(current, event, staked=int(a["newStake"]))
            case "UnstakeRequested":
                return changed(current, event, staked=int(a["newStake"]),
                               pending=int(a["pendingAmount"]),
                               available_at=block_time(int(a["availableAt"])))  # fmt: skip
            case "Unstaked":
                return changed(current, event, pending=0, available_at=None,
                               withdrawn=current["withdrawn"] + int(a["amount"]))  # fmt: skip
        return row
