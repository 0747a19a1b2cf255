"""Sync stage: turns the chain into ordered values for the store stage.

``backfill`` yields ``Batch`` values (ranges below finality, fetched several at a time with
adaptive sizes, yielded strictly in order). ``Follower`` yields ``Batch``, ``Reorg`` and
``Finalize`` values while following the head. Nothing here writes: the runner commits each
value before asking for the next, so a crash between values loses nothing.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import structlog

from indexer.decode import DecodeError, EventDecoder
from indexer.events import BlockRecord, DeadLetter, NewEvent
from indexer.rpc import Header, RangeTooLargeError, RpcClient, RpcError

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


SyncValue = Batch | Reorg | Finalize


def _record(h: Header) -> BlockRecord:
    return BlockRecord(h.number, h.hash, h.parent_hash, h.timestamp)


def build_events(
    chain_id: int, decoder: EventDecoder, logs: list[dict[str, Any]], headers: dict[bytes, Header]
) -> tuple[list[NewEvent], list[DeadLetter]]:
    """Decode raw logs (already checked against `headers`, keyed by block hash)."""
    events: list[NewEvent] = []
    dead: list[DeadLetter] = []
    for raw in logs:
        block_hash = bytes.fromhex(raw["blockHash"][2:])
        header = headers[block_hash]
        tx_hash = bytes.fromhex(raw["transactionHash"][2:])
        log_index = int(raw["logIndex"], 16)
        address = bytes.fromhex(raw["address"][2:])
        try:
            name, args = decoder.decode(raw)
        except DecodeError as exc:
            dead.append(
                DeadLetter(chain_id, header.number, block_hash, log_index, tx_hash, address,
                           tuple(raw["topics"]), raw["data"], str(exc))
            )  # fmt: skip
            continue
        events.append(
            NewEvent(chain_id, header.number, block_hash, header.parent_hash, header.timestamp,
                     tx_hash, int(raw["transactionIndex"], 16), log_index, address, name, args)
        )  # fmt: skip
    return events, dead


def _sorted_unique(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order logs canonically and drop duplicates (a node or proxy may reorder/repeat)."""
    unique = {(raw["blockHash"], raw["logIndex"]): raw for raw in logs if not raw.get("removed")}
    return sorted(
        unique.values(), key=lambda r: (int(r["blockNumber"], 16), int(r["logIndex"], 16))
    )


@dataclass
class RangeSizer:
    """Adapts getLogs ranges: aims at `target_logs` per call, obeys node hints, shrinks on
    any failure (unknown error texts included), grows back on success."""

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
    """Fetches and decodes one block range: logs, the headers they need, the end header."""

    def __init__(self, rpc: RpcClient, decoder: EventDecoder, chain_id: int) -> None:
        self.rpc = rpc
        self.decoder = decoder
        self.chain_id = chain_id

    def fetch(self, start: int, end: int) -> Batch:
        logs = self.rpc.get_logs(start, end, self.decoder.addresses, self.decoder.topics)
        logs = _sorted_unique(logs)
        numbers = sorted({int(raw["blockNumber"], 16) for raw in logs} | {end})
        if numbers[0] < start or numbers[-1] > end:
            raise RpcError(f"getLogs [{start}, {end}] returned logs outside the range")
        headers = self.rpc.headers(numbers)
        by_number = {h.number: h for h in headers}
        for raw in logs:
            if by_number[int(raw["blockNumber"], 16)].hash.hex() != raw["blockHash"][2:].lower():
                raise RpcError(f"block hashes changed while fetching [{start}, {end}]")
        events, dead = build_events(self.chain_id, self.decoder, logs, {h.hash: h for h in headers})
        blocks = [_record(h) for h in headers]
        return Batch(start, end, _record(by_number[end]), events, blocks, dead)


def backfill(
    fetcher: RangeFetcher,
    start: int,
    end: int,
    sizer: RangeSizer,
    *,
    concurrency: int = 4,
    max_backoff: float = 30.0,
) -> Iterator[Batch]:
    """Yield batches covering `start`..`end` in order, fetching up to `concurrency` ranges
    at once. A failed range is split or retried with backoff, never skipped."""
    ready: dict[int, Batch] = {}
    retry: deque[tuple[int, int, int]] = deque()  # (start, end, attempt)
    next_start = start
    next_yield = start
    in_flight: dict[Future[Batch], tuple[int, int, int]] = {}
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="getlogs") as pool:
        while next_yield <= end:
            while len(in_flight) < concurrency and (retry or next_start <= end):
                if retry:
                    s, e, attempt = retry.popleft()
                else:
                    s, e, attempt = next_start, min(end, next_start + sizer.size - 1), 0
                    next_start = e + 1
                if attempt:
                    time.sleep(min(max_backoff, 0.05 * 2 ** min(attempt, 10)))
                in_flight[pool.submit(fetcher.fetch, s, e)] = (s, e, attempt)
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                s, e, attempt = in_flight.pop(future)
                try:
                    batch = future.result()
                except RpcError as exc:
                    blocks = e - s + 1
                    hint = exc.suggested_size if isinstance(exc, RangeTooLargeError) else None
                    split = sizer.failure(blocks, hint)
                    log.warning("indexer.range.failed", start=s, end=e, error=str(exc)[:200],
                                attempt=attempt, split=split)  # fmt: skip
                    if blocks > 1 and split < blocks:
                        retry.appendleft((s + split, e, 0))
                        retry.appendleft((s, s + split - 1, 0))
                    else:
                        retry.appendleft((s, e, attempt + 1))
                    continue
                sizer.success(e - s + 1, len(batch.events) + len(batch.dead_letters))
                ready[s] = batch
            while next_yield in ready:
                batch = ready.pop(next_yield)
                next_yield = batch.to_block + 1
                yield batch
