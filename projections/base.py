"""What every projection is: tables, aggregate keys, and pure handlers.

A projection maps an event to the keys of the rows it touches, and folds events into a row
with a pure function ``apply(key, row | None, fact) -> row | None``. The projector
(``projections.projector``) owns all I/O: reading, caching, writing, tracking positions.
Retractions are handled by refolding each affected key from the events still live, so a
reorg leaves a read model exactly as if the orphaned events never happened.

Adding a read model (``projections/datasets.py`` is the example of an aggregate, one row
per dataset folded from several events; ``projections/stats.py`` of an invertible one):

1. A table: a ``ReadModelBase`` subclass (its primary key is the aggregate's key, and a
   ``block_number`` column, the last change, which finality views and refolds use).
2. A ``Projection`` subclass in the same module with ``name``, ``table``, ``events``
   (``event_names(...)`` of typed events from ``contracts.events``) and ``cost``, and:
   ``keys`` (the rows an event touches), ``apply`` (fold one event into a row, pure:
   no I/O, no clock, no event-store position, so replays are byte-identical) and
   ``refold`` (which live events rebuild a key after a retraction). Leave
   ``invertible`` False unless the row is a sum of its events (then add ``unapply``);
   set ``write_once`` if each row is written by one event only (then ``apply`` ignores
   the current row, and a retraction deletes the row instead of refolding it).
3. Register an instance in ``projections/registry.py`` and bump ``PROJECTIONS_VERSION``
   in ``projections/schema.py`` (live schemas are then rebuilt by replay).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

from common.db import NAMING_CONVENTION, Base
from contracts.events import PlatformEvent
from indexer.events import Fact

Row = dict[str, Any]
Key = tuple[Any, ...]


class ReadModelBase(DeclarativeBase):
    """Base of read-model tables: their own metadata, created per schema by the projector
    (they are rebuildable, so they are not alembic-managed; see projections/schema.py)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = Base.type_annotation_map


@dataclass(frozen=True)
class Refold:
    """Which live events rebuild one key: events named `names` (some of the projection's
    own events) on `chain_id` whose args contain `args` (all of them when `args` is
    empty): the store's argument names and values as strings, e.g.
    ``{"datasetId": "7"}`` or ``{"account": "0x" + address.hex()}``."""

    chain_id: int
    names: frozenset[str]
    args: dict[str, str]


class Projection:
    """One read-model table fed by a set of events."""

    name: ClassVar[str]
    table: ClassVar[Table]
    events: ClassVar[frozenset[str]]
    #: Work per consumed event (fold, write, hash), relative to reading one event: balances
    #: replay groups. Measured on 100k events: reading ~4 us per event; see each override.
    cost: ClassVar[float] = 1.0
    #: Each row is written by one event only (its key holds the event's natural key), so
    #: the projector never reads, caches or upserts it: a row is inserted with its event and
    #: deleted with its retraction. Its `apply` ignores the current row.
    write_once: ClassVar[bool] = False
    #: A row is a sum of its events' contributions (counters, volumes), so a retraction
    #: subtracts its event (``unapply``) instead of refolding the row from every live event
    #: its ``refold`` names: for a whole-chain aggregate, the chain's whole history on every
    #: reorg. The projector then sets the row's ``block_number`` to that of the newest live
    #: event (or drops the row if none is left), as a refold would.
    invertible: ClassVar[bool] = False

    def keys(self, fact: Fact) -> list[Key]:
        """Primary keys of the rows `fact` touches (in the table's key column order)."""
        raise NotImplementedError

    def apply(self, key: Key, row: Row | None, fact: Fact) -> Row | None:
        """Fold `fact` into the row at `key` (None: no row yet / delete it). Must be pure."""
        raise NotImplementedError

    def refold(self, key: Key, fact: Fact) -> Refold:
        """The live events that rebuild `key` (used when `fact`, an event folded into it,
        is retracted): every event of this projection that can touch `key`."""
        raise NotImplementedError

    def unapply(self, key: Key, row: Row, fact: Fact) -> Row:
        """`row` (which `fact` was folded into) without `fact`'s contribution, for an
        ``invertible`` projection; its ``block_number`` is left to the projector. Pure."""
        raise NotImplementedError


# -- helpers for handlers ------------------------------------------------------------------
@lru_cache(maxsize=1 << 16)
def addr(value: str) -> bytes:
    """A 0x address string (any case) as its 20 raw bytes (cached: accounts recur, and a
    replay converts one to three per event)."""
    return bytes.fromhex(value[2:])


def changed(row: Row, fact: Fact, **values: Any) -> Row:
    """A copy of `row` with `values` and the fact's block as the last change."""
    return {**row, **values, "block_number": fact.block_number}


def natural_key(fact: Fact) -> Key:
    """(chain_id, block_hash, log_index): the natural key of a log."""
    return (fact.chain_id, fact.block_hash, fact.log_index)


class LogProjection(Projection):
    """A table with one row per event, keyed by the log's natural key: each row is written
    by its own event alone, and a retraction deletes it (nothing else can rebuild it)."""

    write_once = True

    def keys(self, fact: Fact) -> list[Key]:
        return [natural_key(fact)]

    def refold(self, key: Key, fact: Fact) -> Refold:
        return Refold(key[0], frozenset(), {})


def event_names(*types: type[PlatformEvent]) -> frozenset[str]:
    """The store's names of these typed events (a projection's ``events``)."""
    return frozenset(t.event_name for t in types)
