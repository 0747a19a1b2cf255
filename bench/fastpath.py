"""Measured prototypes of indexer hot-path changes (bench only; indexer/ is untouched).

``python -m bench.indexer_backfill --prototype`` runs our backfill a second way, with these
drop-in replacements, so a proposal for indexer/ comes with numbers. Each keeps the
indexer's observable behaviour: the same events, the same dead letters, and a byte-identical
tamper-evident hash chain (``verify_encoding`` checks the encoding against
``indexer.events.canonical_encoding``; the benchmark compares the final head hashes).

1. ``FastRangeFetcher``: ``build_events`` converts each block hash, transaction hash and
   address once per batch instead of once per log, skips the sort when the node already
   returned logs in order, and decodes with per-event functions generated from the ABI
   (straight-line code instead of a loop over a plan of closures).
2. ``FastPostgresEventStore._copy``: builds the binary COPY rows itself (``struct`` plus
   per-block and per-transaction prefixes cached), serialises each event's args to JSON
   once and reuses those bytes for both the canonical encoding (hash chain) and the JSONB
   column, instead of ``canonical_encoding`` + psycopg's per-column Python dumpers (the
   ``bytea`` dumper psycopg picks for ``set_types(["bytea"])`` is a pure-Python one).
3. A smaller initial getLogs range: with ``IndexerConfig.initial_range`` = 2,000 blocks the
   first range of a dense chain is the whole backfill, so fetching, decoding and writing run
   one after the other with no overlap and no parallel fetches.
"""

from __future__ import annotations

import multiprocessing
import struct
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import orjson
import psycopg

import indexer.runner
from common.manifest import Deployment
from indexer.decode import WORD, DecodeError, EventDecoder, _dynamic_at, _FastEvent
from indexer.events import (
    KIND_LOG,
    BlockRecord,
    Checkpoint,
    DeadLetter,
    Head,
    NewEvent,
    canonical_encoding,
)
from indexer.rpc import Header, RpcClient, RpcError
from indexer.store import Expected
from indexer.store_pg import COLUMNS, PostgresEventStore
from indexer.sync import Batch, RangeFetcher, RangeSizer

JsonObj = dict[str, Any]
Decoder = Callable[[list[str], str], JsonObj]

# -- 1. fetch/decode ------------------------------------------------------------------------
_ZERO_PAD = "0" * 24


def _compile(event: _FastEvent) -> Decoder:
    """Straight-line decoder for one event, equivalent to ``_FastEvent.decode``."""
    spec = event.spec
    helpers: dict[str, Any] = {"DecodeError": DecodeError, "_dynamic_at": _dynamic_at,
                               "WORD": WORD, "ZPAD": _ZERO_PAD}  # fmt: skip
    lines = [
        "def decode(topics, data):",
        f"    if len(topics) != {event.topic_count}:",
        f"        raise DecodeError('expected {event.topic_count} topics, got %d' % len(topics))",
        "    body = data[2:]",
        f"    if len(body) % WORD or len(body) < {event.data_words * WORD}:",
        "        raise DecodeError('data length does not fit the event')",
    ]
    out = []
    for n, (name, indexed, i, decoder, as_text) in enumerate(event.plan):
        param = next(p for p in spec.params if p.name == name)
        var = f"v{n}"
        word = f"topics[{i}][2:]" if indexed else f"body[{i * WORD}:{(i + 1) * WORD}]"
        if param.type == "address" and (indexed or decoder is not None):
            lines += [f"    w = {word}",
                      "    if w[:24] != ZPAD:",
                      "        raise DecodeError('address word has non-zero padding')",
                      f"    {var} = '0x' + w[24:].lower()"]  # fmt: skip
        elif param.type == "uint256":  # 64 hex digits always fit: no range check needed
            lines.append(f"    {var} = str(int({word}, 16))")
        elif decoder is not None:
            helpers[f"d{n}"] = decoder
            lines.append(f"    {var} = d{n}({word})")
        else:
            lines.append(f"    {var} = _dynamic_at(body, {word}, {as_text!r})")
        out.append(f"{name!r}: {var}")
    lines.append("    return {" + ", ".join(out) + "}")
    namespace: dict[str, Any] = dict(helpers)
    exec("\n".join(lines), namespace)  # code generated from our own ABI artifacts
    decode: Decoder = namespace["decode"]
    return decode


class FastDecoder:
    """(address, topic0) -> (event name, generated decoder), falling back to the original."""

    def __init__(self, decoder: EventDecoder) -> None:
        self.original = decoder
        self.table: dict[tuple[str, str], tuple[str, Decoder]] = {}
        for key, found in decoder._fast.items():
            if isinstance(found, _FastEvent):
                self.table[key] = (found.spec.name, _compile(found))

    def decode(self, raw: JsonObj) -> tuple[str, JsonObj]:
        topics: list[str] = raw["topics"]
        if topics:
            hit = self.table.get((raw["address"].lower(), topics[0].lower()))
            if hit is not None:
                return hit[0], hit[1](topics, raw["data"])
        return self.original.decode(raw)


