"""Pre-encoded event-store entries: the hash chain's canonical bytes and binary COPY rows.

An entry's canonical encoding (``indexer.events.canonical_encoding``, the reference the
tests compare against) and its row in ``events`` differ per entry only in the position and
the hash, so everything else is encoded ahead of time (in fetch processes, see
``indexer.fetch_pool``) and the appender only numbers, hashes and joins:

    canonical = b"[" position b"," MID REST        (MID: chain_id, kind, incarnation)
    hash      = sha256(previous hash || canonical)
    COPY row  = int16 field count, int8 position, ROW_MID, bytea hash, TAIL

``REST`` is the JSON from ``block_number`` to ``retracts`` and ``TAIL`` the binary columns
from ``chain_id`` to ``args``; args are serialised once (sorted keys) and the same bytes go
into the hash chain and the JSONB column.

PostgreSQL's binary COPY format (docs: sql-copy.html, "Binary Format"): a signature
``PGCOPY\\n\\377\\r\\n\\0``, int32 flags 0, int32 header-extension length 0; then per tuple
an int16 field count and, per field, an int32 byte length (-1 for NULL) followed by the
value in its type's binary send format (big-endian integers, raw ``bytea``, UTF-8 ``text``,
``jsonb`` = version byte 1 + JSON text); the trailer is int16 -1. Only the column types of
``events`` are produced here, in the order of ``indexer.row.COLUMNS`` (the row's one
definition; ``tests/indexer/test_encode.py`` checks these bytes against a plain typed COPY
of those columns). The ``format`` column is left to its default, 1.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from hashlib import sha256

import orjson

from indexer.events import KIND_LOG, KIND_RETRACT, Head, NewEvent
from indexer.row import COLUMNS

_FIELDS = len(COLUMNS)  # per row (``indexer.row.COPY_SQL`` names them)
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)

_ROW_POSITION = struct.Struct(">hiq").pack  # field count, then the int8 position field
_INT8 = struct.Struct(">iq").pack  # length-prefixed int8 field
_INT2 = struct.Struct(">ih").pack
_TX_LOG_INDEX = struct.Struct(">iiii").pack  # int4 tx_index, int4 log_index
_JSONB_HEAD = struct.Struct(">ib").pack  # field length, then the jsonb format version (1)
_NULL = struct.pack(">i", -1)
_HASH_LENGTH = struct.pack(">i", 32)  # the bytea hash field's length; the hash follows
_LENGTH = struct.Struct(">i")
_SORT_KEYS = orjson.OPT_SORT_KEYS

#: (JSON, COPY) bytes of an entry's block, transaction or emitter (contract and event).
Part = tuple[bytes, bytes]


def _field(value: bytes) -> bytes:
    return _LENGTH.pack(len(value)) + value


def block_part(chain_id: int, number: int, hash_: bytes, parent: bytes, timestamp: int) -> Part:
    """JSON ``block_number, "hash", "parent", timestamp,`` and COPY ``chain_id`` to
    ``block_timestamp``."""
    return (
        b'%d,"%s","%s",%d,' % (number, hash_.hex().encode(), parent.hex().encode(), timestamp),
        b"".join(
            (
                _INT8(8, chain_id),
                _INT8(8, number),
                _field(hash_),
                _field(parent),
                _INT8(8, timestamp),
            )
        ),
    )


def tx_part(tx_hash: bytes) -> Part:
    """JSON ``"tx_hash",`` and COPY ``tx_hash``."""
    return b'"%s",' % tx_hash.hex().encode(), _field(tx_hash)


def emitter_part(address: bytes, event_name: str) -> Part:
    """JSON ``"address", "event_name",`` and COPY ``address``, ``event_name``."""
    return (
        b'"%s",%s,' % (address.hex().encode(), orjson.dumps(event_name)),
        _field(address) + _field(event_name.encode()),
    )


def entry(
    *,
    block: Part,
    tx: Part,
    tx_index: int,
    log_index: int,
    emitter: Part,
    args: bytes,
    retracts: int | None = None,
) -> tuple[bytes, bytes]:
    """(REST, TAIL) of an entry; `args` is ``orjson.dumps(args, option=OPT_SORT_KEYS)``
    (the same bytes serve the hash chain and the JSONB column)."""
    rest = b"".join(
        (
            block[0],
            tx[0],
            b"%d,%d," % (tx_index, log_index),
            emitter[0],
            args,
            b",null]" if retracts is None else b",%d]" % retracts,
        )
    )
    tail = b"".join(
        (
            block[1],
            tx[1],
            _TX_LOG_INDEX(4, tx_index, 4, log_index),
            emitter[1],
            _JSONB_HEAD(len(args) + 1, 1),
            args,
        )
    )
    return rest, tail


def entry_mid(chain_id: int, incarnation: int, retracts: int | None) -> tuple[bytes, bytes]:
    """(MID, ROW_MID) of an entry: the parts that depend on its kind and incarnation."""
    kind = KIND_LOG if retracts is None else KIND_RETRACT
    mid = b'%d,"%s",%d,' % (chain_id, kind.encode(), incarnation)
    row_mid = b"".join(
        (
            _field(kind.encode()),
            _INT2(2, incarnation),
            _NULL if retracts is None else _INT8(8, retracts),
            _HASH_LENGTH,
        )
    )
    return mid, row_mid


@dataclass(frozen=True, slots=True)
class LogKey:
    """Where a log is on its chain: the event store's natural key without kind and
    incarnation."""

    block_number: int
    block_hash: bytes
    log_index: int


def tail_key(tail: bytes) -> LogKey:
    """The log's key, read from an encoded TAIL (for the incarnation lookup)."""
    (block_number,) = struct.unpack_from(">q", tail, 16)  # after int8 chain_id's field
    at = 24  # after int8 chain_id and int8 block_number
    (size,) = _LENGTH.unpack_from(tail, at)
    block_hash = tail[at + 4 : at + 4 + size]
    at += 4 + size
    (size,) = _LENGTH.unpack_from(tail, at)  # parent hash
    at += 4 + size + 12  # and int8 block_timestamp
    (size,) = _LENGTH.unpack_from(tail, at)  # tx hash
    at += 4 + size + 8  # and int4 tx_index
    (size, log_index) = struct.unpack_from(">ii", tail, at)
    assert size == 4
    return LogKey(block_number=block_number, block_hash=block_hash, log_index=log_index)


