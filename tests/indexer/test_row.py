"""The event row's one definition (indexer/row.py) and its format versions: the builders
read what the SELECT lists ask for, version 1 rows verify as they always did, and a row
in a version this code does not know is reported by the audit, not crashed on."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from indexer.events import FORMAT_V1, Checkpoint, StoredEvent
from indexer.row import COLUMN_NAMES, FACT_READ, STORED_READ, facts, stored_event
from indexer.store import InMemoryEventStore
from indexer.store_pg import PostgresEventStore
from indexer.verify import verify_hash_chain
from tests.indexer.test_encode import cp, event

#: The head of ``_write_v1`` as the code of before the row format existed computed it
#: (commit b8681f9): version 1's canonical encoding must never change.
V1_HEAD = (8, "65a3a092c91741af450783614240ada03afdee29f33264668d58414c1278d1d5")


def _distinct_row(names: tuple[str, ...]) -> tuple[object, ...]:
    """A row whose every column holds a value naming it (args: JSON text)."""
    return tuple('{"column": "args"}' if n == "args" else f"value of {n}" for n in names)


def test_builders_read_columns_in_the_order_the_select_lists_name_them() -> None:
    entry = stored_event(_distinct_row(STORED_READ))
    for name in STORED_READ:
        holder = entry.event if name in COLUMN_NAMES[5:] else entry
        expected = {"column": "args"} if name == "args" else f"value of {name}"
        assert getattr(holder, name) == expected, name
    [fact] = facts([_distinct_row(FACT_READ)])
    for name in FACT_READ:
        expected = {"column": "args"} if name == "args" else f"value of {name}"
        assert getattr(fact, name) == expected, name


def _write_v1(store: InMemoryEventStore | PostgresEventStore) -> None:
    store.append([event(5, i, tx=i // 3) for i in range(4)], cp(5), None)
    store.retract(
        1,
        4,
        Checkpoint(chain_id=1, block_number=4, block_hash=b"\x00" * 32, finalized_number=0),
        (5, cp(5).block_hash),
    )


@pytest.fixture
def pg(fresh_db: str) -> Iterator[PostgresEventStore]:
    store = PostgresEventStore(fresh_db)
    yield store
    store.close()


def test_version_1_rows_verify_as_before(pg: PostgresEventStore) -> None:
    # Given rows written as every row so far (the COPY leaves `format` to its default)
    _write_v1(pg)
    # Then they read back as version 1, with the hashes of before, and the chain verifies
    entries = pg.read_after(0, 100)
    assert {e.format for e in entries} == {FORMAT_V1}
    head = pg.head()
    assert (head.position, head.hash.hex()) == V1_HEAD
    report = verify_hash_chain(pg)
    assert report.ok and report.checked == 8, report.problems


def test_an_unknown_version_is_reported_and_the_audit_goes_on(
    pg: PostgresEventStore, fresh_db: str
) -> None:
    # Given a store whose last row claims a format this code does not know (a newer writer)
    _write_v1(pg)
    with psycopg.connect(fresh_db) as conn:
        copied = ", ".join(COLUMN_NAMES)
        head = pg.head()
        # (a copy of entry 1 as a new incarnation: the unique key forbids an exact copy)
        conn.execute(
            f"INSERT INTO events ({copied}, format) SELECT {head.position + 1}, kind, 9,"
            " retracts, hash, chain_id, block_number, block_hash, parent_hash, block_timestamp,"
            " tx_hash, tx_index, log_index, address, event_name, args, 7"
            " FROM events WHERE position = 1"
        )
    # When the hash chain is audited
    report = verify_hash_chain(pg)
    # Then that row is reported, by position and format, and every other row was checked
    assert report.checked == 9
    assert report.problems == [
        "position 9: unknown row format 7: not verified (written by a newer datacoin?)"
    ]


def test_the_in_memory_store_dispatches_on_the_format_too() -> None:
    store = InMemoryEventStore()
    _write_v1(store)
    assert (store.head().position, store.head().hash.hex()) == V1_HEAD
    entries = store.read_after(0, 100)
    entries[2] = StoredEvent(
        position=3,
        kind=entries[2].kind,
        incarnation=entries[2].incarnation,
        retracts=entries[2].retracts,
        hash=entries[2].hash,
        event=entries[2].event,
        format=2,
    )
    store._entries[2] = entries[2]
    report = verify_hash_chain(store)
    assert report.checked == 8
    assert report.problems == [
        "position 3: unknown row format 2: not verified (written by a newer datacoin?)"
    ]
