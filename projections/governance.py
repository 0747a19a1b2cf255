"""Governance: proposals with their tallies, the votes cast, and the Timelock's operations.

A proposal's *state* is not stored: it depends on the block the chain is at (pending →
active → closed by block numbers) and on the quorum at its snapshot, so the API computes it
at request time from these rows and the indexed head (api/governance_queries.py), as the
Governor's ``state()`` would answer at that head. The rows hold only facts.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from eth_abi.abi import encode
from eth_utils.crypto import keccak
from sqlalchemy import BigInteger, Index, Integer, SmallInteger, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from common.db import AddressBytes, Bytes32, Uint256
from contracts.events import (
    CallExecuted,
    Cancelled,
    ProposalCanceled,
    ProposalCreated,
    ProposalExecuted,
    ProposalQueued,
    VoteCast,
    VoteCastWithParams,
)
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

#: GovernorCountingSimple's `support` values, as the read models spell them.
SUPPORT = {0: "against", 1: "for", 2: "abstain"}
#: The most characters of a description's first line kept as its title.
TITLE_LENGTH = 200


class ProposalRow(ReadModelBase):
    """One proposal: what it runs, its vote window, tallies and lifecycle blocks."""

    __tablename__ = "proposals"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    proposal_id: Mapped[Uint256] = mapped_column(primary_key=True)
    governor: Mapped[AddressBytes]
    proposer: Mapped[AddressBytes]
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    actions: Mapped[list[dict[str, str]]] = mapped_column(
        JSONB, comment="target, value, calldata, signature"
    )
    vote_start: Mapped[int] = mapped_column(BigInteger, comment="snapshot block")
    vote_end: Mapped[int] = mapped_column(BigInteger)
    votes_for: Mapped[Uint256]
    votes_against: Mapped[Uint256]
    votes_abstain: Mapped[Uint256]
    voters: Mapped[int] = mapped_column(Integer)
    timelock_id: Mapped[Bytes32] = mapped_column(comment="its Timelock operation id")
    eta: Mapped[datetime | None]
    created_block: Mapped[int] = mapped_column(BigInteger)
    created_tx: Mapped[Bytes32]
    queued_block: Mapped[int | None] = mapped_column(BigInteger)
    executed_block: Mapped[int | None] = mapped_column(BigInteger)
    canceled_block: Mapped[int | None] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger, comment="last change")

    # GET /proposals pages newest first by (created_block, proposal_id), per proposer too.
    __table_args__ = (
        Index("ix_proposals_newest", text("created_block DESC, proposal_id DESC, chain_id DESC")),
        Index("ix_proposals_proposer", text("proposer, created_block DESC, proposal_id DESC")),
    )


class VoteRow(ReadModelBase):
    """One vote (VoteCast or VoteCastWithParams), as cast."""

    __tablename__ = "votes"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_hash: Mapped[Bytes32] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[Uint256]
    voter: Mapped[AddressBytes]
    support: Mapped[int] = mapped_column(SmallInteger, comment="0 against, 1 for, 2 abstain")
    weight: Mapped[Uint256]
    reason: Mapped[str] = mapped_column(Text)
    params: Mapped[bytes | None]
    tx_hash: Mapped[Bytes32]
    block_number: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index(
            "ix_votes_proposal",
            text("chain_id, proposal_id, block_number DESC, log_index DESC"),
        ),
        Index("ix_votes_voter", text("voter, block_number DESC, log_index DESC, chain_id DESC")),
    )


class TimelockOperationRow(ReadModelBase):
    """A Timelock operation that ran or was cancelled. A proposal queued through the
    Governor can also be executed (anyone may: the executor role is open) or cancelled
    directly on the Timelock, with no Governor event; the Governor's ``state()`` then
    answers Executed / Canceled from the Timelock, and so does the API, through this."""

    __tablename__ = "timelock_operations"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    operation_id: Mapped[Bytes32] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(Text, comment="executed | cancelled")
    block_number: Mapped[int] = mapped_column(BigInteger)


def title_of(description: str) -> str:
    """A description's first line, at most ``TITLE_LENGTH`` characters."""
    first = description.strip().splitlines()[0] if description.strip() else ""
    return first.lstrip("# ").strip()[:TITLE_LENGTH]


def timelock_id(governor: str, created: ProposalCreated) -> bytes:
    """The Timelock operation id GovernorTimelockControl gives the proposal when queued:
    ``hashOperationBatch(targets, values, calldatas, 0, salt)`` with the salt
    ``bytes20(governor) ^ keccak(description)``."""
    description_hash = keccak(text=created.description)
    salt = bytes(
        a ^ b for a, b in zip(addr(governor).ljust(32, b"\0"), description_hash, strict=True)
    )
    payload = encode(
        ["address[]", "uint256[]", "bytes[]", "bytes32", "bytes32"],
        [created.targets, created.values, created.calldatas, bytes(32), salt],
    )
    return keccak(payload)


