"""The Docker backend, for hosts with an engine: one throwaway container per run.

Isolation comes from the engine: no network (``network_mode="none"``), a read-only root
file system, a non-root user, all capabilities dropped and ``no-new-privileges``, a small
tmpfs at ``/tmp``, the job's ``in/`` mounted read-only and ``out/`` writable under ``/work``.
Limits: memory (and swap) and process count by cgroups, CPU time, file size, open files and
core dumps by ulimits, wall clock and total output size by this runner.

The image (``ops/docker/Dockerfile.sandbox``) must hold Python, torch, pyarrow, numpy,
safetensors, pydantic, orjson and this repository's ``workers/`` on ``PYTHONPATH``; the
job's argv replaces the image's entrypoint. The runner needs only the docker SDK and an
engine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from workers.sandbox.base import (
    IN_DIR,
    OUT_DIR,
    STDERR_FILE,
    STOPPED_ON_PURPOSE,
    TAIL_BYTES,
    Failure,
    SandboxJob,
    SandboxResult,
    classify_exit,
    output_over,
)

log = structlog.get_logger(__name__)
INSIDE = "/work"  # ops/docker/Dockerfile.sandbox: WORKDIR /work
POLL_SECONDS = 0.1


class ContainerLike(Protocol):
    """The part of ``docker.models.containers.Container`` this backend uses."""

    attrs: dict[str, Any]

    def wait(self, *, timeout: float) -> dict[str, Any]: ...
    def reload(self) -> None: ...
    def logs(self, *, stdout: bool, stderr: bool, tail: int) -> bytes: ...
    def kill(self) -> None: ...
    def remove(self, *, force: bool) -> None: ...


class ContainersLike(Protocol):
    """The part of ``docker.models.containers.ContainerCollection`` this backend uses."""

    def run(self, image: str, command: list[str], **kwargs: Any) -> ContainerLike: ...


class DockerClientLike(Protocol):
    """The part of ``docker.DockerClient`` this backend uses."""

    @property
    def containers(self) -> ContainersLike: ...


def docker_client() -> DockerClientLike:
    """A client for the engine named by ``DOCKER_HOST`` (or the local socket)."""
    import docker

    client: DockerClientLike = docker.from_env()  # type: ignore[assignment]
    return client


@dataclass
class DockerSandbox:
    """Runs jobs in containers of `image` as `uid`."""

    client: DockerClientLike
    image: str
    uid: int = 61_000
    name: str = "docker"

    def options(self, job: SandboxJob) -> dict[str, Any]:
        """Keyword arguments for ``containers.run`` (isolation and limits)."""
        from docker.types import DeviceRequest, Ulimit

        lim = job.limits
        ulimits = [
            Ulimit(name="cpu", soft=lim.cpu_seconds, hard=lim.cpu_seconds + 1),
            Ulimit(name="fsize", soft=lim.output_bytes, hard=lim.output_bytes),
            Ulimit(name="nofile", soft=lim.max_open_files, hard=lim.max_open_files),
            Ulimit(name="core", soft=0, hard=0),
        ]
        gpus = [DeviceRequest(count=-1, capabilities=[["gpu"]])] if job.gpu else []
        return {
            "entrypoint": list(job.argv),
            "detach": True,
            "network_mode": "none",
            "read_only": True,
            "user": f"{self.uid}:{self.uid}",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "working_dir": INSIDE,
            "volumes": {
                str(job.workdir / IN_DIR): {"bind": f"{INSIDE}/{IN_DIR}", "mode": "ro"},
                str(job.workdir / OUT_DIR): {"bind": f"{INSIDE}/{OUT_DIR}", "mode": "rw"},
            },
            "tmpfs": {"/tmp": f"size={lim.tmp_bytes},mode=1777"},
            "mem_limit": lim.memory_bytes,
            "memswap_limit": lim.memory_bytes,
            "pids_limit": lim.max_processes,
            "ulimits": ulimits,
            "device_requests": gpus,
            "environment": {"HOME": "/tmp", "TMPDIR": "/tmp", "JOB_DIR": INSIDE, **job.env},
            "labels": {"datacoin.sandbox": "training"},
        }

    def start(self, job: SandboxJob) -> DockerProcess:
        """Create and start the container; returns at once."""
        container = self.client.containers.run(self.image, [], **self.options(job))
        log.debug("sandbox.started", backend=self.name, image=self.image)
        return DockerProcess(container, job)


class DockerProcess:
    """One container run: waits in short steps, enforcing wall clock and output size."""

    def __init__(self, container: ContainerLike, job: SandboxJob) -> None:
        self.container = container
        self.job = job
        self.started = time.monotonic()
        self._stopped: tuple[Failure, str] | None = None
        self._done = False

    def arm(self) -> None:
        """Start the wall clock now."""
        self.started = time.monotonic()

    def running(self) -> bool:
        """Whether the container is still created or running."""
        if self._done:
            return False
        self.container.reload()
        return self.container.attrs.get("State", {}).get("Status") in ("created", "running")

    def kill(self) -> None:
        """Stop the run on purpose (a spare no longer needed, a job whose inputs failed):
        its verdict says so, and it is not logged as a sandbox failure."""
        if self._stopped is None:
            self._stopped = STOPPED_ON_PURPOSE
        self._kill()

    def _kill(self) -> None:
        """Kill the container (idempotent; a container already gone is fine)."""
        if self._done:
            return
        try:
            self.container.kill()
        except Exception as exc:  # the engine answers 409 for a stopped container
            log.debug("sandbox.docker.kill_ignored", error=str(exc)[:200])

    def wait(self) -> SandboxResult:
        """Wait for the container to exit, then collect its logs and remove it."""
        lim = self.job.limits
        deadline = self.started + lim.wall_seconds
        try:
            code = self._wait_loop(deadline)
            self.container.reload()
            oom = bool(self.container.attrs.get("State", {}).get("OOMKilled"))
            tail = self.container.logs(stdout=True, stderr=True, tail=200)[-TAIL_BYTES:]
            (self.job.workdir / STDERR_FILE).write_bytes(tail)
        finally:
            self._done = True
            self.container.remove(force=True)
        text = tail.decode("utf-8", errors="replace")
        failure: Failure | None
        if self._stopped is not None:
            failure, detail = self._stopped
        elif oom:
            failure, detail = "memory", f"killed by the engine at {lim.memory_bytes} bytes"
        elif code == 0 and (why := output_over(self.job.workdir, lim)) is not None:
            failure, detail = "output_size", why
        else:
            failure, detail = classify_exit(code, text, lim)
        wall = time.monotonic() - self.started
        if self._stopped == STOPPED_ON_PURPOSE:
            log.debug("sandbox.stopped", backend="docker", wall_s=round(wall, 3))
        elif failure is not None:
            log.warning(
                "sandbox.failed",
                backend="docker",
                failure=failure,
                detail=detail,
                exit_code=code,
                wall_s=round(wall, 3),
            )
        return SandboxResult(code, failure, detail, wall, text)

    def _wait_loop(self, deadline: float) -> int:
        import requests

        while True:
            try:
                return int(self.container.wait(timeout=POLL_SECONDS)["StatusCode"])
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                pass
            if self._stopped is None and time.monotonic() >= deadline:
                self._stopped = ("wall_clock", f"ran past {self.job.limits.wall_seconds:g} s")
                self._kill()
            elif self._stopped is None:
                why = output_over(self.job.workdir, self.job.limits)
                if why is not None:
                    self._stopped = ("output_size", why)
                    self._kill()
