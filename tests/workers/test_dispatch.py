"""The outbox dispatcher: final rows only, once each, into a real Redis broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from web3.logs import DISCARD

from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from projections.projector import Projector
from tests.conftest import Platform
from tests.indexer.activity import WAD, fund, mine
from workers.broker import QUEUE, make_broker
from workers.dispatch import Dispatcher, message_id


@pytest.fixture
def broker(redis_url: str) -> Iterator[Any]:
    b = make_broker(redis_url, namespace=f"dc-test-{uuid.uuid4().hex[:8]}")
    yield b
    b.flush_all()
    b.close()


def drain(broker: Any) -> list[Any]:
    consumer = broker.consume(QUEUE, prefetch=50, timeout=300)
    out = []
    while (message := next(consumer)) is not None:
        out.append(message)
        consumer.ack(message)
    consumer.close()
    return out


def sync(chain: Platform, store: PostgresEventStore, db_url: str) -> None:
    url = chain.client.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    cfg = IndexerConfig(confirmations=3, use_finalized_tag=False, poll_interval=0.01)
    Indexer(RpcClient(url), store, chain.deployment, cfg).run(
        to_block=chain.client.w3.eth.block_number
    )
    runner = Projector(db_url, store)
    runner.run_once()
    runner.close()


def test_final_purchase_is_dispatched_once(chain: Platform, fresh_db: str, broker: Any) -> None:
    market = chain.client.contract("Marketplace")
    coin = chain.client.contract("DataCoin")
    fund(chain, [1, 2])
    chain.account(1).send(market.functions.listDataset("bafy-x", bytes(32), "tabular", WAD, 0))
    chain.account(2).send(coin.functions.approve(market.address, WAD))
    receipt = chain.account(2).send(market.functions.purchase(1, WAD))
    store = PostgresEventStore(fresh_db)
    dispatcher = Dispatcher(fresh_db, broker)
    # Given a purchase indexed and projected but not yet final
    sync(chain, store, fresh_db)
    assert dispatcher.dispatch_once() == 0
    assert drain(broker) == []
    # When its block is buried under the confirmation depth
    mine(chain.client.w3, 4)
    sync(chain, store, fresh_db)
    # Then exactly one grant_access message goes out, keyed by the event's natural key
    assert dispatcher.dispatch_once() == 1
    (message,) = drain(broker)
    assert message.actor_name == "grant_access"
    assert message.kwargs["dataset_id"] == "1"
    assert message.kwargs["buyer"] == chain.account(2).address  # EIP-55, as the API spells it
    log_index = market.events.Purchased().process_receipt(receipt, errors=DISCARD)[0]["logIndex"]
    assert message.message_id == message_id(
        chain.deployment.chain_id, bytes(receipt["blockHash"]), log_index, "grant_access"
    )
    # And dispatching again sends nothing
    assert dispatcher.dispatch_once() == 0
    assert drain(broker) == []
    store.close()
