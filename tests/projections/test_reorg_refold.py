"""A reorg's retractions restore the rows they touch from the undo records kept while
folding (no read of the store's history), with the same result as refolding each row from
the live events; without records (a reorg below finality) they refold the aggregates
together, one store read per projection. The whole-chain stats subtract the retracted
events instead, ending as a refold would."""

from __future__ import annotations

import random
from collections.abc import Callable

import psycopg
import pytest
from psycopg.rows import dict_row

from indexer.events import KIND_RETRACT, Checkpoint, Fact
from indexer.store_pg import PostgresEventStore
from projections import undo
from projections.base import Projection, Row
from projections.projector import Projector
from projections.registry import all_projections
from projections.replay import replay
from projections.statehash import state_hash
from tests.projections.history import CHAIN, append, block_hash, history


def _counting_reads(
    store: PostgresEventStore, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[frozenset[str], int]]:
    """The refold reads of `store` from now on: (names, how many aggregates) each."""
    reads: list[tuple[frozenset[str], int]] = []
    find_live = store.find_live

    def counted(
        chain_id: int, names: frozenset[str], matching: list[dict[str, str]], before: int
    ) -> list[Fact]:
        reads.append((names, len(matching)))
        return find_live(chain_id, names, matching, before)

    monkeypatch.setattr(store, "find_live", counted)
    return reads


def _fold(db_url: str, store: PostgresEventStore, schema: str, batch_size: int) -> None:
    projector = Projector(db_url, store, schema=schema, batch_size=batch_size)
    assert projector.run_once() == store.head().position
    projector.close()


def test_a_reorg_restores_rows_from_undo_records_without_reading_the_store(
    fresh_db: str, store_with_reorg: PostgresEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_with_reorg
    retractions = [e for e in store.read_after(0, 10_000) if e.kind == KIND_RETRACT]
    assert len(retractions) > 20
    reads = _counting_reads(store, monkeypatch)
    # Given projectors folding the whole store (a reorg of 20 blocks, none final): in one
    # batch, and one entry per batch (each retraction restored before the next entry)
    _fold(fresh_db, store, "batched", 10_000)
    _fold(fresh_db, store, "one_by_one", 1)
    # Then no retraction read the store's history: every row came back from its record
    assert reads == []
    # And the read models are those of refolding every row from the live events
    monkeypatch.setattr(undo, "keeps_records", lambda p: False)
    _fold(fresh_db, store, "refolded", 10_000)
    assert len(reads) > 0
    expected = state_hash(fresh_db, "refolded")
    assert state_hash(fresh_db, "batched") == expected
    assert state_hash(fresh_db, "one_by_one") == expected
    assert replay(fresh_db, store).state_hash == expected
    store.close()


def test_without_undo_records_a_reorg_refolds_each_projection_in_one_read(
    fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a projector that folded 60 blocks all final (so it kept no undo record)
    rng = random.Random(5)
    store = PostgresEventStore(fresh_db)
    append(store, history(rng, range(1, 61)), 60, 0, None, finalized=60)
    live = Projector(fresh_db, store, schema="live", batch_size=10_000)
    live.run_once()
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM live.projection_undo").fetchone() == (0,)
    # When the chain reorganises below its finalized block (a failure of its own)
    store.retract(
        CHAIN,
        40,
        Checkpoint(chain_id=CHAIN, block_number=40, block_hash=block_hash(40), finalized_number=0),
        (60, block_hash(60)),
    )
    append(store, history(rng, range(41, 66), fork=1), 65, 1, (40, block_hash(40)))
    reads = _counting_reads(store, monkeypatch)
    live.run_once()
    live.close()
    # Then its retractions cost one store read per projection that refolds rows
    refolding = [p for p in all_projections() if undo.keeps_records(p)]
    assert 0 < len(reads) <= len(refolding)
    assert sum(n for _, n in reads) > len(reads)  # several aggregates per read
    # And the read models are those of a replay
    assert replay(fresh_db, store).state_hash == state_hash(fresh_db, "live")
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
