"""Filtered range reads stay on the position index after a bulk append."""

from __future__ import annotations

import psycopg

from indexer.events import BlockRecord, Checkpoint, NewEvent
from indexer.store_pg import BULK_READ, PostgresEventStore


def _events(count: int) -> list[NewEvent]:
    names = ["Purchased", "Transfer", "Rated", "Transfer"]
    return [
        NewEvent(
            chain_id=1,
            block_number=1 + i // 50,
            block_hash=(1 + i // 50).to_bytes(32, "big"),
            parent_hash=(i // 50).to_bytes(32, "big"),
            block_timestamp=1_700_000_000,
            tx_hash=i.to_bytes(32, "big"),
            tx_index=0,
            log_index=i % 50,
            address=b"\x11" * 20,
            event_name=names[i % 4],
            args={"datasetId": str(i)},
        )
        for i in range(count)
    ]


def test_a_bulk_range_read_refreshes_stale_planner_statistics(fresh_db: str) -> None:
    # Given a bulk append the planner has not seen (no ANALYZE, autovacuum not yet run)
    store = PostgresEventStore(fresh_db)
    events = _events(2 * BULK_READ)
    last = events[-1].block_number
    block = BlockRecord(last, events[-1].block_hash, events[-1].parent_hash, 0)
    store.append(
        events,
        Checkpoint(
            chain_id=1,
            block_number=last,
            block_hash=events[-1].block_hash,
            finalized_number=0,
            blocks=(block,),
        ),
        None,
    )
    head = store.head().position
    query = (
        "SELECT position FROM events WHERE position > 0 AND position <= %s"
        " AND event_name = ANY(%s) ORDER BY position LIMIT 1000"
    )
    with psycopg.connect(fresh_db) as conn:
        (rows,) = conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'events'").fetchone()  # type: ignore[misc]
        assert rows < 0.8 * head
    # When a wide filtered read runs
    read = store.read_range(0, head, 1000, frozenset({"Purchased", "Rated"}))
    assert [e.event_name for e in read[:2]] == ["Purchased", "Rated"]
    # Then the statistics are fresh and such reads walk the position index in order
    with psycopg.connect(fresh_db) as conn:
        (rows,) = conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'events'").fetchone()  # type: ignore[misc]
        assert rows >= 0.8 * head
        plan = conn.execute("EXPLAIN " + query, (head, ["Purchased", "Rated"])).fetchall()
    assert "Index Scan using pk_events" in "\n".join(r[0] for r in plan)
    store.close()
