"""Reading: the event-store entries a projector's projections consume, batch by batch."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from indexer.events import Fact
from indexer.store import EventStore
from projections.folding import Undoable

FIRST_READ = 2_000  # entries in a run's first read (later reads take a full batch)


@dataclass(frozen=True)
class ReadBatch:
    """Entries read for these projections, and the position they bring them to (past
    entries no projection here consumes)."""

    entries: list[Fact]
    end: int
    full: bool = False  # as many entries as asked for: more are waiting (we are behind)
    undoable: Undoable = field(default_factory=Undoable)  # which may still be retracted


class Reader:
    """Reads entries named `names` from `store` (under `store_lock`: refolds share the
    store's connection). Only those are fetched: the rest (token transfers, role
    grants...) move the positions without being read."""

    def __init__(self, store: EventStore, *, names: frozenset[str], store_lock: threading.Lock):
        self.store = store
        self.names = names
        self._store_lock = store_lock

    def read(self, after: int, until: int | None, limit: int) -> ReadBatch:
        """Up to `limit` entries after position `after`, up to `until` (default: the
        store's head now)."""
        with self._store_lock:
            upto = until if until is not None else self.store.head().position
            if upto <= after:
                return ReadBatch(entries=[], end=after)
            entries = self.store.read_range(after, upto, limit, self.names)
            # A short batch read everything up to `upto`; a full one stops at its last entry.
            full = len(entries) == limit
            end = entries[-1].position if full else upto
            undoable = self._undoable(entries, after, end)
        return ReadBatch(entries=entries, end=end, full=full, undoable=undoable)

    def _undoable(self, entries: list[Fact], after: int, end: int) -> Undoable:
        """The chains' finalized blocks and the entries already retracted (read after
        the entries: finality only moves forward, so an entry above the block read here
        was above it when read)."""
        if not entries:
            return Undoable()
        finalized = {}
        for chain_id in {e.chain_id for e in entries}:
            checkpoint = self.store.checkpoint(chain_id)
            finalized[chain_id] = checkpoint.finalized_number if checkpoint else -1
        return Undoable(finalized=finalized, retracted=self.store.retracted_between(after, end))
