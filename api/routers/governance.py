"""GET /governance, /proposals, /proposals/{id}, its /votes, /accounts/{address}/votes and
/voting-power/{address} (/work/gov-api-contract.md). Everything is read from the folded
events and the indexed head; nothing asks the chain."""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import APIRouter, Path, Query

from api.actions import NAMED, actions_of
from api.deps import DeploymentsDep, Pool, SettingsDep, parse_address, refuse_nul
from api.governance_queries import (
    QUORUM_DENOMINATOR,
    ProposalFilter,
    VoteFilter,
    chain_of,
    find_proposals,
    indexed_heads,
    parameter_changes,
    parse_proposal_id,
    read_proposals,
    read_votes,
    voting_power,
)
from api.governance_schemas import (
    GovernanceInfo,
    Proposal,
    ProposalDetail,
    ProposalStateName,
    Vote,
    VotingPower,
)
from api.pages import Page
from api.problems import Problem
from api.queries import Row, exactly_one
from api.render import address as checksum
from api.render import hex0x, uint
from api.schemas import ERRORS, ChainId, CursorParam, Limit
from common.chains import Deployments
from common.errors import ConfigurationError
from common.settings import Settings
from projections import parameters as p
from projections.governance import SUPPORT

router = APIRouter(tags=["governance"])

# Checked by the route (400 with a reason), not by a pattern (a 422): hostile ids, states
# and addresses (over 2^256, NUL bytes, anything) are refusals the client can read.
ProposalIdPath = Annotated[str, Path(max_length=200, description="uint256, decimal")]
AddressPath = Annotated[str, Path(max_length=200, description="0x address")]
STATES: tuple[str, ...] = get_args(ProposalStateName)
SUPPORTS = {name: value for value, name in SUPPORT.items()}


def to_proposal(row: Row) -> Proposal:
    """A proposal row (with its state and quorum) as the API model."""
    return Proposal(
        chain_id=row["chain_id"],
        proposal_id=str(row["proposal_id"]),
        proposer=checksum(row["proposer"]) or "",
        title=row["title"],
        description=row["description"],
        state=row["state"],
        vote_start=row["vote_start"],
        vote_end=row["vote_end"],
        votes_for=uint(row["votes_for"]) or "0",
        votes_against=uint(row["votes_against"]) or "0",
        votes_abstain=uint(row["votes_abstain"]) or "0",
        quorum=uint(row["quorum"]) or "0",
        quorum_reached=row["quorum_reached"],
        eta=row["eta"],
        created_block=row["created_block"],
        created_tx=hex0x(row["created_tx"]) or "",
        queued_block=row["queued_block"],
        executed_block=row["executed_block"],
        canceled_block=row["canceled_block"],
        finalized=row["finalized"],
        voters=row["voters"],
    )


def to_vote(row: Row) -> Vote:
    """A votes_v row as the API model."""
    return Vote(
        chain_id=row["chain_id"],
        proposal_id=str(row["proposal_id"]),
        voter=checksum(row["voter"]) or "",
        support=SUPPORT.get(row["support"], "abstain"),
        weight=uint(row["weight"]) or "0",
        reason=row["reason"],
        params=hex0x(row["params"]),
        block_number=row["block_number"],
        tx_hash=hex0x(row["tx_hash"]) or "",
        finalized=row["finalized"],
    )


def contract_names(deployments: Deployments, chain_id: int) -> dict[str, str]:
    """Lowercase address → platform contract name on chain `chain_id`, from its deployment
    manifest (empty without one: actions then show raw calls)."""
    try:
        chain = deployments.find(chain_id)
    except (ConfigurationError, ValueError):
        return {}
    if chain is None:
        return {}
    return {
        deployed.address.lower(): name
        for name, deployed in chain.deployment.contracts.items()
        if name in NAMED
    }


def parse_state(state: str | None) -> str | None:
    """A state filter, or 400 naming the states."""
    refuse_nul(state=state)
    if state is not None and state not in STATES:
        raise Problem(400, "proposal.invalid_state", f"state must be one of {', '.join(STATES)}")
    return state


def parse_support(support: str | None) -> int | None:
    """A support filter as GovernorCountingSimple's number, or 400."""
    refuse_nul(support=support)
    if support is None:
        return None
    if support not in SUPPORTS:
        raise Problem(400, "vote.invalid_support", "support must be one of for, against, abstain")
    return SUPPORTS[support]


def parse_account(value: str) -> bytes:
    """An address argument, with NUL refused by name first."""
    refuse_nul(address=value)
    return parse_address(value)


async def read_governance(pool: Pool, settings: Settings, chain_id: int | None) -> GovernanceInfo:
    """The Governor's settings on `chain_id` (the one indexed chain by default), folded from
    their events; 404 ``governance.not_deployed`` when the chain has no Governor."""
    chain = await chain_of(pool, settings, chain_id)
    latest: dict[str, Row] = {}
    for change in await parameter_changes(pool, settings, chain):
        latest[change["parameter"]] = change  # oldest first: the last one is in force
    governor = latest.get(p.VOTING_DELAY)
    if governor is None:
        raise Problem(404, "governance.not_deployed", f"no Governor is indexed on chain {chain}")

    def value(name: str) -> str | None:
        return str(latest[name]["new_value"]) if name in latest else None

    def number(name: str) -> int | None:
        text = value(name)
        return None if text is None else int(text)

    timelock = latest.get(p.TIMELOCK_DELAY)
    treasury = value(p.TREASURY)
    return GovernanceInfo(
        chain_id=chain,
        governor=checksum(governor["contract"]) or "",
        timelock=checksum(timelock["contract"]) if timelock else None,
        voting_delay=number(p.VOTING_DELAY) or 0,
        voting_period=number(p.VOTING_PERIOD) or 0,
        proposal_threshold=value(p.PROPOSAL_THRESHOLD) or "0",
        quorum_numerator=number(p.QUORUM_NUMERATOR) or 0,
        quorum_denominator=QUORUM_DENOMINATOR,
        timelock_delay=number(p.TIMELOCK_DELAY),
        head_block=(await indexed_heads(pool, settings)).get(chain, 0),
        fee_bps=number(p.FEE_BPS),
        treasury=checksum(bytes.fromhex(treasury[2:])) if treasury else None,
        min_worker_stake=value(p.MIN_WORKER_STAKE),
    )


