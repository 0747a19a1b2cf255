"""`datacoin work`: a Dramatiq worker pool for sandboxed training."""

from __future__ import annotations

from common.settings import Settings
from workers.pool import run_pool


def run_work(settings: Settings, processes: int = 1, threads: int = 2) -> None:
    """Consume this chain's queue with `processes` x `threads` workers until SIGTERM/SIGINT.

    Each process connects to the broker (``DATACOIN_BROKER_URL``, else
    ``DATACOIN_REDIS_URL``: Redis, or RabbitMQ for an ``amqp://`` URL), builds its chain,
    storage and sandbox services, and declares the actors on the queue of the chain its
    manifest names (``datacoin.<chain_id>``) before consuming it.
    """
    run_pool(settings, processes=max(1, processes), threads=max(1, threads))
