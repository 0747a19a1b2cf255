"""The bubblewrap backend: namespaces for isolation, rlimits for resources.

A run is ``prlimit <limits> -- bwrap <isolation> -- argv``:

- **no network**: a new, empty network namespace (only a down loopback);
- **read-only system**: ``/`` bound read-only; ``/tmp``, ``/run``, ``/var/tmp`` and the
  `hide` paths (data dir, other jobs, secrets) covered by empty tmpfs, so neither files nor
  Unix sockets (PostgreSQL's, Redis's, Docker's) of the host are reachable;
- **private work dir** at ``/tmp/job``: ``in/`` read-only, ``out/`` writable;
- new PID, IPC, UTS, user and cgroup namespaces, no nested user namespaces, a new session,
  killed with its parent (``--die-with-parent``);
- **limits**: CPU seconds, address space, processes, file size, open files, no core dumps
  (``prlimit``); wall clock and total output size (this runner, which kills the tree).

The program never runs as root: the kernel does not apply ``RLIMIT_NPROC`` to root. Started
by root, bwrap runs privileged (no user namespace), builds the mounts, and ``setpriv`` drops
the program to the unprivileged `uid` with no capabilities and ``no_new_privs``. Started by
anyone else, bwrap runs unprivileged in a new user namespace as that user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from common.errors import ConfigurationError
from workers.sandbox.base import (
    IN_DIR,
    OUT_DIR,
    STDERR_FILE,
    STOPPED_ON_PURPOSE,
    Failure,
    SandboxJob,
    SandboxResult,
    classify_exit,
    output_over,
    read_tail,
)

log = structlog.get_logger(__name__)
EMPTY_FILE = "empty"
INSIDE = "/tmp/job"  # under the sandbox's own /tmp tmpfs: the read-only root has no room
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"


def runtime_paths() -> list[Path]:
    """What the sandboxed program needs to see: the interpreter, its packages, this code."""
    return [
        Path(sys.prefix).resolve(),
        Path(sys.base_prefix).resolve(),
        Path(__file__).resolve().parents[2],
    ]


@dataclass
class BubblewrapSandbox:
    """Runs jobs under bubblewrap as `uid` (when started as root).

    `hide` (data dir, work root, ...) is covered inside the sandbox, and so are ``/run``,
    ``/var/tmp``, ``/root``, ``/home`` and ``.env`` files; the interpreter, its packages,
    this code and `keep` stay visible, even under a hidden directory.
    """

    uid: int = 61_000
    hide: Sequence[Path] = ()
    keep: Sequence[Path] = ()
    bwrap: str = "bwrap"
    prlimit: str = "prlimit"
    setpriv: str = "setpriv"
    name: str = "bubblewrap"

    def check(self) -> None:
        """ConfigurationError when bwrap or prlimit is not installed."""
        for tool in (self.bwrap, self.prlimit, self.setpriv):
            if shutil.which(tool) is None:
                raise ConfigurationError(
                    f"{tool} not found: install the Debian packages bubblewrap and util-linux "
                    "(ops/install-sandbox.sh)"
                )

    def command(self, job: SandboxJob) -> list[str]:
        """The full host command line for `job`."""
        lim = job.limits
        limits = [
            self.prlimit,
            f"--cpu={lim.cpu_seconds}:{lim.cpu_seconds + 1}",
            f"--nproc={lim.max_processes}",
            f"--fsize={lim.output_bytes}",
            f"--nofile={lim.max_open_files}",
            "--core=0",
            # CUDA maps far more address space than it uses: cap the data segment instead.
            f"--data={lim.memory_bytes}" if job.gpu else f"--as={lim.memory_bytes}",
            "--",
        ]
        root = os.geteuid() == 0
        namespaces = (
            [
                "--unshare-ipc",
                "--unshare-pid",
                "--unshare-net",
                "--unshare-uts",
                "--unshare-cgroup-try",
                "--cap-add",
                "CAP_SETUID",
                "--cap-add",
                "CAP_SETGID",
            ]
            if root
            else ["--unshare-all", "--unshare-user", "--disable-userns"]
        )
        isolation = [
            self.bwrap,
            *namespaces,
            "--die-with-parent",
            "--new-session",
            "--hostname",
            "sandbox",
            "--ro-bind",
            "/",
            "/",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--perms",
            "1777",
            "--size",
            str(lim.tmp_bytes),
            "--tmpfs",
            "/tmp",
            *self._hidden(job.workdir / EMPTY_FILE),
            *(self._gpu_devices() if job.gpu else []),
            "--perms",
            "0755",
            "--dir",
            INSIDE,
            "--ro-bind",
            str(job.workdir / IN_DIR),
            f"{INSIDE}/{IN_DIR}",
            "--bind",
            str(job.workdir / OUT_DIR),
            f"{INSIDE}/{OUT_DIR}",
            "--chdir",
            INSIDE,
            "--clearenv",
        ]
        env = {
            "PATH": SANDBOX_PATH,
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "JOB_DIR": INSIDE,
            **job.env,
        }
        for key, value in sorted(env.items()):
            isolation += ["--setenv", key, value]
        drop = [
            self.setpriv,
            f"--reuid={self.uid}",
            f"--regid={self.uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
        ]
        return [*limits, *isolation, "--", *(drop if root else []), *job.argv]

    def _hidden(self, empty: Path) -> list[str]:
        """Cover the host's secrets and sockets, keeping the interpreter and code visible."""
        needed = [*runtime_paths(), *(Path(p).resolve() for p in self.keep)]
        candidates = [
            Path("/run"),
            Path("/var/tmp"),
            Path("/root"),
            Path("/home"),
            *(n / ".env" for n in needed),
            Path.cwd() / ".env",
            *(Path(p) for p in self.hide),
        ]
        tmp = Path("/tmp").resolve()
        args: list[str] = []
        # The sandbox's /tmp is an empty tmpfs: a checkout (and its venv) that lives under
        # the host's /tmp, as in a CI clone, must be bound back in, read-only.
        rebound = sorted({n for n in needed if tmp in n.parents})
        for inner in rebound:
            for directory in [d for d in reversed(inner.parents) if tmp in d.parents]:
                args += ["--perms", "0755", "--dir", str(directory)]
            args += ["--ro-bind", str(inner), str(inner)]
        for path in dict.fromkeys(candidates):
            if path.is_symlink() or not path.exists():
                continue
            real = path.resolve()
            inside_rebound = any(r in real.parents for r in rebound)
            if (real == tmp or tmp in real.parents) and not inside_rebound:
                continue  # the sandbox's /tmp is its own tmpfs already
            if real in needed:
                log.warning("sandbox.hide.skipped", path=str(real), reason="is the runtime")
            elif real.is_dir():
                args += ["--tmpfs", str(real)]
                # The interpreter, its packages and our code stay visible under a hidden dir.
                for inner in sorted({n for n in needed if real in n.parents}):
                    between = [d for d in reversed(inner.parents) if real in d.parents]
                    for directory in between:  # bwrap would create them 0700
                        args += ["--perms", "0755", "--dir", str(directory)]
                    args += ["--ro-bind", str(inner), str(inner)]
            else:
                args += ["--ro-bind", str(empty), str(real)]
        return args

    @staticmethod
    def _gpu_devices() -> list[str]:
        return [
            arg
            for dev in sorted(Path("/dev").glob("nvidia*"))
            for arg in ("--dev-bind", str(dev), str(dev))
        ]

    def start(self, job: SandboxJob) -> BubblewrapProcess:
        """Start `job`; stdout and stderr go to ``stderr.log`` beside ``in/`` and ``out/``."""
        argv = self.command(job)
        (job.workdir / EMPTY_FILE).touch(mode=0o444)  # what hidden files show inside
        with (job.workdir / STDERR_FILE).open("wb") as sink:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
                cwd=job.workdir,
                start_new_session=True,
                close_fds=True,
            )
        log.debug("sandbox.started", backend=self.name, pid=proc.pid, workdir=str(job.workdir))
        return BubblewrapProcess(proc, job)


