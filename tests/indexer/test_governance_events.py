"""Governance events go through the indexer into the event store like every other event:
the manifest of a governed deployment names the Timelock and the Governor, so their logs
(and Staking's vote events) are fetched, decoded, hash-chained and typed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.governance import Call, Governance, Proposal, Support, pass_proposal
from contracts.events import (
    FeeChanged,
    ProposalCreated,
    UnknownEvent,
    VoteCastWithParams,
    typed_event,
)
from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store import live_events
from indexer.store_pg import PostgresEventStore
from indexer.verify import verify_against_chain, verify_hash_chain
from tests.conftest import Platform
from tests.contracts.helpers import WAD, approve, coin, fund
from tests.indexer.activity import canonical_events, stored_events

GOVERNANCE_EVENTS = {
    "ProposalCreated",
    "VoteCast",
    "VoteCastWithParams",
    "ProposalQueued",
    "ProposalExecuted",
    "ProposalCanceled",
    "DelegateChanged",
    "DelegateVotesChanged",
    "CallScheduled",
    "CallExecuted",
    "FeeChanged",
}


@pytest.fixture
def store(fresh_db: str) -> Iterator[PostgresEventStore]:
    pg = PostgresEventStore(fresh_db)
    yield pg
    pg.close()


def governance_history(chain: Platform) -> Proposal:
    """Two stakers pass a fee change (one vote with params), and a second proposal is
    canceled; returns the passed one."""
    staking = chain.client.contract("Staking")
    voters = [chain.account(1), chain.account(2)]
    for voter in voters:
        fund(chain, voter.address, 5_000 * WAD)
        approve(voter, coin(chain), staking.address, 5_000 * WAD)
        voter.send(staking.functions.stake(5_000 * WAD))
    market = chain.client.contract("Marketplace")
    g = Governance(chain.client)
    canceled = Proposal(calls=(Call.to(market, "setFee", 0),), description="No fee")
    g.propose(voters[0], canceled)
    voters[0].send(g.governor.functions.cancel(*canceled.operation_args()))
    passed = Proposal(calls=(Call.to(market, "setFee", 123),), description="Fee 1.23%\nwhy: ✓")
    g.propose(voters[0], passed)
    g.mine_past_vote_start(passed)
    voters[1].send(
        g.governor.functions.castVoteWithReasonAndParams(
            g.proposal_id(passed), Support.FOR, "with params", b"\x01\x02"
        )
    )
    # the helper path: a fresh proposal, voted for by the first staker
    again = Proposal(calls=(Call.to(market, "setFee", 124),), description="Fee 1.24%")
    pass_proposal(chain.client, voters[0], [voters[0]], again)
    g.mine_past_vote_end(passed)
    g.queue(voters[1], passed)
    g.wait_timelock(passed)
    g.execute(voters[1], passed)
    return passed


def test_governance_events_are_indexed_typed_and_verified(
    governed: Platform, store: PostgresEventStore
) -> None:
    # Given a governed deployment with proposals created, voted, queued, executed, canceled
    passed = governance_history(governed)
    w3 = governed.client.w3
    head = w3.eth.block_number
    # When the indexer backfills to the head
    rpc = RpcClient(str(w3.provider.endpoint_uri))  # type: ignore[attr-defined]
    config = IndexerConfig(confirmations=0, poll_interval=0.02, initial_range=5)
    Indexer(rpc, store, governed.deployment, config=config).run(to_block=head)
    # Then every governance event is in the store, as the chain has it, none dead-lettered
    chain_id = governed.deployment.chain_id
    stored = stored_events(store, chain_id)
    assert stored == canonical_events(rpc.url, governed.deployment, head)
    assert {key[3] for key in stored} >= GOVERNANCE_EVENTS
    assert verify_hash_chain(store).ok
    audit = verify_against_chain(store, rpc, governed.deployment)
    assert audit.ok and audit.dead_letters == 0, audit.problems
    # And each decodes into its typed class (arrays included), none unknown
    typed = [typed_event(e.event.event_name, e.event.args) for e in live_events(store, chain_id)]
    assert not [t for t in typed if isinstance(t, UnknownEvent)]
    created = [t for t in typed if isinstance(t, ProposalCreated)]
    mine = next(t for t in created if t.description == passed.description)
    assert mine.targets == [passed.calls[0].target]
    assert mine.calldatas == [passed.calls[0].calldata]
    assert mine.values == [0] and mine.signatures == [""]
    assert mine.to_json()["calldatas"] == ["0x" + passed.calls[0].calldata.hex()]
    with_params = [t for t in typed if isinstance(t, VoteCastWithParams)]
    assert [(v.params, v.reason, v.weight) for v in with_params] == [
        (b"\x01\x02", "with params", 5_000 * WAD)
    ]
    fees = [(f.old_fee_bps, f.new_fee_bps) for f in typed if isinstance(f, FeeChanged)]
    assert fees == [(250, 124), (124, 123)]
