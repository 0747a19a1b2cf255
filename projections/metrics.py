"""The projector's lag, read at each scrape: how many event-store positions the slowest
projection of a read schema is behind the store's head (``datacoin project`` serves it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from psycopg import sql

from common.metrics import DatabaseCollector
from projections.schema import VERSION_KEY, check_schema_name

_HEAD = "SELECT coalesce(max(position), 0) FROM events"
_SLOWEST = "SELECT min(position) FROM {} WHERE name <> %s"


class ProjectorLag(DatabaseCollector):
    """``datacoin_event_store_head_position``, ``datacoin_projector_position`` (the slowest
    projection's) and their difference ``datacoin_projector_lag_positions``."""

    def __init__(self, database_url: str, schema: str) -> None:
        super().__init__(database_url)
        self.schema = check_schema_name(schema)

    def read(self, conn: psycopg.Connection[Any]) -> Iterator[Metric]:
        (head,) = conn.execute(_HEAD).fetchone() or (0,)
        yield GaugeMetricFamily(
            "datacoin_event_store_head_position", "Last position in the event store", value=head
        )
        table = f'"{self.schema}"."projection_tracking"'  # (a checked schema name)
        exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        if not exists or exists[0] is None:
            return  # the projector has not created its schema yet
        tracking = sql.Identifier(self.schema, "projection_tracking")
        row = conn.execute(sql.SQL(_SLOWEST).format(tracking), (VERSION_KEY,)).fetchone()
        slowest = row[0] if row else None
        if slowest is None:
            return  # no projection tracked yet
        labels = ["schema"]
        position = GaugeMetricFamily(
            "datacoin_projector_position",
            "Event-store position the slowest projection has folded",
            labels=labels,
        )
        position.add_metric([self.schema], slowest)
        lag = GaugeMetricFamily(
            "datacoin_projector_lag_positions",
            "Event-store positions the slowest projection is behind the head",
            labels=labels,
        )
        lag.add_metric([self.schema], max(0, head - slowest))
        yield position
        yield lag
