"""The backlogs read at each scrape, on a real chain and database: the outbox's final rows
not yet dispatched (and how old the oldest is), the projector's lag behind the event
store, and the resolver's documents not yet fetched (permanent failures excluded)."""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from projections.metrics import ProjectorLag
from projections.projector import Projector
from storage.blockstore import EmbeddedBlockStore
from tests.conftest import Platform
from tests.indexer.activity import fund, mine, request_training
from tests.workers.brokers import BrokerSpace
from workers.dispatch import Dispatcher, OutboxBacklog, OutboxMetrics
from workers.resolver import Resolver, ResolverBacklog


def index(chain: Platform, store: PostgresEventStore) -> None:
    url = chain.client.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    cfg = IndexerConfig(confirmations=3, use_finalized_tag=False, poll_interval=0.01)
    Indexer(RpcClient(url), store, chain.deployment, config=cfg).run(
        to_block=chain.client.w3.eth.block_number
    )


def project(db_url: str, store: PostgresEventStore) -> None:
    runner = Projector(db_url, store)
    runner.run_once()
    runner.close()


def test_backlogs_rise_and_drain(
    chain: Platform, fresh_db: str, broker_space: BrokerSpace, tmp_path: Path
) -> None:
    registry = CollectorRegistry()
    for collector in (
        ProjectorLag(fresh_db, "readmodels"),
        OutboxBacklog(fresh_db, "readmodels"),
        ResolverBacklog(fresh_db, "readmodels"),
    ):
        registry.register(collector)
    metrics = OutboxMetrics(registry)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    store = PostgresEventStore(fresh_db)
    # Given a training request, indexed but not projected: the projector is behind
    request_training(chain)
    index(chain, store)
    head = sample("datacoin_event_store_head_position")
    assert head is not None and head > 0
    assert sample("datacoin_projector_lag_positions", schema="readmodels") is None  # no schema yet
    project(fresh_db, store)
    assert sample("datacoin_projector_lag_positions", schema="readmodels") == 0
    # Its block not final yet: nothing is owed to the broker
    assert sample("datacoin_outbox_backlog", chain_id="31337") is None
    # When it becomes final under more activity (indexed, not yet projected)
    fund(chain, [3])
    mine(chain.client.w3, 4)
    index(chain, store)
    grown = sample("datacoin_event_store_head_position")
    assert grown is not None and grown > head
    # Then the projector's lag is what it has not folded yet
    assert sample("datacoin_projector_lag_positions", schema="readmodels") == grown - head
    project(fresh_db, store)
    assert sample("datacoin_projector_lag_positions", schema="readmodels") == 0
    # And one final row waits for the broker, as old as its block
    assert sample("datacoin_outbox_backlog", chain_id="31337") == 1
    block = chain.client.w3.eth.get_block("latest")
    age = sample("datacoin_outbox_oldest_age_seconds", chain_id="31337")
    assert age is not None and 0 <= age <= max(0.0, time.time() - block["timestamp"]) + 60
    # And once dispatched, nothing waits and the send is counted
    dispatcher = Dispatcher(
        database_url=fresh_db,
        broker=broker_space.broker(),
        namespace=broker_space.namespace,
        metrics=metrics,
    )
    assert dispatcher.dispatch_once() == 1
    assert sample("datacoin_outbox_backlog", chain_id="31337") is None
    assert sample("datacoin_outbox_dispatched_total", action="run_training") == 1
    # The listing's metadata CID ("bafy-x") is owed to the resolver until it gives up on it
    assert sample("datacoin_resolver_backlog", kind="metadata") == 1
    Resolver(fresh_db, EmbeddedBlockStore(tmp_path)).resolve_once()  # not a CID: permanent
    assert sample("datacoin_resolver_backlog", kind="metadata") == 0
    store.close()
