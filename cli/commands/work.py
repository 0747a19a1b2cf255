"""`datacoin work`: a Dramatiq worker pool for access fulfilment and sandboxed training."""

from __future__ import annotations

from common.settings import Settings
from workers.config import WorkerConfig
from workers.pool import run_pool


def run_work(settings: Settings, processes: int = 1, threads: int = 2) -> None:
    """Consume the platform queue with `processes` x `threads` workers until SIGTERM/SIGINT.

    Each process installs the broker (``DATACOIN_REDIS_URL``, Redis or RabbitMQ), builds its
    chain, storage and sandbox services, and declares the actors before consuming.
    """
    run_pool(settings, WorkerConfig.from_settings(settings), max(1, processes), max(1, threads))
