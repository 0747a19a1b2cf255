"""`datacoin project` as a process: a quiet start on a fresh database, messages into the
configured broker namespace, and a lost PostgreSQL connection survived (real PostgreSQL,
Redis and anvil; the process is stopped by its fixture)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pytest

from indexer.events import Checkpoint
from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from projections.replay import replay
from projections.statehash import state_hash
from tests.conftest import Platform, terminate_backends
from tests.indexer.activity import mine, request_training
from tests.projections.history import CHAIN, append, block_hash, history
from tests.projections.project_proc import SCHEMA, ProjectProcess, start_project
from workers.broker import chain_queue, make_broker

__all__ = ["start_project"]  # the fixture, imported for the tests below
StartProject = Callable[..., ProjectProcess]


def problems(project: ProjectProcess) -> list[dict[str, Any]]:
    """Log events at warning level or above."""
    return [e for e in project.events() if e.get("level") in {"warning", "error", "critical"}]


def test_a_fresh_database_starts_without_errors(
    fresh_db: str, redis_url: str, start_project: StartProject
) -> None:
    # Given a migrated database without read models
    # When `datacoin project` starts, and its companions poll a few times
    project = start_project(
        fresh_db,
        DATACOIN_REDIS_URL=redis_url,
        DATACOIN_BROKER_NAMESPACE=f"dc-test-{uuid.uuid4().hex[:8]}",
    )
    project.wait_for_position(0)
    deadline = time.monotonic() + 60
    while not any(e.get("event") == "projections.schema.created" for e in project.events()):
        assert time.monotonic() < deadline, project.log_text()
        time.sleep(0.1)
    time.sleep(3)  # the resolver and dispatcher poll every 0.5 s
    # Then it logged no error, no warning and no missing table, and stops cleanly
    assert project.stop() == 0, project.log_text()
    assert "UndefinedTable" not in project.log_text()
    assert problems(project) == []


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    name = f"dc-test-{uuid.uuid4().hex[:8]}"
    yield name
    broker = make_broker(redis_url, namespace=name)
    broker.flush_all()
    broker.close()


def test_the_dispatcher_sends_into_the_configured_namespace(
    chain: Platform, fresh_db: str, redis_url: str, namespace: str, start_project: StartProject
) -> None:
    # Given a final training request, indexed
    request_training(chain)
    mine(chain.client.w3, 4)
    store = PostgresEventStore(fresh_db)
    url = chain.client.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    config = IndexerConfig(confirmations=3, use_finalized_tag=False, poll_interval=0.01)
    Indexer(RpcClient(url), store, chain.deployment, config=config).run(
        to_block=chain.client.w3.eth.block_number
    )
    store.close()
    # When `datacoin project` runs with DATACOIN_BROKER_NAMESPACE set
    project = start_project(
        fresh_db, DATACOIN_REDIS_URL=redis_url, DATACOIN_BROKER_NAMESPACE=namespace
    )
    # Then the job lands in that namespace's queue of the chain, where its workers consume
    broker = make_broker(redis_url, namespace=namespace)
    queue = chain_queue(namespace, chain.deployment.chain_id)
    consumer = broker.consume(queue, prefetch=10, timeout=500)
    deadline = time.monotonic() + 60
    messages: list[dramatiq.MessageProxy] = []
    try:
        while not messages and time.monotonic() < deadline:
            assert project.proc.poll() is None, project.log_text()
            if (message := next(consumer)) is not None:
                messages.append(message)
                consumer.ack(message)
    finally:
        consumer.close()
        broker.close()
    assert [m.actor_name for m in messages] == ["run_training"], project.log_text()[-3000:]
    assert project.stop() == 0


def test_a_lost_database_connection_is_survived(
    fresh_db: str, redis_url: str, start_project: StartProject
) -> None:
    rng = random.Random(5)
    store = PostgresEventStore(fresh_db)
    try:
        # Given `datacoin project` caught up with a store
        append(store, history(rng, range(1, 41)), 40, 0, None)
        project = start_project(
            fresh_db,
            DATACOIN_REDIS_URL=redis_url,
            DATACOIN_BROKER_NAMESPACE=f"dc-test-{uuid.uuid4().hex[:8]}",
        )
        project.wait_for_position(store.head().position)
        # When PostgreSQL drops its connections, and more events (a reorg) come meanwhile
        store.close()  # (reopened on next use: only the projector's are under test)
        assert terminate_backends(fresh_db) >= 2  # the listener and the projector's at least
        store.retract(
            CHAIN,
            35,
            Checkpoint(
                chain_id=CHAIN, block_number=35, block_hash=block_hash(35), finalized_number=0
            ),
            (40, block_hash(40)),
        )
        append(store, history(rng, range(36, 50), fork=1), 49, 1, (35, block_hash(35)))
        # Then it is still running, catches up, and equals a replay
        project.wait_for_position(store.head().position)
        time.sleep(1.5)  # (a late exit would show here)
        assert project.proc.poll() is None, project.log_text()[-3000:]
        assert replay(fresh_db, store).state_hash == state_hash(fresh_db, SCHEMA)
        # And the projector logged the outage once, and its recovery
        events = [e.get("event") for e in project.events()]
        assert events.count("projections.db.failing") == 1, project.log_text()[-3000:]
        assert "projections.db.recovered" in events
        assert project.stop() == 0
    finally:
        store.close()
