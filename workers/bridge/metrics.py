"""The bridge relayer's Prometheus series: what waits to be carried (read from PostgreSQL
at each scrape, so it keeps rising while the relayers are stuck) and what was delivered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from psycopg import sql

from common.metrics import DatabaseCollector
from projections.schema import check_schema_name

#: Final sends with no delivery, per source chain, and the oldest one's send time.
_BACKLOG = (
    "SELECT s.chain_id, count(*), min(extract(epoch FROM s.sent_at))"
    " FROM {sends} s JOIN cursors c ON c.chain_id = s.chain_id"
    " WHERE s.block_number <= c.finalized_number"
    " AND NOT EXISTS (SELECT 1 FROM {deliveries} d WHERE d.message_id = s.message_id)"
    " GROUP BY s.chain_id"
)


class BridgeBacklog(DatabaseCollector):
    """``datacoin_bridge_backlog`` (final sends not delivered yet) and
    ``datacoin_bridge_oldest_age_seconds`` (now minus the oldest one's block time: it
    includes the wait for finality), per source chain."""

    def __init__(self, database_url: str, schema: str) -> None:
        super().__init__(database_url)
        self.schema = check_schema_name(schema)

    def read(self, conn: psycopg.Connection[Any]) -> Iterator[Metric]:
        query = sql.SQL(_BACKLOG).format(
            sends=sql.Identifier(self.schema, "bridge_sends"),
            deliveries=sql.Identifier(self.schema, "bridge_deliveries"),
        )
        backlog = GaugeMetricFamily(
            "datacoin_bridge_backlog",
            "Final bridge sends not delivered on their destination yet",
            labels=["source_chain_id"],
        )
        age = GaugeMetricFamily(
            "datacoin_bridge_oldest_age_seconds",
            "Seconds since the block of the oldest final bridge send not delivered yet",
            labels=["source_chain_id"],
        )
        now = time.time()
        for chain_id, count, oldest in conn.execute(query).fetchall():
            backlog.add_metric([str(chain_id)], count)
            age.add_metric([str(chain_id)], max(0.0, now - float(oldest)) if oldest else 0.0)
        yield backlog
        yield age


@dataclass
class RelayerMetrics:
    """What one relayer did, by outcome (`delivered`, `already_processed`, ...)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.outcomes = Counter(
            "datacoin_bridge_relay_outcomes",
            "Messages this relayer handled, by destination chain and outcome",
            ["dest_chain_id", "outcome"],
            registry=self.registry,
        )
