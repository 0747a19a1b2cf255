"""The Dramatiq broker, built from settings and installed before any actor is imported."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker

#: All platform messages go through one queue per purpose.
QUEUE = "datacoin"


def make_broker(url: str, namespace: str = "datacoin") -> dramatiq.Broker:
    """A Redis broker (``redis://``) or RabbitMQ broker (``amqp://``) for `url`."""
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url)
    return RedisBroker(url=url, namespace=namespace)  # type: ignore[no-untyped-call]


def install_broker(url: str, namespace: str = "datacoin") -> dramatiq.Broker:
    """Create the broker and make it Dramatiq's global one (call before importing actors)."""
    broker = make_broker(url, namespace)
    dramatiq.set_broker(broker)
    return broker
