"""Governance: stakers propose, vote, queue and execute through the DatacoinGovernor and
the Timelock, which owns the platform's admin functions after a governed deployment."""

from __future__ import annotations

from dataclasses import dataclass

from web3.contract import Contract

from common.chain import Transactor
from common.deploy import DEV_TIMING
from common.governance import Call, Governance, Proposal, ProposalState, Support, pass_proposal
from tests.conftest import GOVERNED, Platform
from tests.contracts.helpers import (
    WAD,
    ZERO_ADDRESS,
    approve,
    block_time,
    coin,
    fund,
    reverts,
    single_event,
)


@dataclass(frozen=True)
class Stakers:
    """Three stakers: a proposer with most of the stake, a second one, a small one."""

    big: Transactor  # 6000 DATACOIN: above the proposal threshold
    mid: Transactor  # 3000
    small: Transactor  # 100: below the 4% quorum (364 of 9100) on its own


def stake(chain: Platform, index: int, amount: int) -> Transactor:
    """Account `index`, funded with and staking `amount` (its first stake: self-delegated)."""
    staker = chain.account(index)
    staking = chain.client.contract("Staking")
    fund(chain, staker.address, amount)
    approve(staker, coin(chain), staking.address, amount)
    staker.send(staking.functions.stake(amount))
    return staker


def stakers(chain: Platform) -> Stakers:
    return Stakers(
        big=stake(chain, 1, 6_000 * WAD),
        mid=stake(chain, 2, 3_000 * WAD),
        small=stake(chain, 3, 100 * WAD),
    )


def fee_proposal(chain: Platform, fee_bps: int = 300, note: str = "") -> Proposal:
    market = chain.client.contract("Marketplace")
    return Proposal(
        calls=(Call.to(market, "setFee", fee_bps),),
        description=f"Set the protocol fee to {fee_bps} bps{note}",
    )


def governor(chain: Platform) -> Contract:
    return chain.client.contract("DatacoinGovernor")


def test_governed_deployment_hands_the_admin_to_the_timelock(governed: Platform) -> None:
    """Given a governed deployment, then the Timelock owns Marketplace and TrainingLog and
    is DataCoin's admin, the Governor is its only proposer and canceller, anyone executes,
    the deployer holds no role, and the Governor reads Staking's block-number votes with
    the configured settings."""
    c = governed.client
    timelock, gov = c.contract("Timelock"), governor(governed)
    me = governed.deployer.address
    assert c.contract("Marketplace").functions.owner().call() == timelock.address
    assert c.contract("TrainingLog").functions.owner().call() == timelock.address
    token = coin(governed)
    admin = token.functions.DEFAULT_ADMIN_ROLE().call()
    assert token.functions.hasRole(admin, timelock.address).call()
    assert not token.functions.hasRole(admin, me).call()
    roles = {
        name: timelock.functions[name]().call()
        for name in ("PROPOSER_ROLE", "CANCELLER_ROLE", "EXECUTOR_ROLE", "DEFAULT_ADMIN_ROLE")
    }
    for role in roles.values():
        assert not timelock.functions.hasRole(role, me).call()
    assert timelock.functions.hasRole(roles["PROPOSER_ROLE"], gov.address).call()
    assert timelock.functions.hasRole(roles["CANCELLER_ROLE"], gov.address).call()
    assert timelock.functions.hasRole(roles["EXECUTOR_ROLE"], ZERO_ADDRESS).call()
    assert timelock.functions.hasRole(roles["DEFAULT_ADMIN_ROLE"], timelock.address).call()
    assert timelock.functions.getMinDelay().call() == DEV_TIMING.timelock_delay
    assert gov.functions.token().call() == c.contract("Staking").address
    assert gov.functions.timelock().call() == timelock.address
    assert gov.functions.votingDelay().call() == DEV_TIMING.voting_delay
    assert gov.functions.votingPeriod().call() == DEV_TIMING.voting_period
    assert gov.functions.proposalThreshold().call() == GOVERNED.proposal_threshold
    assert gov.functions["quorumNumerator"]().call() == GOVERNED.quorum_percent
    assert gov.functions.CLOCK_MODE().call() == "mode=blocknumber&from=default"


def test_the_old_owner_can_no_longer_call_admin_functions(governed: Platform) -> None:
    """Given a governed deployment, when the deployer calls any admin function, then it
    reverts as for anyone else: the owner is the Timelock, which only runs proposals."""
    me = governed.deployer
    market = governed.client.contract("Marketplace")
    training = governed.client.contract("TrainingLog")
    for call in (
        market.functions.setFee(0),
        market.functions.setTreasury(me.address),
        market.functions.transferOwnership(me.address),
        training.functions.registerWorker(me.address),
        training.functions.removeWorker(me.address),
        training.functions.setMinWorkerStake(0),
    ):
        with reverts("OwnableUnauthorizedAccount", me.address):
            me.send(call)
    token = coin(governed)
    with reverts("AccessControlUnauthorizedAccount"):
        me.send(token.functions.grantRole(token.functions.MINTER_ROLE().call(), me.address))
    timelock = governed.client.contract("Timelock")
    with reverts("AccessControlUnauthorizedAccount"):
        me.send(
            timelock.functions.schedule(
                market.address, 0, b"", b"\x00" * 32, b"\x00" * 32, DEV_TIMING.timelock_delay
            )
        )


