"""A synthetic event store that grows to millions of events (``bench.scale``'s store).

The events are ``bench.projection_replay``'s synthetic chain (listings, purchases, ratings,
stakes, training requests over 500 accounts, 50 per block), streamed from
``synthesize_stream`` and appended through the store's own path (``append``: encoding,
hash chain, binary COPY) in 10k-event commits, so the store is what an indexer would
have written for that chain (block hashes spread like real ones). The chain's finality
trails its head by ``FINALITY_LAG`` blocks, as a live chain's does, so a shallow reorg is
above finality.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from hashlib import sha256

from bench.projection_replay import CHAIN, synthesize_stream
from indexer.events import BlockRecord, Checkpoint, NewEvent
from indexer.store_pg import PostgresEventStore

PER_BLOCK = 50  # events per block in the synthetic chain
COMMIT_EVENTS = 10_000  # events per append (one transaction)
FINALITY_LAG = 64  # blocks between the head and the finalized block


def _fork_hash(number: int, fork: int) -> bytes:
    return (fork * 10**12 + number).to_bytes(32, "big")


@dataclass
class GrowingStore:
    """The synthetic chain appended up to some size, and the rest of its stream."""

    store: PostgresEventStore
    stream: Iterator[NewEvent] = field(default_factory=lambda: synthesize_stream(hashed=True))
    forks: int = 0  # reorgs so far (each new fork gets hashes of its own)
    append_seconds: float = 0.0  # time spent appending, in total
    #: Blocks of the canonical chain whose hash is a fork's, by number.
    fork_hashes: dict[int, bytes] = field(default_factory=dict)

    def grow_to(self, position: int) -> int:
        """Append the stream's next events until the store's head is `position` (at least);
        the head reached."""
        head = self.store.head().position
        while head < position:
            chunk = list(itertools.islice(self.stream, min(COMMIT_EVENTS, position - head)))
            start = time.perf_counter()
            head = self._append(chunk)
            self.append_seconds += time.perf_counter() - start
        return head

    def _hash_of(self, number: int) -> bytes:
        """Block `number`'s hash in the stream's chain (the store recorded it)."""
        blocks = self.store.recorded_blocks(CHAIN, number)
        if blocks and blocks[0].number == number:
            return blocks[0].hash
        return sha256(number.to_bytes(32, "big")).digest()

    def _append(self, events: list[NewEvent]) -> int:
        cp = self.store.checkpoint(CHAIN)
        expected = (cp.block_number, cp.block_hash) if cp else None
        last = events[-1]
        block = BlockRecord(last.block_number, last.block_hash, last.parent_hash, 0)
        checkpoint = Checkpoint(
            chain_id=CHAIN,
            block_number=last.block_number,
            block_hash=last.block_hash,
            finalized_number=max(0, last.block_number - FINALITY_LAG),
            blocks=(block,),
        )
        return self.store.append(events, checkpoint, expected).position

    def reorg(self, depth: int) -> int:
        """Retract the head's last `depth` blocks and append a new fork of as many blocks
        (the stream's next events: new transactions of the same kinds); the new head
        position."""
        cp = self.store.checkpoint(CHAIN)
        assert cp is not None
        keep = cp.block_number - depth
        keep_hash = self.fork_hashes.get(keep) or self._hash_of(keep)
        self.forks += 1
        self.store.retract(
            CHAIN,
            keep,
            Checkpoint(
                chain_id=CHAIN,
                block_number=keep,
                block_hash=keep_hash,
                finalized_number=max(0, keep - FINALITY_LAG),
            ),
            (cp.block_number, cp.block_hash),
        )
        fork = []
        for i, e in enumerate(itertools.islice(self.stream, depth * PER_BLOCK)):
            number = keep + 1 + i // PER_BLOCK
            parent = keep_hash if number == keep + 1 else _fork_hash(number - 1, self.forks)
            fork.append(
                replace(
                    e,
                    block_number=number,
                    block_hash=_fork_hash(number, self.forks),
                    parent_hash=parent,
                    block_timestamp=1_700_000_000 + number,
                    log_index=i % PER_BLOCK,
                )
            )
        self.fork_hashes.update({e.block_number: e.block_hash for e in fork})
        # (The stream's later blocks follow after a gap of `depth` empty blocks.)
        return self._append(fork)
