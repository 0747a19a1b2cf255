"""The event store interface and its in-memory implementation.

Invariants every implementation keeps (checked by one contract test for all of them):
- entries are only ever appended; ``position`` is gap-free and strictly increasing;
- each entry's ``hash`` is ``sha256(previous hash || canonical encoding)``;
- a chain's checkpoint (cursor and recorded blocks) is committed atomically with the
  entries it covers, and only if the caller's expected cursor is still current.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

from common.errors import PermanentError
from indexer.encode import EncodedEvents
from indexer.events import (
    GENESIS_HASH,
    KIND_LOG,
    KIND_RETRACT,
    BlockRecord,
    Checkpoint,
    DeadLetter,
    Fact,
    Head,
    NewEvent,
    StoredEvent,
    canonical_encoding,
    chain_hash,
)

#: A chain's cursor as the writer last saw it: (block number, block hash), or None.
Expected = tuple[int, bytes] | None


class CursorMovedError(PermanentError):
    """Another writer moved this chain's cursor: two indexers must not share a chain."""


class EventStore(Protocol):
    """Append-only, hash-chained log of decoded contract events."""

    def append(
        self,
        events: Sequence[NewEvent],
        checkpoint: Checkpoint,
        expected: Expected,
        dead_letters: Sequence[DeadLetter] = (),
    ) -> Head:
        """Append `events`, record `dead_letters` and move the checkpoint, atomically."""
        ...

    def retract(
        self, chain_id: int, after_block: int, checkpoint: Checkpoint, expected: Expected
    ) -> list[StoredEvent]:
        """Append a retraction of every live event above `after_block`; rewind the cursor."""
        ...

    def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        """Entries with position > `position`, in order, at most `limit`."""
        ...

    def read_range(
        self, after: int, upto: int, limit: int, names: frozenset[str] | None = None
    ) -> list[Fact]:
        """Entries with `after` < position <= `upto`, in order, at most `limit`; only those
        named in `names` when given (a retraction carries its event's name). As projections
        see them: without the fields only auditors read (``read_after`` has those)."""
        ...

    def retracted_between(self, after: int, upto: int) -> frozenset[int]:
        """Positions in (`after`, `upto`] of log entries the store has retracted by now
        (whatever the retraction's own position). A projector folding those entries
        records how to take each back out (``projections.undo``), rather than reading
        the store's history when it meets the retraction."""
        ...

    def head(self) -> Head:
        """The last entry's position and hash (0 and the zero hash when empty)."""
        ...

    def checkpoint(self, chain_id: int) -> Checkpoint | None:
        """The chain's cursor (without blocks), or None before its first commit."""
        ...

    def recorded_blocks(self, chain_id: int, numbers_from: int) -> list[BlockRecord]:
        """Recorded canonical blocks with number >= `numbers_from`, ascending."""
        ...

    def find_live(
        self,
        chain_id: int,
        names: frozenset[str],
        matching: Sequence[dict[str, str]],
        before: int,
    ) -> list[Fact]:
        """Log entries before position `before`, not retracted by then, named in `names`,
        whose args contain one of `matching` (``{}`` matches every entry); in position
        order. Projections refold from these: the aggregates a reorg touched, in one read
        per projection."""
        ...

    def last_live(
        self,
        chain_id: int,
        names: frozenset[str],
        matching: Sequence[dict[str, str]],
        before: int,
    ) -> Fact | None:
        """The newest of ``find_live``'s entries (None if there are none). Walks positions
        backwards from `before`: cheap when a recent entry matches, as for a whole-chain
        aggregate after a reorg."""
        ...


@runtime_checkable
class EncodedAppender(Protocol):
    """A store that also appends events encoded elsewhere (``indexer.encode``): backfill
    then decodes and encodes in fetch processes (``indexer.fetch_pool``)."""

    def append_encoded(
        self,
        events: EncodedEvents,
        checkpoint: Checkpoint,
        expected: Expected,
        dead_letters: Sequence[DeadLetter] = (),
    ) -> Head:
        """``append`` of pre-encoded log entries: the same rows and hashes."""
        ...


def live_events(store: EventStore, chain_id: int | None = None) -> list[StoredEvent]:
    """Log entries never retracted, in position order (optionally for one chain)."""
    entries: list[StoredEvent] = []
    position = 0
    while batch := store.read_after(position, 10_000):
        entries.extend(batch)
        position = batch[-1].position
    retracted = {e.retracts for e in entries if e.kind == KIND_RETRACT}
    return [
        e
        for e in entries
        if e.kind == KIND_LOG
        and e.position not in retracted
        and (chain_id is None or e.event.chain_id == chain_id)
    ]


