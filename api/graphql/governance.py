"""Governance in GraphQL: `proposals`, `proposal` (with `actions` and `votes`),
`votingPower` and `governance`, through the REST routes' own query functions
(api/governance_queries.py) and models, so both APIs answer alike."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from api.governance_queries import (
    ProposalFilter,
    VoteFilter,
    chain_of,
    parse_proposal_id,
    read_proposals,
    read_votes,
    voting_power,
)
from api.graphql.connections import Connection, connection, page_size
from api.graphql.context import Info
from api.graphql.scalars import BigInt
from api.routers.governance import (
    parse_account,
    parse_state,
    parse_support,
    proposal_detail,
    read_governance,
    to_proposal,
    to_vote,
    to_voting_power,
)


@strawberry.type(description="One call a proposal makes, decoded against the platform ABIs.")
class Action:
    target: str
    target_name: str | None
    value: BigInt
    calldata: str
    function: str | None
    args: JSON | None
    sentence: str


@strawberry.type(description="One vote as cast.")
class Vote:
    chain_id: int
    proposal_id: BigInt
    voter: str
    support: str = strawberry.field(description="for | against | abstain")
    weight: BigInt
    reason: str
    params: str | None
    block_number: int
    tx_hash: str
    finalized: bool


@strawberry.type(description="A proposal, its tallies and its state at the indexed head.")
class Proposal:
    chain_id: int
    proposal_id: BigInt
    proposer: str
    title: str
    description: str
    state: str = strawberry.field(
        description="pending | active | canceled | defeated | succeeded | queued | executed"
    )
    vote_start: int
    vote_end: int
    votes_for: BigInt
    votes_against: BigInt
    votes_abstain: BigInt
    quorum: BigInt
    quorum_reached: bool
    eta: datetime | None
    created_block: int
    created_tx: str
    queued_block: int | None
    executed_block: int | None
    canceled_block: int | None
    finalized: bool
    voters: int


@strawberry.type(description="A proposal with its actions and votes.")
class ProposalDetail(Proposal):
    actions: list[Action]

    @strawberry.field(description="its votes, newest first")
    async def votes(
        self, info: Info, support: str | None = None, first: int = 20, after: str | None = None
    ) -> Connection[Vote]:
        filters = VoteFilter(
            chain_id=self.chain_id,
            proposal_id=int(self.proposal_id),
            support=parse_support(support),
        )
        context = info.context
        page = await read_votes(
            context.pool, context.settings, filters, limit=page_size(first), cursor=after
        )
        return connection(page, lambda row: Vote(**to_vote(row).model_dump()))


@strawberry.type(description="An account's votes on Staking, its delegate and its stake.")
class VotingPower:
    chain_id: int
    address: str
    votes: BigInt
    delegate: str | None
    delegators: int
    stake: BigInt


@strawberry.type(description="The Governor's and Timelock's settings at the indexed head.")
class GovernanceInfo:
    chain_id: int
    governor: str
    timelock: str | None
    voting_delay: int
    voting_period: int
    proposal_threshold: BigInt
    quorum_numerator: int
    quorum_denominator: int
    timelock_delay: int | None
    head_block: int
    fee_bps: int | None
    treasury: str | None
    min_worker_stake: BigInt | None


@strawberry.type
class GovernanceQuery:
    """The governance root fields (mixed into `Query`)."""

    @strawberry.field(description="Proposals, newest first, by state and proposer.")
    async def proposals(
        self,
        info: Info,
        state: str | None = None,
        proposer: str | None = None,
        chain_id: int | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Proposal]:
        filters = ProposalFilter(
            state=parse_state(state),
            proposer=None if proposer is None else parse_account(proposer),
            chain_id=chain_id,
        )
        context = info.context
        page = await read_proposals(
            context.pool, context.settings, filters, limit=page_size(first), cursor=after
        )
        return connection(page, lambda row: Proposal(**to_proposal(row).model_dump()))

    @strawberry.field(description="One proposal with its actions and votes; null if unknown.")
    async def proposal(
        self, info: Info, id: BigInt, chain_id: int | None = None
    ) -> ProposalDetail | None:
        context = info.context
        detail = await proposal_detail(
            context.pool,
            context.settings,
            context.deployments,
            parse_proposal_id(str(id)),
            chain_id,
        )
        if detail is None:
            return None
        fields = detail.model_dump()
        actions = [Action(**a) for a in fields.pop("actions")]
        return ProposalDetail(**fields, actions=actions)

    @strawberry.field(description="An account's votes, delegate, delegators and stake.")
    async def voting_power(
        self, info: Info, address: str, chain_id: int | None = None
    ) -> VotingPower:
        context = info.context
        account = parse_account(address)
        chain = await chain_of(context.pool, context.settings, chain_id)
        row = await voting_power(context.pool, context.settings, chain, account)
        return VotingPower(**to_voting_power(chain, account, row).model_dump())

    @strawberry.field(description="Voting delay and period, threshold, quorum, Timelock delay.")
    async def governance(self, info: Info, chain_id: int | None = None) -> GovernanceInfo:
        info_model = await read_governance(info.context.pool, info.context.settings, chain_id)
        return GovernanceInfo(**info_model.model_dump())
