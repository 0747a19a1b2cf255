"""Governance through the API: a proposal's state, computed from the folded events and the
indexed head, equals the Governor's ``state()`` at the same block along whole lives
(executed, defeated twice, canceled, executed directly on the Timelock); tallies, quorum,
actions in words, parameters and voting power; hostile input refused with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.stream import STREAMED, to_update
from common.governance import Call, Proposal, Support
from common.manifest import Deployment
from indexer.store_pg import PostgresEventStore
from tests.api.governance_world import STAKES, GovernedWorld, governed_world
from tests.contracts.helpers import WAD
from tests.indexer.activity import mine

__all__ = ["governed_world"]  # the module's fixture


def propose(g: GovernedWorld, proposal: Proposal, by: int = 1) -> int:
    g.governance.propose(g.staker(by), proposal)
    return g.governance.proposal_id(proposal)


def assert_same_state(g: GovernedWorld, proposal_id: int, expected: str) -> None:
    states = g.synced_state(proposal_id)
    assert states.api == states.chain == expected


def mine_to(g: GovernedWorld, block: int) -> None:
    w3 = g.world.platform.client.w3
    assert w3.eth.block_number <= block
    if block > w3.eth.block_number:
        mine(w3, block - w3.eth.block_number)
    assert w3.eth.block_number == block


def fee_change(g: GovernedWorld, bps: int, description: str) -> Proposal:
    market = g.world.platform.client.contract("Marketplace")
    return Proposal(calls=(Call.to(market, "setFee", bps),), description=description)


def test_a_passed_proposal_matches_the_governor_at_every_step(
    governed_world: GovernedWorld,
) -> None:
    g = governed_world
    proposal = fee_change(g, 300, "Raise the fee to 3%\n\nThe treasury needs it.")
    # Given a proposal just made: pending, its action in words (no fee change seen yet)
    pid = propose(g, proposal)
    assert_same_state(g, pid, "pending")
    detail = g.client.get(f"/proposals/{pid}").json()
    assert detail["title"] == "Raise the fee to 3%"
    assert detail["proposer"] == g.staker(1).address
    [action] = detail["actions"]
    assert action["target_name"] == "Marketplace" and action["function"] == "setFee"
    assert action["args"] == {"newFeeBps": "300"}
    assert action["sentence"] == "Set the protocol fee to 3%"
    # When the chain reaches the snapshot block (still pending: the Governor's clock must
    # pass it), then the next block (active), and stakers vote: for, abstain, against
    mine_to(g, detail["vote_start"])
    assert_same_state(g, pid, "pending")
    mine_to(g, detail["vote_start"] + 1)
    assert_same_state(g, pid, "active")
    g.governance.vote(g.staker(1), proposal, Support.FOR)
    g.staker(2).send(
        g.governance.governor.functions.castVoteWithReason(pid, Support.ABSTAIN, "no view")
    )
    g.governance.vote(g.staker(3), proposal, Support.AGAINST)
    assert_same_state(g, pid, "active")
    detail = g.client.get(f"/proposals/{pid}").json()
    # Then the tallies and quorum are the Governor's
    governor = g.governance.governor.functions
    snapshot = detail["vote_start"]
    assert detail["votes_for"] == str(STAKES[1])
    assert detail["votes_abstain"] == str(STAKES[2])
    assert detail["votes_against"] == str(STAKES[3])
    assert detail["quorum"] == str(governor.quorum(snapshot).call())
    assert detail["quorum_reached"] is True and detail["voters"] == 3
    votes = g.client.get(f"/proposals/{pid}/votes", params={"support": "abstain"}).json()
    assert [(v["voter"], v["reason"], v["weight"]) for v in votes["items"]] == [
        (g.staker(2).address, "no view", str(STAKES[2]))
    ]
    # And at the deadline block, after the vote, queue, the Timelock's delay and
    # execution, every step agrees
    mine_to(g, detail["vote_end"])
    assert_same_state(g, pid, "active")
    g.governance.mine_past_vote_end(proposal)
    assert_same_state(g, pid, "succeeded")
    g.governance.queue(g.staker(2), proposal)
    assert_same_state(g, pid, "queued")
    eta = g.client.get(f"/proposals/{pid}").json()["eta"]
    assert eta is not None
    g.governance.wait_timelock(proposal)
    assert_same_state(g, pid, "queued")
    g.governance.execute(g.staker(2), proposal)
    assert_same_state(g, pid, "executed")
    detail = g.client.get(f"/proposals/{pid}").json()
    assert detail["actions"][0]["sentence"] == "Set the protocol fee from 2.5% to 3%"
    assert detail["executed_block"] is not None and detail["queued_block"] is not None
    info = g.client.get("/governance").json()
    assert info["fee_bps"] == 300


def test_defeated_and_canceled_proposals_match_the_governor(
    governed_world: GovernedWorld,
) -> None:
    g = governed_world
    # Given three proposals: one voted down, one nobody votes on, one canceled
    against = fee_change(g, 400, "Fee to 4%")
    unvoted = fee_change(g, 500, "Fee to 5%")
    canceled = fee_change(g, 600, "Fee to 6%")
    ids = [propose(g, p) for p in (against, unvoted, canceled)]
    g.staker(1).send(g.governance.governor.functions.cancel(*canceled.operation_args()))
    assert_same_state(g, ids[2], "canceled")
    g.governance.mine_past_vote_start(unvoted)
    g.governance.vote(g.staker(1), against, Support.AGAINST)
    g.governance.vote(g.staker(3), against, Support.FOR)
    assert_same_state(g, ids[0], "active")
    # When their votes close
    g.governance.mine_past_vote_end(unvoted)
    # Then the voted-down one and the one short of quorum are defeated, as on chain
    assert_same_state(g, ids[0], "defeated")
    assert_same_state(g, ids[1], "defeated")
    assert g.client.get(f"/proposals/{ids[1]}").json()["quorum_reached"] is False
    assert_same_state(g, ids[2], "canceled")
    # And the list filters by the computed state, newest first
    page = g.client.get("/proposals", params={"state": "defeated"}).json()
    assert [p["proposal_id"] for p in page["items"]][:2] == [str(ids[1]), str(ids[0])]


def test_a_proposal_executed_directly_on_the_timelock_is_executed(
    governed_world: GovernedWorld,
) -> None:
    g = governed_world
    # Given a passed, queued proposal whose delay is over
    proposal = fee_change(g, 350, "Fee to 3.5%, run by hand")
    pid = propose(g, proposal)
    g.governance.mine_past_vote_start(proposal)
    g.governance.vote(g.staker(1), proposal, Support.FOR)
    g.governance.mine_past_vote_end(proposal)
    g.governance.queue(g.staker(1), proposal)
    g.governance.wait_timelock(proposal)
    # When someone runs its operation on the Timelock itself (anyone may execute)
    targets, values, calldatas, description_hash = proposal.operation_args()
    governor = g.governance.governor.address
    padded = bytes.fromhex(governor[2:]).ljust(32, b"\0")
    salt = bytes(a ^ b for a, b in zip(padded, description_hash, strict=True))
    g.staker(3).send(
        g.governance.timelock.functions.executeBatch(targets, values, calldatas, bytes(32), salt)
    )
    # Then the Governor calls it executed without any event of its own, and so does the API
    assert_same_state(g, pid, "executed")


def test_parameters_and_voting_power(governed_world: GovernedWorld) -> None:
    g = governed_world
    g.world.sync()
    info = g.client.get("/governance").json()
    governor = g.governance.governor.functions
    assert info["governor"] == g.governance.governor.address
    assert info["timelock"] == g.governance.timelock.address
    assert info["voting_delay"] == governor.votingDelay().call()
    assert info["voting_period"] == governor.votingPeriod().call()
    assert info["proposal_threshold"] == str(governor.proposalThreshold().call())
    assert info["quorum_numerator"] == governor.quorumNumerator().call()
    assert info["quorum_denominator"] == governor.quorumDenominator().call()
    assert info["timelock_delay"] == g.governance.timelock.functions.getMinDelay().call()
    assert info["head_block"] == g.world.platform.client.w3.eth.block_number
    # Given staker 3 delegating to staker 1
    staking = g.world.platform.client.contract("Staking")
    g.staker(3).send(staking.functions.delegate(g.staker(1).address))
    g.world.sync()
    # Then their voting power is Staking's, not DataCoin's (its events have the same names)
    one = g.client.get(f"/voting-power/{g.staker(1).address}").json()
    assert one["votes"] == str(staking.functions.getVotes(g.staker(1).address).call())
    assert one["votes"] == str(STAKES[1] + STAKES[3])
    assert one["delegators"] == 2 and one["delegate"] == g.staker(1).address
    three = g.client.get(f"/voting-power/{g.staker(3).address.lower()}").json()
    assert three == {
        "chain_id": 31337,
        "address": g.staker(3).address,
        "votes": "0",
        "delegate": g.staker(1).address,
        "delegators": 0,
        "stake": str(STAKES[3]),
    }
    votes = g.client.get(f"/accounts/{g.staker(1).address}/votes", params={"limit": 1}).json()
    assert len(votes["items"]) == 1 and votes["next_cursor"]
    more = g.client.get(
        f"/accounts/{g.staker(1).address}/votes", params={"cursor": votes["next_cursor"]}
    ).json()
    assert more["items"] and more["items"][0]["block_number"] <= votes["items"][0]["block_number"]
    assert WAD  # amounts above are in wei


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (f"/proposals/{2**256}", "proposal.invalid_id"),
        ("/proposals/12abc", "proposal.invalid_id"),
        ("/proposals/1%00", "proposal.invalid_id"),
        ("/proposals/%C2%B2", "proposal.invalid_id"),
        (f"/proposals/{2**256}/votes", "proposal.invalid_id"),
        ("/proposals?cursor=bm90LWpzb24", "cursor.invalid"),
        ("/proposals?cursor=WzEsIDEsIDFd", "cursor.invalid"),
        ("/proposals?state=act%00ive", "text.nul_character"),
        ("/proposals?state=expiring", "proposal.invalid_state"),
        ("/proposals?proposer=0x12", "address.invalid"),
        ("/proposals?proposer=%00", "text.nul_character"),
        ("/proposals/1/votes?support=maybe", "vote.invalid_support"),
        ("/accounts/0x%00/votes", "text.nul_character"),
        ("/accounts/0xab/votes?cursor=%00", "address.invalid"),
        ("/voting-power/not-an-address", "address.invalid"),
        ("/accounts/" + "0x" + "ab" * 20 + "/votes?cursor=WyJ4Il0", "cursor.invalid"),
    ],
)
def test_hostile_input_is_a_400_with_a_reason(
    governed_world: GovernedWorld, path: str, code: str
) -> None:
    answer = governed_world.client.get(path)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == code and answer.json()["detail"]


def test_a_proposal_names_its_targets_without_reading_the_manifest_again(
    governed_world: GovernedWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest (which names the targets of a proposal's calls) is read once and kept
    while its file is unchanged, not parsed again for every request."""
    g = governed_world
    pid = propose(g, fee_change(g, 250, "Keep the fee at 2.5%"))
    g.world.sync()
    assert g.client.get(f"/proposals/{pid}").status_code == 200
    loads: list[Path] = []
    real_load = Deployment.load

    def counted(path: Path) -> Deployment:
        loads.append(path)
        return real_load(path)

    monkeypatch.setattr(Deployment, "load", counted)
    for _ in range(3):
        [action] = g.client.get(f"/proposals/{pid}").json()["actions"]
        assert action["target_name"] == "Marketplace"
    assert loads == []


