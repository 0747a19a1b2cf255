"""Fixtures of the projection tests."""

from __future__ import annotations

import random

import pytest

from indexer.events import Checkpoint
from indexer.store_pg import PostgresEventStore
from tests.projections.history import CHAIN, append, block_hash, history


@pytest.fixture
def store_with_reorg(fresh_db: str) -> PostgresEventStore:
    """~250 entries over 60 blocks, then a reorg retracting blocks 41-60 and a new fork."""
    rng = random.Random(11)
    store = PostgresEventStore(fresh_db)
    append(store, history(rng, range(1, 61)), 60, 0, None)
    store.retract(
        CHAIN,
        40,
        Checkpoint(chain_id=CHAIN, block_number=40, block_hash=block_hash(40), finalized_number=0),
        (60, block_hash(60)),
    )
    append(store, history(rng, range(41, 66), fork=1), 65, 1, (40, block_hash(40)))
    kinds = [e.kind for e in store.read_after(0, 10_000)]
    assert kinds.count("retract") > 20 and len(kinds) > 250
    return store