def test_propose_vote_queue_execute_changes_the_fee(governed: Platform) -> None:
    """Given stakers, when one proposes setFee(300), they vote for it, it is queued and,
    after the timelock's delay, executed, then the fee is 300 bps and the Marketplace
    emitted FeeChanged(250, 300); each step's event and state are as OpenZeppelin says,
    and executing before the delay reverts."""
    s = stakers(governed)
    gov = governor(governed)
    g = Governance(governed.client)
    market = governed.client.contract("Marketplace")
    proposal = fee_proposal(governed)

    created = single_event(gov, "ProposalCreated", g.propose(s.big, proposal))
    assert created["proposalId"] == g.proposal_id(proposal)
    assert created["proposer"] == s.big.address
    assert created["targets"] == [market.address]
    assert created["calldatas"] == [proposal.calls[0].calldata]
    assert created["description"] == proposal.description
    assert g.state(proposal) is ProposalState.PENDING
    with reverts("GovernorUnexpectedProposalState"):
        g.vote(s.mid, proposal, Support.FOR)  # not open before the snapshot

    g.mine_past_vote_start(proposal)
    assert g.state(proposal) is ProposalState.ACTIVE
    cast = single_event(gov, "VoteCast", g.vote(s.mid, proposal, Support.FOR))
    assert cast["voter"] == s.mid.address and cast["weight"] == 3_000 * WAD
    g.vote(s.small, proposal, Support.AGAINST)
    assert gov.functions.proposalVotes(created["proposalId"]).call() == [100 * WAD, 3_000 * WAD, 0]

    g.mine_past_vote_end(proposal)
    assert g.state(proposal) is ProposalState.SUCCEEDED
    queue_receipt = g.queue(s.small, proposal)
    queued = single_event(gov, "ProposalQueued", queue_receipt)
    eta = block_time(governed.client.w3, queue_receipt) + DEV_TIMING.timelock_delay
    assert queued == {"proposalId": created["proposalId"], "etaSeconds": eta}
    assert g.state(proposal) is ProposalState.QUEUED
    with reverts("TimelockUnexpectedOperationState"):
        g.execute(s.small, proposal)

    g.wait_timelock(proposal)
    receipt = g.execute(s.small, proposal)  # anyone may execute
    assert single_event(gov, "ProposalExecuted", receipt) == {"proposalId": created["proposalId"]}
    assert single_event(market, "FeeChanged", receipt) == {"oldFeeBps": 250, "newFeeBps": 300}
    assert market.functions.feeBps().call() == 300
    assert g.state(proposal) is ProposalState.EXECUTED


def test_a_proposal_with_more_against_is_defeated_and_cannot_be_queued(
    governed: Platform,
) -> None:
    """Given 6000 against and 3000 for, when the vote closes, then the proposal is
    defeated, queuing it reverts and the fee is unchanged."""
    s = stakers(governed)
    g = Governance(governed.client)
    proposal = fee_proposal(governed)
    g.propose(s.big, proposal)
    g.mine_past_vote_start(proposal)
    g.vote(s.big, proposal, Support.AGAINST)
    g.vote(s.mid, proposal, Support.FOR)
    g.mine_past_vote_end(proposal)
    assert g.state(proposal) is ProposalState.DEFEATED
    with reverts("GovernorUnexpectedProposalState"):
        g.queue(s.mid, proposal)
    assert governed.client.contract("Marketplace").functions.feeBps().call() == 250


def test_a_closed_vote_takes_no_more_votes(governed: Platform) -> None:
    """Given a proposal nobody voted on, when its voting period has passed, then it is
    defeated (no quorum) and a late vote reverts. (With GovernorTimelockControl a queued
    operation never expires: OpenZeppelin's Expired state belongs to the Compound
    timelock's grace period, so the vote window is the deadline there is.)"""
    s = stakers(governed)
    g = Governance(governed.client)
    proposal = fee_proposal(governed)
    g.propose(s.big, proposal)
    g.mine_past_vote_end(proposal)
    assert g.state(proposal) is ProposalState.DEFEATED
    with reverts("GovernorUnexpectedProposalState"):
        g.vote(s.big, proposal, Support.FOR)


