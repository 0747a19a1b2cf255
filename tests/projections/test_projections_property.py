"""Random marketplace activity with reorgs on anvil: the incrementally maintained read
models equal a replay from zero, and both equal the final chain computed independently."""

from __future__ import annotations

from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from common.chain import RevertError
from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from projections.projector import Projector
from projections.replay import replay
from projections.statehash import state_hash
from tests.conftest import Platform, clone_database, drop_database
from tests.indexer.activity import WAD, fund, mine, rpc_call
from tests.projections.expected import (
    expected_datasets,
    expected_grants,
    expected_profiles,
    expected_stakes,
    expected_stats,
    expected_voting_power,
)

SCHEMA = "readmodels"
who = st.integers(1, 4)
idx = st.integers(0, 30)
ACTION = st.one_of(
    st.tuples(st.just("list"), who, st.integers(1, 50), st.sampled_from([0, 0, 3600])),
    st.tuples(st.just("buy"), who, idx),
    st.tuples(st.just("rate"), who, idx, st.integers(1, 5)),
    st.tuples(st.just("reprice"), idx, st.integers(1, 80)),
    st.tuples(st.just("delist"), idx),
    st.tuples(st.just("stake"), who, st.integers(1, 100)),
    st.tuples(st.just("unstake"), who, st.integers(1, 100)),
    st.tuples(st.just("profile"), who, st.integers(0, 2)),
    st.tuples(st.just("unprofile"), who),
    st.tuples(st.just("delegate"), who, who),
    st.tuples(st.just("reorg"), st.integers(1, 4)),
    st.tuples(st.just("sync")),
)


class World:
    """The chain, the event store and the live read models of one example."""

    def __init__(self, chain: Platform, db_url: str) -> None:
        self.chain = chain
        self.db_url = db_url
        self.store = PostgresEventStore(db_url)
        self.projector = Projector(db_url, self.store, schema=SCHEMA, batch_size=7)
        self.w3 = chain.client.w3
        self.market = chain.client.contract("Marketplace")
        self.staking = chain.client.contract("Staking")
        self.profiles = chain.client.contract("Profiles")
        coin = chain.client.contract("DataCoin")
        fund(chain, [1, 2, 3, 4])
        for i in range(1, 5):
            chain.account(i).send(coin.functions.approve(self.market.address, 2**255))
            chain.account(i).send(coin.functions.approve(self.staking.address, 2**255))
        self.floor = self.w3.eth.block_number  # reorgs never reach the setup blocks

    def dataset(self, index: int) -> int | None:
        count = self.market.functions.datasetCount().call()
        return index % count + 1 if count else None

    def act(self, action: tuple[Any, ...]) -> None:
        kind = action[0]
        try:
            match action:
                case ("list", i, price, duration):
                    cid = f"bafy-{self.w3.eth.block_number}"
                    listing = self.market.functions.listDataset(
                        cid, bytes(32), "tabular", price * WAD, duration
                    )
                    self.chain.account(i).send(listing)
                case ("buy", i, index) if d := self.dataset(index):
                    self.chain.account(i).send(self.market.functions.purchase(d, 2**255))
                case ("rate", i, index, score) if d := self.dataset(index):
                    self.chain.account(i).send(self.market.functions.rate(d, score))
                case ("reprice", index, price) if d := self.dataset(index):
                    provider = self.market.functions.providerOf(d).call()
                    sender = next(
                        self.chain.account(i)
                        for i in range(1, 5)
                        if self.chain.account(i).address == provider
                    )
                    sender.send(self.market.functions.setPrice(d, price * WAD))
                case ("delist", index) if d := self.dataset(index):
                    provider = self.market.functions.providerOf(d).call()
                    sender = next(
                        self.chain.account(i)
                        for i in range(1, 5)
                        if self.chain.account(i).address == provider
                    )
                    sender.send(self.market.functions.delist(d))
                case ("stake", i, amount):
                    self.chain.account(i).send(self.staking.functions.stake(amount * WAD))
                case ("unstake", i, amount):
                    self.chain.account(i).send(self.staking.functions.requestUnstake(amount * WAD))
                case ("profile" | "unprofile" | "delegate", *_):
                    self.account_action(action)
                case ("reorg", depth):
                    depth = min(depth, self.w3.eth.block_number - self.floor)
                    if depth > 0:
                        rpc_call(self.w3, "anvil_reorg", [depth, []])
                        mine(self.w3, 1)
                case ("sync",):
                    self.sync()
        except RevertError:
            pass  # an action the contracts refuse changes nothing (it is never sent)
        assert kind

    @property
    def staking_address(self) -> bytes:
        return bytes.fromhex(self.staking.address[2:])

    def account_action(self, action: tuple[Any, ...]) -> None:
        """Set account i's profile (to one of a few CIDs) or clear it; or move all its
        votes to another delegate (Staking's voting power, what governance counts)."""
        match action:
            case ("delegate", i, to):
                delegate = self.chain.account(to).address
                self.chain.account(i).send(self.staking.functions.delegate(delegate))
            case ("profile", i, version):
                cid = f"bafy-profile-{i}-{version}"
                self.chain.account(i).send(self.profiles.functions.setProfile(cid))
            case ("unprofile", i):
                self.chain.account(i).send(self.profiles.functions.clearProfile())

    def sync(self) -> None:
        head = self.w3.eth.block_number
        url = self.w3.provider.endpoint_uri  # type: ignore[attr-defined]
        # Every block is "unfinalized" so reorgs go through live-mode detection.
        cfg = IndexerConfig(confirmations=10_000, use_finalized_tag=False, poll_interval=0.01)
        Indexer(RpcClient(url), self.store, self.chain.deployment, config=cfg).run(to_block=head)
        self.projector.run_once()

    def close(self) -> None:
        self.projector.close()
        self.store.close()


