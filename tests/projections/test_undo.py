"""Reorgs and catch-ups whose cost must not grow with the store: a live reorg restores
rows from undo records, a catch-up across old reorgs records what it will need, and both
end on a replay's read models (the same state hash). Small stores here; ``bench.scale``
measures the same paths at 10M events."""

from __future__ import annotations

import psycopg
import pytest

from bench.scale_store import FINALITY_LAG, GrowingStore
from indexer.events import Fact
from indexer.store_pg import PostgresEventStore
from projections.projector import Projector
from projections.replay import replay
from projections.statehash import state_hash


def _history_reads(store: PostgresEventStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Refold reads of the store's history from now on (their `before` positions)."""
    reads: list[int] = []
    find_live = store.find_live

    def counted(
        chain_id: int, names: frozenset[str], matching: list[dict[str, str]], before: int
    ) -> list[Fact]:
        reads.append(before)
        return find_live(chain_id, names, matching, before)

    monkeypatch.setattr(store, "find_live", counted)
    return reads


def _undo_blocks(db_url: str, schema: str) -> tuple[int, int | None]:
    """How many undo records `schema` holds, and the lowest block among them."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(f"SELECT count(*), min(block_number) FROM {schema}.projection_undo")
        count, lowest = row.fetchone()  # type: ignore[misc]
    return count, lowest


def test_live_reorgs_restore_from_undo_records_and_end_as_a_replay(
    fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 4,000 events (80 blocks, finality 64 blocks behind the head) and a live
    # projector at the head
    grower = GrowingStore(PostgresEventStore(fresh_db))
    grower.grow_to(4_000)
    live = Projector(fresh_db, grower.store, schema="live")
    live.run_once()
    reads = _history_reads(grower.store, monkeypatch)
    # When the chain reorganises three times by 3 blocks, the projector folding each
    for _ in range(3):
        grower.reorg(3)
        assert live.run_once() == 300  # 150 retractions, 150 events of the new fork
    # Then no reorg read the store's history
    assert reads == []
    # And the records held are those of blocks not final yet
    head = grower.store.checkpoint(31337)
    assert head is not None
    count, lowest = _undo_blocks(fresh_db, "live")
    assert count > 0 and lowest is not None and lowest > head.block_number - FINALITY_LAG - 10
    # And the read models are a replay's
    assert replay(fresh_db, grower.store).state_hash == state_hash(fresh_db, "live")
    # When the chain goes on past finality of those blocks
    grower.grow_to(grower.store.head().position + (FINALITY_LAG + 5) * 50)
    live.run_once()
    live.close()
    # Then their records are gone (each fold commits the pruning of the final ones)
    _, lowest = _undo_blocks(fresh_db, "live")
    assert lowest is not None and lowest > head.block_number
    grower.store.close()


def test_a_catch_up_across_old_reorgs_equals_a_replay(
    fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a store that went through reorgs while its projector was down: it had
    # folded 2,000 events, then reorgs of 3 and 5 blocks happened among 7,000 more
    grower = GrowingStore(PostgresEventStore(fresh_db))
    grower.grow_to(2_000)
    before = Projector(fresh_db, grower.store, schema="live")
    before.run_once()
    before.close()
    grower.grow_to(4_000)
    grower.reorg(3)
    grower.grow_to(7_000)
    grower.reorg(5)
    grower.grow_to(9_000)
    reads = _history_reads(grower.store, monkeypatch)
    # When it restarts (an empty row cache) and catches up
    restarted = Projector(fresh_db, grower.store, schema="live", batch_size=700)
    assert restarted.run_once() == grower.store.head().position - 2_000
    restarted.close()
    # Then each retraction found the record its event left (the store named the
    # retracted entries when they were read), none read the history
    assert reads == []
    # And the catch-up's read models are byte for byte a replay's
    assert replay(fresh_db, grower.store).state_hash == state_hash(fresh_db, "live")
    grower.store.close()
