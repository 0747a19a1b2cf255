"""Governance in GraphQL answers as REST does on the same database."""

from __future__ import annotations

from api.governance_schemas import Action, GovernanceInfo, Vote, VotingPower
from api.governance_schemas import Proposal as ProposalModel
from common.governance import Call, Proposal, Support
from tests.api.governance_world import GovernedWorld, governed_world
from tests.api.test_graphql import camel, fields, graphql, same_values

__all__ = ["governed_world"]  # the module's fixture


def test_proposals_votes_and_voting_power_are_the_rest_ones(
    governed_world: GovernedWorld,
) -> None:
    # Given a proposal with two votes, indexed and projected
    g = governed_world
    market = g.world.platform.client.contract("Marketplace")
    proposal = Proposal(calls=(Call.to(market, "setFee", 275),), description="Fee to 2.75%")
    g.governance.propose(g.staker(1), proposal)
    pid = g.governance.proposal_id(proposal)
    g.governance.mine_past_vote_start(proposal)
    g.governance.vote(g.staker(1), proposal, Support.FOR)
    g.governance.vote(g.staker(2), proposal, Support.AGAINST)
    g.world.sync()
    client = g.client
    # When GraphQL and REST are asked the same things
    query = (
        f'{{ proposal(id: "{pid}") {{ {fields(ProposalModel)} actions {{ {fields(Action)} }}'
        f" votes(first: 1) {{ edges {{ node {{ {fields(Vote)} }} cursor }}"
        " pageInfo { hasNextPage endCursor } } } }"
    )
    got = graphql(client, query)["proposal"]
    rest = client.get(f"/proposals/{pid}").json()
    votes = client.get(f"/proposals/{pid}/votes", params={"limit": 1}).json()
    # Then they answer alike
    assert same_values({k: v for k, v in got.items() if k != "votes"}) == same_values(rest)
    assert same_values([e["node"] for e in got["votes"]["edges"]]) == same_values(votes["items"])
    assert got["votes"]["pageInfo"]["endCursor"] == votes["next_cursor"]
    page = graphql(
        client, '{ proposals(state: "active", first: 5) { edges { node { proposalId } } } }'
    )
    listed = client.get("/proposals", params={"state": "active", "limit": 5}).json()
    assert [e["node"]["proposalId"] for e in page["proposals"]["edges"]] == [
        p["proposal_id"] for p in listed["items"]
    ]
    me = g.staker(1).address
    power = graphql(client, f'{{ votingPower(address: "{me}") {{ {fields(VotingPower)} }} }}')
    assert same_values(power["votingPower"]) == same_values(
        client.get(f"/voting-power/{me}").json()
    )
    info = graphql(client, f"{{ governance {{ {fields(GovernanceInfo)} }} }}")["governance"]
    assert same_values(info) == same_values(client.get("/governance").json())
    assert graphql(client, f'{{ proposal(id: "{2**256 - 1}") {{ title }} }}') == {"proposal": None}
    assert camel("votes_for") == "votesFor"


def test_a_bad_state_keeps_its_reason_and_code(governed_world: GovernedWorld) -> None:
    reply = governed_world.client.post(
        "/graphql", json={"query": '{ proposals(state: "expiring") { pageInfo { endCursor } } }'}
    )
    [error] = reply.json()["errors"]
    assert error["extensions"]["code"] == "proposal.invalid_state"