@router.get("/governance", name="info", response_model=GovernanceInfo, responses=ERRORS)
async def get_governance(
    pool: Pool, settings: SettingsDep, chain_id: ChainId = None
) -> GovernanceInfo:
    """Voting delay and period, proposal threshold, quorum, Timelock delay and the
    platform settings the Timelock controls, folded from their events, at the indexed
    head block."""
    return await read_governance(pool, settings, chain_id)


@router.get("/proposals", name="list_proposals", response_model=Page[Proposal], responses=ERRORS)
async def list_proposals(
    pool: Pool,
    settings: SettingsDep,
    state: Annotated[str | None, Query(max_length=200, description=" | ".join(STATES))] = None,
    proposer: Annotated[str | None, Query(max_length=200, description="0x address")] = None,
    chain_id: ChainId = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Page[Proposal]:
    """Proposals, newest first (by creation block, then id), with their state at the
    indexed head; by state and proposer."""
    filters = ProposalFilter(
        state=parse_state(state),
        proposer=parse_account(proposer) if proposer is not None else None,
        chain_id=chain_id,
    )
    page = await read_proposals(pool, settings, filters, limit=limit, cursor=cursor)
    return page.render(to_proposal)


async def proposal_detail(
    pool: Pool,
    settings: Settings,
    deployments: Deployments,
    proposal_id: int,
    chain_id: int | None,
) -> ProposalDetail | None:
    """One proposal with its actions decoded; None when unknown (400 when ambiguous)."""
    rows = await find_proposals(pool, settings, proposal_id, chain_id)
    if not rows:
        return None
    row = exactly_one(rows, kind="proposal", ident=proposal_id)
    chain = row["chain_id"]
    changes = await parameter_changes(pool, settings, chain)
    actions = actions_of(row, contract_names(deployments, chain), changes)
    return ProposalDetail(**to_proposal(row).model_dump(), actions=actions)


@router.get(
    "/proposals/{proposal_id}", name="get_proposal", response_model=ProposalDetail, responses=ERRORS
)
async def get_proposal(
    pool: Pool,
    settings: SettingsDep,
    deployments: DeploymentsDep,
    proposal_id: ProposalIdPath,
    chain_id: ChainId = None,
) -> ProposalDetail:
    """A proposal with its actions in words, its tallies, quorum and state."""
    pid = parse_proposal_id(proposal_id)
    detail = await proposal_detail(pool, settings, deployments, pid, chain_id)
    if detail is None:
        raise Problem(404, "proposal.not_found", f"proposal {pid} not found")
    return detail


@router.get(
    "/proposals/{proposal_id}/votes",
    name="proposal_votes",
    response_model=Page[Vote],
    responses=ERRORS,
)
async def list_proposal_votes(
    pool: Pool,
    settings: SettingsDep,
    proposal_id: ProposalIdPath,
    support: Annotated[
        str | None, Query(max_length=200, description="for | against | abstain")
    ] = None,
    chain_id: ChainId = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Page[Vote]:
    """A proposal's votes, newest first (404 for an unknown proposal)."""
    pid = parse_proposal_id(proposal_id)
    wanted = parse_support(support)
    row = exactly_one(
        await find_proposals(pool, settings, pid, chain_id), kind="proposal", ident=pid
    )
    filters = VoteFilter(chain_id=row["chain_id"], proposal_id=pid, support=wanted)
    page = await read_votes(pool, settings, filters, limit=limit, cursor=cursor)
    return page.render(to_vote)


@router.get(
    "/accounts/{address}/votes", name="account_votes", response_model=Page[Vote], responses=ERRORS
)
async def list_account_votes(
    pool: Pool,
    settings: SettingsDep,
    address: AddressPath,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Page[Vote]:
    """The votes an account cast, newest first, on every chain."""
    filters = VoteFilter(voter=parse_account(address))
    page = await read_votes(pool, settings, filters, limit=limit, cursor=cursor)
    return page.render(to_vote)


@router.get(
    "/voting-power/{address}", name="voting_power", response_model=VotingPower, responses=ERRORS
)
async def get_voting_power(
    pool: Pool, settings: SettingsDep, address: AddressPath, chain_id: ChainId = None
) -> VotingPower:
    """An account's votes on Staking (delegated to it), its delegate, how many delegate
    to it, and its active stake."""
    account = parse_account(address)
    chain = await chain_of(pool, settings, chain_id)
    return to_voting_power(chain, account, await voting_power(pool, settings, chain, account))


def to_voting_power(chain_id: int, account: bytes, row: Row) -> VotingPower:
    """A voting-power row as the API model (zeros for an account that never staked)."""
    return VotingPower(
        chain_id=chain_id,
        address=checksum(account) or "",
        votes=uint(row["votes"]) or "0",
        delegate=checksum(row["delegate"]),
        delegators=row["delegators"] or 0,
        stake=uint(row["stake"]) or "0",
    )
