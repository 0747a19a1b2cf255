"""Voting power: who delegates to whom, each delegate's votes, and the total voting supply.

DataCoin (ERC20Votes) and Staking (OpenZeppelin ``Votes``) emit ``DelegateChanged`` and
``DelegateVotesChanged`` alike; only Staking's count for the Governor. A handler has no
deployment to look addresses up in (it must be a function of the chain alone), so these
rows are keyed by the emitting contract (``token``) and the API picks Staking's: the
contract that emitted the chain's ``Staked`` events (``voting_supply_changes.contract``).

Quorum needs Staking's total supply of votes at a proposal's snapshot block
(``getPastTotalSupply``): the sum of active stake, which ``Staked`` raises and
``UnstakeRequested`` lowers (votes leave at the request; the withdrawal moves none). One
row per such event, so "the total at block N" is a sum over rows up to N, and a reorg
simply deletes the orphaned ones.
"""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import BigInteger, Index, Integer, Table, text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import AddressBytes, Bytes32, Uint256
from contracts.events import DelegateChanged, DelegateVotesChanged, Staked, UnstakeRequested
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


class DelegationRow(ReadModelBase):
    """Whom an account delegates its votes to, on one votes contract."""

    __tablename__ = "delegations"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token: Mapped[AddressBytes] = mapped_column(primary_key=True, comment="the votes contract")
    delegator: Mapped[AddressBytes] = mapped_column(primary_key=True)
    delegate: Mapped[AddressBytes]
    block_number: Mapped[int] = mapped_column(BigInteger)

    # GET /voting-power/{address}: how many delegate to it
    __table_args__ = (Index("ix_delegations_delegate", "chain_id", "token", "delegate"),)


class DelegateVotesRow(ReadModelBase):
    """A delegate's current votes on one votes contract."""

    __tablename__ = "delegate_votes"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token: Mapped[AddressBytes] = mapped_column(primary_key=True, comment="the votes contract")
    delegate: Mapped[AddressBytes] = mapped_column(primary_key=True)
    votes: Mapped[Uint256]
    block_number: Mapped[int] = mapped_column(BigInteger)


class VotingSupplyChangeRow(ReadModelBase):
    """One change of Staking's total votes (active stake): `added` or `removed`."""

    __tablename__ = "voting_supply_changes"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_hash: Mapped[Bytes32] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract: Mapped[AddressBytes] = mapped_column(comment="Staking")
    added: Mapped[Uint256]
    removed: Mapped[Uint256]
    block_number: Mapped[int] = mapped_column(BigInteger)

    # the supply at a snapshot: a range of this index summed
    __table_args__ = (
        Index(
            "ix_voting_supply_changes_block",
            text("chain_id, block_number"),
            postgresql_include=["added", "removed"],
        ),
    )


class Delegations(Projection):
    """``DelegateChanged`` per (votes contract, delegator): the newest wins."""

    name = "delegations"
    table: ClassVar[Table] = DelegationRow.__table__  # type: ignore[assignment]
    events = event_names(DelegateChanged)
    cost = 0.3

    def keys(self, fact: Fact) -> list[Key]:
        match fact.event:
            case DelegateChanged(delegator=delegator):
                return [(fact.chain_id, fact.address, addr(delegator))]
        return []

    def refold(self, key: Key, fact: Fact) -> Refold:
        # The delegator's changes on every votes contract come back; `apply` keeps the
        # key's own (the store matches arguments, not emitters).
        return Refold(key[0], self.events, {"delegator": "0x" + key[2].hex()})

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        match fact.event:
            case DelegateChanged(to_delegate=to) if fact.address == key[1]:
                return {
                    "chain_id": fact.chain_id,
                    "token": key[1],
                    "delegator": key[2],
                    "delegate": addr(to),
                    "block_number": fact.block_number,
                }
        return row


class DelegateVotes(Projection):
    """``DelegateVotesChanged`` per (votes contract, delegate): the event carries the new
    total, so the newest wins."""

    name = "delegate_votes"
    table: ClassVar[Table] = DelegateVotesRow.__table__  # type: ignore[assignment]
    events = event_names(DelegateVotesChanged)
    cost = 0.3

    def keys(self, fact: Fact) -> list[Key]:
        match fact.event:
            case DelegateVotesChanged(delegate=delegate):
                return [(fact.chain_id, fact.address, addr(delegate))]
        return []

    def refold(self, key: Key, fact: Fact) -> Refold:
        return Refold(key[0], self.events, {"delegate": "0x" + key[2].hex()})

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        match fact.event:
            case DelegateVotesChanged(new_votes=votes) if fact.address == key[1]:
                current = row or {"chain_id": fact.chain_id, "token": key[1], "delegate": key[2]}
                return changed(current, fact, votes=votes)
        return row


class VotingSupplyChanges(LogProjection):
    """Every change of Staking's active stake as a row."""

    name = "voting_supply_changes"
    table: ClassVar[Table] = VotingSupplyChangeRow.__table__  # type: ignore[assignment]
    events = event_names(Staked, UnstakeRequested)
    cost = 0.5

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        match fact.event:
            case Staked(amount=amount):
                added, removed = amount, 0
            case UnstakeRequested(amount=amount):
                added, removed = 0, amount
            case _:
                return row
        return {
            "chain_id": fact.chain_id,
            "block_hash": fact.block_hash,
            "log_index": fact.log_index,
            "contract": fact.address,
            "added": added,
            "removed": removed,
            "block_number": fact.block_number,
        }
