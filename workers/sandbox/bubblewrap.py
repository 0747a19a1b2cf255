"""The bubblewrap backend: namespaces for isolation, rlimits for resources.

A run is ``prlimit <limits> -- bwrap <isolation> -- argv``:

- **no network**: a new, empty network namespace (only a down loopback);
- **an allow-list of the host**: the sandbox's root is an empty tmpfs, remounted read-only;
  only the paths of :data:`ALLOW_LIST` (the interpreter, its standard library and
  site-packages, the training code, the loader and shared libraries) and the sandbox's
  `keep` are bound into it, read-only, at their own places. Anything else on the host (the
  data dir, other jobs, ``/etc``, ``/home``, ``/run`` and its Unix sockets, a secret added
  tomorrow) does not exist inside. ``/dev`` and ``/proc`` are the sandbox's own, ``/tmp``
  an empty, bounded tmpfs;
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
import site
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterable, Sequence
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
REPO = Path(__file__).resolve().parents[2]

#: Of the operating system: the dynamic loader and the shared libraries (C library,
#: libstdc++, libz, OpenSSL, CUDA's driver libraries, locales) with the loader's cache; the
#: time zone; the CPU topology, by which OpenMP and torch size their thread pools. Merged-usr
#: hosts have /lib and /lib64 as symlinks: they are mirrored as symlinks.
SYSTEM_FILES = (
    "/lib",
    "/lib32",
    "/lib64",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/sys/devices/system/cpu",
)

#: The project code a training job runs: ``python -m workers.training.entry`` imports only
#: the ``workers.training`` package (see its docstring), never the platform's code, which
#: reads settings and keys.
PROJECT_CODE = (REPO / "workers" / "__init__.py", REPO / "workers" / "training")

#: What a GPU job needs besides (``/dev/nvidia*`` are bound as devices): the driver's view
#: of the PCI devices and their NUMA nodes. Not yet tried on a GPU host with the allow-list.
GPU_FILES = ("/sys",)


def python_runtime() -> list[Path]:
    """This interpreter: its executable (as started, symlinks and all), its shared library,
    its standard library (with ``lib-dynload``), and the venv's ``pyvenv.cfg`` and
    site-packages."""
    paths = [Path(sys.executable), Path(sysconfig.get_paths()["stdlib"])]
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        libdir, soname = sysconfig.get_config_vars("LIBDIR", "INSTSONAME")
        paths.append(Path(libdir) / soname)
    if sys.prefix != sys.base_prefix:
        paths.append(Path(sys.prefix) / "pyvenv.cfg")
    return [*paths, *map(Path, site.getsitepackages())]


#: Everything a sandboxed job sees of the host, besides its job dir and what a sandbox's
#: `keep` adds: a path not under one of these does not exist inside, so a secret put
#: anywhere else on the host is hidden without being named.
ALLOW_LIST: tuple[Path, ...] = (*map(Path, SYSTEM_FILES), *python_runtime(), *PROJECT_CODE)


def _with_link_targets(paths: Iterable[Path]) -> dict[Path, str | None]:
    """Each existing path, mapped to its symlink's target (followed, and shown too) or to
    None (bound as it is)."""
    shown: dict[Path, str | None] = {}
    todo = [Path(os.path.abspath(p)) for p in paths]
    while todo:
        path = todo.pop()
        if path in shown or not os.path.lexists(path):
            continue
        shown[path] = os.readlink(path) if path.is_symlink() else None
        if (target := shown[path]) is not None:
            todo.append(Path(os.path.normpath(path.parent / target)))
    return shown


def visible(paths: Iterable[Path]) -> list[str]:
    """bwrap arguments that show `paths`, read-only, at their own places on an empty root.

    A path inside another bound directory comes with it. The directories on the way are
    created explicitly ``0755``, so that the unprivileged uid can walk through them.
    """
    shown = _with_link_targets(paths)
    bound = [p for p, target in shown.items() if target is None]
    shown = {p: t for p, t in shown.items() if not any(b in p.parents for b in bound)}
    directories = {d for p in shown for d in p.parents} - {Path("/")}
    args: list[str] = []
    for directory in sorted(directories):  # a parent sorts before its children
        args += ["--perms", "0755", "--dir", str(directory)]
    for path, target in sorted(shown.items()):
        if target is None:
            args += ["--ro-bind", str(path), str(path)]
        else:
            args += ["--symlink", target, str(path)]
    return args


@dataclass
class BubblewrapSandbox:
    """Runs jobs under bubblewrap as `uid` (when started as root).

    A job sees :data:`ALLOW_LIST` and `keep` (read-only), nothing else of the host. `hide`
    (data dir, work root, ...) and ``.env`` files are covered where they lie inside a
    visible directory (a data dir inside a kept checkout); elsewhere they are not there.
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
        # setpriv runs inside, after bwrap built the mounts: it must be visible there too.
        setpriv = Path(shutil.which(self.setpriv) or self.setpriv)
        shown = [
            *ALLOW_LIST,
            *self._kept(),
            *([setpriv] if root else []),
            *(map(Path, GPU_FILES) if job.gpu else []),
        ]
        isolation = [
            self.bwrap,
            *namespaces,
            "--die-with-parent",
            "--new-session",
            "--hostname",
            "sandbox",
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
            *visible(shown),
            *self._covered(job.workdir / EMPTY_FILE),
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
            # The root tmpfs would be writable (and unbounded) by a user-namespace root.
            "--remount-ro",
            "/",
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
            str(setpriv),
            f"--reuid={self.uid}",
            f"--regid={self.uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
        ]
        return [*limits, *isolation, "--", *(drop if root else []), *job.argv]

    def _kept(self) -> list[Path]:
        # Resolved: a kept path under a mirrored symlink (/lib/...) is shown at its real place.
        return [Path(p).resolve() for p in self.keep]

    def _covered(self, empty: Path) -> list[str]:
        """Cover what lies inside a visible directory but must not be seen: the `hide`
        paths (a data dir inside a kept checkout) and ``.env`` files (settings, keys)."""
        roots = [Path(os.path.abspath(p)) for p in (*ALLOW_LIST, *self._kept())]
        roots = [r for r in roots if r.is_dir() and not r.is_symlink()]
        hidden = [q for p in self.hide for q in (Path(os.path.abspath(p)), Path(p).resolve())]
        args: list[str] = []
        for path in dict.fromkeys([*hidden, *(r / ".env" for r in roots)]):
            if not path.exists() or not any(r in path.parents for r in roots):
                continue  # outside the allow-list it does not exist inside anyway
            if path.is_dir():
                args += ["--tmpfs", str(path)]
            else:
                args += ["--ro-bind", str(empty), str(path)]
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
