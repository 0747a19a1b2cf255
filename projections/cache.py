"""The projector's write-through cache of committed read-model rows, per projection.

While a projection is *complete* (its table was empty when the cache started and nothing
was evicted since), the cache mirrors its table: a miss means "no row", so a replay never
reads its own tables back. Otherwise the rows a batch will fold into are loaded first
(``load_missing``), and a key found without a row is cached as None (known absent), so
the window that creates its row COPYs it in rather than upserting it. The cache is
bounded: past ``max_rows``, the largest projections' rows are dropped (those projections
become incomplete) until half the bound is left, so the small ones (a few rows each,
touched by most events: stakes, stats) keep mirroring their tables through a replay or
catch-up of millions of events.

Rows are kept packed (``PackedRows``): a tuple of the table's column values rather than a
column -> value dict, ~1.5x fewer bytes per row (a dict's hash table is most of a
row's size: ~900 against ~600 bytes for a `datasets` row with its key), so the bound
holds 2M rows in the memory 1M dicts took (~1.2 GB). A row is unpacked into a fresh
dict when a fold reads it (once per key and window).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

import psycopg

from indexer.events import KIND_RETRACT, Fact
from projections.base import Key, Projection, Row
from projections.writer import load_rows

#: Rows touched by the uncommitted window, per projection name (None: deleted).
WindowRows = dict[str, dict[Key, Row | None]]
#: A row's column values in its table's column order.
Packed = tuple[Any, ...]
#: Rows a projector caches by default (per process: a replay's group has its own cache):
#: ~1.2 GB of packed rows (~600 bytes each with their keys, for `datasets`' wide rows).
MAX_ROWS = 2_000_000


class PackedRows:
    """Committed rows of one projection by key, each packed as a tuple of its table's
    column values (None: known to have no row). ``get`` unpacks a fresh dict: callers may
    keep or change it (the cache keeps its tuple)."""

    __slots__ = ("_columns", "_pack", "packed")

    def __init__(self, columns: Sequence[str]) -> None:
        self._columns = tuple(columns)
        getter = itemgetter(*self._columns)  # (one column: the value itself, not a tuple)
        self._pack: Callable[[Row], Packed] = (
            getter if len(self._columns) > 1 else lambda row: (getter(row),)
        )
        #: The packed rows by key (None: known absent): planning reads it as is.
        self.packed: dict[Key, Packed | None] = {}

    def get(self, key: Key) -> Row | None:
        """The row at `key`, unpacked (None: no row, or not cached: see ``__contains__``)."""
        values = self.packed.get(key)
        return None if values is None else dict(zip(self._columns, values, strict=True))

    def __contains__(self, key: object) -> bool:
        return key in self.packed

    def __len__(self) -> int:
        return len(self.packed)

    def put(self, key: Key, row: Row | None) -> None:
        """Cache `row` at `key` (None: known absent)."""
        self.packed[key] = None if row is None else self._pack(row)

    def update(self, rows: Mapping[Key, Row | None]) -> None:
        """Cache each of `rows` (None: known absent)."""
        pack, packed = self._pack, self.packed
        for key, row in rows.items():
            packed[key] = None if row is None else pack(row)

    def discard(self, key: Key) -> None:
        """Forget `key` (a miss again)."""
        self.packed.pop(key, None)

    def clear(self) -> None:
        """Forget every row."""
        self.packed = {}


class RowCache:
    """Committed rows of `projections`' tables in `schema`, by projection name and key."""

    def __init__(self, projections: Sequence[Projection], *, schema: str, max_rows: int) -> None:
        self.projections = projections
        self.schema = schema
        self.max_rows = max_rows
        self.rows: dict[str, PackedRows] = {}
        self.complete: set[str] = set()
        #: Never read back, so never cached: their rows are written by one event each.
        self._write_once = {p.name for p in projections if p.write_once}

    def reset(self, complete: Iterable[str] = ()) -> None:
        """Start over empty; `complete`: the projections whose tables are empty now."""
        self.rows = {
            p.name: PackedRows([c.name for c in p.table.columns]) for p in self.projections
        }
        self.complete = set(complete)

    def forget(self) -> None:
        """Drop everything (it may hold rows that never committed); ``reset`` before use."""
        self.rows, self.complete = {}, set()

    def is_complete(self, name: str) -> bool:
        """Whether the cache mirrors projection `name`'s table (a miss means no row)."""
        return name in self.complete

    def mirrors(self, names: Iterable[str]) -> bool:
        """Whether the cache mirrors every table of projections `names`."""
        return self.complete.issuperset(names)

    def remember(self, window: WindowRows) -> None:
        """Keep a committed window's rows (bounded: past ``max_rows``, evict)."""
        for name, rows in window.items():
            if name in self._write_once:
                continue
            cache = self.rows[name]
            if name in self.complete:  # (a miss means no row)
                for key, row in rows.items():
                    if row is None:
                        cache.discard(key)
                    else:
                        cache.put(key, row)
            else:
                cache.update(rows)  # a deleted row is known absent
        cached = sum(len(rows) for rows in self.rows.values())
        if cached > self.max_rows:
            self._evict(cached)

    def _evict(self, cached: int) -> None:
        """Drop whole projections' rows, largest first, until at most half the bound is
        cached (a projection with rows dropped no longer mirrors its table)."""
        for name in sorted(self.rows, key=lambda n: len(self.rows[n]), reverse=True):
            if cached <= self.max_rows // 2:
                return
            cached -= len(self.rows[name])
            self.rows[name].clear()
            self.complete.discard(name)

    def load_missing(
        self,
        cur: psycopg.Cursor[Any],
        window: WindowRows,
        entries: list[Fact],
        positions: dict[str, int],
    ) -> None:
        """Load the committed rows `entries` will fold into that neither the uncommitted
        `window` nor the cache hold, for projections whose table the cache does not mirror
        (a live schema; a replay after the cache overflowed). One query per projection and
        batch; a key not found has no row (cached as None)."""
        for p in self.projections:
            if p.write_once or p.name in self.complete:
                continue
            rows, cache = window.get(p.name, {}), self.rows[p.name]
            wanted = _wanted(p, entries, positions.get(p.name, 0), rows, cache)
            if wanted:
                cache.update(wanted)  # None: absent unless found
                cache.update(load_rows(cur, self.schema, p.table, list(wanted)))


def _wanted(
    p: Projection,
    entries: list[Fact],
    applied: int,
    rows: dict[Key, Row | None],
    cache: PackedRows,
) -> dict[Key, None]:
    """The keys of `p` that `entries` after position `applied` fold into and that
    neither `rows` nor `cache` hold (in first-seen order)."""
    wanted: dict[Key, None] = {}
    for entry in entries:
        if entry.position <= applied or (entry.kind == KIND_RETRACT and not p.invertible):
            continue  # a retraction refolds from the store (see projections.folding)
        if entry.event_name in p.events:
            for key in p.keys(entry):
                if key not in rows and key not in cache:
                    wanted[key] = None
    return wanted