def test_unknown_proposal_is_a_404(governed_world: GovernedWorld) -> None:
    answer = governed_world.client.get(f"/proposals/{2**256 - 1}")
    assert answer.status_code == 404 and answer.json()["code"] == "proposal.not_found"


def test_proposals_and_votes_are_streamed(governed_world: GovernedWorld) -> None:
    # Given the proposals and votes of the tests above in the event store
    store = PostgresEventStore(governed_world.world.db_url)
    try:
        facts = [e.fact() for e in store.read_after(0, 100_000)]
    finally:
        store.close()
    # When they are made SSE updates
    updates = [to_update(f) for f in facts if f.event_name in STREAMED]
    # Then proposals and votes have their topics, with the contract's payloads
    created = next(u for u in updates if u.event == "proposal")
    body = json.loads(created.data)
    assert body["event"] == "ProposalCreated" and body["retracted"] is False
    assert body["chain_id"] == 31337 and int(body["proposal_id"]) > 0
    vote = json.loads(next(u for u in updates if u.event == "vote").data)
    assert {"proposal_id", "voter", "weight"} <= vote.keys()
    assert vote["support"] in {"for", "against", "abstain"}
    assert {json.loads(u.data)["event"] for u in updates if u.event == "proposal"} >= {
        "ProposalCreated",
        "ProposalQueued",
        "ProposalExecuted",
        "ProposalCanceled",
    }
