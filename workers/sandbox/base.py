"""The sandbox interface: one job, one isolated process tree, hard limits, a typed verdict.

A job directory on the host holds ``in/`` (read-only inside the sandbox) and ``out/`` (the
only writable place that survives the run). Inside, the sandbox's working directory is the
job directory, so a program reads ``in/...`` and writes ``out/...`` whatever the backend.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

IN_DIR = "in"
OUT_DIR = "out"
STDERR_FILE = "stderr.log"
TAIL_BYTES = 4096

Failure = Literal["wall_clock", "cpu_time", "memory", "processes", "output_size", "exit", "start"]
"""Why a run failed: a limit it hit, a non-zero exit, or a sandbox that could not start."""

#: The verdict of a run its owner stopped (`SandboxProcess.kill`): expected, not a fault.
STOPPED_ON_PURPOSE: tuple[Failure, str] = ("exit", "stopped by its owner")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run (enforced by the kernel or by the runner)."""

    cpu_seconds: int = 600
    memory_bytes: int = 4 << 30
    max_processes: int = 64
    output_bytes: int = 256 << 20
    max_output_files: int = 1_000
    wall_seconds: float = 900.0
    max_open_files: int = 256
    tmp_bytes: int = 64 << 20


@dataclass(frozen=True)
class SandboxJob:
    """What to run: `argv` inside the sandbox, with `workdir` (host path) as its job dir."""

    argv: Sequence[str]
    workdir: Path
    limits: Limits = field(default_factory=Limits)
    env: Mapping[str, str] = field(default_factory=dict)
    gpu: bool = False


@dataclass(frozen=True)
class SandboxResult:
    """How a run ended. `failure` is None when the program exited 0 within every limit."""

    exit_code: int
    failure: Failure | None
    detail: str
    wall_seconds: float
    stderr_tail: str

    @property
    def ok(self) -> bool:
        """Exited 0 within every limit."""
        return self.failure is None


class SandboxProcess(Protocol):
    """A started run. Its wall clock runs from the start, or from :meth:`arm`."""

    def arm(self) -> None:
        """Start the wall clock now (for a sandbox started ahead of its job)."""
        ...

    def running(self) -> bool:
        """Whether the program has not exited yet."""
        ...

    def wait(self) -> SandboxResult:
        """Block until the run ends (or is stopped at a limit) and report it."""
        ...

    def kill(self) -> None:
        """Stop the whole process tree now, on purpose (idempotent): its verdict is
        `STOPPED_ON_PURPOSE`, not logged as a failure (a limit's stop is)."""
        ...


class Sandbox(Protocol):
    """A backend that starts isolated runs as the unprivileged `uid`."""

    name: str
    uid: int

    def start(self, job: SandboxJob) -> SandboxProcess:
        """Start `job` in a fresh sandbox; returns at once."""
        ...


def run(sandbox: Sandbox, job: SandboxJob) -> SandboxResult:
    """Start `job` and wait for its verdict."""
    return sandbox.start(job).wait()


def make_workdir(parent: Path, name: str, uid: int | None) -> Path:
    """Create ``parent/name`` with ``in/`` (ours) and ``out/`` (owned by `uid` when set)."""
    workdir = parent / name
    (workdir / IN_DIR).mkdir(parents=True, mode=0o755)
    out = workdir / OUT_DIR
    out.mkdir(mode=0o755)
    os.chmod(workdir, 0o755)
    if uid is not None and os.geteuid() == 0:
        os.chown(out, uid, uid)
    return workdir


def usage(directory: Path) -> tuple[int, int]:
    """(bytes on disk, entries) under `directory`, symlinks not followed."""
    total, count = 0, 0
    stack = [directory]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            count += 1
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += st.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
    return total, count


def output_over(workdir: Path, limits: Limits) -> str | None:
    """Why ``out/`` exceeds its limits, or None."""
    size, count = usage(workdir / OUT_DIR)
    if size > limits.output_bytes:
        return f"output uses {size} bytes, limit {limits.output_bytes}"
    if count > limits.max_output_files:
        return f"output holds {count} entries, limit {limits.max_output_files}"
    return None


_MEMORY_SIGNS = (
    "MemoryError",
    "Cannot allocate memory",
    "can't allocate memory",
    "std::bad_alloc",
    "out of memory",
    "failed to map segment",  # the loader's mmap of a large library past the address space
    "OOM when allocating",  # TensorFlow's ResourceExhaustedError
)
_PROCESS_SIGNS = ("Resource temporarily unavailable", "BlockingIOError", "can't start new thread")
_OUTPUT_SIGNS = ("File too large",)


def classify_exit(exit_code: int, stderr_tail: str, limits: Limits) -> tuple[Failure | None, str]:
    """The failure an exit status points to: a limit's signal, else the program's last words."""
    if exit_code == 0:
        return None, "exited 0"
    if exit_code == 128 + signal.SIGXCPU:
        return "cpu_time", f"used its {limits.cpu_seconds} s of CPU time"
    if exit_code == 128 + signal.SIGXFSZ or any(s in stderr_tail for s in _OUTPUT_SIGNS):
        return "output_size", f"wrote a file past {limits.output_bytes} bytes"
    if any(sign in stderr_tail for sign in _MEMORY_SIGNS):
        return "memory", f"ran out of its {limits.memory_bytes} bytes of memory"
    if any(sign in stderr_tail for sign in _PROCESS_SIGNS):
        return "processes", f"hit its limit of {limits.max_processes} processes"
    if exit_code > 128:
        return "exit", f"killed by signal {exit_code - 128}"
    return "exit", f"exited with status {exit_code}"


def read_tail(path: Path, size: int = TAIL_BYTES) -> str:
    """The last `size` bytes of a file as text ("" when missing)."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
