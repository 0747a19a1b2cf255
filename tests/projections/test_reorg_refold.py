"""A reorg's retractions refold the aggregates they touch from the event store: together,
in one store read per projection, with the same result as refolding after each one."""

from __future__ import annotations

import pytest

from indexer.events import KIND_RETRACT, Fact
from indexer.store_pg import PostgresEventStore
from projections.registry import all_projections
from projections.runner import ProjectionRunner
from projections.statehash import state_hash


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
    batched = ProjectionRunner(fresh_db, store, "batched", batch_size=10_000)
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
    one_by_one = ProjectionRunner(fresh_db, store, "one_by_one", batch_size=1)
    assert one_by_one.run_once() == head
    one_by_one.close()
    assert len(reads) > len(retractions) / 2
    assert state_hash(fresh_db, "batched") == state_hash(fresh_db, "one_by_one")
    store.close()
