"""Real brokers for worker tests: Redis and RabbitMQ, each test in a namespace of its own.

``BOTH_BROKERS`` runs a test once per broker (through the ``broker_url`` fixture); a test
that does not ask gets Redis. On RabbitMQ the namespace is the prefix of every queue the
test makes (``<namespace>.<chain_id>``, its ``.DQ`` and ``.XQ``), and only those queues
are deleted afterwards; on Redis, only the keys under ``<namespace>:``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from workers.broker import chain_queue, is_rabbitmq, make_broker

RABBITMQ_URL = os.environ.get("DATACOIN_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
BOTH_BROKERS = pytest.mark.parametrize("broker_url", ["redis", "rabbitmq"], indirect=True)
ANVIL_CHAIN = 31337


def rabbitmq_reachable(url: str) -> None:
    """Raise when RabbitMQ at `url` does not accept a connection."""
    broker = RabbitmqBroker(url=url)
    try:
        broker.channel.basic_qos(prefetch_count=1)  # a round trip on a fresh connection
    finally:
        broker.close()


@dataclass
class BrokerSpace:
    """One test's corner of a real broker: its URL, and a namespace no one else uses."""

    url: str
    namespace: str = field(default_factory=lambda: f"dc-test-{uuid.uuid4().hex[:8]}")
    chain_ids: set[int] = field(default_factory=lambda: {ANVIL_CHAIN})
    _brokers: list[dramatiq.Broker] = field(default_factory=list)
    _before_close: list[Callable[[], None]] = field(default_factory=list)

    @property
    def rabbitmq(self) -> bool:
        return is_rabbitmq(self.url)

    def queue(self, chain_id: int = ANVIL_CHAIN) -> str:
        """The queue of `chain_id`'s messages in this namespace."""
        self.chain_ids.add(chain_id)
        return chain_queue(self.namespace, chain_id)

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call `callback` first when the test ends (a worker stops before its broker)."""
        self._before_close.append(callback)

    def broker(self, **options: Any) -> dramatiq.Broker:
        """A broker connection (closed after the test)."""
        broker = make_broker(self.url, namespace=self.namespace, options=options)
        self._brokers.append(broker)
        return broker

    def recovering_broker(self) -> dramatiq.Broker:
        """A broker that takes a dead worker's unacknowledged messages back soon: on Redis
        once its 1 s heartbeat is missed; RabbitMQ does as soon as its connection closes."""
        if self.rabbitmq:
            return self.broker()
        return self.broker(heartbeat_timeout=1_000, maintenance_chance=1_000_000)

    def dead_letters(self, chain_id: int = ANVIL_CHAIN) -> int:
        """How many messages of `chain_id`'s queue are in its dead-letter queue."""
        queue = self.queue(chain_id)
        if self.rabbitmq:
            broker = self.broker()
            assert isinstance(broker, RabbitmqBroker)
            return int(broker.get_queue_message_counts(queue)[2])
        client = redis.Redis.from_url(self.url)
        try:
            return int(client.zcard(f"{self.namespace}:{queue}.XQ"))
        finally:
            client.close()

    def close(self) -> None:
        """Close every connection, then remove this namespace's queues (and nothing else)."""
        for callback in reversed(self._before_close):
            callback()
        for broker in self._brokers:
            broker.close()
        if self.rabbitmq:
            self._delete_queues()
        else:
            client = redis.Redis.from_url(self.url)
            keys = list(client.scan_iter(f"{self.namespace}:*"))
            if keys:
                client.delete(*keys)
            client.close()

    def _delete_queues(self) -> None:
        broker = RabbitmqBroker(url=self.url)
        try:
            for chain_id in sorted(self.chain_ids):
                queue = chain_queue(self.namespace, chain_id)
                for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
                    broker.channel.queue_delete(name)
        finally:
            broker.close()
