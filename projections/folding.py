"""Folding: entries into the uncommitted rows of a window, retractions included.

The hot loop of a replay. Per event name, each projection's bound handlers, its
uncommitted rows, committed position and row cache are looked up once per batch (a
``Route``). A retraction marks the rows it touches stale rather than restoring each at
once: a reorg retracts a run of events, many of them folded into the same aggregates.
Stale rows are restored together before an event folds into one of them, and at the end
of the batch: from the undo records kept while folding events that may be retracted
(``projections.undo``: one read per projection, whatever the store's size), else refolded
from the events still live (one store read per projection). An ``invertible``
projection's row subtracts the retracted event at once instead; its block is settled at
the same points.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import psycopg
import structlog

from indexer.events import KIND_RETRACT, Fact
from indexer.store import EventStore
from projections import undo
from projections.base import Key, Projection, Row
from projections.cache import PackedRows, RowCache, WindowRows
from projections.undo import Records, UndoKey, UndoRecord

log = structlog.get_logger(__name__)

_MISSING: Any = object()
_gc_lock = threading.Lock()
_gc_pauses = 0


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while folding (re-entrant, thread-safe).

    A replay allocates millions of small acyclic objects (entries, rows, keys) while it
    holds a large live heap (the row cache), so generational collections keep rescanning
    it for nothing: ~20% of a replay's CPU (0.7 of 3.6 s per 100k events). Refcounting
    still frees all of it; cycles wait until the fold ends.
    """
    global _gc_pauses  # noqa: PLW0603 - process-wide, like the collector itself
    with _gc_lock:
        _gc_pauses += 1
        gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0:
                gc.enable()


@dataclass
class Window:
    """What the uncommitted window (one or more batches) has folded, per projection."""

    rows: WindowRows = field(default_factory=dict)
    #: Keys of write-once projections retracted in this window (deleted before inserts:
    #: a reorg back to an earlier fork appends the same keys again).
    retracted: dict[str, set[Key]] = field(default_factory=dict)
    #: Undo records of the events folded here that may be retracted.
    undo: Records = field(default_factory=dict)
    #: The finalized block number of each chain read in this window (prunes records).
    finalized: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Undoable:
    """Which entries of a batch may still be retracted: those above their chain's
    `finalized` block, and those the store has retracted already (`retracted`)."""

    finalized: dict[int, int] = field(default_factory=dict)
    retracted: frozenset[int] = frozenset()


class Route(NamedTuple):
    """One projection's part in folding an event name, for one batch (unpacked in the
    hot loop: as fast as a plain tuple)."""

    projection: Projection
    keys: Callable[[Fact], list[Key]]
    apply: Callable[[Key, Row | None, Fact], Row | None]
    rows: dict[Key, Row | None]  # the window's rows of this projection
    applied: int  # its committed position: entries up to it are skipped
    cache: PackedRows  # its committed rows (None: known absent), unpacked by `get`
    retracted: set[Key] | None  # write-once projections only
    keeps_undo: bool  # whether its rows get undo records (``undo.keeps_records``)


@dataclass
class Retractions:
    """Rows retractions left to settle, per projection: `stale` rows are refolded from
    the store; `settle` rows (invertible) subtracted their events and only need their
    block. Each maps a key to the latest retraction of an event folded into it."""

    stale: dict[Projection, dict[Key, Fact]] = field(default_factory=dict)
    settle: dict[Projection, dict[Key, Fact]] = field(default_factory=dict)


