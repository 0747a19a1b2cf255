"""Governance response models (/work/gov-api-contract.md): parameters, proposals, votes and
voting power. uint256 values are decimal strings, addresses EIP-55."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

#: A proposal's state, as the Governor's ``state()`` names it. ``expired`` is listed for
#: completeness (IGovernor has it) but never produced: with a TimelockController a queued
#: proposal stays queued until executed or cancelled (it belongs to the Compound timelock).
ProposalStateName = Literal[
    "pending", "active", "canceled", "defeated", "succeeded", "queued", "expired", "executed"
]
SupportName = Literal["for", "against", "abstain"]


class GovernanceInfo(BaseModel):
    """The Governor's and Timelock's settings, folded from their events, at the indexed
    head; and the platform parameters the Timelock controls."""

    chain_id: int
    governor: str
    timelock: str | None = Field(description="null until its MinDelayChange is indexed")
    voting_delay: int = Field(description="blocks from proposing to the vote's start")
    voting_period: int = Field(description="blocks the vote stays open")
    proposal_threshold: str = Field(description="votes needed to propose (wei of stake)")
    quorum_numerator: int
    quorum_denominator: int = Field(description="100 (OpenZeppelin's default)")
    timelock_delay: int | None = Field(description="seconds from queue to execution")
    head_block: int = Field(description="the indexed head the states are computed at")
    fee_bps: int | None = Field(
        None, description="the protocol fee in basis points; null until first changed"
    )
    treasury: str | None = Field(None, description="null until first changed")
    min_worker_stake: str | None = Field(None, description="wei; null until first changed")


class Proposal(BaseModel):
    """A proposal, its tallies and its state at the indexed head."""

    chain_id: int
    proposal_id: str
    proposer: str
    title: str = Field(description="the description's first line (at most 200 characters)")
    description: str
    state: ProposalStateName
    vote_start: int = Field(description="the snapshot block: votes are read there")
    vote_end: int
    votes_for: str
    votes_against: str
    votes_abstain: str
    quorum: str = Field(description="votes needed (for + abstain) at the snapshot")
    quorum_reached: bool
    eta: datetime | None = Field(description="earliest execution, once queued")
    created_block: int
    created_tx: str
    queued_block: int | None
    executed_block: int | None
    canceled_block: int | None
    finalized: bool = Field(description="its latest fact is final")
    voters: int


class Action(BaseModel):
    """One call a proposal makes, decoded against the platform's ABIs."""

    target: str
    target_name: str | None = Field(description="the platform contract it calls, or null")
    value: str
    calldata: str
    function: str | None = Field(description="the function called, when decoded")
    args: dict[str, Any] | None = Field(description="its arguments by name, when decoded")
    sentence: str = Field(description='e.g. "Set the protocol fee from 2.5% to 3%"')


class ProposalDetail(Proposal):
    """A proposal with its actions."""

    actions: list[Action]


class Vote(BaseModel):
    """One vote as cast."""

    chain_id: int
    proposal_id: str
    voter: str
    support: SupportName
    weight: str
    reason: str
    params: str | None = Field(description="castVoteWithReasonAndParams' params, 0x hex")
    block_number: int
    tx_hash: str
    finalized: bool


class VotingPower(BaseModel):
    """An account's votes on Staking (the Governor's votes contract)."""

    chain_id: int
    address: str
    votes: str = Field(description="delegated to it now (DelegateVotesChanged)")
    delegate: str | None = Field(description="whom it delegates to (DelegateChanged)")
    delegators: int = Field(description="accounts delegating to it (itself included)")
    stake: str = Field(description="its active stake")
