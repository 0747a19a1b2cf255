"""Pick the sandbox backend named by the configuration."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from common.errors import ConfigurationError
from workers.sandbox.base import Sandbox
from workers.sandbox.bubblewrap import BubblewrapSandbox
from workers.sandbox.docker import DockerSandbox, docker_client


def open_sandbox(backend: str, uid: int, hide: Sequence[Path], docker_image: str) -> Sandbox:
    """`bubblewrap` (checked installed) or `docker` (connected to the local engine)."""
    if backend == "bubblewrap":
        sandbox = BubblewrapSandbox(uid=uid, hide=tuple(hide))
        sandbox.check()
        return sandbox
    if backend == "docker":
        return DockerSandbox(docker_client(), docker_image, uid=uid)
    raise ConfigurationError(f"unknown sandbox backend {backend!r}: bubblewrap or docker")
