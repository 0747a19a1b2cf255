"""The workers' configuration, read from settings (with defaults for fields not there yet)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from common.settings import Settings
from workers.sandbox.base import Limits

DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker signs, sandboxes and trains.

    Each field comes from the setting of the same name with a ``DATACOIN_`` prefix (see
    :meth:`from_settings`); tests build one directly.
    """

    worker_key: str | None = None
    sandbox_backend: Literal["bubblewrap", "docker"] = "bubblewrap"
    sandbox_uid: int = 61_000
    sandbox_docker_image: str = "datacoin-trainer:latest"
    limits: Limits = field(default_factory=Limits)
    training_device: Literal["auto", "cpu", "cuda"] = "auto"
    work_dir: Path | None = None
    training_max_dataset_bytes: int = 256 << 20
    training_spares: int = 1
    broker_namespace: str = "datacoin"
    delivery_redis_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        """Read every field from `settings` where it exists, else keep the default."""

        def get(name: str, default: Any) -> Any:
            value = getattr(settings, name, None)
            if value is None:
                return default
            return value.get_secret_value() if hasattr(value, "get_secret_value") else value

        d = DEFAULT_LIMITS
        limits = Limits(
            cpu_seconds=get("sandbox_cpu_seconds", d.cpu_seconds),
            memory_bytes=get("sandbox_memory_bytes", d.memory_bytes),
            max_processes=get("sandbox_max_processes", d.max_processes),
            output_bytes=get("sandbox_output_bytes", d.output_bytes),
            wall_seconds=get("sandbox_wall_seconds", d.wall_seconds),
        )
        return cls(
            worker_key=get("worker_key", None),
            sandbox_backend=get("sandbox_backend", "bubblewrap"),
            sandbox_uid=get("sandbox_uid", 61_000),
            sandbox_docker_image=get("sandbox_docker_image", "datacoin-trainer:latest"),
            limits=limits,
            training_device=get("training_device", "auto"),
            work_dir=get("work_dir", settings.data_dir / "work"),
            training_max_dataset_bytes=get("training_max_dataset_bytes", 256 << 20),
            training_spares=get("training_spares", 1),
            broker_namespace=get("broker_namespace", "datacoin"),
            delivery_redis_url=get("delivery_redis_url", settings.redis_url),
        )

    def work_root(self, settings: Settings) -> Path:
        """Where job directories are made."""
        return (self.work_dir or settings.data_dir / "work").resolve()
