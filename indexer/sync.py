"""Sync stage: turns the chain into ordered values for the store stage.

``backfill`` yields groups of ``Batch`` or ``EncodedBatch`` (events already encoded for
the event store, e.g. by fetch processes) values: ranges below finality, fetched several
at a time with adaptive sizes, yielded strictly in order. ``Follower`` yields ``Batch``,
``Reorg`` and ``Finalize`` values while following the head. Nothing here writes: the
runner commits the values in order, each with the cursor it moves to, so a crash between
two commits loses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence, Sized
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import orjson
import structlog

from indexer.decode import DecodeError, EventDecoder
from indexer.encode import EncodedEvents, Part, block_part, emitter_part, entry, tx_part
from indexer.events import BlockRecord, DeadLetter, NewEvent
from indexer.retry import RetryPolicy
from indexer.rpc import (
    Header,
    JsonObj,
    RangeTooLargeError,
    RpcClient,
    RpcError,
    RpcTimeoutError,
    TransientRpcError,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Batch:
    """Blocks `from_block`..`to_block` fully indexed: their events and recorded blocks."""

    from_block: int
    to_block: int
    end: BlockRecord  # the cursor after this batch
    events: list[NewEvent]
    blocks: list[BlockRecord]
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # Logs getLogs returned for the whole range asked for (-1: as many as the batch holds);
    # more when the batch was cut short (see RangeFetcher). The range sizer learns from it.
    range_logs: int = -1


@dataclass(frozen=True)
class Reorg:
    """The chain above `ancestor` was replaced: its events must be retracted."""

    ancestor: BlockRecord
    depth: int
    beyond_finality: bool


@dataclass(frozen=True)
class Finalize:
    """Blocks up to `number` are final."""

    number: int


@dataclass(frozen=True)
class EncodedBatch:
    """A ``Batch`` whose events are already encoded for the event store (indexer.encode):
    what fetch processes send back (cheaper to pickle and to append)."""

    from_block: int
    to_block: int
    end: BlockRecord
    events: EncodedEvents
    blocks: list[BlockRecord]
    dead_letters: list[DeadLetter] = field(default_factory=list)
    range_logs: int = -1  # as in Batch


SyncValue = Batch | Reorg | Finalize
#: The decoder of one event: (topics, data) -> args.
Decode = Callable[[list[str], str], JsonObj]


class _Fetched(Protocol):
    @property
    def to_block(self) -> int: ...
    @property
    def events(self) -> Sized: ...
    @property
    def dead_letters(self) -> list[DeadLetter]: ...
    @property
    def range_logs(self) -> int: ...


T = TypeVar("T", bound=_Fetched)


def merge(group: Sequence[Batch | EncodedBatch]) -> Batch | EncodedBatch:
    """One batch covering the consecutive batches `group` (of one type), for one commit."""
    if len(group) == 1:
        return group[0]
    first, last = group[0], group[-1]
    blocks = [b for batch in group for b in batch.blocks]
    dead = [d for batch in group for d in batch.dead_letters]
    encoded = [b.events for b in group if isinstance(b, EncodedBatch)]
    decoded = [e for b in group if isinstance(b, Batch) for e in b.events]
    if encoded and len(encoded) == len(group):
        events = EncodedEvents.concat(encoded)
        return EncodedBatch(first.from_block, last.to_block, last.end, events, blocks, dead)
    if not encoded:
        return Batch(first.from_block, last.to_block, last.end, decoded, blocks, dead)
    raise TypeError("cannot merge Batch and EncodedBatch values")


def _record(h: Header) -> BlockRecord:
    return BlockRecord(h.number, h.hash, h.parent_hash, h.timestamp)


def build_events(
    chain_id: int, decoder: EventDecoder, logs: list[JsonObj], headers: dict[bytes, Header]
) -> tuple[list[NewEvent], list[DeadLetter]]:
    """Decode raw logs (already checked against `headers`, keyed by block hash).

    Hex conversions are done once per block, transaction and (contract, event) rather than
    once per log: a dense range has ~100 logs per transaction."""
    events: list[NewEvent] = []
    dead: list[DeadLetter] = []
    by_hex = {"0x" + h.hex(): header for h, header in headers.items()}
    txs: dict[str, bytes] = {}
    emitters: dict[tuple[str, str], _Emitter | DecodeError] = {}
    block_hex = ""
    header: Header | None = None
    for raw in logs:
        if raw["blockHash"] != block_hex:
            block_hex = raw["blockHash"]
            header = by_hex[block_hex.lower()]
        assert header is not None
        tx_hex = raw["transactionHash"]
        tx_hash = txs.get(tx_hex)
        if tx_hash is None:
            tx_hash = txs[tx_hex] = bytes.fromhex(tx_hex[2:])
        log_index = int(raw["logIndex"], 16)
        try:
            emitter, args = _decode(emitters, decoder, raw)
        except DecodeError as exc:
            dead.append(
                _dead_letter(
                    chain_id=chain_id,
                    header=header,
                    tx_hash=tx_hash,
                    log_index=log_index,
                    raw=raw,
                    exc=exc,
                )
            )
            continue
        events.append(
            NewEvent(
                chain_id=chain_id,
                block_number=header.number,
                block_hash=header.hash,
                parent_hash=header.parent_hash,
                block_timestamp=header.timestamp,
                tx_hash=tx_hash,
                tx_index=int(raw["transactionIndex"], 16),
                log_index=log_index,
                address=emitter.address,
                event_name=emitter.name,
                args=args,
            )
        )
    return events, dead


def encode_logs(
    chain_id: int, decoder: EventDecoder, logs: list[JsonObj], headers: dict[bytes, Header]
) -> tuple[EncodedEvents, list[DeadLetter]]:
    """``encode_events(build_events(...))`` in one pass, without NewEvent values: the hot
    loop of fetch processes (tests check that both give the same bytes)."""
    rests: list[bytes] = []
    tails: list[bytes] = []
    dead: list[DeadLetter] = []
    by_hex = {"0x" + h.hex(): header for h, header in headers.items()}
    txs: dict[str, tuple[bytes, Part]] = {}
    emitters: dict[tuple[str, str], _Emitter | DecodeError] = {}
    dumps, sort_keys = orjson.dumps, orjson.OPT_SORT_KEYS
    block_hex = ""
    header: Header | None = None
    block: Part = (b"", b"")
    for raw in logs:
        if raw["blockHash"] != block_hex:
            block_hex = raw["blockHash"]
            header = by_hex[block_hex.lower()]
            block = block_part(
                chain_id, header.number, header.hash, header.parent_hash, header.timestamp
            )
        assert header is not None
        tx_hex = raw["transactionHash"]
        tx = txs.get(tx_hex)
        if tx is None:
            tx_hash = bytes.fromhex(tx_hex[2:])
            tx = txs[tx_hex] = (tx_hash, tx_part(tx_hash))
        log_index = int(raw["logIndex"], 16)
        try:
            emitter, args = _decode(emitters, decoder, raw)
        except DecodeError as exc:
            dead.append(
                _dead_letter(
                    chain_id=chain_id,
                    header=header,
                    tx_hash=tx[0],
                    log_index=log_index,
                    raw=raw,
                    exc=exc,
                )
            )
            continue
        rest, tail = entry(
            block=block,
            tx=tx[1],
            tx_index=int(raw["transactionIndex"], 16),
            log_index=log_index,
            emitter=emitter.part,
            args=dumps(args, option=sort_keys),
        )
        rests.append(rest)
        tails.append(tail)
    return EncodedEvents(chain_id, rests, tails), dead


@dataclass(frozen=True, slots=True)
class _Emitter:
    """What logs of one (contract address, topic0) share."""

    address: bytes
    name: str
    decode: Decode
    part: Part  # see indexer.encode.emitter_part


def _emitter(decoder: EventDecoder, address: str, topic0: str) -> _Emitter | DecodeError:
    """How to decode logs of `topic0` from `address`, or the DecodeError each one gets."""
    if not topic0:
        return DecodeError("anonymous log (no topics)")
    try:
        name, decode = decoder.resolve(address, topic0)
    except DecodeError as exc:
        return exc
    address_bytes = bytes.fromhex(address[2:])
    return _Emitter(address_bytes, name, decode, emitter_part(address_bytes, name))


def _decode(
    emitters: dict[tuple[str, str], _Emitter | DecodeError],
    decoder: EventDecoder,
    raw: dict[str, Any],
) -> tuple[_Emitter, dict[str, Any]]:
    """(emitter, args) of a raw log, the emitter cached per (address, topic0);
    DecodeError when the log does not fit its event."""
    topics: list[str] = raw["topics"]
    key = (raw["address"], topics[0] if topics else "")
    emitter = emitters.get(key)
    if emitter is None:
        emitter = emitters[key] = _emitter(decoder, *key)
    if isinstance(emitter, DecodeError):
        raise DecodeError(str(emitter))
    return emitter, emitter.decode(topics, raw["data"])


def _dead_letter(
    *, chain_id: int, header: Header, tx_hash: bytes, log_index: int, raw: JsonObj, exc: Exception
) -> DeadLetter:
    return DeadLetter(
        chain_id=chain_id,
        block_number=header.number,
        block_hash=header.hash,
        log_index=log_index,
        tx_hash=tx_hash,
        address=bytes.fromhex(raw["address"][2:]),
        topics=tuple(raw["topics"]),
        data=raw["data"],
        reason=str(exc),
    )


def ordered_unique(logs: list[JsonObj]) -> tuple[list[JsonObj], dict[int, set[str]]]:
    """Logs in canonical order without duplicates or removed entries (a node or a proxy may
    reorder or repeat them), and the block hashes (lowercase hex) seen per block number.
    Nodes normally answer in order already, so the sort only runs when they did not."""
    ordered: list[JsonObj] = []
    seen: dict[int, set[str]] = {}
    last = (-1, -1)
    block_hex = ""
    number = -1
    for raw in logs:
        if raw.get("removed"):
            continue
        if raw["blockHash"] != block_hex:
            block_hex = raw["blockHash"]
            number = int(raw["blockNumber"], 16)
            seen.setdefault(number, set()).add(block_hex.lower())
        key = (number, int(raw["logIndex"], 16))
        if key <= last:
            break  # out of order or repeated: sort below
        last = key
        ordered.append(raw)
    else:
        return ordered, seen
    unique = {(raw["blockHash"], raw["logIndex"]): raw for raw in logs if not raw.get("removed")}
    seen = {}
    for raw in unique.values():
        seen.setdefault(int(raw["blockNumber"], 16), set()).add(raw["blockHash"].lower())
    ordered = sorted(
        unique.values(), key=lambda r: (int(r["blockNumber"], 16), int(r["logIndex"], 16))
    )
    return ordered, seen


#: Tries of a range's header batch before the range fails (and the scheduler retries it).
HEADER_ATTEMPTS = 4


@dataclass
class RangeSizer:
    """Adapts getLogs ranges: aims at `target_logs` per call, obeys node hints, shrinks on
    errors about a range's size (see ``backfill``), grows back on success."""

    size: int = 2_000
    min_size: int = 1
    max_size: int = 50_000
    target_logs: int = 2_000

    def success(self, blocks: int, logs: int) -> None:
        if logs > self.target_logs * 2:
            self.size = max(self.min_size, blocks * self.target_logs // max(logs, 1))
        elif logs < self.target_logs // 2 and blocks >= self.size:
            self.size = min(self.max_size, self.size * 2)

    def failure(self, blocks: int, hint: int | None) -> int:
        """New size after a failed range of `blocks` blocks; returns the split size."""
        new = hint if hint is not None else max(self.min_size, blocks // 2)
        self.size = max(self.min_size, min(self.size, new))
        return max(self.min_size, min(new, blocks - 1) if blocks > 1 else 1)


class RangeFetcher:
    """Fetches and decodes one block range: logs, the headers they need, the end header.

    A range whose logs far exceed what the sizer aimed at (the chain got denser than the
    ranges already in flight assumed) is cut short after `max_logs` logs, at a block
    boundary: the batch covers the range's first blocks only and backfill fetches the rest
    again in ranges of the new size, spread over the fetch threads and processes. So one
    range never makes a huge batch (memory, one long commit) that a single process decodes
    while others idle."""

    def __init__(
        self, rpc: RpcClient, decoder: EventDecoder, chain_id: int, max_logs: int | None = None
    ) -> None:
        self.rpc = rpc
        self.decoder = decoder
        self.chain_id = chain_id
        self.max_logs = max_logs
        self.retry = RetryPolicy()

    def _logs_and_headers(self, start: int, end: int) -> tuple[list[JsonObj], list[Header], int]:
        """The platform logs of blocks `start`..`last`, in order, the headers of their blocks
        and of `last`, and how many logs the whole range has; `last` is `end` unless the
        range was cut short. RpcError unless every log belongs to its block's header."""
        raw = self.rpc.get_logs(start, end, self.decoder.addresses, self.decoder.topics)
        logs, seen = ordered_unique(raw)
        numbers = sorted(seen.keys() | {end})
        if numbers[0] < start or numbers[-1] > end:
            raise RpcError(f"getLogs [{start}, {end}] returned logs outside the range")
        total = len(logs)
        if self.max_logs is not None and total > self.max_logs:
            logs = logs[: _block_boundary(logs, self.max_logs)]
            last = int(logs[-1]["blockNumber"], 16)
            numbers = [n for n in numbers if n <= last]
        # The logs are in hand: a header batch that fails on the way is retried here, a
        # few times (a range needs all of its requests to succeed; at 50% faults one with
        # three header batches would otherwise succeed one time in sixteen).
        headers = self.retry.call(
            lambda: self.rpc.headers(numbers),
            what="headers",
            retry_on=(TransientRpcError,),
            attempts=HEADER_ATTEMPTS,
        )
        for header in headers:
            hashes = seen.get(header.number)
            if hashes is not None and hashes != {"0x" + header.hash.hex()}:
                # The chain moved under the fetch (a reorg): the same range again will do.
                raise TransientRpcError(f"block hashes changed while fetching [{start}, {end}]")
        return logs, headers, total

    def fetch(self, start: int, end: int) -> Batch:
        """Blocks `start`..`end` (or its first blocks) as NewEvent values."""
        logs, headers, total = self._logs_and_headers(start, end)
        events, dead = build_events(self.chain_id, self.decoder, logs, {h.hash: h for h in headers})
        blocks = [_record(h) for h in headers]
        return Batch(start, blocks[-1].number, blocks[-1], events, blocks, dead, total)

    def fetch_encoded(self, start: int, end: int) -> EncodedBatch:
        """Blocks `start`..`end` (or its first blocks), encoded for the event store (what
        fetch processes do)."""
        logs, headers, total = self._logs_and_headers(start, end)
        events, dead = encode_logs(self.chain_id, self.decoder, logs, {h.hash: h for h in headers})
        blocks = [_record(h) for h in headers]
        return EncodedBatch(start, blocks[-1].number, blocks[-1], events, blocks, dead, total)


def _block_boundary(logs: list[JsonObj], limit: int) -> int:
    """How many of `logs` (in block order, more than `limit`) to keep: at most `limit`,
    ending with a whole block; the whole first block if it alone has more."""

    def number(i: int) -> int:
        return int(logs[i]["blockNumber"], 16)

    cut = limit
    while cut > 0 and number(cut - 1) == number(cut):
        cut -= 1
    if cut == 0:  # the first block alone has more than `limit` logs: keep it whole
        cut = limit
        while cut < len(logs) and number(cut) == number(0):
            cut += 1
    return cut


#: An error text nobody recognised, seen this often on one range, is taken to be about its
#: size (once may be a glitch: such a range is first retried as it was).
UNKNOWN_REPEATS = 2
#: Per-request timeouts this often on one range: the node may be too slow for ranges that
#: big (a hung connection is rarer twice in a row on the same range).
TIMEOUT_REPEATS = 3
#: Retries of the head-of-line range sent without a backoff (see ``backfill``).
HEAD_RETRIES_AT_ONCE = 2


@dataclass
class _Range:
    """A block range to fetch, and what happened to it so far."""

    start: int
    end: int
    attempt: int = 0  # failures of exactly this range
    unknown: int = 0  # of which unrecognised node errors
    timeouts: int = 0  # of which per-request timeouts
    not_before: float = 0.0  # time.monotonic() before which it is not retried
    hedged: bool = False  # a second request for it was sent (see `backfill`)
    done: bool = False  # one of its requests answered: a late twin's answer is dropped

    @property
    def blocks(self) -> int:
        return self.end - self.start + 1


@dataclass
class _InFlight:
    """The requests in flight: which range each is for, and when it was sent."""

    ranges: dict[Future[Any], _Range] = field(default_factory=dict)
    sent: dict[Future[Any], float] = field(default_factory=dict)

    def add(self, future: Future[Any], fetched: _Range) -> None:
        self.ranges[future] = fetched
        self.sent[future] = time.monotonic()

    def pop(self, future: Future[Any]) -> _Range:
        self.sent.pop(future)
        return self.ranges.pop(future)

    def twin_pending(self, fetched: _Range) -> bool:
        """Whether another request for `fetched` is still in flight."""
        return any(r is fetched for r in self.ranges.values())

    def head(self, start: int) -> tuple[_Range, float] | None:
        """The range starting at `start` (the next to commit) if in flight and not yet
        hedged, with the time its request was sent."""
        for future, fetched in self.ranges.items():
            if fetched.start == start and not fetched.hedged and not fetched.done:
                return fetched, self.sent[future]
        return None


def backfill(
    submit: Callable[[int, int], Future[T]],
    start: int,
    end: int,
    sizer: RangeSizer,
    *,
    concurrency: int = 4,
    max_backoff: float = 2.0,
    policy: RetryPolicy | None = None,
    max_ahead: int | None = None,
    hedge_after: float | None = None,
) -> Iterator[list[T]]:
    """Yield batches covering `start`..`end` in order, keeping `concurrency` ranges in
    flight with `submit`. A failed range is never skipped: a transient failure is retried
    as it was after a jittered backoff (`policy`, capped at `max_backoff`), a size error
    splits it (see ``_after_failure``); a range cut short is completed by further ranges.

    The loop never sleeps while it could start a range: a range waiting for its retry
    leaves its slot to others. Up to `max_ahead` ranges (default 8 x `concurrency`) may
    wait fetched behind one that is late, which bounds memory.

    The range at the head of the commit order holds up every range behind it, so it gets
    more than its share: a transient failure of it is retried at once (no backoff), and
    once its request has been out `hedge_after` seconds (None: never) a second request for
    it is sent beside the others (one extra slot); whichever answers first is used. On a
    node that hangs some requests, this keeps the time without a commit near the
    per-request timeout instead of a multiple of it.

    Each value is the run of consecutive batches ready at that moment (at least one): a
    caller that commits more slowly than ranges arrive gets them grouped, and can commit
    a group in one transaction."""
    policy = policy or RetryPolicy(cap=max_backoff)
    ahead = max_ahead or 8 * concurrency
    ready: dict[int, T] = {}
    waiting: list[_Range] = []  # to fetch before any new range: retries, split parts, rests
    next_start = start
    next_yield = start
    flight = _InFlight()
    while next_yield <= end:
        while len(flight.ranges) < concurrency:
            todo = _due(waiting, time.monotonic())
            if todo is None and next_start <= end and len(ready) + len(flight.ranges) < ahead:
                todo = _Range(next_start, min(end, next_start + sizer.size - 1))
                next_start = todo.end + 1
            if todo is None:
                break
            flight.add(submit(todo.start, todo.end), todo)
        wake = _hedge(submit, flight, next_yield, hedge_after)
        pause = max(0.0, min(r.not_before for r in waiting) - time.monotonic()) if waiting else None
        if wake is not None:
            pause = wake if pause is None else min(pause, wake)
        if not flight.ranges:
            time.sleep(pause or 0.0)  # only retries left, none due yet: nothing else to do
            continue
        done, _ = wait(flight.ranges, timeout=pause, return_when=FIRST_COMPLETED)
        for future in done:
            fetched = flight.pop(future)
            if fetched.done:
                continue  # its twin answered first
            try:
                batch = future.result()
            except RpcError as exc:
                if not flight.twin_pending(fetched):
                    head = fetched.start == next_yield
                    waiting.extend(_after_failure(exc, fetched, sizer, policy, head=head))
                continue
            fetched.done = True
            waiting.extend(_after_success(batch, fetched.start, fetched.end, sizer))
            ready[fetched.start] = batch
        group: list[T] = []
        while next_yield in ready:
            batch = ready.pop(next_yield)
            next_yield = batch.to_block + 1
            group.append(batch)
        if group:
            yield group


def _hedge(
    submit: Callable[[int, int], Future[T]],
    flight: _InFlight,
    next_yield: int,
    hedge_after: float | None,
) -> float | None:
    """Send the second request for the head-of-line range if its first has been out
    `hedge_after` seconds; the seconds until that is due otherwise (None: nothing to do)."""
    if hedge_after is None:
        return None
    head = flight.head(next_yield)
    if head is None:
        return None
    fetched, sent = head
    due = sent + hedge_after - time.monotonic()
    if due > 0:
        return due
    fetched.hedged = True
    log.info("indexer.range.hedged", start=fetched.start, end=fetched.end)
    flight.add(submit(fetched.start, fetched.end), fetched)
    return None


def _due(waiting: list[_Range], now: float) -> _Range | None:
    """Remove and return the earliest range of `waiting` whose retry is due (it holds up
    the ordered output), or None."""
    due = [r for r in waiting if r.not_before <= now]
    if not due:
        return None
    first = min(due, key=lambda r: r.start)
    waiting.remove(first)
    return first


def _after_failure(
    exc: RpcError, failed: _Range, sizer: RangeSizer, policy: RetryPolicy, *, head: bool
) -> list[_Range]:
    """Ranges to fetch instead of `failed`: its parts when the error is about its size (a
    known "too large" text or a node's hint, an unrecognised error repeated at this size,
    repeated timeouts), else the same range after a backoff (429, 5xx, resets, garbage:
    halving those would only multiply requests) — at once when it is the `head` of the
    commit order, which every other range waits for."""
    if isinstance(exc, RpcTimeoutError):
        failed.timeouts += 1
        about_size = failed.timeouts >= TIMEOUT_REPEATS
    elif isinstance(exc, TransientRpcError):
        about_size = False
    elif isinstance(exc, RangeTooLargeError):
        about_size = True
    else:
        failed.unknown += 1
        about_size = failed.unknown >= UNKNOWN_REPEATS
    if about_size:
        hint = exc.suggested_size if isinstance(exc, RangeTooLargeError) else None
        split = sizer.failure(failed.blocks, hint)
        if failed.blocks > 1 and split < failed.blocks:
            log.warning(
                "indexer.range.split",
                start=failed.start,
                end=failed.end,
                split=split,
                error=str(exc)[:200],
            )
            middle = failed.start + split
            return [_Range(failed.start, middle - 1), _Range(middle, failed.end)]
    failed.attempt += 1
    failed.hedged = False  # a retried head may be hedged again
    # The head's first retries go at once; later ones back off (a node that is down must
    # not be hammered in a loop).
    wait_s = (
        0.0 if head and failed.attempt <= HEAD_RETRIES_AT_ONCE else policy.delay(failed.attempt)
    )
    failed.not_before = time.monotonic() + wait_s
    log.warning(
        "indexer.range.retry",
        start=failed.start,
        end=failed.end,
        attempt=failed.attempt,
        retry_in=round(wait_s, 3),
        error=str(exc)[:200],
    )
    return [failed]


def _after_success(batch: _Fetched, s: int, e: int, sizer: RangeSizer) -> list[_Range]:
    """Teach the sizer; ranges still to fetch when the batch stopped short of `e`."""
    count = batch.range_logs
    if count < 0:
        count = len(batch.events) + len(batch.dead_letters)
    sizer.success(e - s + 1, count)
    step = sizer.size
    return [_Range(a, min(e, a + step - 1)) for a in range(batch.to_block + 1, e + 1, step)]
