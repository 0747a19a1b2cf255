"""Prometheus metrics of one indexer (own registry: no global state at import time)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class IndexerMetrics:
    """Head lag, throughput, reorgs and RPC errors, labelled by chain."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.head_lag = Gauge(
            "datacoin_indexer_head_lag_blocks",
            "Blocks between the node's head and the cursor",
            ["chain_id"],
            registry=self.registry,
        )
        self.cursor = Gauge(
            "datacoin_indexer_cursor_block",
            "Last indexed block",
            ["chain_id"],
            registry=self.registry,
        )
        self.events = Counter(
            "datacoin_indexer_events",
            "Events appended to the store",
            ["chain_id"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "datacoin_indexer_dead_letters",
            "Logs that failed to decode",
            ["chain_id"],
            registry=self.registry,
        )
        self.reorgs = Counter(
            "datacoin_indexer_reorgs",
            "Reorgs handled",
            ["chain_id", "beyond_finality"],
            registry=self.registry,
        )
        self.rpc_errors = Counter(
            "datacoin_indexer_rpc_errors",
            "Failed JSON-RPC calls",
            ["chain_id"],
            registry=self.registry,
        )