@dataclass(frozen=True, slots=True)
class EncodedEvents:
    """Log entries of one chain encoded for appending (kind log, no retraction target):
    REST and TAIL per event, in order. Cheap to pickle: two lists of bytes."""

    chain_id: int
    rests: list[bytes]
    tails: list[bytes]

    def __len__(self) -> int:
        return len(self.rests)

    @staticmethod
    def concat(parts: Sequence[EncodedEvents]) -> EncodedEvents:
        """One value holding `parts` in order (all of one chain)."""
        if len(parts) == 1:
            return parts[0]
        assert len({p.chain_id for p in parts}) <= 1, "one chain per append"
        rests: list[bytes] = []
        tails: list[bytes] = []
        for p in parts:
            rests.extend(p.rests)
            tails.extend(p.tails)
        return EncodedEvents(parts[0].chain_id if parts else 0, rests, tails)


class EventEncoder:
    """Encodes events into (REST, TAIL), caching the bytes a block, a transaction or a
    contract event shares. One encoder per chain; its caches grow with what it encodes,
    so use one per batch."""

    def __init__(self, chain_id: int) -> None:
        self.chain_id = chain_id
        self._blocks: dict[tuple[int, bytes, bytes, int], Part] = {}
        self._txs: dict[bytes, Part] = {}
        self._emitters: dict[tuple[bytes, str], Part] = {}

    def encode(self, e: NewEvent, retracts: int | None = None) -> tuple[bytes, bytes]:
        """(REST, TAIL) of `e` as an entry retracting `retracts` (None: a log entry)."""
        if e.chain_id != self.chain_id:
            raise ValueError(f"encoder of chain {self.chain_id} got an event of {e.chain_id}")
        block_key = (e.block_number, e.block_hash, e.parent_hash, e.block_timestamp)
        block = self._blocks.get(block_key)
        if block is None:
            block = self._blocks[block_key] = block_part(self.chain_id, *block_key)
        tx = self._txs.get(e.tx_hash)
        if tx is None:
            tx = self._txs[e.tx_hash] = tx_part(e.tx_hash)
        emitter_key = (e.address, e.event_name)
        emitter = self._emitters.get(emitter_key)
        if emitter is None:
            emitter = self._emitters[emitter_key] = emitter_part(*emitter_key)
        args = orjson.dumps(e.args, option=_SORT_KEYS)
        return entry(
            block=block,
            tx=tx,
            tx_index=e.tx_index,
            log_index=e.log_index,
            emitter=emitter,
            args=args,
            retracts=retracts,
        )


def encode_events(chain_id: int, events: Iterable[NewEvent]) -> EncodedEvents:
    """Log entries for `events` (all of `chain_id`)."""
    encoder = EventEncoder(chain_id)
    rests: list[bytes] = []
    tails: list[bytes] = []
    for e in events:
        rest, tail = encoder.encode(e)
        rests.append(rest)
        tails.append(tail)
    return EncodedEvents(chain_id, rests, tails)


def chain_rows(
    head: Head, entries: Iterable[tuple[bytes, bytes, bytes, bytes]], out: list[bytes]
) -> Head:
    """Number and hash (MID, REST, ROW_MID, TAIL) entries after `head`; append their COPY
    rows to `out`; return the new head."""
    position, previous = head.position, head.hash
    for mid, rest, row_mid, tail in entries:
        position += 1
        previous = sha256(b"%s[%d,%s%s" % (previous, position, mid, rest)).digest()
        out.append(b"".join((_ROW_POSITION(_FIELDS, 8, position), row_mid, previous, tail)))
    return Head(position, previous)


def chain_logs(
    head: Head, events: EncodedEvents, incarnations: Sequence[int] | None, out: list[bytes]
) -> Head:
    """``chain_rows`` for log entries: incarnation 0 unless `incarnations` says otherwise."""
    if incarnations is not None and any(incarnations):
        cache: dict[int, tuple[bytes, bytes]] = {}
        entries = []
        for n, rest, tail in zip(incarnations, events.rests, events.tails, strict=True):
            mids = cache.get(n) or cache.setdefault(n, entry_mid(events.chain_id, n, None))
            entries.append((mids[0], rest, mids[1], tail))
        return chain_rows(head, entries, out)
    # The common case, specialised: every entry shares MID and ROW_MID.
    mid, row_mid = entry_mid(events.chain_id, 0, None)
    position, previous = head.position, head.hash
    append = out.append
    for rest, tail in zip(events.rests, events.tails, strict=True):
        position += 1
        previous = sha256(b"%s[%d,%s%s" % (previous, position, mid, rest)).digest()
        append(b"".join((_ROW_POSITION(_FIELDS, 8, position), row_mid, previous, tail)))
    return Head(position, previous)