def _created(fact: Fact, created: ProposalCreated) -> Row:
    governor = "0x" + fact.address.hex()
    return {
        "chain_id": fact.chain_id,
        "proposal_id": created.proposal_id,
        "governor": fact.address,
        "proposer": addr(created.proposer),
        "title": title_of(created.description),
        "description": created.description,
        # Stored as decoded, in the API's spelling (addresses and bytes as lowercase hex,
        # uint256 as decimal strings); the API decodes them into sentences.
        "actions": [
            {
                "target": target.lower(),
                "value": str(value),
                "calldata": "0x" + data.hex(),
                "signature": signature,
            }
            for target, value, data, signature in zip(
                created.targets,
                created.values,
                created.calldatas,
                created.signatures,
                strict=True,
            )
        ],
        "vote_start": created.vote_start,
        "vote_end": created.vote_end,
        "votes_for": 0,
        "votes_against": 0,
        "votes_abstain": 0,
        "voters": 0,
        "timelock_id": timelock_id(governor, created),
        "eta": None,
        "created_block": fact.block_number,
        "created_tx": fact.tx_hash,
        "queued_block": None,
        "executed_block": None,
        "canceled_block": None,
        "block_number": fact.block_number,
    }


def _tallied(row: Row, fact: Fact, support: int, weight: int) -> Row:
    column = f"votes_{SUPPORT.get(support, 'abstain')}"
    return changed(row, fact, **{column: row[column] + weight, "voters": row["voters"] + 1})


class Proposals(Projection):
    """Governor events folded per proposal; votes add to its tallies."""

    name = "proposals"
    table: ClassVar[Table] = ProposalRow.__table__  # type: ignore[assignment]
    events = event_names(
        ProposalCreated,
        ProposalQueued,
        ProposalExecuted,
        ProposalCanceled,
        VoteCast,
        VoteCastWithParams,
    )
    cost = 1.0

    def keys(self, fact: Fact) -> list[Key]:
        match fact.event:
            case (
                ProposalCreated(proposal_id=pid)
                | ProposalQueued(proposal_id=pid)
                | ProposalExecuted(proposal_id=pid)
                | ProposalCanceled(proposal_id=pid)
                | VoteCast(proposal_id=pid)
                | VoteCastWithParams(proposal_id=pid)
            ):
                return [(fact.chain_id, pid)]
        return []

    def refold(self, key: Key, fact: Fact) -> Refold:
        return Refold(key[0], self.events, {"proposalId": str(key[1])})

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        match fact.event:
            case ProposalCreated() as created:
                return _created(fact, created)
            case _ if row is None:
                return None  # a proposal of a Governor we did not see propose it
            case VoteCast(support=support, weight=weight):
                return _tallied(row, fact, support, weight)
            case VoteCastWithParams(support=support, weight=weight):
                return _tallied(row, fact, support, weight)
            case ProposalQueued(eta_seconds=eta):
                return changed(row, fact, eta=block_time(eta), queued_block=fact.block_number)
            case ProposalExecuted():
                return changed(row, fact, executed_block=fact.block_number)
            case ProposalCanceled():
                return changed(row, fact, canceled_block=fact.block_number)
        return row


class Votes(LogProjection):
    """Every vote as a row (a retraction deletes it; the tally is the proposal's)."""

    name = "votes"
    table: ClassVar[Table] = VoteRow.__table__  # type: ignore[assignment]
    events = event_names(VoteCast, VoteCastWithParams)
    cost = 0.8

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        match fact.event:
            case VoteCast() | VoteCastWithParams() as vote:
                params = vote.params if isinstance(vote, VoteCastWithParams) else None
                return {
                    "chain_id": fact.chain_id,
                    "block_hash": fact.block_hash,
                    "log_index": fact.log_index,
                    "proposal_id": vote.proposal_id,
                    "voter": addr(vote.voter),
                    "support": vote.support,
                    "weight": vote.weight,
                    "reason": vote.reason,
                    "params": params,
                    "tx_hash": fact.tx_hash,
                    "block_number": fact.block_number,
                }
        return row


class TimelockOperations(Projection):
    """The Timelock's executed and cancelled operations (a batch's calls share one id)."""

    name = "timelock_operations"
    table: ClassVar[Table] = TimelockOperationRow.__table__  # type: ignore[assignment]
    events = event_names(CallExecuted, Cancelled)
    cost = 0.3

    def keys(self, fact: Fact) -> list[Key]:
        match fact.event:
            case CallExecuted(id=operation) | Cancelled(id=operation):
                return [(fact.chain_id, operation)]
        return []

    def refold(self, key: Key, fact: Fact) -> Refold:
        return Refold(key[0], self.events, {"id": "0x" + key[1].hex()})

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        match fact.event:
            case CallExecuted():
                status = "executed"
            case Cancelled():
                status = "cancelled"
            case _:
                return row
        return {
            "chain_id": fact.chain_id,
            "operation_id": key[1],
            "status": status,
            "block_number": fact.block_number,
        }
