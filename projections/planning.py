"""Planning: which rows a folded window writes, per table, and how.

Decided against the row cache before the window's rows move into it: a key the cache
knows exists is upserted or deleted; while the cache mirrors a table (``RowCache``'s
*complete*), any other key is new, so it is COPYed in as a plain insert.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from projections.base import Key, Projection, Row
from projections.undo import Records

if TYPE_CHECKING:
    from projections.cache import RowCache
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
            tables.append(_against_mirror(p, rows, cache.rows[p.name]))
        else:
            tables.append(_blind(p, rows))
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
    p: Projection, rows: dict[Key, Row | None], existing: dict[Key, Row]
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
        inserts=[r for k, r in rows.items() if r is not None and k not in existing],
        upserts=[r for k, r in rows.items() if r is not None and k in existing],
        deletes=[k for k, r in rows.items() if r is None and k in existing],
    )


def _blind(p: Projection, rows: dict[Key, Row | None]) -> TableWrite:
    """Whether a key exists is unknown: every row is upserted, every None deleted."""
    return TableWrite(
        projection=p,
        inserts=[],
        upserts=[r for r in rows.values() if r is not None],
        deletes=[k for k, r in rows.items() if r is None],
    )
