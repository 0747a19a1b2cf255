"""Values passed between the indexer's stages and stored in the event store."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from contracts.events import PlatformEvent, UnknownEvent, typed_event

KIND_LOG = "log"
KIND_RETRACT = "retract"
GENESIS_HASH = b"\x00" * 32
#: Row format 1: the canonical encoding of ``canonical_encoding`` (every row so far).
FORMAT_V1 = 1


# NewEvent and StoredEvent are immutable by convention, not `frozen`: a frozen dataclass
# builds each field through object.__setattr__ (~1.1 us per object against ~0.2 us), and a
# replay builds two of them per entry (measured: ~0.2 s of 100k entries' replay). Like every
# value with many fields here they are built by keyword only (`kw_only`): a positional
# call cannot swap two fields of one type (block hash and parent hash, say).
@dataclass(slots=True, kw_only=True)
class NewEvent:
    """A decoded log, ready to be appended (never mutated once built)."""

    chain_id: int
    block_number: int
    block_hash: bytes
    parent_hash: bytes
    block_timestamp: int
    tx_hash: bytes
    tx_index: int
    log_index: int
    address: bytes
    event_name: str
    args: dict[str, Any]


@dataclass(slots=True, kw_only=True)
class StoredEvent:
    """An event-store entry: a log or the retraction of an earlier entry (never mutated)."""

    position: int
    kind: str
    incarnation: int
    retracts: int | None
    hash: bytes
    event: NewEvent
    #: How `hash` was computed: the key of its encoding in ``CANONICAL_ENCODINGS``.
    format: int = FORMAT_V1

    def fact(self) -> Fact:
        """This entry as projections see it."""
        e = self.event
        return Fact(
            position=self.position,
            kind=self.kind,
            chain_id=e.chain_id,
            block_number=e.block_number,
            block_hash=e.block_hash,
            block_timestamp=e.block_timestamp,
            tx_hash=e.tx_hash,
            log_index=e.log_index,
            address=e.address,
            event_name=e.event_name,
            args=e.args,
        )

    def canonical(self) -> bytes:
        """The canonical encoding hashed into the tamper-evident chain, in this entry's
        format; ``UnknownFormatError`` for a format this code does not know."""
        encoding = CANONICAL_ENCODINGS.get(self.format)
        if encoding is None:
            raise UnknownFormatError(self.format)
        return encoding(self.position, self.kind, self.incarnation, self.retracts, self.event)


@dataclass(slots=True, kw_only=True)
class Fact:
    """An event-store entry as projections see it (never mutated): the event's fields a
    read model can depend on, flat, without the chain-hash fields (hash, incarnation,
    parent hash, transaction index) that only auditors read. Reading these eleven columns
    instead of sixteen saves PostgreSQL ~15% of a range read, and one object per entry
    instead of two. The emitting ``address`` is here because two platform contracts emit
    events of the same name (``DelegateVotesChanged`` of DataCoin and of Staking): a read
    model of one contract's events tells them apart by it.

    Projections read the arguments through ``event``, the typed event generated from the
    ABIs (``contracts/events.py``); ``args`` is the stored JSON form they are read from."""

    position: int
    kind: str  # KIND_LOG, or KIND_RETRACT: the retraction of the log these fields copy
    chain_id: int
    block_number: int
    block_hash: bytes
    block_timestamp: int
    tx_hash: bytes
    log_index: int
    address: bytes  # the emitting contract's 20 bytes
    event_name: str
    args: dict[str, Any]
    #: The typed event, built on first use: a store read builds facts no projection may
    #: look at, and the store's contract is about the stored form. The slot starts unset,
    #: so the first read falls through to ``__getattr__``, which fills it; every later read
    #: is a plain slot read (a property would cost a call on each of the ~12 reads a fact
    #: gets from the projections: ~0.1 s of a 100k-event fold, measured).
    event: PlatformEvent | UnknownEvent = field(init=False, repr=False, compare=False)

    def __getattr__(self, name: str) -> Any:
        if name != "event":
            raise AttributeError(name)
        typed = typed_event(self.event_name, self.args)
        self.event = typed
        return typed


def canonical_encoding(
    position: int, kind: str, incarnation: int, retracts: int | None, e: NewEvent
) -> bytes:
    """Deterministic bytes of one entry in row format 1 (sorted-key JSON of every stored
    field but the format). Frozen: changing it would break every stored hash chain."""
    return orjson.dumps(
        [
            position,
            e.chain_id,
            kind,
            incarnation,
            e.block_number,
            e.block_hash.hex(),
            e.parent_hash.hex(),
            e.block_timestamp,
            e.tx_hash.hex(),
            e.tx_index,
            e.log_index,
            e.address.hex(),
            e.event_name,
            e.args,
            retracts,
        ],
        option=orjson.OPT_SORT_KEYS,
    )


#: An entry's canonical encoding: (position, kind, incarnation, retracted position or None,
#: event) to bytes.
CanonicalEncoding = Callable[[int, str, int, int | None, NewEvent], bytes]
#: The canonical encoding of each row format. Formats are never changed once rows exist
#: in them, only added: old rows must verify forever (``indexer.verify``).
CANONICAL_ENCODINGS: dict[int, CanonicalEncoding] = {FORMAT_V1: canonical_encoding}


class UnknownFormatError(ValueError):
    """An entry's row format has no canonical encoding here (written by newer code)."""

    def __init__(self, format_: int) -> None:
        super().__init__(f"unknown row format {format_}")
        self.format = format_


def chain_hash(previous: bytes, encoding: bytes) -> bytes:
    """sha256(previous hash || encoding)."""
    return hashlib.sha256(previous + encoding).digest()


@dataclass(frozen=True, slots=True)
class BlockRecord:
    """A block the indexer records as canonical."""

    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """Where a chain's indexing stands after a commit (stored with the events)."""

    chain_id: int
    block_number: int
    block_hash: bytes
    finalized_number: int
    blocks: tuple[BlockRecord, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Head:
    """The event store's last entry."""

    position: int
    hash: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """A platform log that could not be decoded: kept with the reason, never dropped."""

    chain_id: int
    block_number: int
    block_hash: bytes
    log_index: int
    tx_hash: bytes
    address: bytes
    topics: tuple[str, ...]
    data: str
    reason: str