def read_models(db_url: str, staking: bytes) -> dict[str, Any]:
    """The read models' rows (voting power: Staking's, whose address is `staking`)."""
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        # A dataset's counters are a row of their own (a left join: one missing is None)
        datasets = {
            int(r["dataset_id"]): r
            for r in conn.execute(
                f"SELECT d.*, c.purchases, c.rating_count, c.rating_sum FROM {SCHEMA}.datasets d"
                f" LEFT JOIN {SCHEMA}.dataset_counters c"
                " ON c.chain_id = d.chain_id AND c.dataset_id = d.dataset_id"
            )
        }
        grants = {
            (int(r["dataset_id"]), bytes(r["buyer"])): r
            for r in conn.execute(f"SELECT * FROM {SCHEMA}.access_grants")
        }
        stakes = {bytes(r["account"]): r for r in conn.execute(f"SELECT * FROM {SCHEMA}.stakes")}
        stats = conn.execute(f"SELECT * FROM {SCHEMA}.protocol_stats").fetchall()
        profiles = {
            bytes(r["account"]): r["profile_cid"]
            for r in conn.execute(f"SELECT * FROM {SCHEMA}.profiles")
        }
        delegations = {
            bytes(r["delegator"]): bytes(r["delegate"])
            for r in conn.execute(
                f"SELECT * FROM {SCHEMA}.delegations WHERE token = %s", (staking,)
            )
        }
        votes = {
            bytes(r["delegate"]): int(r["votes"])
            for r in conn.execute(
                f"SELECT * FROM {SCHEMA}.delegate_votes WHERE token = %s", (staking,)
            )
        }
    return {
        "datasets": datasets,
        "grants": grants,
        "stakes": stakes,
        "stats": stats,
        "profiles": profiles,
        "voting_power": {"delegations": delegations, "votes": votes},
    }