class InMemoryEventStore:
    """The reference implementation: same semantics as PostgreSQL, in lists and dicts."""

    def __init__(self) -> None:
        self._entries: list[StoredEvent] = []
        self._checkpoints: dict[int, Checkpoint] = {}
        self._blocks: dict[int, dict[int, BlockRecord]] = {}
        self._final: dict[int, int] = {}
        self.dead_letters: dict[tuple[int, bytes, int], DeadLetter] = {}

    def _check(self, chain_id: int, expected: Expected) -> None:
        current = self._checkpoints.get(chain_id)
        seen = (current.block_number, current.block_hash) if current else None
        if seen != expected:
            raise CursorMovedError(
                f"chain {chain_id}: cursor is {seen}, writer expected {expected}"
            )

    def _push(
        self, kind: str, incarnation: int, retracts: int | None, event: NewEvent
    ) -> StoredEvent:
        head = self.head()
        position = head.position + 1
        encoding = canonical_encoding(position, kind, incarnation, retracts, event)
        entry = StoredEvent(
            position=position,
            kind=kind,
            incarnation=incarnation,
            retracts=retracts,
            hash=chain_hash(head.hash, encoding),
            event=event,
        )
        self._entries.append(entry)
        return entry

    def _save(self, checkpoint: Checkpoint) -> None:
        self._checkpoints[checkpoint.chain_id] = checkpoint
        blocks = self._blocks.setdefault(checkpoint.chain_id, {})
        for block in checkpoint.blocks:
            blocks[block.number] = block
        self._final[checkpoint.chain_id] = checkpoint.finalized_number

    def append(
        self,
        events: Sequence[NewEvent],
        checkpoint: Checkpoint,
        expected: Expected,
        dead_letters: Sequence[DeadLetter] = (),
    ) -> Head:
        self._check(checkpoint.chain_id, expected)
        for dead in dead_letters:
            self.dead_letters[(dead.chain_id, dead.block_hash, dead.log_index)] = dead
        seen: dict[tuple[bytes, int], int] = {}
        for e in self._entries:
            if e.kind == KIND_LOG and e.event.chain_id == checkpoint.chain_id:
                key = (e.event.block_hash, e.event.log_index)
                seen[key] = max(seen.get(key, -1), e.incarnation)
        for event in events:
            incarnation = seen.get((event.block_hash, event.log_index), -1) + 1
            self._push(KIND_LOG, incarnation, None, event)
        self._save(checkpoint)
        return self.head()

    def retract(
        self, chain_id: int, after_block: int, checkpoint: Checkpoint, expected: Expected
    ) -> list[StoredEvent]:
        self._check(chain_id, expected)
        targets = [e for e in live_events(self, chain_id) if e.event.block_number > after_block]
        out = [
            self._push(KIND_RETRACT, e.incarnation, e.position, e.event) for e in reversed(targets)
        ]
        blocks = self._blocks.get(chain_id, {})
        for number in [n for n in blocks if n > after_block]:
            del blocks[number]
        self._save(checkpoint)
        return out

    def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        return self._entries[position : position + limit]

    def read_range(
        self, after: int, upto: int, limit: int, names: frozenset[str] | None = None
    ) -> list[Fact]:
        window = self._entries[max(0, after) : max(0, upto)]
        if names is not None:
            window = [e for e in window if e.event.event_name in names]
        return [e.fact() for e in window[:limit]]

    def retracted_between(self, after: int, upto: int) -> frozenset[int]:
        return frozenset(
            e.retracts
            for e in self._entries
            if e.retracts is not None and after < e.retracts <= upto
        )

    def head(self) -> Head:
        if not self._entries:
            return Head(0, GENESIS_HASH)
        last = self._entries[-1]
        return Head(last.position, last.hash)

    def checkpoint(self, chain_id: int) -> Checkpoint | None:
        found = self._checkpoints.get(chain_id)
        return replace(found, blocks=()) if found else None

    def recorded_blocks(self, chain_id: int, numbers_from: int) -> list[BlockRecord]:
        blocks = self._blocks.get(chain_id, {})
        return [blocks[n] for n in sorted(blocks) if n >= numbers_from]

    def find_live(
        self,
        chain_id: int,
        names: frozenset[str],
        matching: Sequence[dict[str, str]],
        before: int,
    ) -> list[Fact]:
        entries = self._entries[: max(0, before - 1)]
        # A retraction at `before` itself counts: the caller refolds on its behalf.
        retracted = {e.retracts for e in self._entries[:before] if e.kind == KIND_RETRACT}
        return [
            e.fact()
            for e in entries
            if e.kind == KIND_LOG
            and e.event.chain_id == chain_id
            and e.event.event_name in names
            and e.position not in retracted
            and any(all(e.event.args.get(k) == v for k, v in m.items()) for m in matching)
        ]

    def last_live(
        self,
        chain_id: int,
        names: frozenset[str],
        matching: Sequence[dict[str, str]],
        before: int,
    ) -> Fact | None:
        found = self.find_live(chain_id, names, matching, before)
        return found[-1] if found else None