def test_quorum_counts_for_and_abstain_of_the_stake_at_the_snapshot(governed: Platform) -> None:
    """Given 9100 staked (quorum 4%: 364), when only the 100-stake votes for, then the
    proposal is defeated for want of quorum; when the 6000-stake also abstains, the same
    proposal passes (abstentions count towards quorum, not for or against)."""
    s = stakers(governed)
    g = Governance(governed.client)
    gov = governor(governed)
    alone, abstained = fee_proposal(governed, note=" (a)"), fee_proposal(governed, note=" (b)")
    for proposal in (alone, abstained):
        g.propose(s.big, proposal)
    g.mine_past_vote_start(abstained)
    snapshot = gov.functions.proposalSnapshot(g.proposal_id(alone)).call()
    assert gov.functions.quorum(snapshot).call() == 9_100 * WAD * 4 // 100
    for proposal in (alone, abstained):
        g.vote(s.small, proposal, Support.FOR)
    g.vote(s.big, abstained, Support.ABSTAIN)
    g.mine_past_vote_end(abstained)
    assert g.state(alone) is ProposalState.DEFEATED
    assert g.state(abstained) is ProposalState.SUCCEEDED


def test_below_the_threshold_an_account_cannot_propose(governed: Platform) -> None:
    """Given a 100-DATACOIN staker (threshold 1000), when it proposes, then it reverts."""
    s = stakers(governed)
    with reverts("GovernorInsufficientProposerVotes"):
        Governance(governed.client).propose(s.small, fee_proposal(governed))


def test_a_flash_stake_after_the_snapshot_has_no_votes(governed: Platform) -> None:
    """Given an open proposal, when a whale stakes 50000 after its snapshot and votes,
    then its vote weighs 0 and the quorum is still 4% of the stake at the snapshot,
    though the whale's current votes are 50000."""
    s = stakers(governed)
    g = Governance(governed.client)
    gov = governor(governed)
    staking = governed.client.contract("Staking")
    proposal = fee_proposal(governed)
    g.propose(s.big, proposal)
    g.mine_past_vote_start(proposal)
    whale = stake(governed, 4, 50_000 * WAD)
    assert staking.functions.getVotes(whale.address).call() == 50_000 * WAD
    cast = single_event(gov, "VoteCast", g.vote(whale, proposal, Support.AGAINST))
    assert cast["weight"] == 0
    pid = g.proposal_id(proposal)
    assert gov.functions.proposalVotes(pid).call() == [0, 0, 0]
    snapshot = gov.functions.proposalSnapshot(pid).call()
    assert gov.functions.quorum(snapshot).call() == 9_100 * WAD * 4 // 100


def test_an_unstake_requested_after_the_snapshot_counts_for_that_proposal_only(
    governed: Platform,
) -> None:
    """Given an open proposal, when a staker requests to unstake all of its 3000 after
    the snapshot, then its votes are 0 at once, it still votes 3000 on that proposal, and
    on a proposal made after the request it votes 0."""
    s = stakers(governed)
    g = Governance(governed.client)
    gov = governor(governed)
    staking = governed.client.contract("Staking")
    before = fee_proposal(governed, note=" (before)")
    g.propose(s.big, before)
    g.mine_past_vote_start(before)
    s.mid.send(staking.functions.requestUnstake(3_000 * WAD))
    assert staking.functions.getVotes(s.mid.address).call() == 0
    after = fee_proposal(governed, note=" (after)")
    g.propose(s.big, after)
    g.mine_past_vote_start(after)
    assert single_event(gov, "VoteCast", g.vote(s.mid, before, Support.FOR))["weight"] == (
        3_000 * WAD
    )
    assert single_event(gov, "VoteCast", g.vote(s.mid, after, Support.FOR))["weight"] == 0


def test_the_proposer_cancels_a_pending_proposal(governed: Platform) -> None:
    """Given a pending proposal, when its proposer cancels it, then ProposalCanceled and
    it can no longer be voted on."""
    s = stakers(governed)
    g = Governance(governed.client)
    gov = governor(governed)
    proposal = fee_proposal(governed)
    g.propose(s.big, proposal)
    receipt = s.big.send(gov.functions.cancel(*proposal.operation_args()))
    assert single_event(gov, "ProposalCanceled", receipt) == {"proposalId": g.proposal_id(proposal)}
    assert g.state(proposal) is ProposalState.CANCELED
    g.mine_past_vote_start(proposal)
    with reverts("GovernorUnexpectedProposalState"):
        g.vote(s.big, proposal, Support.FOR)


def test_pass_proposal_registers_a_worker(governed: Platform) -> None:
    """Given stakers, when `pass_proposal` runs registerWorker and setMinWorkerStake as
    one proposal on the dev chain, then both apply (the demo's path to a worker)."""
    s = stakers(governed)
    training = governed.client.contract("TrainingLog")
    worker = governed.account(5).address
    proposal = Proposal(
        calls=(
            Call.to(training, "registerWorker", worker),
            Call.to(training, "setMinWorkerStake", 500 * WAD),
        ),
        description="Register worker 5; minimum stake 500",
    )
    receipt = pass_proposal(governed.client, s.big, [s.big, s.mid], proposal)
    assert single_event(training, "WorkerRegistered", receipt) == {"worker": worker}
    assert training.functions.isWorker(worker).call()
    assert training.functions.minWorkerStake().call() == 500 * WAD