def assert_matches_chain(chain: Platform, db_url: str) -> None:
    staking = bytes.fromhex(chain.client.contract("Staking").address[2:])
    got = read_models(db_url, staking)
    want = expected_datasets(chain)
    assert set(got["datasets"]) == set(want)
    for dataset_id, fields in want.items():
        row = got["datasets"][dataset_id]
        assert {
            k: (bytes(row[k]) if isinstance(row[k], memoryview) else row[k]) for k in fields
        } == fields
    grants = expected_grants(chain)
    assert set(got["grants"]) == set(grants)
    for key, expiry in grants.items():
        row = got["grants"][key]
        assert (None if row["expires_at"] is None else int(row["expires_at"].timestamp())) == expiry
    stakes = expected_stakes(chain)
    assert {k: (int(r["staked"]), int(r["pending"])) for k, r in got["stakes"].items()} == stakes
    assert got["profiles"] == expected_profiles(chain)
    assert got["voting_power"] == expected_voting_power(chain)
    stats = expected_stats(chain)
    if stats["datasets_listed"] or stats["total_staked"]:
        (row,) = got["stats"]
        assert {k: int(row[k]) for k in stats} == stats


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=st.lists(ACTION, min_size=4, max_size=18))
def test_incremental_equals_replay_equals_chain(
    fresh_chain: Platform, migrated_template: str, actions: list[tuple[Any, ...]]
) -> None:
    chain = fresh_chain  # its own anvil: reorgs re-execute from clean state history
    snapshot = rpc_call(chain.client.w3, "evm_snapshot", [])
    db_url = clone_database(migrated_template)
    world = World(chain, db_url)
    try:
        for action in actions:
            world.act(action)
        world.sync()
        # Then: incremental == the independent projection of the final chain
        assert_matches_chain(chain, db_url)
        # And incremental == replay from position 0 (same state hash)
        live = state_hash(db_url, SCHEMA)
        replayed = replay(db_url, world.store, until=world.projector.position)
        assert replayed.state_hash == live
    finally:
        world.close()
        drop_database(db_url)
        rpc_call(chain.client.w3, "evm_revert", [snapshot])


def test_reorg_removes_an_orphaned_purchase_from_every_read_model(
    fresh_chain: Platform, migrated_template: str
) -> None:
    chain = fresh_chain
    db_url = clone_database(migrated_template)
    world = World(chain, db_url)
    try:
        # Given a listing, a purchase and a rating, projected
        for action in [
            ("list", 1, 10, 0),
            ("stake", 2, 5),
            ("sync",),
            ("buy", 2, 0),
            ("rate", 2, 0, 4),
            ("sync",),
        ]:
            world.act(action)
        before = read_models(db_url, world.staking_address)
        assert before["datasets"][1]["purchases"] == 1
        assert before["datasets"][1]["rating_sum"] == 4
        assert len(before["grants"]) == 1
        # When a reorg orphans the purchase and the rating
        world.act(("reorg", 2))
        world.sync()
        # Then the store holds retractions and the read models forget both
        assert any(e.kind == "retract" for e in world.store.read_after(0, 1000))
        after = read_models(db_url, world.staking_address)
        assert after["datasets"][1]["purchases"] == 0
        assert after["datasets"][1]["rating_count"] == 0
        assert after["grants"] == {}
        assert int(after["stats"][0]["purchases"]) == 0
        with psycopg.connect(db_url) as conn:
            assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.outbox").fetchone() == (0,)
            kinds = conn.execute(
                f"SELECT DISTINCT event_name FROM {SCHEMA}.account_activity"
            ).fetchall()
        assert ("Purchased",) not in kinds
        assert_matches_chain(chain, db_url)
        assert replay(db_url, world.store).state_hash == state_hash(db_url, SCHEMA)
    finally:
        world.close()
        drop_database(db_url)


def test_reorg_that_orphans_a_set_profile_removes_it(
    fresh_chain: Platform, migrated_template: str
) -> None:
    chain = fresh_chain
    db_url = clone_database(migrated_template)
    world = World(chain, db_url)
    try:
        # Given account 1's profile, replaced by a newer one, and account 2's, all projected
        for action in [("profile", 1, 0), ("sync",), ("profile", 1, 1), ("profile", 2, 0)]:
            world.act(action)
        world.sync()
        assert read_models(db_url, world.staking_address)["profiles"] == {
            bytes.fromhex(chain.account(1).address[2:].lower()): "bafy-profile-1-1",
            bytes.fromhex(chain.account(2).address[2:].lower()): "bafy-profile-2-0",
        }
        # When a reorg orphans the two newest transactions
        world.act(("reorg", 2))
        world.sync()
        # Then account 1 is back to its first profile and account 2 has none
        assert read_models(db_url, world.staking_address)["profiles"] == {
            bytes.fromhex(chain.account(1).address[2:].lower()): "bafy-profile-1-0"
        }
        assert_matches_chain(chain, db_url)
        assert replay(db_url, world.store).state_hash == state_hash(db_url, SCHEMA)
    finally:
        world.close()
        drop_database(db_url)
