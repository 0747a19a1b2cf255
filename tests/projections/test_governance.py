"""Governance read models through reorgs: an orphaned vote leaves the tally and the votes,
an orphaned delegation leaves the voting power, and the read models kept live through
those reorgs equal the final chain indexed from scratch (principle 3 of DESIGN.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.governance import Call, Governance, Proposal, Support, pass_proposal
from projections.statehash import state_hash
from tests.conftest import Platform, clone_database, drop_database
from tests.indexer.activity import WAD, mine, rpc_call
from tests.projections.test_final_chain import index_from_scratch
from tests.projections.test_projections_property import SCHEMA, World


@pytest.fixture
def world(governed: Platform, migrated_template: str) -> Iterator[World]:
    url = clone_database(migrated_template)
    w = World(governed, url)
    for i, amount in ((1, 5_000), (2, 3_000), (3, 1_000)):
        governed.account(i).send(w.staking.functions.stake(amount * WAD))
    yield w
    w.close()
    drop_database(url)


def rows(db_url: str, query: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return conn.execute(query.format(schema=SCHEMA), params).fetchall()


def reorg(world: World, depth: int) -> None:
    """Orphan the last `depth` blocks (anvil replaces them with empty ones), then grow."""
    rpc_call(world.w3, "anvil_reorg", [depth, []])
    mine(world.w3, 1)


def test_an_orphaned_vote_leaves_the_tally(world: World, migrated_template: str) -> None:
    chain = world.chain
    market = chain.client.contract("Marketplace")
    g = Governance(chain.client)
    proposal = Proposal(calls=(Call.to(market, "setFee", 300),), description="Fee to 3%")
    g.propose(chain.account(1), proposal)
    pid = g.proposal_id(proposal)
    g.mine_past_vote_start(proposal)
    g.vote(chain.account(1), proposal, Support.FOR)
    world.sync()
    # Given a second vote, folded into the tally
    g.vote(chain.account(2), proposal, Support.AGAINST)
    world.sync()
    tally = "SELECT votes_for, votes_against, voters FROM {schema}.proposals WHERE proposal_id = %s"
    assert rows(world.db_url, tally, pid) == [
        {"votes_for": 5_000 * WAD, "votes_against": 3_000 * WAD, "voters": 2}
    ]
    # When a reorg orphans the block that held it
    reorg(world, 1)
    world.sync()
    # Then the tally and the votes are as if it never happened
    assert rows(world.db_url, tally, pid) == [
        {"votes_for": 5_000 * WAD, "votes_against": 0, "voters": 1}
    ]
    voters = rows(world.db_url, "SELECT voter FROM {schema}.votes WHERE proposal_id = %s", pid)
    assert [bytes(v["voter"]) for v in voters] == [bytes.fromhex(chain.account(1).address[2:])]
    # And an orphaned delegation leaves the delegate's votes
    staking = world.staking
    chain.account(3).send(staking.functions.delegate(chain.account(1).address))
    world.sync()
    votes_of_1 = "SELECT votes FROM {schema}.delegate_votes WHERE delegate = %s AND token = %s"
    one = (bytes.fromhex(chain.account(1).address[2:]), bytes.fromhex(staking.address[2:]))
    assert rows(world.db_url, votes_of_1, *one) == [{"votes": 6_000 * WAD}]
    reorg(world, 1)
    world.sync()
    assert rows(world.db_url, votes_of_1, *one) == [{"votes": 5_000 * WAD}]
    # And the live read models equal the final chain's, indexed from scratch
    fresh_url = clone_database(migrated_template)
    try:
        assert index_from_scratch(chain, fresh_url) == state_hash(world.db_url, SCHEMA)
    finally:
        drop_database(fresh_url)


def test_a_whole_governance_life_equals_the_final_chain(
    world: World, migrated_template: str
) -> None:
    # Given proposals passed, canceled and voted on, with reorgs in between
    chain = world.chain
    market = chain.client.contract("Marketplace")
    g = Governance(chain.client)
    passed = Proposal(calls=(Call.to(market, "setFee", 123),), description="Fee 1.23%")
    pass_proposal(chain.client, chain.account(1), [chain.account(1)], passed)
    world.sync()
    canceled = Proposal(calls=(Call.to(market, "setFee", 0),), description="No fee")
    g.propose(chain.account(2), canceled)
    chain.account(2).send(g.governor.functions.cancel(*canceled.operation_args()))
    reorg(world, 1)  # the cancel is orphaned: the proposal stays
    world.sync()
    chain.account(1).send(world.staking.functions.requestUnstake(1_000 * WAD))
    world.sync()
    # When the final chain is indexed from scratch
    fresh_url = clone_database(migrated_template)
    try:
        # Then both hold the same read models, governance ones included
        assert index_from_scratch(chain, fresh_url) == state_hash(world.db_url, SCHEMA)
        fees = "SELECT new_value FROM {schema}.parameter_changes WHERE parameter = 'fee_bps'"
        assert rows(world.db_url, fees) == [{"new_value": "123"}]
        supply = "SELECT sum(added) - sum(removed) AS total FROM {schema}.voting_supply_changes"
        head = world.w3.eth.block_number
        mine(world.w3, 1)  # getPastTotalSupply reads blocks before the current one
        total = world.staking.functions.getPastTotalSupply(head)
        assert rows(world.db_url, supply) == [{"total": total.call()}]
        canceled_rows = rows(
            world.db_url,
            "SELECT canceled_block FROM {schema}.proposals WHERE proposal_id = %s",
            g.proposal_id(canceled),
        )
        assert canceled_rows == [{"canceled_block": None}]
    finally:
        drop_database(fresh_url)