class BubblewrapProcess:
    """One bubblewrap run: polls for exit while enforcing wall clock and output size."""

    def __init__(self, proc: subprocess.Popen[bytes], job: SandboxJob) -> None:
        self.proc = proc
        self.job = job
        self.started = time.monotonic()
        self._stopped: tuple[Failure, str] | None = None

    def arm(self) -> None:
        """Start the wall clock now."""
        self.started = time.monotonic()

    def running(self) -> bool:
        """Whether bwrap has not exited (reaps it if it has)."""
        return self.proc.returncode is None and self.proc.poll() is None

    def kill(self) -> None:
        """Stop the run on purpose (a spare no longer needed, a job whose inputs failed):
        its verdict says so, and it is not logged as a sandbox failure."""
        if self._stopped is None:
            self._stopped = STOPPED_ON_PURPOSE
        self._kill()

    def _kill(self) -> None:
        """SIGKILL bwrap's process group; its PID namespace dies with it."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def wait(self) -> SandboxResult:
        """Reap the run and classify how it ended."""
        lim = self.job.limits
        deadline = self.started + lim.wall_seconds
        pause, next_check = 0.002, 0.0
        while self.proc.returncode is None:
            pid, status = os.waitpid(self.proc.pid, os.WNOHANG)
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                break
            now = time.monotonic()
            if self._stopped is None and now >= deadline:
                self._stop("wall_clock", f"ran past its {lim.wall_seconds:g} s wall-clock limit")
            elif self._stopped is None and now >= next_check:
                next_check = now + 0.1
                if (why := output_over(self.job.workdir, lim)) is not None:
                    self._stop("output_size", why)
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        return self._result(self.proc.returncode)

    def _stop(self, failure: Failure, detail: str) -> None:
        self._stopped = (failure, detail)
        self._kill()

    def _result(self, code: int) -> SandboxResult:
        wall = time.monotonic() - self.started
        tail = read_tail(self.job.workdir / STDERR_FILE)
        lim = self.job.limits
        exit_code = 128 - code if code < 0 else code  # a negative code is a signal
        failure: Failure | None
        if self._stopped is not None:
            failure, detail = self._stopped
        elif exit_code == 0 and (why := output_over(self.job.workdir, lim)) is not None:
            failure, detail = "output_size", why
        elif exit_code != 0 and tail.startswith(("bwrap:", "setpriv:", "prlimit:")):
            failure, detail = "start", tail.strip()[:500]
        else:
            failure, detail = classify_exit(exit_code, tail, lim)
        if self._stopped == STOPPED_ON_PURPOSE:
            log.debug("sandbox.stopped", backend="bubblewrap", wall_s=round(wall, 3))
        elif failure is not None:
            log.warning(
                "sandbox.failed",
                backend="bubblewrap",
                failure=failure,
                detail=detail,
                exit_code=exit_code,
                wall_s=round(wall, 3),
            )
        return SandboxResult(exit_code, failure, detail, wall, tail)
