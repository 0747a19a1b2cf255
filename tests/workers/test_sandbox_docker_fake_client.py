"""The Docker backend, with a FAKE Docker client: no engine runs on this machine. These
tests check the isolation options the backend asks the engine for and how it reads the
engine's answers (exit, OOM kill, time-out); the isolation itself is the engine's job."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from workers.sandbox.base import Limits, SandboxJob, make_workdir, run
from workers.sandbox.docker import ContainerLike, DockerSandbox


@dataclass
class FakeContainer:
    """Answers like docker's Container: exits with `code` after `runs_for` wait calls."""

    code: int = 0
    oom: bool = False
    runs_for: int = 0
    output: bytes = b""
    calls: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)

    def wait(self, *, timeout: float) -> dict[str, Any]:
        self.calls.append("wait")
        if "kill" not in self.calls and self.calls.count("wait") <= self.runs_for:
            raise requests.exceptions.ReadTimeout("still running")
        return {"StatusCode": 137 if "kill" in self.calls else self.code}

    def reload(self) -> None:
        self.attrs = {"State": {"OOMKilled": self.oom}}

    def logs(self, *, stdout: bool, stderr: bool, tail: int) -> bytes:
        return self.output

    def kill(self) -> None:
        self.calls.append("kill")

    def remove(self, *, force: bool) -> None:
        self.calls.append("remove")


@dataclass
class FakeContainers:
    container: FakeContainer
    runs: list[tuple[str, list[str], dict[str, Any]]] = field(default_factory=list)

    def run(self, image: str, command: list[str], **kwargs: Any) -> ContainerLike:
        self.runs.append((image, command, kwargs))
        return self.container


@dataclass
class FakeDockerClient:
    containers: FakeContainers


def _job(tmp_path: Path, limits: Limits | None = None, gpu: bool = False) -> SandboxJob:
    workdir = make_workdir(tmp_path, "job", None)
    argv = ["python", "-m", "workers.training.entry"]
    return SandboxJob(argv, workdir, limits or Limits(), {"DATACOIN_DEVICE": "cpu"}, gpu)


def test_fake_docker_client_gets_an_isolated_limited_container(tmp_path: Path) -> None:
    client = FakeDockerClient(FakeContainers(FakeContainer(code=0)))
    limits = Limits(cpu_seconds=30, memory_bytes=1 << 30, max_processes=16, output_bytes=1 << 20)
    result = run(DockerSandbox(client, "datacoin-trainer:test", uid=61_000), _job(tmp_path, limits))
    assert result.ok
    ((image, command, opts),) = client.containers.runs
    assert image == "datacoin-trainer:test"
    assert command == [] and opts["entrypoint"] == ["python", "-m", "workers.training.entry"]
    assert opts["network_mode"] == "none" and opts["read_only"] is True
    assert opts["user"] == "61000:61000" and opts["cap_drop"] == ["ALL"]
    assert opts["security_opt"] == ["no-new-privileges"]
    assert opts["mem_limit"] == opts["memswap_limit"] == 1 << 30
    assert opts["pids_limit"] == 16 and opts["device_requests"] == []
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in opts["ulimits"]}
    assert ulimits == {
        "cpu": (30, 31),
        "fsize": (1 << 20, 1 << 20),
        "nofile": (256, 256),
        "core": (0, 0),
    }
    volumes = opts["volumes"]
    assert volumes[str(tmp_path / "job" / "in")] == {"bind": "/work/in", "mode": "ro"}
    assert volumes[str(tmp_path / "job" / "out")] == {"bind": "/work/out", "mode": "rw"}
    assert opts["environment"]["DATACOIN_DEVICE"] == "cpu" and opts["working_dir"] == "/work"
    assert client.containers.container.calls[-1] == "remove"


def test_fake_docker_client_gpu_jobs_request_the_gpus(tmp_path: Path) -> None:
    client = FakeDockerClient(FakeContainers(FakeContainer()))
    run(DockerSandbox(client, "img"), _job(tmp_path, gpu=True))
    (request,) = client.containers.runs[0][2]["device_requests"]
    assert request["Count"] == -1 and request["Capabilities"] == [["gpu"]]


def test_fake_docker_client_oom_kill_is_reported_as_memory(tmp_path: Path) -> None:
    container = FakeContainer(code=137, oom=True, output=b"Killed\n")
    result = run(DockerSandbox(FakeDockerClient(FakeContainers(container)), "img"), _job(tmp_path))
    assert result.failure == "memory" and result.exit_code == 137
    assert (tmp_path / "job" / "stderr.log").read_bytes() == b"Killed\n"
    assert container.calls[-1] == "remove"


def test_fake_docker_client_container_past_its_wall_clock_is_killed(tmp_path: Path) -> None:
    container = FakeContainer(runs_for=10**6)
    limits = Limits(wall_seconds=0.3)
    result = run(
        DockerSandbox(FakeDockerClient(FakeContainers(container)), "img"), _job(tmp_path, limits)
    )
    assert result.failure == "wall_clock"
    assert "kill" in container.calls and container.calls[-1] == "remove"


def test_fake_docker_client_exit_codes_are_classified(tmp_path: Path) -> None:
    container = FakeContainer(code=1, output=b"Traceback\nMemoryError\n")
    result = run(DockerSandbox(FakeDockerClient(FakeContainers(container)), "img"), _job(tmp_path))
    assert result.failure == "memory"
    container = FakeContainer(code=152)  # SIGXCPU: the cpu ulimit
    result = run(
        DockerSandbox(FakeDockerClient(FakeContainers(container)), "img"), _job(tmp_path / "b")
    )
    assert result.failure == "cpu_time"
