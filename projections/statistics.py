"""Planner statistics of the read models, kept fresh by the projector itself.

PostgreSQL's autovacuum ANALYZEs a table once ``50 + 10%`` of its rows changed since the
last ANALYZE, but autovacuum may be off (it is on this project's CI machines) or lag a
bulk load by minutes. Until then the planner believes a freshly filled table is empty: with
10,000 datasets, ``GET /datasets?q=`` checked every row one by one (95-167 ms) instead of
using the full-text index (bench/RESULTS.md, the dApp's explore benchmark). The projector
applies the same rule after its commits (and the resolver's: the check reads PostgreSQL's
own counters of changed rows, whoever wrote them).
"""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from psycopg import sql

log = structlog.get_logger(__name__)

#: autovacuum's defaults: analyze after 50 rows plus 10% of the table changed.
ANALYZE_THRESHOLD = 50
ANALYZE_SCALE = 0.1

_STALE = """
SELECT s.relname
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname = %(schema)s
  AND s.n_mod_since_analyze > %(threshold)s + %(scale)s * greatest(c.reltuples, 0)
ORDER BY s.relname
"""


def refresh_statistics(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    """ANALYZE each table of `schema` changed enough since its last ANALYZE (autovacuum's
    rule); the tables analyzed. `conn` must be in autocommit mode (ANALYZE then takes
    only a light lock per table, and never holds a transaction open)."""
    params = {"schema": schema, "threshold": ANALYZE_THRESHOLD, "scale": ANALYZE_SCALE}
    tables = [row[0] for row in conn.execute(_STALE, params).fetchall()]
    for table in tables:
        conn.execute(sql.SQL("ANALYZE {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
    if tables:
        log.info("projections.analyzed", schema=schema, tables=tables)
    return tables
