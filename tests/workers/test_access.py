"""Access fulfilment: the delivery record a buyer's download uses without waiting."""

from __future__ import annotations

import uuid

import pytest
import redis

from common.errors import PermanentError
from tests.indexer.activity import WAD
from tests.workers.conftest import BUYER, PROVIDER, TrainingWorld
from workers.access import AccessDeliveries, AccessService


def test_deliveries_are_idempotent_and_tokens_are_one_time(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    deliveries = AccessDeliveries(client, f"dc-test-{uuid.uuid4().hex[:8]}")
    try:
        # Given a delivery recorded twice (a redelivered message)
        first = deliveries.record(1, 7, "0xABC", 0, "0x01")
        again = deliveries.record(1, 7, "0xabc", 0, "0x01")
        # Then it is one record with one token, kept forever for perpetual access
        assert again == first and first.buyer == "0xabc"
        assert deliveries.lookup(1, 7, "0xAbC") == first
        assert client.ttl(f"{deliveries.ns}:grant:1:7:0xabc") == -1
        # And the token works once
        assert deliveries.redeem(first.token) == (1, 7, "0xabc")
        assert deliveries.redeem(first.token) is None
        # And a fresh one can be issued for the same delivery, but not for a stranger
        fresh = deliveries.issue(1, 7, "0xabc")
        assert fresh is not None and fresh != first.token
        assert deliveries.redeem(fresh) == (1, 7, "0xabc")
        assert deliveries.issue(1, 7, "0xdef") is None
        # And a subscription's record expires with the access
        sub = deliveries.record(1, 8, "0xabc", 4_000_000_000, "0x02")
        assert client.ttl(f"{deliveries.ns}:download:{sub.token}") > 0
    finally:
        keys = list(client.scan_iter(f"{deliveries.ns}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_a_grant_follows_the_chain(training_world: TrainingWorld) -> None:
    world = training_world
    market = world.platform.client.contract("Marketplace")
    coin = world.platform.client.contract("DataCoin")
    world.platform.account(PROVIDER).send(
        market.functions.listDataset("bafy-sub", bytes(32), "tabular", WAD, 3600)
    )
    dataset_id = int(market.functions.datasetCount().call())
    buyer = world.platform.account(BUYER)
    buyer.send(coin.functions.approve(market.address, 2**255))
    buyer.send(market.functions.purchase(dataset_id, 2**255))
    buyer.send(market.functions.purchase(dataset_id, 2**255))  # extends the subscription
    services = world.services()
    service = AccessService(world.platform.client, services.access.deliveries)
    # When the first purchase's message arrives after the second purchase
    delivery = service.grant(dataset_id, buyer.address.lower(), "0x01")
    # Then the delivery carries the chain's current expiry
    expiry = market.functions.accessExpiry(dataset_id, buyer.address).call()
    assert delivery is not None and delivery.expires_at == expiry
    # And an account without access gets nothing
    with pytest.raises(PermanentError, match="no access"):
        service.grant(dataset_id, world.platform.account(5).address, "0x02")
