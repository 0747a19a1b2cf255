"""The Dramatiq broker, built from settings, and the queue each chain's messages go to.

One queue per chain (:func:`chain_queue`): the dispatcher sends each outbox message to
its chain's queue, and a worker (``datacoin work``) consumes only the queue of the chain
its manifest names, so a message is only ever delivered to a worker that can serve it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

if TYPE_CHECKING:
    from common.settings import Settings


def chain_queue(namespace: str, chain_id: int) -> str:
    """The queue of one chain's messages: ``<namespace>.<chain_id>`` (``datacoin.31337``).

    The namespace (``DATACOIN_BROKER_NAMESPACE``) keeps deployments that share a broker
    apart; on Redis it also prefixes the broker's keys (``datacoin:datacoin.31337``)."""
    return f"{namespace}.{int(chain_id)}"


def is_rabbitmq(url: str) -> bool:
    """Whether `url` names a RabbitMQ broker (``amqp://``, ``amqps://``), not Redis."""
    return url.startswith(("amqp://", "amqps://"))


def make_broker(
    url: str, *, namespace: str = "datacoin", options: Mapping[str, Any] | None = None
) -> dramatiq.Broker:
    """A RabbitMQ broker for an ``amqp://`` `url`, else a Redis broker whose keys start
    with ``<namespace>:`` (on RabbitMQ the namespace is in the queues' names only).

    `options` go to the broker's constructor (Redis: ``heartbeat_timeout``,
    ``maintenance_chance``, ``dead_message_ttl``; RabbitMQ: ``confirm_delivery``, ...).
    """
    extra = dict(options or {})
    if is_rabbitmq(url):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, **extra)
    return RedisBroker(url=url, namespace=namespace, **extra)  # type: ignore[no-untyped-call]


def broker_url(settings: Settings) -> str:
    """The broker `settings` name: ``broker_url``, else ``redis_url``."""
    return settings.broker_url or settings.redis_url


def settings_broker(
    settings: Settings, options: Mapping[str, Any] | None = None
) -> dramatiq.Broker:
    """The broker `settings` name, in ``broker_namespace`` on Redis: the one the
    dispatcher sends into and the workers consume."""
    return make_broker(broker_url(settings), namespace=settings.broker_namespace, options=options)
