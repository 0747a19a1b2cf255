"""Governance reads, shared by REST (api/routers/governance.py) and GraphQL.

A proposal's state is computed here, in SQL, from its folded facts and the chain's indexed
head block (``cursors.block_number``), never by asking the chain. The CASE below follows
OpenZeppelin's ``Governor.state`` and ``GovernorTimelockControl.state`` (5.4) line by line,
with ``clock()`` = the head block (the Governor's clock is block numbers):

1. executed (ProposalExecuted) → executed; canceled (ProposalCanceled) → canceled;
2. snapshot (vote_start) >= head → pending; deadline (vote_end) >= head → active;
3. not (quorum reached and for > against) → defeated, where quorum = Staking's total
   votes at the snapshot * the quorum numerator in force at the snapshot / 100, reached
   when for + abstain >= quorum (GovernorCountingSimple);
4. no eta (never queued) → succeeded;
5. queued: its Timelock operation executed or cancelled directly on the Timelock (no
   Governor event) → executed / canceled; otherwise queued.

``expired`` is never produced: OpenZeppelin's timelock control has no grace period.
Being one SQL expression, the state filters and pages like any column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
)

from api.deps import Pool
from api.pages import KeysetPage
from api.problems import Problem
from api.queries import CompiledQuery, KeyColumn, NewestFirst, Row, fetch_all, read_table, view
from common.settings import Settings
from indexer.schema import Cursor
from projections.governance import ProposalRow, TimelockOperationRow, VoteRow
from projections.parameters import QUORUM_NUMERATOR, ParameterChangeRow
from projections.stakes import StakeRow
from projections.voting_power import DelegateVotesRow, DelegationRow, VotingSupplyChangeRow

#: OpenZeppelin's GovernorVotesQuorumFraction.quorumDenominator() (not overridden).
QUORUM_DENOMINATOR = 100
UINT256_MAX = 2**256 - 1


def const(value: int | str) -> ColumnElement[Any]:
    """A constant written into the statement (compiled statements bind only the named
    parameters a call passes)."""
    return literal_column(str(value) if isinstance(value, int) else f"'{value}'")


_P = view(ProposalRow.__table__)  # type: ignore[arg-type]
_VOTES = view(VoteRow.__table__)  # type: ignore[arg-type]
_OPS = read_table(TimelockOperationRow.__table__)  # type: ignore[arg-type]
_CHANGES = read_table(ParameterChangeRow.__table__)  # type: ignore[arg-type]
_SUPPLY = read_table(VotingSupplyChangeRow.__table__)  # type: ignore[arg-type]
_DELEGATIONS = read_table(DelegationRow.__table__)  # type: ignore[arg-type]
_DELEGATE_VOTES = read_table(DelegateVotesRow.__table__)  # type: ignore[arg-type]
_STAKES = read_table(StakeRow.__table__)  # type: ignore[arg-type]
_CURSORS = Cursor.__table__

# -- a proposal with its quorum and state ---------------------------------------------------
_HEAD = (
    select(_CURSORS.c.block_number).where(_CURSORS.c.chain_id == _P.c.chain_id).scalar_subquery()
)
#: Staking's total votes at the end of the snapshot block (getPastTotalSupply).
_SUPPLY_AT_SNAPSHOT = (
    select(func.coalesce(func.sum(_SUPPLY.c.added) - func.sum(_SUPPLY.c.removed), const(0)))
    .where(_SUPPLY.c.chain_id == _P.c.chain_id, _SUPPLY.c.block_number <= _P.c.vote_start)
    .scalar_subquery()
)
#: The quorum numerator in force at the snapshot (its checkpoint at or before it).
_NUMERATOR_AT_SNAPSHOT = (
    select(cast(_CHANGES.c.new_value, Numeric))
    .where(
        _CHANGES.c.chain_id == _P.c.chain_id,
        _CHANGES.c.parameter == const(QUORUM_NUMERATOR),
        _CHANGES.c.block_number <= _P.c.vote_start,
    )
    .order_by(_CHANGES.c.block_number.desc(), _CHANGES.c.log_index.desc())
    .limit(const(1))
    .scalar_subquery()
)
_OPERATION = (
    select(_OPS.c.status)
    .where(_OPS.c.chain_id == _P.c.chain_id, _OPS.c.operation_id == _P.c.timelock_id)
    .scalar_subquery()
)
# mulDiv rounds down; div() truncates, the same for these non-negative numbers
_QUORUMED = select(
    _P,
    func.coalesce(_HEAD, const(0)).label("head_block"),
    func.div(
        _SUPPLY_AT_SNAPSHOT * func.coalesce(_NUMERATOR_AT_SNAPSHOT, const(0)),
        const(QUORUM_DENOMINATOR),
    ).label("quorum"),
    _OPERATION.label("operation"),
).subquery("q")
_Q = _QUORUMED.c
_QUORUM_REACHED = _Q.votes_for + _Q.votes_abstain >= _Q.quorum
_STATE = case(
    (_Q.executed_block.is_not(None), const("executed")),
    (_Q.canceled_block.is_not(None), const("canceled")),
    (_Q.vote_start >= _Q.head_block, const("pending")),
    (_Q.vote_end >= _Q.head_block, const("active")),
    (~(_QUORUM_REACHED & (_Q.votes_for > _Q.votes_against)), const("defeated")),
    (_Q.eta.is_(None), const("succeeded")),
    (_Q.operation == const("executed"), const("executed")),
    (_Q.operation == const("cancelled"), const("canceled")),
    else_=const("queued"),
)
_STATED = select(_QUORUMED, _STATE.label("state"), _QUORUM_REACHED.label("quorum_reached"))
_S = _STATED.subquery("s")

_BY_ID = select(_S).where(_S.c.proposal_id == bindparam("proposal_id"))
_FIND_ANY = CompiledQuery(_BY_ID)
_FIND_ON = CompiledQuery(_BY_ID.where(_S.c.chain_id == bindparam("chain_id")))


def parse_proposal_id(value: str) -> int:
    """A proposal id as given in a path or argument: a uint256 in decimal, else 400."""
    if not (value.isascii() and value.isdigit() and len(value) <= 78) or int(value) > UINT256_MAX:
        shown = value[:80].encode("unicode_escape").decode()
        raise Problem(
            400, "proposal.invalid_id", f"not a proposal id: {shown!r} (a uint256 in decimal)"
        )
    return int(value)


async def find_proposals(
    pool: Pool, settings: Settings, proposal_id: int, chain_id: int | None
) -> list[Row]:
    """Proposal `proposal_id` with its state and quorum (on `chain_id`, or any chain)."""
    if chain_id is None:
        return await _FIND_ANY.all(pool, settings.read_schema, {"proposal_id": proposal_id})
    params = {"proposal_id": proposal_id, "chain_id": chain_id}
    return await _FIND_ON.all(pool, settings.read_schema, params)


@dataclass(frozen=True, kw_only=True)
class ProposalFilter:
    """The filters of a proposals page (None: not filtered)."""

    state: str | None = None
    proposer: bytes | None = None
    chain_id: int | None = None


#: Newest first.
_PROPOSALS = NewestFirst(
    select(_S),
    [
        KeyColumn(column=_S.c.created_block),
        KeyColumn(column=_S.c.proposal_id, uint256=True),
        KeyColumn(column=_S.c.chain_id),
    ],
    {
        "state": lambda q: q.where(_S.c.state == bindparam("state")),
        "proposer": lambda q: q.where(_S.c.proposer == bindparam("proposer")),
        "chain_id": lambda q: q.where(_S.c.chain_id == bindparam("chain_id")),
    },
)


async def read_proposals(
    pool: Pool, settings: Settings, filters: ProposalFilter, *, limit: int, cursor: str | None
) -> KeysetPage[Row]:
    """A page of proposals (with state and quorum), newest first."""
    values = {"state": filters.state, "proposer": filters.proposer, "chain_id": filters.chain_id}
    return await _PROPOSALS.read(pool, settings.read_schema, values, limit=limit, cursor=cursor)


# -- votes ------------------------------------------------------------------------------------
#: Newest first.
_VOTE_LIST = NewestFirst(
    select(_VOTES),
    [KeyColumn(column=c) for c in (_VOTES.c.block_number, _VOTES.c.log_index, _VOTES.c.chain_id)],
    {
        "proposal_id": lambda q: q.where(_VOTES.c.proposal_id == bindparam("proposal_id")),
        "chain_id": lambda q: q.where(_VOTES.c.chain_id == bindparam("chain_id")),
        "voter": lambda q: q.where(_VOTES.c.voter == bindparam("voter")),
        "support": lambda q: q.where(_VOTES.c.support == bindparam("support")),
    },
)


@dataclass(frozen=True, kw_only=True)
class VoteFilter:
    """Which votes: of one proposal (`proposal_id` on `chain_id`) or by one `voter`."""

    chain_id: int | None = None
    proposal_id: int | None = None
    voter: bytes | None = None
    support: int | None = None


async def read_votes(
    pool: Pool, settings: Settings, filters: VoteFilter, *, limit: int, cursor: str | None
) -> KeysetPage[Row]:
    """A page of votes, newest first."""
    values = {
        "proposal_id": filters.proposal_id,
        "chain_id": filters.chain_id,
        "voter": filters.voter,
        "support": filters.support,
    }
    return await _VOTE_LIST.read(pool, settings.read_schema, values, limit=limit, cursor=cursor)


# -- parameters -------------------------------------------------------------------------------
_CHANGES_OF = CompiledQuery(
    select(_CHANGES)
    .where(_CHANGES.c.chain_id == bindparam("chain_id"))
    .order_by(_CHANGES.c.block_number, _CHANGES.c.log_index)
)
_HEAD_OF = CompiledQuery(
    select(_CURSORS.c.chain_id, _CURSORS.c.block_number).order_by(_CURSORS.c.chain_id)
)


async def parameter_changes(pool: Pool, settings: Settings, chain_id: int) -> list[Row]:
    """Every parameter change on `chain_id`, oldest first (a handful: settings change
    rarely)."""
    return await _CHANGES_OF.all(pool, settings.read_schema, {"chain_id": chain_id})


async def indexed_heads(pool: Pool, settings: Settings) -> dict[int, int]:
    """The indexed head block of every chain."""
    rows = await _HEAD_OF.all(pool, settings.read_schema)
    return {row["chain_id"]: row["block_number"] for row in rows}


async def chain_of(pool: Pool, settings: Settings, chain_id: int | None) -> int:
    """`chain_id`, or the one indexed chain when not given (400 when several are)."""
    if chain_id is not None:
        return chain_id
    chains = sorted(await indexed_heads(pool, settings))
    if len(chains) > 1:
        raise Problem(400, "chain.ambiguous", f"chains {chains} are indexed: pass chain_id")
    if not chains:
        raise Problem(404, "governance.not_deployed", "no chain is indexed yet")
    return chains[0]


# -- voting power -----------------------------------------------------------------------------
#: Staking, the Governor's votes contract: the one whose Staked events the chain has.
_STAKING = (
    select(_SUPPLY.c.contract)
    .where(_SUPPLY.c.chain_id == bindparam("chain_id"))
    .limit(const(1))
    .scalar_subquery()
)
_POWER = CompiledQuery(
    select(
        select(_DELEGATE_VOTES.c.votes)
        .where(
            _DELEGATE_VOTES.c.chain_id == bindparam("chain_id"),
            _DELEGATE_VOTES.c.token == _STAKING,
            _DELEGATE_VOTES.c.delegate == bindparam("account"),
        )
        .scalar_subquery()
        .label("votes"),
        select(_DELEGATIONS.c.delegate)
        .where(
            _DELEGATIONS.c.chain_id == bindparam("chain_id"),
            _DELEGATIONS.c.token == _STAKING,
            _DELEGATIONS.c.delegator == bindparam("account"),
        )
        .scalar_subquery()
        .label("delegate"),
        select(func.count())
        .select_from(_DELEGATIONS)
        .where(
            _DELEGATIONS.c.chain_id == bindparam("chain_id"),
            _DELEGATIONS.c.token == _STAKING,
            _DELEGATIONS.c.delegate == bindparam("account"),
        )
        .scalar_subquery()
        .label("delegators"),
        select(_STAKES.c.staked)
        .where(
            _STAKES.c.chain_id == bindparam("chain_id"), _STAKES.c.account == bindparam("account")
        )
        .scalar_subquery()
        .label("stake"),
    )
)


async def voting_power(pool: Pool, settings: Settings, chain_id: int, account: bytes) -> Row:
    """`account`'s votes, delegate, delegators and active stake on `chain_id`'s Staking."""
    params = {"chain_id": chain_id, "account": account}
    [row] = await fetch_all(pool, _POWER.sql(settings.read_schema), params)
    return row