def _ordered_unique(logs: list[JsonObj]) -> list[JsonObj]:
    """``_sorted_unique`` without the sort when the node already answered in order."""
    out: list[JsonObj] = []
    last = (-1, -1)
    for raw in logs:
        if raw.get("removed"):
            continue
        key = (int(raw["blockNumber"], 16), int(raw["logIndex"], 16))
        if key <= last:
            unique = {(r["blockHash"], r["logIndex"]): r for r in logs if not r.get("removed")}
            return sorted(
                unique.values(), key=lambda r: (int(r["blockNumber"], 16), int(r["logIndex"], 16))
            )
        last = key
        out.append(raw)
    return out


class FastRangeFetcher(RangeFetcher):
    """``RangeFetcher`` with a cheaper ``build_events`` (same results)."""

    def __init__(self, rpc: Any, decoder: EventDecoder, chain_id: int) -> None:
        super().__init__(rpc, decoder, chain_id)
        self.fast = FastDecoder(decoder)

    def fetch(self, start: int, end: int) -> Batch:
        logs = self.rpc.get_logs(start, end, self.decoder.addresses, self.decoder.topics)
        logs = _ordered_unique(logs)
        numbers = sorted({int(raw["blockNumber"], 16) for raw in logs} | {end})
        if numbers[0] < start or numbers[-1] > end:
            raise RpcError(f"getLogs [{start}, {end}] returned logs outside the range")
        headers = self.rpc.headers(numbers)
        by_hex = {"0x" + h.hash.hex(): h for h in headers}
        by_number = {h.number: h for h in headers}
        chain_id = self.chain_id
        decode = self.fast.decode
        events: list[NewEvent] = []
        dead: list[DeadLetter] = []
        tx_cache: dict[str, bytes] = {}
        addr_cache: dict[str, bytes] = {}
        block: Header | None = None
        block_hex = ""
        for raw in logs:
            bh = raw["blockHash"]
            if bh != block_hex:
                header = by_hex.get(bh.lower())
                if header is None or header.number != int(raw["blockNumber"], 16):
                    raise RpcError(f"block hashes changed while fetching [{start}, {end}]")
                block, block_hex = header, bh
            assert block is not None
            th = raw["transactionHash"]
            tx_hash = tx_cache.get(th)
            if tx_hash is None:
                tx_hash = tx_cache[th] = bytes.fromhex(th[2:])
            ah = raw["address"]
            address = addr_cache.get(ah)
            if address is None:
                address = addr_cache[ah] = bytes.fromhex(ah[2:])
            log_index = int(raw["logIndex"], 16)
            try:
                name, args = decode(raw)
            except DecodeError as exc:
                dead.append(
                    DeadLetter(chain_id, block.number, block.hash, log_index, tx_hash, address,
                               tuple(raw["topics"]), raw["data"], str(exc))
                )  # fmt: skip
                continue
            events.append(
                NewEvent(chain_id, block.number, block.hash, block.parent_hash, block.timestamp,
                         tx_hash, int(raw["transactionIndex"], 16), log_index, address, name,
                         args)
            )  # fmt: skip
        blocks = [BlockRecord(h.number, h.hash, h.parent_hash, h.timestamp) for h in headers]
        last = by_number[end]
        end_record = BlockRecord(last.number, last.hash, last.parent_hash, last.timestamp)
        return Batch(start, end, end_record, events, blocks, dead)


# -- 2. store ---------------------------------------------------------------------------
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_I8 = struct.Struct(">iq").pack  # length-prefixed int8 field
_I4 = struct.Struct(">ii").pack
_I2 = struct.Struct(">ih").pack
_BYTEA32 = struct.pack(">i", 32)
_NULL = struct.pack(">i", -1)
_ROW_START = struct.pack(">h", 16)
_JSONB = struct.Struct(">ib").pack  # length, then the JSONB binary format version (1)
_SORTED = orjson.OPT_SORT_KEYS


def _text(value: str) -> bytes:
    raw = value.encode()
    return struct.pack(">i", len(raw)) + raw


def _bytea(value: bytes) -> bytes:
    return struct.pack(">i", len(value)) + value


