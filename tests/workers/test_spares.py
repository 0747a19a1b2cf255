"""Spare sandboxes: started ahead, one per job, replaced when taken or too old."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from workers.sandbox.base import Limits, SandboxJob, SandboxResult
from workers.training.spares import ProgramSpec, SandboxStarter


@dataclass
class FakeProcess:
    job: SandboxJob
    alive: bool = True
    armed: int = 0
    killed: bool = False

    def arm(self) -> None:
        self.armed += 1

    def running(self) -> bool:
        return self.alive

    def wait(self) -> SandboxResult:
        self.alive = False
        return SandboxResult(137 if self.killed else 0, None, "", 0.0, "")

    def kill(self) -> None:
        self.killed = True


@dataclass
class FakeSandbox:
    name: str = "fake"
    uid: int = 61_000
    started: list[FakeProcess] = field(default_factory=list)

    def start(self, job: SandboxJob) -> FakeProcess:
        self.started.append(FakeProcess(job))
        return self.started[-1]


PROGRAM = ProgramSpec(["python", "-m", "workers.training.entry"], {"A": "1"}, Limits(), False)


def test_without_spares_each_job_starts_its_own_sandbox(tmp_path: Path) -> None:
    sandbox = FakeSandbox()
    starter = SandboxStarter(sandbox, tmp_path, PROGRAM, spares=0)
    first, second = starter.take("job-1"), starter.take("job-2")
    assert len(sandbox.started) == 2 and first.workdir != second.workdir
    assert first.workdir.name.startswith("job-1-") and (first.workdir / "in").is_dir()
    assert sandbox.started[0].job.env["DATACOIN_IDLE_SECONDS"] == "660.0"


def test_a_spare_serves_one_job_and_is_replaced_at_once(tmp_path: Path) -> None:
    sandbox = FakeSandbox()
    starter = SandboxStarter(sandbox, tmp_path, PROGRAM, spares=1)
    starter.refill()
    (spare,) = sandbox.started
    taken = starter.take("job-1")
    # The job got the spare (armed now), and a replacement started while it runs
    assert taken.proc is spare and spare.armed == 1 and len(sandbox.started) == 2
    again = starter.take("job-2")
    assert again.proc is sandbox.started[1] and again.workdir != taken.workdir
    # Closing stops and removes the waiting spare
    waiting = sandbox.started[2]
    starter.close()
    assert waiting.killed and not waiting.job.workdir.exists()


def test_dead_or_old_spares_are_discarded(tmp_path: Path) -> None:
    sandbox = FakeSandbox()
    starter = SandboxStarter(sandbox, tmp_path, PROGRAM, spares=1, idle_seconds=0.05)
    starter.refill()
    sandbox.started[0].alive = False  # it crashed while waiting
    taken = starter.take("job-1")
    assert taken.proc is not sandbox.started[0] and not sandbox.started[0].job.workdir.exists()
    time.sleep(0.06)  # the replacement is now too old to trust
    old = sandbox.started[1]
    assert starter.take("job-2").proc is not old and old.killed


def test_stale_job_dirs_are_swept(tmp_path: Path) -> None:
    starter = SandboxStarter(FakeSandbox(), tmp_path, PROGRAM)
    (tmp_path / "job-31337-1-dead").mkdir()
    (tmp_path / "job-31337-2-live").mkdir()
    os.utime(tmp_path / "job-31337-1-dead", (0, 0))
    assert starter.sweep(older_than=3600) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["job-31337-2-live"]
