"""Parameter changes: every event that changes a setting governance controls, one row each.

The Governor's settings (voting delay and period, proposal threshold, quorum numerator) and
the Timelock's delay are emitted by their constructors, so the current value of each is the
newest row; the platform's (protocol fee, treasury, minimum worker stake) are set by the
constructors *without* an event, so they are unknown until first changed. Keeping every
change (not only the last) answers "what was in force at block N": the quorum numerator
at a proposal's snapshot, and a proposal's sentence "from X to Y" as it was when it ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sqlalchemy import BigInteger, Index, Integer, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import AddressBytes, Bytes32
from contracts.events import (
    FeeChanged,
    MinDelayChange,
    MinWorkerStakeChanged,
    PlatformEvent,
    ProposalThresholdSet,
    QuorumNumeratorUpdated,
    TreasuryChanged,
    UnknownEvent,
    VotingDelaySet,
    VotingPeriodSet,
)
from indexer.events import Fact
from projections.base import Key, LogProjection, ReadModelBase, Row, event_names

#: The parameters, by the name the rows and the API use.
VOTING_DELAY = "voting_delay"
VOTING_PERIOD = "voting_period"
PROPOSAL_THRESHOLD = "proposal_threshold"
QUORUM_NUMERATOR = "quorum_numerator"
TIMELOCK_DELAY = "timelock_delay"
FEE_BPS = "fee_bps"
TREASURY = "treasury"
MIN_WORKER_STAKE = "min_worker_stake"


class ParameterChangeRow(ReadModelBase):
    """One change of one parameter. Values are text: decimal integers, or lowercase 0x
    addresses for the treasury."""

    __tablename__ = "parameter_changes"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_hash: Mapped[Bytes32] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract: Mapped[AddressBytes] = mapped_column(comment="the contract that emitted it")
    parameter: Mapped[str] = mapped_column(Text)
    old_value: Mapped[str] = mapped_column(Text)
    new_value: Mapped[str] = mapped_column(Text)
    tx_hash: Mapped[Bytes32]
    block_number: Mapped[int] = mapped_column(BigInteger)

    # "the newest value of P at or before block N": a backward walk of this index
    __table_args__ = (
        Index(
            "ix_parameter_changes_newest",
            text("chain_id, parameter, block_number DESC, log_index DESC"),
        ),
    )


@dataclass(frozen=True, slots=True)
class Change:
    """What a parameter-changing event changed."""

    parameter: str
    old: str
    new: str


def parameter_change(event: PlatformEvent | UnknownEvent) -> Change | None:
    """What a parameter-changing event changed; None for any other event."""
    match event:
        case VotingDelaySet(old_voting_delay=old, new_voting_delay=new):
            return Change(VOTING_DELAY, str(old), str(new))
        case VotingPeriodSet(old_voting_period=old, new_voting_period=new):
            return Change(VOTING_PERIOD, str(old), str(new))
        case ProposalThresholdSet(old_proposal_threshold=old, new_proposal_threshold=new):
            return Change(PROPOSAL_THRESHOLD, str(old), str(new))
        case QuorumNumeratorUpdated(old_quorum_numerator=old, new_quorum_numerator=new):
            return Change(QUORUM_NUMERATOR, str(old), str(new))
        case MinDelayChange(old_duration=old, new_duration=new):
            return Change(TIMELOCK_DELAY, str(old), str(new))
        case FeeChanged(old_fee_bps=old, new_fee_bps=new):
            return Change(FEE_BPS, str(old), str(new))
        case TreasuryChanged(old_treasury=old, new_treasury=new):
            return Change(TREASURY, old.lower(), new.lower())
        case MinWorkerStakeChanged(old_minimum=old, new_minimum=new):
            return Change(MIN_WORKER_STAKE, str(old), str(new))
    return None


class ParameterChanges(LogProjection):
    """Every parameter change as a row."""

    name = "parameter_changes"
    table: ClassVar[Table] = ParameterChangeRow.__table__  # type: ignore[assignment]
    events = event_names(
        VotingDelaySet,
        VotingPeriodSet,
        ProposalThresholdSet,
        QuorumNumeratorUpdated,
        MinDelayChange,
        FeeChanged,
        TreasuryChanged,
        MinWorkerStakeChanged,
    )
    cost = 0.2  # rare events

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        change = parameter_change(fact.event)
        if change is None:
            return row
        return {
            "chain_id": fact.chain_id,
            "block_hash": fact.block_hash,
            "log_index": fact.log_index,
            "contract": fact.address,
            "parameter": change.parameter,
            "old_value": change.old,
            "new_value": change.new,
            "tx_hash": fact.tx_hash,
            "block_number": fact.block_number,
        }