class RowEncoder:
    """Encodes events for the hash chain and for binary COPY into ``events``, caching the
    parts shared by a block, a transaction, a contract, an event name and a kind.

    ``parts`` returns (rest, mid, tail): the canonical encoding is ``b"[<position>," +
    rest`` and the COPY row is ``ROW_START + int8(position) + mid + bytea(hash) + tail``,
    so everything but the position and the hash can be computed before they are known."""

    def __init__(self) -> None:
        self.blocks: dict[tuple[int, int, bytes], tuple[bytes, bytes]] = {}
        self.txs: dict[bytes, tuple[bytes, bytes]] = {}
        self.addresses: dict[bytes, tuple[bytes, bytes]] = {}
        self.names: dict[str, tuple[bytes, bytes]] = {}
        self.kinds: dict[str, tuple[bytes, bytes]] = {}

    def parts(
        self, kind: str, incarnation: int, retracts: int | None, e: NewEvent
    ) -> tuple[bytes, bytes, bytes]:
        bkey = (e.chain_id, e.block_number, e.block_hash)
        block = self.blocks.get(bkey)
        if block is None:
            block = self.blocks[bkey] = (
                b'%d,"%s","%s",%d,' % (e.block_number, e.block_hash.hex().encode(),
                                      e.parent_hash.hex().encode(), e.block_timestamp),
                _I8(8, e.chain_id) + _I8(8, e.block_number) + _bytea(e.block_hash)
                + _bytea(e.parent_hash) + _I8(8, e.block_timestamp),
            )  # fmt: skip
        tx = self.txs.get(e.tx_hash)
        if tx is None:
            tx = self.txs[e.tx_hash] = (b'"%s",' % e.tx_hash.hex().encode(), _bytea(e.tx_hash))
        addr = self.addresses.get(e.address)
        if addr is None:
            addr = self.addresses[e.address] = (
                b'"%s",' % e.address.hex().encode(),
                _bytea(e.address),
            )
        name = self.names.get(e.event_name)
        if name is None:
            name = self.names[e.event_name] = (
                orjson.dumps(e.event_name) + b",",
                _text(e.event_name),
            )
        kinds = self.kinds.get(kind)
        if kinds is None:
            kinds = self.kinds[kind] = (orjson.dumps(kind) + b",", _text(kind))
        args = orjson.dumps(e.args, option=_SORTED)  # once: hash chain and JSONB column
        rest = b"".join((
            b"%d," % e.chain_id, kinds[0], b"%d," % incarnation, block[0], tx[0],
            b"%d,%d," % (e.tx_index, e.log_index), addr[0], name[0], args,
            b",null]" if retracts is None else b",%d]" % retracts,
        ))  # fmt: skip
        mid = kinds[1] + _I2(2, incarnation) + (_NULL if retracts is None else _I8(8, retracts))
        tail = b"".join((
            block[1], tx[1], _I4(4, e.tx_index), _I4(4, e.log_index), addr[1], name[1],
            _JSONB(len(args) + 1, 1), args,
        ))  # fmt: skip
        return rest, mid, tail


def chain_rows(head: Head, parts: Sequence[tuple[bytes, bytes, bytes]]) -> tuple[Head, bytes]:
    """Number and hash-chain encoded events after `head`: the new head and the COPY data."""
    position, previous = head.position, head.hash
    rows: list[bytes] = [_COPY_HEADER]
    for rest, mid, tail in parts:
        position += 1
        previous = sha256(previous + b"[%d," % position + rest).digest()
        rows.append(b"".join((_ROW_START, _I8(8, position), mid, _BYTEA32, previous, tail)))
    rows.append(_COPY_TRAILER)
    return Head(position, previous), b"".join(rows)


