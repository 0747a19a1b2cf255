"""The pre-encoded rows (indexer.encode) are exactly what the reference encoding gives:
the hash chain byte for byte against ``canonical_encoding``, and the stored rows against a
plain typed COPY by psycopg (how the event store wrote rows before the fast path)."""

from __future__ import annotations

import pickle
from typing import Any

import orjson
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from indexer.decode import EventDecoder
from indexer.encode import (
    EncodedEvents,
    EventEncoder,
    LogKey,
    encode_events,
    entry_mid,
    tail_key,
)
from indexer.events import (
    GENESIS_HASH,
    KIND_LOG,
    KIND_RETRACT,
    BlockRecord,
    Checkpoint,
    DeadLetter,
    NewEvent,
    canonical_encoding,
    chain_hash,
)
from indexer.row import COLUMN_NAMES, COLUMNS, select_list
from indexer.rpc import Header, RangeTooLargeError, RpcError
from indexer.store_pg import PostgresEventStore
from indexer.sync import Batch, EncodedBatch, build_events, encode_logs, merge
from tests.indexer.test_decode import ADDRESSES, encoded_log

TRICKY = ['quote " and \\ backslash', "line\nbreak\ttab", "unicode é ü 😀 中文", "</x>", ""]


def h(n: int) -> bytes:
    return n.to_bytes(32, "big")


def event(block: int, log_index: int, chain: int = 1, tx: int = 0, **args: Any) -> NewEvent:
    return NewEvent(
        chain_id=chain,
        block_number=block,
        block_hash=h(block * 7 + chain),
        parent_hash=h((block - 1) * 7 + chain),
        block_timestamp=1_700_000_000 + block,
        tx_hash=h(10_000 + block * 10 + tx),
        tx_index=tx,
        log_index=log_index,
        address=bytes([log_index % 3 + 1]) * 20,
        event_name=["Purchased", "DatasetListed", "Transfer"][log_index % 3],
        args=args
        or {
            "n": str(2**256 - 1 - log_index),
            "ok": log_index % 2 == 0,
            "text": TRICKY[log_index % len(TRICKY)],
            "id": str(block),
        },
    )