class Folder:
    """Folds entries into a `Window` for `projections`, reading the store for refolds
    (under `store_lock`: the projector's reader thread shares its connection)."""

    def __init__(
        self,
        projections: Sequence[Projection],
        *,
        store: EventStore,
        store_lock: threading.Lock,
        cache: RowCache,
    ) -> None:
        self.store = store
        self._store_lock = store_lock
        self._cache = cache
        #: Undo records of the window being committed meanwhile (not readable yet).
        self.committing: Records = {}
        self._by_event: dict[str, list[Projection]] = {}
        for p in projections:
            for name in p.events:
                self._by_event.setdefault(name, []).append(p)

    @property
    def event_names(self) -> frozenset[str]:
        """The names of the events these projections consume."""
        return frozenset(self._by_event)

    def _routes(self, window: Window, positions: dict[str, int]) -> dict[str, list[Route]]:
        cache = self._cache.rows
        return {
            name: [
                Route(
                    projection=p,
                    keys=p.keys,
                    apply=p.apply,
                    rows=window.rows.setdefault(p.name, {}),
                    applied=positions.get(p.name, 0),
                    cache=cache[p.name],
                    retracted=window.retracted.setdefault(p.name, set()) if p.write_once else None,
                    keeps_undo=undo.keeps_records(p),
                )
                for p in projections
            ]
            for name, projections in self._by_event.items()
        }

    def fold(
        self,
        cur: psycopg.Cursor[Any],
        window: Window,
        entries: list[Fact],
        positions: dict[str, int],
        undoable: Undoable | None = None,
    ) -> None:
        """Fold `entries` into `window` (projections skip what they committed: up to
        `positions`), loading through `cur` the committed rows the cache lacks, and
        recording how to undo the events `undoable` names (none if None)."""
        self._cache.load_missing(cur, window.rows, entries, positions)
        routes = self._routes(window, positions)
        pending = Retractions()
        stale, settle = pending.stale, pending.settle  # locals: checked per key
        records = window.undo
        finalized = undoable.finalized if undoable else {}
        retracted_later = undoable.retracted if undoable else frozenset()
        window.finalized.update(finalized)
        resolve = self._resolver(cur, window)
        for entry in entries:
            route = routes.get(entry.event_name)
            if route is None:
                continue
            position = entry.position
            if entry.kind == KIND_RETRACT:
                self._retract(route, entry, pending)
                continue
            record = undoable is not None and (
                entry.block_number > finalized.get(entry.chain_id, -1)
                or position in retracted_later
            )
            for p, keys, apply, rows, applied, cache, retracted, keeps_undo in route:
                if position <= applied:
                    continue  # this projection committed it before (it was behind the rest)
                for key in keys(entry):
                    if retracted is not None:  # write-once: there is no current row
                        rows[key] = apply(key, None, entry)
                        continue
                    if (stale or settle) and (key in stale.get(p, ()) or key in settle.get(p, ())):
                        resolve(p, stale.pop(p, {}), settle.pop(p, {}))
                    current = rows.get(key, _MISSING)
                    if current is _MISSING:  # untouched since the last commit: committed
                        current = cache.get(key)  # (loaded above unless complete) or none
                    if record and keeps_undo:
                        records[UndoKey(p.name, key, entry.block_hash, entry.log_index)] = (
                            UndoRecord(current, entry.chain_id, entry.block_number, position)
                        )
                    rows[key] = apply(key, current, entry)
        for p in {*stale, *settle}:
            resolve(p, stale.get(p, {}), settle.get(p, {}))

    def _resolver(
        self, cur: psycopg.Cursor[Any], window: Window
    ) -> Callable[[Projection, dict[Key, Fact], dict[Key, Fact]], None]:
        def resolve(p: Projection, stale: dict[Key, Fact], settle: dict[Key, Fact]) -> None:
            self._resolve(cur, window, p, stale, settle)

        return resolve

    @staticmethod
    def _retract(route: list[Route], retraction: Fact, pending: Retractions) -> None:
        """Take `retraction`'s event out of the rows it was folded into (see the module's
        doc): a write-once row is deleted, an invertible one subtracts it (unless stale),
        any other is marked stale."""
        for target in route:
            if retraction.position <= target.applied:
                continue  # committed before this projection's position: never folded
            p, rows = target.projection, target.rows
            for key in target.keys(retraction):
                if target.retracted is not None:  # write-once: that event was its only one
                    rows[key] = None
                    target.retracted.add(key)
                    continue
                current = rows[key] if key in rows else target.cache.get(key)  # (loaded)
                if p.invertible and current is not None and key not in pending.stale.get(p, ()):
                    rows[key] = p.unapply(key, current, retraction)
                    pending.settle.setdefault(p, {})[key] = retraction
                else:
                    pending.stale.setdefault(p, {})[key] = retraction

    def _resolve(
        self,
        cur: psycopg.Cursor[Any],
        window: Window,
        p: Projection,
        stale: dict[Key, Fact],
        settle: dict[Key, Fact],
    ) -> None:
        """Restore `p`'s `stale` rows (from undo records, else by a refold); give each
        row of `settle` (which subtracted its retracted events) the block of the newest
        live event its refold would read, or drop it if none is left: what a refold
        would give."""
        rows = window.rows[p.name]
        if stale:
            unrecorded = self._restore(cur, window, p, stale)
            if unrecorded:
                self._refold(p, unrecorded, rows)
        for key, retraction in settle.items():
            if key in stale:
                continue  # refolded
            spec = p.refold(key, retraction)
            with self._store_lock:
                last = self.store.last_live(
                    spec.chain_id, spec.names, [spec.args], retraction.position
                )
            row = rows[key]
            rows[key] = (
                None if last is None or row is None else {**row, "block_number": last.block_number}
            )

    def _restore(
        self, cur: psycopg.Cursor[Any], window: Window, p: Projection, stale: dict[Key, Fact]
    ) -> dict[Key, Fact]:
        """Give each `stale` row of `p` its version from before the oldest retracted event
        folded into it (its latest retraction: a reorg retracts newest first), from the
        undo records: this window's, the committing window's, then the stored ones.
        Returns the keys that have no record (to refold)."""
        if not undo.keeps_records(p):
            return stale
        wanted = {UndoKey(p.name, k, r.block_hash, r.log_index): k for k, r in stale.items()}
        found: dict[UndoKey, Row | None] = {}
        for records in (window.undo, self.committing):
            found.update(
                (k, records[k].previous) for k in wanted if k in records and k not in found
            )
        missing = [k for k in wanted if k not in found]
        if missing:
            found.update(undo.load(cur, self._cache.schema, missing, undo.codec_for(p.table)))
        rows = window.rows[p.name]
        for k, previous in found.items():
            rows[wanted[k]] = previous
        unrecorded = {wanted[k]: stale[wanted[k]] for k in wanted if k not in found}
        if unrecorded:
            log.warning("projections.undo.unrecorded", projection=p.name, rows=len(unrecorded))
        return unrecorded

    def _refold(self, p: Projection, stale: dict[Key, Fact], rows: dict[Key, Row | None]) -> None:
        """Rebuild the `stale` keys of `p` into `rows` from the events still live when
        their latest retraction was appended, in one store read per chain.

        One read position serves every key, the latest of those retractions: a key is
        refolded before any later event folds into it, so between its own latest
        retraction and that one, no live event of it was appended nor retracted."""
        specs = {key: p.refold(key, retraction) for key, retraction in stale.items()}
        before = max(retraction.position for retraction in stale.values())
        by_chain: dict[tuple[int, frozenset[str]], list[Key]] = {}
        for key, spec in specs.items():
            by_chain.setdefault((spec.chain_id, spec.names), []).append(key)
        for (chain_id, names), keys in by_chain.items():
            matching = list(
                {tuple(sorted(specs[k].args.items())): specs[k].args for k in keys}.values()
            )
            with self._store_lock:
                live = self.store.find_live(chain_id, names, matching, before)
            rebuilt: dict[Key, Row | None] = dict.fromkeys(keys)
            for entry in live:
                for key in p.keys(entry):
                    if key in rebuilt:
                        rebuilt[key] = p.apply(key, rebuilt[key], entry)
            rows.update(rebuilt)