class FastPostgresEventStore(PostgresEventStore):
    """``PostgresEventStore`` whose COPY rows and hash chain are built in one pass."""

    verify_every = 0  # when > 0, compare every Nth encoding with canonical_encoding

    def _copy(
        self,
        cur: psycopg.Cursor[Any],
        head: Head,
        entries: Sequence[tuple[str, int, int | None, NewEvent]],
    ) -> Head:
        encoder = RowEncoder()
        parts = [encoder.parts(kind, inc, retracts, e) for kind, inc, retracts, e in entries]
        if self.verify_every:
            for n in range(0, len(entries), self.verify_every):
                kind, inc, retracts, e = entries[n]
                position = head.position + n + 1
                encoding = b"[%d," % position + parts[n][0]
                verify_encoding(encoding, position, kind, inc, retracts, e)
        head, data = chain_rows(head, parts)
        with cur.copy(f"COPY events ({COLUMNS}) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.write(data)
        return head


def verify_encoding(
    encoding: bytes, position: int, kind: str, incarnation: int, retracts: int | None, e: NewEvent
) -> None:
    """Raise if `encoding` differs from the indexer's canonical encoding."""
    expected = canonical_encoding(position, kind, incarnation, retracts, e)
    if encoding != expected:
        raise AssertionError(
            f"encoding differs at position {position}:\n{encoding!r}\n{expected!r}"
        )


@contextmanager
def fast_fetcher() -> Iterator[None]:
    """Make ``Indexer.backfill`` build ``FastRangeFetcher`` (restored on exit)."""
    original = indexer.runner.__dict__["RangeFetcher"]
    setattr(indexer.runner, "RangeFetcher", FastRangeFetcher)  # noqa: B010
    try:
        yield
    finally:
        setattr(indexer.runner, "RangeFetcher", original)  # noqa: B010


# -- 4. fetch, decode and encode in worker processes ----------------------------------------
@dataclass(frozen=True)
class EncodedBatch:
    """A fetched range, already encoded except for positions and hashes (see RowEncoder)."""

    start: int
    end: int
    end_record: BlockRecord
    blocks: list[BlockRecord]
    parts: list[tuple[bytes, bytes, bytes]]
    dead_letters: list[DeadLetter]


_WORKER: dict[str, FastRangeFetcher] = {}


def _worker_init(rpc_url: str, contracts: dict[str, str], chain_id: int) -> None:
    _WORKER["fetcher"] = FastRangeFetcher(RpcClient(rpc_url), EventDecoder(contracts), chain_id)


def _worker_ready(_: int) -> bool:
    return "fetcher" in _WORKER


def _worker_fetch(start: int, end: int) -> EncodedBatch:
    batch = _WORKER["fetcher"].fetch(start, end)
    encoder = RowEncoder()
    parts = [encoder.parts(KIND_LOG, 0, None, e) for e in batch.events]
    return EncodedBatch(start, end, batch.end, batch.blocks, parts, batch.dead_letters)


def start_pool(rpc_url: str, deployment: Deployment, processes: int) -> ProcessPoolExecutor:
    """A warm pool of fetch/decode/encode processes (forkserver: the parent has threads)."""
    contracts = {name: c.address for name, c in deployment.contracts.items()}
    pool = ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("forkserver"),
        initializer=_worker_init,
        initargs=(rpc_url, contracts, deployment.chain_id),
    )
    if not all(pool.map(_worker_ready, range(processes * 4))):
        raise RuntimeError("worker processes did not initialise")
    return pool


class EncodedEventStore(FastPostgresEventStore):
    """Appends batches the workers already encoded: only positions and hashes are left."""

    def append_encoded(
        self, batch: EncodedBatch, checkpoint: Checkpoint, expected: Expected
    ) -> Head:
        with self._transaction() as cur:
            if batch.dead_letters:
                raise NotImplementedError("prototype: dead letters take the regular path")
            head = self._lock_and_check(cur, checkpoint.chain_id, expected)
            if self._has_retractions.get(checkpoint.chain_id, True):  # checked once, cached
                cur.execute(
                    "SELECT EXISTS (SELECT 1 FROM events WHERE chain_id = %s AND kind = 'retract')",
                    (checkpoint.chain_id,),
                )
                row = cur.fetchone()
                self._has_retractions[checkpoint.chain_id] = bool(row and row[0])
            if self._has_retractions[checkpoint.chain_id]:
                raise NotImplementedError("prototype: after a retraction, take the regular path")
            if batch.parts:
                head, data = chain_rows(head, batch.parts)
                with cur.copy(f"COPY events ({COLUMNS}) FROM STDIN WITH (FORMAT BINARY)") as copy:
                    copy.write(data)
            self._save_checkpoint(cur, checkpoint, head)
        return head


def process_backfill(
    pool: ProcessPoolExecutor,
    store: EncodedEventStore,
    chain_id: int,
    start: int,
    end: int,
    sizer: RangeSizer,
    in_flight: int,
) -> int:
    """Backfill `start`..`end` (all final) with ranges fetched by `pool`, committed in order
    with the same checkpoints as ``Indexer.apply``; returns the number of events."""
    pending: deque[Future[EncodedBatch]] = deque()
    next_start = start
    expected: Expected = None
    events = 0
    while pending or next_start <= end:
        while len(pending) < in_flight and next_start <= end:
            stop = min(end, next_start + sizer.size - 1)
            pending.append(pool.submit(_worker_fetch, next_start, stop))
            next_start = stop + 1
        batch = pending.popleft().result()
        sizer.success(batch.end - batch.start + 1, len(batch.parts))
        cp = Checkpoint(chain_id, batch.end_record.number, batch.end_record.hash,
                        batch.end_record.number, tuple(batch.blocks))  # fmt: skip
        store.append_encoded(batch, cp, expected)
        expected = (batch.end_record.number, batch.end_record.hash)
        events += len(batch.parts)
    return events
