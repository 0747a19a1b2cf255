"""The outbox dispatcher: final rows only, once each, into their chain's queue on a real
broker (Redis and RabbitMQ)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import dramatiq
import psycopg
from psycopg.types.json import Jsonb
from web3.logs import DISCARD

from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from projections.projector import Projector
from tests.conftest import Platform
from tests.indexer.activity import mine, request_training
from tests.workers.brokers import BOTH_BROKERS, BrokerSpace
from workers.actors import declare_actors
from workers.dispatch import Dispatcher, message_id
from workers.sandbox.base import Limits

OTHER_CHAIN = 8453


def drain(broker: Any, queue: str) -> list[Any]:
    consumer = broker.consume(queue, prefetch=50, timeout=300)
    out = []
    while (message := next(consumer)) is not None:
        out.append(message)
        consumer.ack(message)
    consumer.close()
    return out


def sync(chain: Platform, store: PostgresEventStore, db_url: str) -> None:
    url = chain.client.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    cfg = IndexerConfig(confirmations=3, use_finalized_tag=False, poll_interval=0.01)
    Indexer(RpcClient(url), store, chain.deployment, config=cfg).run(
        to_block=chain.client.w3.eth.block_number
    )
    runner = Projector(db_url, store)
    runner.run_once()
    runner.close()


@BOTH_BROKERS
def test_final_training_request_is_dispatched_once(
    chain: Platform, fresh_db: str, broker_space: BrokerSpace
) -> None:
    receipt = request_training(chain)
    training = chain.client.contract("TrainingLog")
    store = PostgresEventStore(fresh_db)
    broker, queue = broker_space.broker(), broker_space.queue(chain.deployment.chain_id)
    dispatcher = Dispatcher(database_url=fresh_db, broker=broker, namespace=broker_space.namespace)
    # Given a training request indexed and projected but not yet final
    sync(chain, store, fresh_db)
    assert dispatcher.dispatch_once() == 0
    assert drain(broker, queue) == []
    # When its block is buried under the confirmation depth
    mine(chain.client.w3, 4)
    sync(chain, store, fresh_db)
    # Then exactly one run_training message goes to the chain's queue, keyed by the
    # event's natural key (a purchase owes no side effect: downloads read the chain's grants)
    assert dispatcher.dispatch_once() == 1
    (message,) = drain(broker, queue)
    assert message.actor_name == "run_training"
    assert message.kwargs["job_id"] == "1" and message.kwargs["dataset_id"] == "1"
    assert message.kwargs["requester"] == chain.account(2).address  # EIP-55, as the API
    requested = training.events.TrainingRequested().process_receipt(receipt, errors=DISCARD)
    assert message.message_id == message_id(
        chain_id=chain.deployment.chain_id,
        block_hash=bytes(receipt["blockHash"]),
        log_index=requested[0]["logIndex"],
        action="run_training",
    )
    # And dispatching again sends nothing
    assert dispatcher.dispatch_once() == 0
    assert drain(broker, queue) == []
    store.close()


class Deliveries(dramatiq.Middleware):
    """Every message a worker's broker delivered to it, before its actor ran."""

    def __init__(self) -> None:
        self.messages: list[dramatiq.Message[Any]] = []

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self.messages.append(message)

    def chains(self) -> set[int]:
        return {int(m.kwargs["chain_id"]) for m in self.messages}


@dataclass(kw_only=True)
class ChainWorker:
    """A Dramatiq worker serving one chain; its training service records the jobs run."""

    deliveries: Deliveries
    jobs: list[int]
    queue: str
    broker: dramatiq.Broker


def start_chain_worker(space: BrokerSpace, chain_id: int) -> ChainWorker:
    broker = space.broker()
    deliveries = Deliveries()
    broker.add_middleware(deliveries)
    jobs: list[int] = []
    training = SimpleNamespace(config=SimpleNamespace(limits=Limits()), run=jobs.append)
    services: Any = SimpleNamespace(chain_id=chain_id, training=training)
    queue = space.queue(chain_id)
    declare_actors(broker, services, queue=queue)
    worker = dramatiq.Worker(broker, queues={queue}, worker_threads=1, worker_timeout=100)
    worker.start()
    space.on_close(lambda: worker.stop(timeout=10_000))
    return ChainWorker(deliveries=deliveries, jobs=jobs, queue=queue, broker=broker)


def add_final_request(db_url: str, chain_id: int, job_id: int) -> None:
    """An outbox row of a chain the indexer does not follow here, final at once."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO cursors (chain_id, block_number, block_hash, finalized_number)"
            " VALUES (%s, 10, %s, 10)",
            (chain_id, bytes(32)),
        )
        payload = {"job_id": str(job_id), "chain_id": chain_id}
        conn.execute(
            "INSERT INTO readmodels.outbox (chain_id, block_hash, log_index, action, payload,"
            " block_number) VALUES (%s, %s, 0, 'run_training', %s, 5)",
            (chain_id, b"\x01" * 32, Jsonb(payload | {"tx_hash": "0x01"})),
        )


@BOTH_BROKERS
def test_each_chain_s_messages_reach_its_own_workers_only(
    chain: Platform, fresh_db: str, broker_space: BrokerSpace
) -> None:
    request_training(chain)
    mine(chain.client.w3, 4)
    # Given a final training request on this chain (anvil's) and one on another chain
    store = PostgresEventStore(fresh_db)
    sync(chain, store, fresh_db)
    store.close()
    add_final_request(fresh_db, OTHER_CHAIN, 7)
    # And a worker for each chain
    here = start_chain_worker(broker_space, chain.deployment.chain_id)
    there = start_chain_worker(broker_space, OTHER_CHAIN)
    # When the dispatcher sends both
    dispatcher = Dispatcher(
        database_url=fresh_db, broker=broker_space.broker(), namespace=broker_space.namespace
    )
    assert dispatcher.dispatch_once() == 2
    # Then each chain's worker gets its own chain's job
    deadline = time.monotonic() + 30
    while not (here.jobs and there.jobs):
        assert time.monotonic() < deadline, (here.jobs, there.jobs)
        time.sleep(0.05)
    for worker in (here, there):
        worker.broker.join(worker.queue, timeout=10_000)
    assert here.jobs == [1]
    assert there.jobs == [7]
    # And neither was ever handed the other's message (nothing bounced between them)
    assert here.deliveries.chains() == {chain.deployment.chain_id}
    assert there.deliveries.chains() == {OTHER_CHAIN}
    assert len(here.deliveries.messages) == len(there.deliveries.messages) == 1
