"""One contract, two implementations: the in-memory and the PostgreSQL event store."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from indexer.events import (
    GENESIS_HASH,
    BlockRecord,
    Checkpoint,
    NewEvent,
    chain_hash,
)
from indexer.store import CursorMovedError, EventStore, InMemoryEventStore, live_events
from indexer.store_pg import PostgresEventStore


def h(n: int, salt: int = 0) -> bytes:
    return (n * 1000 + salt).to_bytes(32, "big")


def event(
    chain: int, block: int, log_index: int, salt: int = 0, name: str = "Purchased"
) -> NewEvent:
    return NewEvent(
        chain_id=chain,
        block_number=block,
        block_hash=h(block, salt),
        parent_hash=h(block - 1, salt),
        block_timestamp=1_700_000_000 + block,
        tx_hash=h(block * 100 + log_index, salt),
        tx_index=0,
        log_index=log_index,
        address=b"\x11" * 20,
        event_name=name,
        args={"datasetId": str(block), "price": str(2**255 + log_index), "ok": True},
    )


def cp(chain: int, block: int, salt: int = 0, final: int = 0) -> Checkpoint:
    blocks = (BlockRecord(block, h(block, salt), h(block - 1, salt), 1_700_000_000 + block),)
    return Checkpoint(
        chain_id=chain,
        block_number=block,
        block_hash=h(block, salt),
        finalized_number=final,
        blocks=blocks,
    )


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[EventStore]:
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    url = request.getfixturevalue("fresh_db")
    pg = PostgresEventStore(url)
    yield pg
    pg.close()


def test_empty_store_has_genesis_head(store: EventStore) -> None:
    assert store.head().position == 0
    assert store.head().hash == GENESIS_HASH
    assert store.checkpoint(1) is None
    assert store.read_after(0, 10) == []


def test_append_assigns_gap_free_positions_and_chains_hashes(store: EventStore) -> None:
    # Given two appends for one chain
    store.append([event(1, 5, 0), event(1, 5, 1)], cp(1, 5), None)
    store.append([event(1, 7, 0)], cp(1, 7), (5, h(5)))
    # Then positions are 1..3 and each hash chains onto the previous one
    entries = store.read_after(0, 100)
    assert [e.position for e in entries] == [1, 2, 3]
    previous = GENESIS_HASH
    for e in entries:
        assert e.hash == chain_hash(previous, e.canonical())
        previous = e.hash
    assert store.head().position == 3 and store.head().hash == previous
    # And uint256 arguments come back exact
    assert entries[0].event.args["price"] == str(2**255)
    assert store.read_after(1, 1)[0].position == 2


def test_checkpoint_moves_with_events_and_guards_concurrent_writers(store: EventStore) -> None:
    store.append([event(1, 5, 0)], cp(1, 5, final=3), None)
    saved = store.checkpoint(1)
    assert saved is not None and (saved.block_number, saved.block_hash) == (5, h(5))
    assert saved.finalized_number == 3
    # A writer with a stale view of the cursor is refused, and nothing is appended
    with pytest.raises(CursorMovedError):
        store.append([event(1, 6, 0)], cp(1, 6), None)
    assert store.head().position == 1
    # An empty append still moves the cursor (blocks without platform events)
    store.append([], cp(1, 9), (5, h(5)))
    assert [b.number for b in store.recorded_blocks(1, 0)] == [5, 9]


def test_retract_appends_retractions_and_rewinds(store: EventStore) -> None:
    # Given events in blocks 5, 6 and 7
    store.append([event(1, 5, 0)], cp(1, 5), None)
    store.append([event(1, 6, 0), event(1, 6, 1)], cp(1, 6), (5, h(5)))
    store.append([event(1, 7, 0)], cp(1, 7), (6, h(6)))
    # When the chain reorganises above block 5
    out = store.retract(
        1, 5, Checkpoint(chain_id=1, block_number=5, block_hash=h(5), finalized_number=0), (7, h(7))
    )
    # Then every orphaned event gets one retraction, newest first, and nothing is edited
    assert [e.kind for e in out] == ["retract"] * 3
    assert [e.retracts for e in out] == [4, 3, 2]
    assert [e.event.block_number for e in live_events(store, 1)] == [5]
    assert store.head().position == 7
    assert [b.number for b in store.recorded_blocks(1, 0)] == [5]
    # And the replacement block's events append after, with new hashes
    store.append([event(1, 6, 0, salt=1)], cp(1, 6, salt=1), (5, h(5)))
    assert [(e.event.block_number, e.event.block_hash) for e in live_events(store, 1)] == [
        (5, h(5)),
        (6, h(6, 1)),
    ]


def test_block_that_returns_after_a_reorg_is_appended_as_a_new_incarnation(
    store: EventStore,
) -> None:
    store.append([event(1, 5, 0)], cp(1, 5), None)
    store.append([event(1, 6, 0)], cp(1, 6), (5, h(5)))
    store.retract(
        1, 5, Checkpoint(chain_id=1, block_number=5, block_hash=h(5), finalized_number=0), (6, h(6))
    )
    store.append([event(1, 6, 0)], cp(1, 6), (5, h(5)))  # the same block is canonical again
    entries = store.read_after(0, 10)
    assert [(e.kind, e.incarnation) for e in entries] == [
        ("log", 0),
        ("log", 0),
        ("retract", 0),
        ("log", 1),
    ]
    assert len(live_events(store, 1)) == 2


def test_two_chains_share_one_ordered_log(store: EventStore) -> None:
    store.append([event(1, 5, 0)], cp(1, 5), None)
    store.append([event(137, 5, 0)], cp(137, 5), None)
    store.append([event(1, 6, 0)], cp(1, 6), (5, h(5)))
    assert [e.event.chain_id for e in store.read_after(0, 10)] == [1, 137, 1]
    assert len(live_events(store, 137)) == 1
    c137 = store.checkpoint(137)
    assert c137 is not None and c137.block_number == 5


def test_postgres_refuses_edits_and_notifies_on_commit(fresh_db: str) -> None:
    pg = PostgresEventStore(fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as listener:
        listener.execute("LISTEN datacoin_events")
        pg.append([event(1, 5, 0)], cp(1, 5), None)
        notes = list(listener.notifies(timeout=2.0, stop_after=1))
        assert [n.payload for n in notes] == ["1"]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            listener.execute("DELETE FROM events")
    pg.close()


def test_read_range_bounds_filters_by_name_and_keeps_retractions(store: EventStore) -> None:
    # Given purchases and ratings over three blocks, then a reorg retracting block 7
    store.append([event(1, 5, 0), event(1, 5, 1, name="Rated")], cp(1, 5), None)
    store.append([event(1, 6, 0, name="Rated"), event(1, 6, 1)], cp(1, 6), (5, h(5)))
    store.append([event(1, 7, 0)], cp(1, 7), (6, h(6)))
    store.retract(
        1, 6, Checkpoint(chain_id=1, block_number=6, block_hash=h(6), finalized_number=0), (7, h(7))
    )
    # Then a range read honours both bounds and the limit
    assert [e.position for e in store.read_range(1, 5, 100)] == [2, 3, 4, 5]
    assert [e.position for e in store.read_range(1, 5, 2)] == [2, 3]
    assert store.read_range(6, 6, 10) == []
    # And a name filter keeps matching entries, a retraction included (it carries the name)
    purchases = store.read_range(0, 6, 100, frozenset({"Purchased"}))
    assert [(e.position, e.kind) for e in purchases] == [
        (1, "log"),
        (4, "log"),
        (5, "log"),
        (6, "retract"),
    ]
    assert store.read_range(0, 6, 100, frozenset()) == []
    # And entries read by range are those read by position, as projections see them
    assert store.read_range(0, 6, 100) == [e.fact() for e in store.read_after(0, 100)]


def test_find_live_and_last_live_skip_retracted_entries_and_match_any_pattern(
    store: EventStore,
) -> None:
    # Given purchases of datasets 5, 6 and 7 (one per block) and a rating, then a reorg
    # retracting block 7 (position 5 retracts position 4)
    store.append([event(1, 5, 0), event(1, 5, 1, name="Rated")], cp(1, 5), None)
    store.append([event(1, 6, 0)], cp(1, 6), (5, h(5)))
    store.append([event(1, 7, 0)], cp(1, 7), (6, h(6)))
    store.retract(
        1, 6, Checkpoint(chain_id=1, block_number=6, block_hash=h(6), finalized_number=0), (7, h(7))
    )
    purchased = frozenset({"Purchased"})
    everything: list[dict[str, str]] = [{}]  # ({} matches any args)
    # Then entries live at a position are those before it, not retracted by then
    assert [e.position for e in store.find_live(1, purchased, everything, 5)] == [1, 3]
    assert [e.position for e in store.find_live(1, purchased, everything, 4)] == [1, 3]
    assert [e.position for e in store.find_live(1, purchased, everything, 6)] == [1, 3]
    # And args must contain one of the patterns; names and the chain must match
    either = [{"datasetId": "6"}, {"datasetId": "5"}]
    assert [e.position for e in store.find_live(1, purchased, either, 6)] == [1, 3]
    assert [e.position for e in store.find_live(1, purchased, [{"datasetId": "7"}], 6)] == []
    assert store.find_live(1, purchased, [], 6) == []
    assert store.find_live(1, frozenset(), everything, 6) == []
    assert store.find_live(2, purchased, everything, 6) == []
    # And the last live entry is the newest of them (None when there is none)
    last = store.last_live(1, purchased, everything, 6)
    assert last is not None and last.position == 3
    rated = store.last_live(1, frozenset({"Rated"}), everything, 6)
    assert rated is not None and rated.position == 2
    assert store.last_live(1, purchased, [{"datasetId": "7"}], 6) is None
    assert store.last_live(1, purchased, everything, 1) is None


def test_retracted_between_names_the_retracted_entries_of_a_range(store: EventStore) -> None:
    # Given purchases in blocks 5, 6 and 7 (positions 1-4), then a reorg retracting
    # blocks 6 and 7 (positions 4 and 3, retracted by entries 5 and 6)
    store.append([event(1, 5, 0), event(1, 5, 1, name="Rated")], cp(1, 5), None)
    store.append([event(1, 6, 0)], cp(1, 6), (5, h(5)))
    store.append([event(1, 7, 0)], cp(1, 7), (6, h(6)))
    assert store.retracted_between(0, 4) == frozenset()
    store.retract(
        1, 5, Checkpoint(chain_id=1, block_number=5, block_hash=h(5), finalized_number=0), (7, h(7))
    )
    # Then a range names the retracted entries in it, by position, whatever the range of
    # the retractions themselves
    assert store.retracted_between(0, 6) == frozenset({3, 4})
    assert store.retracted_between(0, 3) == frozenset({3})
    assert store.retracted_between(3, 4) == frozenset({4})
    assert store.retracted_between(4, 6) == frozenset()
