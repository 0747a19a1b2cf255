"""A reorg's retractions refold the aggregates they touch from the event store: together,
in one store read per projection, with the same result as refolding after each one; the
whole-chain stats subtract the retracted events instead, ending as a refold would."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from psycopg.rows import dict_row

from indexer.events import KIND_RETRACT, Checkpoint, Fact
from indexer.store_pg import PostgresEventStore
from projections.base import Projection, Row
from projections.projector import Projector
from projections.registry import all_projections
from projections.replay import replay
from projections.statehash import state_hash
from tests.projections.history import CHAIN, block_hash


def test_a_reorg_refolds_each_projection_in_one_read(
    fresh_db: str, store_with_reorg: PostgresEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_with_reorg
    head = store.head().position
    retractions = [e for e in store.read_after(0, 10_000) if e.kind == KIND_RETRACT]
    reads: list[tuple[frozenset[str], int]] = []
    find_live = store.find_live

    def counted(
        chain_id: int, names: frozenset[str], matching: list[dict[str, str]], before: int
    ) -> list[Fact]:
        reads.append((names, len(matching)))
        return find_live(chain_id, names, matching, before)

    monkeypatch.setattr(store, "find_live", counted)
    # Given the live projector folding the whole store (a reorg of 20 blocks) in one batch
    batched = Projector(fresh_db, store, schema="batched", batch_size=10_000)
    assert batched.run_once() == head
    batched.close()
    # Then its ~80 retractions cost one read per projection that refolds rows
    refolding = [p for p in all_projections() if not p.write_once]
    assert len(retractions) > 20
    assert 0 < len(reads) <= len(refolding)
    assert sum(n for _, n in reads) > len(reads)  # several aggregates per read
    # And the read models are those of a projector that refolds after each retraction
    # (one entry per batch: every batch ends with its refolds)
    reads.clear()
    one_by_one = Projector(fresh_db, store, schema="one_by_one", batch_size=1)
    assert one_by_one.run_once() == head
    one_by_one.close()
    assert len(reads) > len(retractions) / 2
    assert state_hash(fresh_db, "batched") == state_hash(fresh_db, "one_by_one")
    store.close()


def _stats_row(db_url: str, schema: str) -> dict[str, int] | None:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        row = conn.execute(f"SELECT * FROM {schema}.protocol_stats").fetchone()
    return {k: int(v) for k, v in row.items()} if row else None


def _fold_live(
    store: PostgresEventStore, stats: Projection, find_live: Callable[..., list[Fact]]
) -> Row | None:
    row = None
    for entry in find_live(CHAIN, stats.events, [{}], store.head().position + 1):
        row = stats.apply((CHAIN,), row, entry)
    return row


def test_stats_subtract_retracted_events_and_end_as_a_refold_would(
    fresh_db: str, store_with_reorg: PostgresEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_with_reorg
    stats = next(p for p in all_projections() if p.name == "protocol_stats")
    reads: list[frozenset[str]] = []
    find_live = store.find_live

    def counted(
        chain_id: int, names: frozenset[str], matching: list[dict[str, str]], before: int
    ) -> list[Fact]:
        reads.append(names)
        return find_live(chain_id, names, matching, before)

    monkeypatch.setattr(store, "find_live", counted)
    # Given the live projector through the store's reorg, in batches of 7 entries
    projector = Projector(fresh_db, store, schema="live", batch_size=7)
    assert projector.run_once() == store.head().position
    # Then the stats row never read the chain's history back
    assert stats.events not in reads
    # And it is the fold of the events still live, block included
    assert _stats_row(fresh_db, "live") == _fold_live(store, stats, find_live)
    # When a reorg orphans blocks 51-65 and no new block follows yet
    store.retract(
        CHAIN,
        50,
        Checkpoint(
            chain_id=CHAIN, block_number=50, block_hash=block_hash(50, 1), finalized_number=0
        ),
        (65, block_hash(65, 1)),
    )
    projector.run_once()
    # Then its block is that of the newest counted event left, as a refold would give
    row = _stats_row(fresh_db, "live")
    assert row == _fold_live(store, stats, find_live)
    assert row is not None and row["block_number"] <= 50
    # When the chain reorganises below its first block (every counted event orphaned)
    store.retract(
        CHAIN,
        0,
        Checkpoint(chain_id=CHAIN, block_number=0, block_hash=block_hash(0), finalized_number=0),
        (50, block_hash(50, 1)),
    )
    projector.run_once()
    projector.close()
    # Then there is no stats row left, as if nothing had happened on the chain
    assert _stats_row(fresh_db, "live") is None
    assert replay(fresh_db, store).state_hash == state_hash(fresh_db, "live")
    store.close()
