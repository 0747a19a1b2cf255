"""Read-model schemas: created by the projector, rebuilt (not migrated) when projections change.

Read models are a cache of the event store, so a code change that alters them bumps
``PROJECTIONS_VERSION`` and the projector rebuilds the schema by replay instead of running a
migration. Each table gets a ``<table>_v`` view adding ``finalized`` from the indexer's
cursor, so finality stays out of the deterministic rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import BigInteger, Connection, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CreateTable

from projections.base import ReadModelBase
from projections.failures import DOCUMENT_FAILURES
from projections.registry import all_projections
from projections.undo import UNDO

#: Bump when a projection's tables or handlers change: the projector then rebuilds.
# 13: a dataset's purchase count and rating in dataset_counters (out of datasets, whose 8
# indexes every purchase and rating rewrote); 12: ix_datasets_provider on (provider,
# newest order); 11: undo records (projection_undo), account totals, datasets' rating
# index negated, ix_datasets_metadata_cid; 10: the bridge's sends and deliveries; 9:
# governance (proposals, votes, timelock operations, parameter changes, delegations,
# delegate votes, voting supply); 8: job list indexes; 7: profiles; 6: the outbox owes
# nothing for a purchase
PROJECTIONS_VERSION = "13"
VERSION_KEY = "__version__"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class TrackingRow(ReadModelBase):
    """Event-store position each projection has applied (committed with its rows)."""

    __tablename__ = "projection_tracking"
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[str] = mapped_column(Text)


TRACKING: Table = TrackingRow.__table__  # type: ignore[assignment]
#: Tables of a live schema that are no projection's (not hashed, not replayed).
OPERATIONAL: tuple[Table, ...] = (TRACKING, DOCUMENT_FAILURES, UNDO)


def check_schema_name(schema: str) -> str:
    """Refuse anything but a plain lowercase identifier (schema names are interpolated)."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


def schema_version(conn: Connection, schema: str) -> str | None:
    """The projections version a schema was built with, or None if it does not exist."""
    check_schema_name(schema)
    exists = conn.execute(
        text(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = :s"
            " AND table_name = 'projection_tracking'"
        ),
        {"s": schema},
    ).first()
    if not exists:
        return None
    row = conn.execute(
        text(f'SELECT version FROM "{schema}".projection_tracking WHERE name = :k'),
        {"k": VERSION_KEY},
    ).first()
    return row[0] if row else None


def create_schema(conn: Connection, schema: str, bulk: bool = False) -> None:
    """Create the schema, every read-model table, their views and the tracking rows.

    `bulk` is for scratch rebuilds such as a replay's: the projection tables are UNLOGGED
    (no WAL: emptied if PostgreSQL crashes; see ``set_logged``) and created without their
    secondary indexes, which the loader builds once its rows are in
    (``create_secondary_indexes``: a sorted build instead of one B-tree insert per row).
    """
    check_schema_name(schema)
    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    mapped = conn.execution_options(schema_translate_map={None: schema})
    if not bulk:
        ReadModelBase.metadata.create_all(mapped)  # projections, and OPERATIONAL tables
    else:
        for operational in OPERATIONAL:  # (a kept replay can serve as a live schema)
            operational.create(mapped)
        for projection in all_projections():  # the tables alone (no comments, no indexes)
            ddl = str(CreateTable(projection.table).compile(dialect=conn.dialect))
            conn.execute(
                text(ddl.replace("CREATE TABLE ", f'CREATE UNLOGGED TABLE "{schema}".', 1))
            )
    for projection in all_projections():
        table = projection.table.name
        conn.execute(
            text(
                f'CREATE OR REPLACE VIEW "{schema}".{table}_v AS SELECT t.*,'
                " coalesce(t.block_number <= c.finalized_number, false) AS finalized"
                f' FROM "{schema}".{table} t LEFT JOIN public.cursors c ON c.chain_id = t.chain_id'
            )
        )
    names = [VERSION_KEY, *(p.name for p in all_projections())]
    for name in names:
        conn.execute(
            text(
                f'INSERT INTO "{schema}".projection_tracking (name, position, version)'
                " VALUES (:n, 0, :v) ON CONFLICT (name) DO NOTHING"
            ),
            {"n": name, "v": PROJECTIONS_VERSION},
        )


def create_secondary_indexes(conn: Connection, schema: str, tables: Iterable[Table]) -> None:
    """(Re)create the secondary indexes of `tables` in `schema`."""
    check_schema_name(schema)
    mapped = conn.execution_options(schema_translate_map={None: schema})
    for table in tables:
        for index in table.indexes:
            index.create(mapped)


def set_logged(conn: Connection, schema: str) -> None:
    """Make a schema's projection tables durable (WAL-logged) again: a table rewrite."""
    check_schema_name(schema)
    for projection in all_projections():
        conn.execute(text(f'ALTER TABLE "{schema}".{projection.table.name} SET LOGGED'))


def drop_schema(conn: Connection, schema: str) -> None:
    """Drop a read-model schema and everything in it."""
    conn.execute(text(f'DROP SCHEMA IF EXISTS "{check_schema_name(schema)}" CASCADE'))


def swap_schema(conn: Connection, staging: str, schema: str) -> None:
    """Put the complete schema `staging` in place of `schema` (dropped), in the caller's
    transaction: readers see one or the other."""
    drop_schema(conn, schema)
    conn.execute(
        text(f'ALTER SCHEMA "{check_schema_name(staging)}" RENAME TO "{check_schema_name(schema)}"')
    )


def ensure_schema(conn: Connection, schema: str) -> bool:
    """Create the schema when missing, rebuild it when built by other code; True if new."""
    version = schema_version(conn, schema)
    if version == PROJECTIONS_VERSION:
        return False
    if version is not None:
        drop_schema(conn, schema)
    create_schema(conn, schema)
    return True
