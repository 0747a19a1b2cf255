"""Starting the training program, optionally ahead of time.

Starting a sandbox and importing torch takes most of a small job's wall time. With
``spares > 0`` the starter keeps that many sandboxes started and waiting (torch imported,
no data, no job) and hands one to the next job, starting its replacement at once so it
warms up while the job runs. Every sandbox still serves exactly one job: nothing is shared
between jobs but the code. A spare unused for ``idle_seconds`` is replaced (the program
itself exits a minute after that), so a job never gets one about to give up.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from workers.sandbox.base import Limits, Sandbox, SandboxJob, SandboxProcess, make_workdir

log = structlog.get_logger(__name__)
IDLE_GRACE_S = 60.0


@dataclass(frozen=True)
class Started:
    """A sandbox running the training program, waiting for its inputs in `workdir`."""

    workdir: Path
    proc: SandboxProcess
    at: float


@dataclass
class ProgramSpec:
    """How to start the training program."""

    argv: Sequence[str]
    env: Mapping[str, str]
    limits: Limits
    gpu: bool


class SandboxStarter:
    """Starts sandboxes in `work_root`, keeping `spares` started ahead (thread-safe)."""

    def __init__(
        self,
        sandbox: Sandbox,
        work_root: Path,
        program: ProgramSpec,
        spares: int = 0,
        idle_seconds: float = 600.0,
    ) -> None:
        self.sandbox = sandbox
        self.work_root = work_root
        self.program = program
        self.spares = spares
        self.idle_seconds = idle_seconds
        self._ready: list[Started] = []
        self._lock = threading.Lock()

    def _start(self, name: str) -> Started:
        self.work_root.mkdir(parents=True, exist_ok=True, mode=0o711)
        workdir = make_workdir(self.work_root, f"{name}-{uuid.uuid4().hex[:8]}", self.sandbox.uid)
        env = {**self.program.env, "DATACOIN_IDLE_SECONDS": str(self.idle_seconds + IDLE_GRACE_S)}
        try:
            proc = self.sandbox.start(
                SandboxJob(self.program.argv, workdir, self.program.limits, env, self.program.gpu)
            )
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        return Started(workdir, proc, time.monotonic())

    def take(self, name: str) -> Started:
        """A started sandbox for one job (a live spare if there is one), wall clock armed."""
        spare = None
        with self._lock:
            while self._ready and spare is None:
                candidate = self._ready.pop(0)
                young = time.monotonic() - candidate.at < self.idle_seconds
                if young and candidate.proc.running():
                    spare = candidate
                else:
                    self._discard(candidate)
        self.refill()
        started = spare or self._start(name)
        started.proc.arm()
        return started

    def refill(self) -> None:
        """Start spares until `spares` are waiting."""
        while True:
            with self._lock:
                if len(self._ready) >= self.spares:
                    return
            fresh = self._start("spare")
            with self._lock:
                self._ready.append(fresh)

    def sweep(self, older_than: float) -> int:
        """Remove job dirs left by a killed worker (none of a live one is this old)."""
        removed = 0
        cutoff = time.time() - older_than
        for entry in self.work_root.iterdir() if self.work_root.is_dir() else []:
            if entry.is_dir() and not entry.is_symlink() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        if removed:
            log.info("training.workdirs.swept", removed=removed, root=str(self.work_root))
        return removed

    def close(self) -> None:
        """Stop and remove every waiting spare."""
        with self._lock:
            spares, self._ready = self._ready, []
        for spare in spares:
            self._discard(spare)

    @staticmethod
    def _discard(spare: Started) -> None:
        spare.proc.kill()
        spare.proc.wait()
        shutil.rmtree(spare.workdir, ignore_errors=True)