def test_encoding_is_the_canonical_encoding_byte_for_byte() -> None:
    encoder = EventEncoder(1)
    for i in range(30):
        e = event(5 + i // 7, i, tx=i // 4)
        for incarnation, retracts in [(0, None), (3, None), (0, 12), (2, 2**40)]:
            rest, _ = encoder.encode(e, retracts)
            mid, _ = entry_mid(1, incarnation, retracts)
            kind = KIND_LOG if retracts is None else KIND_RETRACT
            expected = canonical_encoding(100 + i, kind, incarnation, retracts, e)
            assert b"[%d," % (100 + i) + mid + rest == expected


def test_tail_key_reads_block_number_hash_and_log_index() -> None:
    e = event(9, 123_456)
    _, tail = EventEncoder(1).encode(e)
    assert tail_key(tail) == LogKey(
        block_number=e.block_number, block_hash=e.block_hash, log_index=123_456
    )


def test_encoded_batches_pickle_and_merge() -> None:
    # Workers send EncodedBatch values (dead letters included) back by pickle
    a = encode_events(1, [event(5, 0), event(5, 1)])
    b = encode_events(1, [event(6, 0)])
    dead = DeadLetter(
        chain_id=1,
        block_number=6,
        block_hash=h(6),
        log_index=9,
        tx_hash=h(7),
        address=b"\x01" * 20,
        topics=("0xab",),
        data="0x",
        reason="bad data",
    )
    blocks = [BlockRecord(n, h(n), h(n - 1), n) for n in (5, 6)]
    first = EncodedBatch(5, 5, blocks[0], a, blocks[:1])
    second = EncodedBatch(6, 6, blocks[1], b, blocks[1:], [dead])
    assert pickle.loads(pickle.dumps(second)) == second
    # and consecutive ones are committed as one
    both = merge([first, second])
    assert (both.from_block, both.to_block, both.end) == (5, 6, blocks[1])
    assert both.events == EncodedEvents(1, a.rests + b.rests, a.tails + b.tails)
    assert (both.blocks, both.dead_letters) == (blocks, [dead])
    with pytest.raises(TypeError):
        merge([first, Batch(6, 6, blocks[1], [event(6, 0)], blocks[1:])])


def test_rpc_errors_survive_pickling() -> None:
    # Workers send their errors back to the main process, which acts on their fields.
    err = pickle.loads(pickle.dumps(RangeTooLargeError("too big", -32005, 40)))
    assert isinstance(err, RangeTooLargeError)
    assert (err.message, err.code, err.suggested_size) == ("too big", -32005, 40)
    plain = pickle.loads(pickle.dumps(RpcError("transport: reset")))
    assert (type(plain), plain.message, plain.code) == (RpcError, "transport: reset", None)


# -- raw logs -> encoded, in one pass, equals decode -> NewEvent -> encode ------------------
def _raw_logs(cases: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[bytes, Header]]:
    logs, headers = [], {}
    for i, raw in enumerate(cases):
        block = 10 + i // 4
        header = Header(block, h(block), h(block - 1), 1_700_000_000 + block, b"")
        headers[header.hash] = header
        logs.append(
            {
                **raw,
                "blockHash": "0x" + header.hash.hex(),
                "blockNumber": hex(block),
                "transactionHash": "0x" + h(500 + i // 2).hex().upper(),
                "transactionIndex": hex(i // 2),
                "logIndex": hex(i),
                "removed": False,
            }
        )
    return logs, headers


@settings(max_examples=60, deadline=None)
@given(st.lists(encoded_log(), min_size=1, max_size=12), st.data())
def test_one_pass_encoding_equals_decode_then_encode(
    cases: list[tuple[str, Any, dict[str, Any]]], data: st.DataObject
) -> None:
    raws = [raw for _, _, raw in cases]
    # Some logs the decoder must refuse: they become dead letters in both paths
    for i in data.draw(st.lists(st.integers(0, len(raws) - 1), max_size=3)):
        raws[i] = {**raws[i], "data": raws[i]["data"] + "ab"}
    if data.draw(st.booleans()):
        raws.append({"address": ADDRESSES["DataCoin"], "topics": [], "data": "0x"})
    logs, headers = _raw_logs(raws)
    decoder = EventDecoder(ADDRESSES)
    events, dead = build_events(1, decoder, logs, headers)
    encoded, dead_too = encode_logs(1, decoder, logs, headers)
    assert dead_too == dead
    assert encoded == encode_events(1, events)
    mid, _ = entry_mid(1, 0, None)
    for i, (e, rest) in enumerate(zip(events, encoded.rests, strict=True)):
        assert b"[%d," % i + mid + rest == canonical_encoding(i, KIND_LOG, 0, None, e)


# -- PostgreSQL: the fast path's rows equal a plain typed COPY of the reference -------------
REFERENCE_TYPES = [c.type for c in COLUMNS]


def _reference_rows(
    conn: psycopg.Connection[Any], entries: list[tuple[str, int, int | None, NewEvent]]
) -> None:
    """How rows were written before indexer.encode: canonical_encoding for the hash chain,
    psycopg's own dumpers for every column."""
    conn.execute("CREATE TEMP TABLE ref AS SELECT * FROM events WITH NO DATA")
    previous, position = GENESIS_HASH, 0
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY ref ({', '.join(COLUMN_NAMES)}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(REFERENCE_TYPES)
        for kind, incarnation, retracts, e in entries:
            position += 1
            previous = chain_hash(
                previous, canonical_encoding(position, kind, incarnation, retracts, e)
            )
            copy.write_row(
                (
                    position,
                    kind,
                    incarnation,
                    retracts,
                    previous,
                    e.chain_id,
                    e.block_number,
                    e.block_hash,
                    e.parent_hash,
                    e.block_timestamp,
                    e.tx_hash,
                    e.tx_index,
                    e.log_index,
                    e.address,
                    e.event_name,
                    Jsonb(e.args, dumps=lambda o: orjson.dumps(o).decode()),
                )
            )


def _rows(conn: psycopg.Connection[Any], table: str) -> list[tuple[Any, ...]]:
    columns = select_list(COLUMN_NAMES)
    return conn.execute(f"SELECT {columns} FROM {table} ORDER BY position").fetchall()


def cp(block: int, chain: int = 1) -> Checkpoint:
    e = event(block, 0, chain)
    record = BlockRecord(block, e.block_hash, e.parent_hash, e.block_timestamp)
    return Checkpoint(
        chain_id=chain,
        block_number=block,
        block_hash=e.block_hash,
        finalized_number=0,
        blocks=(record,),
    )


@pytest.mark.parametrize("fast", [False, True], ids=["append", "append_encoded"])
def test_stored_rows_equal_a_plain_typed_copy(fresh_db: str, fast: bool) -> None:
    store = PostgresEventStore(fresh_db)

    def append(events: list[NewEvent], block: int, expected: tuple[int, bytes] | None) -> None:
        if fast:
            store.append_encoded(encode_events(events[0].chain_id, events), cp(block), expected)
        else:
            store.append(events, cp(block), expected)

    # Given appends (many blocks, transactions, emitters, tricky strings), a retraction and
    # a block appended again after it (incarnation 1), with a second chain in between
    b5 = [event(5, i, tx=i // 3) for i in range(7)]
    b6 = [event(6, i, tx=i // 2) for i in range(5)]
    append(b5, 5, None)
    store.append([event(5, 0, chain=137)], cp(5, 137), None)
    append(b6, 6, (5, cp(5).block_hash))
    store.retract(
        1,
        5,
        Checkpoint(chain_id=1, block_number=5, block_hash=cp(5).block_hash, finalized_number=0),
        (6, cp(6).block_hash),
    )
    append(b6[:3], 6, (5, cp(5).block_hash))
    # Then every row equals the reference encoding of the same entries, hashes included
    entries: list[tuple[str, int, int | None, NewEvent]] = [
        *[(KIND_LOG, 0, None, e) for e in b5],
        (KIND_LOG, 0, None, event(5, 0, chain=137)),
        *[(KIND_LOG, 0, None, e) for e in b6],
        *[(KIND_RETRACT, 0, 9 + i, b6[i]) for i in reversed(range(5))],
        *[(KIND_LOG, 1, None, e) for e in b6[:3]],
    ]
    with psycopg.connect(fresh_db) as conn:
        _reference_rows(conn, entries)
        stored, reference = _rows(conn, "events"), _rows(conn, "ref")
    assert len(stored) == len(entries) == 21
    assert stored == reference
    head = store.head()
    assert (head.position, head.hash) == (21, bytes(reference[-1][4]))
    store.close()
