"""What a worker derives from :class:`~common.settings.Settings`, the one source of its
values and their defaults (``DATACOIN_SANDBOX_*``, ``DATACOIN_WORK_DIR``, ...)."""

from __future__ import annotations

from pathlib import Path

from common.settings import Settings
from workers.sandbox.base import Limits


def sandbox_limits(settings: Settings) -> Limits:
    """The resource limits of one training job (the settings name five; the rest keep
    :class:`Limits`' own values)."""
    return Limits(
        cpu_seconds=settings.sandbox_cpu_seconds,
        memory_bytes=settings.sandbox_memory_bytes,
        max_processes=settings.sandbox_max_processes,
        output_bytes=settings.sandbox_output_bytes,
        wall_seconds=settings.sandbox_wall_seconds,
    )


def work_root(settings: Settings) -> Path:
    """Where job directories are made: ``work_dir``, else ``<data_dir>/work``."""
    return (settings.work_dir or settings.data_dir / "work").resolve()
