"""Planning: which rows a folded window writes, per table, and how.

Decided against the row cache before the window's rows move into it: a key the cache
knows exists is upserted or deleted; a key it knows has no row (any key it lacks while it
mirrors a table, ``RowCache``'s *complete*; a key loaded and not found otherwise) is new,
so it is COPYed in as a plain insert; any other key is upserted or deleted blind.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from projections.base import Key, Projection, Row
from projections.undo import Records

if TYPE_CHECKING:
    from projections.cache import Packed, RowCache
    from projections.folding import Window


class TableWrite(NamedTuple):
    """One projection's changes: `inserts` are new rows (COPY), `upserts` may exist,
    `deletes` are keys (deleted first)."""

    projection: Projection
    inserts: list[Row]
    upserts: list[Row]
    deletes: list[Key]


@dataclass(frozen=True)
class WritePlan:
    """What one window commits: its tables' changes, every projection's position, its
    undo records and the chains' finalized blocks (which prune the older records)."""

    tables: list[TableWrite]
    position: int
    undo: Records = field(default_factory=dict)
    finalized: dict[int, int] = field(default_factory=dict)


def plan_writes(
    projections: Sequence[Projection], window: Window, cache: RowCache, position: int
) -> WritePlan:
    """What to write for `window`, folded up to `position` (call before the cache
    remembers the window's rows)."""
    tables = []
    for p in projections:
        rows = window.rows.get(p.name, {})
        if p.write_once:
            tables.append(_write_once(p, rows, window.retracted.get(p.name, ())))
        elif cache.is_complete(p.name):
            tables.append(_against_mirror(p, rows, cache.rows[p.name].packed))
        else:
            tables.append(_against_known(p, rows, cache.rows[p.name].packed))
    return WritePlan(tables=tables, position=position, undo=window.undo, finalized=window.finalized)


def _write_once(
    p: Projection, rows: dict[Key, Row | None], retracted: Collection[Key]
) -> TableWrite:
    """New keys only: inserted; those retracted in the window deleted first."""
    return TableWrite(
        projection=p,
        inserts=[r for r in rows.values() if r is not None],
        upserts=[],
        deletes=list(retracted),
    )


def _against_mirror(
    p: Projection, rows: dict[Key, Row | None], existing: dict[Key, Packed | None]
) -> TableWrite:
    """The cache mirrors the table (`existing`): new keys are plain inserts, and only
    keys that exist need an upsert or a delete."""
    if not existing:  # the first commit of a replay: everything is new
        return TableWrite(
            projection=p,
            inserts=[r for r in rows.values() if r is not None],
            upserts=[],
            deletes=[],
        )
    return TableWrite(
        projection=p,
        inserts=[r for k, r in rows.items() if r is not None and existing.get(k) is None],
        upserts=[r for k, r in rows.items() if r is not None and existing.get(k) is not None],
        deletes=[k for k, r in rows.items() if r is None and existing.get(k) is not None],
    )


def _against_known(
    p: Projection, rows: dict[Key, Row | None], known: dict[Key, Packed | None]
) -> TableWrite:
    """The cache holds some of the table's rows (`known`; None: known to have no row):
    known-absent keys are plain inserts, and the keys it lacks are upserted or deleted
    blind (a row restored after a retraction, which loads nothing)."""
    absent = _MISSING_ROW
    return TableWrite(
        projection=p,
        inserts=[r for k, r in rows.items() if r is not None and known.get(k, absent) is None],
        upserts=[r for k, r in rows.items() if r is not None and known.get(k, absent) is not None],
        deletes=[k for k, r in rows.items() if r is None and known.get(k, absent) is not None],
    )


#: What ``_against_known`` reads for a key the cache lacks (neither a row nor None).
_MISSING_ROW: Packed = ()
