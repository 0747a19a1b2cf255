"""The Dramatiq broker, built from settings and installed before any actor is imported."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

#: All platform messages go through one queue per purpose.
QUEUE = "datacoin"


def make_broker(
    url: str, namespace: str = "datacoin", options: Mapping[str, Any] | None = None
) -> dramatiq.Broker:
    """A Redis broker (``redis://``) or RabbitMQ broker (``amqp://``) for `url`.

    `options` go to the broker's constructor (Redis: ``heartbeat_timeout``,
    ``maintenance_chance``, ``dead_message_ttl``; RabbitMQ: ``confirm_delivery``, ...).
    """
    extra = dict(options or {})
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, **extra)
    return RedisBroker(url=url, namespace=namespace, **extra)  # type: ignore[no-untyped-call]


def install_broker(
    url: str, namespace: str = "datacoin", options: Mapping[str, Any] | None = None
) -> dramatiq.Broker:
    """Create the broker and make it Dramatiq's global one (call before importing actors)."""
    broker = make_broker(url, namespace, options)
    dramatiq.set_broker(broker)
    return broker
