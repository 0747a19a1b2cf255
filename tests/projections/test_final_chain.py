"""Read models depend on the final chain only: a projector that lived through reorgs and
one that indexed the final chain from scratch into an empty database hold byte-identical
tables (principle 3 of DESIGN.md), though their event stores differ (retractions,
positions)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from projections.projector import Projector
from projections.statehash import state_hash
from tests.conftest import Platform, clone_database, drop_database
from tests.indexer.activity import rpc_call
from tests.projections.test_projections_property import ACTION, SCHEMA, World

#: A purchase orphaned by a reorg, then another purchase: past the reorg, the live
#: store's positions differ from a fresh index's (random actions follow).
REORGED_PURCHASE: list[tuple[Any, ...]] = [
    ("list", 1, 10, 0),
    ("sync",),
    ("buy", 2, 0),
    ("sync",),
    ("reorg", 1),
    ("buy", 3, 0),
    ("sync",),
]


def index_from_scratch(chain: Platform, db_url: str) -> str:
    """Index the chain as it is now into the empty database `db_url`, project it, and
    return its state hash."""
    store = PostgresEventStore(db_url)
    projector = Projector(db_url, store, schema=SCHEMA)
    try:
        w3 = chain.client.w3
        url = w3.provider.endpoint_uri  # type: ignore[attr-defined]
        cfg = IndexerConfig(confirmations=10_000, use_finalized_tag=False, poll_interval=0.01)
        Indexer(RpcClient(url), store, chain.deployment, config=cfg).run(
            to_block=w3.eth.block_number
        )
        projector.run_once()
        return state_hash(db_url, SCHEMA)
    finally:
        projector.close()
        store.close()


@settings(
    max_examples=4,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=st.lists(ACTION, min_size=3, max_size=14))
def test_live_through_reorgs_equals_final_chain_indexed_from_scratch(
    fresh_chain: Platform, migrated_template: str, actions: list[tuple[Any, ...]]
) -> None:
    chain = fresh_chain
    snapshot = rpc_call(chain.client.w3, "evm_snapshot", [])
    live_url = clone_database(migrated_template)
    world = World(chain, live_url)
    fresh_url = clone_database(migrated_template)
    try:
        # Given read models kept live through a reorg that orphaned a purchase, then
        # random activity with more reorgs
        for action in [*REORGED_PURCHASE, *actions]:
            world.act(action)
        world.sync()
        assert any(e.kind == "retract" for e in world.store.read_after(0, 100_000))
        live = state_hash(live_url, SCHEMA)
        # When the final chain is indexed from scratch into an empty database
        fresh = index_from_scratch(chain, fresh_url)
        # Then both hold the same read models
        assert fresh == live
    finally:
        world.close()
        drop_database(live_url)
        drop_database(fresh_url)
        rpc_call(chain.client.w3, "evm_revert", [snapshot])
