"""Real processes for the ops tests: `datacoin serve`, `datacoin <service>` and Caddy, each
started with its log in a file (a full pipe would block it) and stopped by the fixture that
started it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import service_missing

REPO = Path(__file__).resolve().parents[2]
CADDYFILE = REPO / "ops" / "Caddyfile"


@dataclass
class Running:
    """A started process and the file its stderr (and stdout) goes to."""

    proc: subprocess.Popen[bytes]
    log: Path

    def events(self, name: str) -> list[dict[str, Any]]:
        """The JSON log lines whose event is `name`."""
        found = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("event") == name:
                    found.append(entry)
        return found

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, wait (SIGKILL if it hangs); the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path) -> Iterator[Running]:
    """`args` running until the block ends, with `env` and this environment less its
    DATACOIN_* variables (each test says every setting it means)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DATACOIN_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, env=inherited | env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
        )
    process = Running(proc, log)
    try:
        yield process
    finally:
        process.stop()


def datacoin(*args: str) -> list[str]:
    """The argv of a `datacoin` command run from this checkout."""
    return [sys.executable, "-m", "cli.main", *args]


def wait_for(what: str, check: Callable[[], bool], process: Running, timeout: float = 60) -> None:
    """Poll `check` until true; fail at once if `process` exits, or after `timeout`."""
    deadline = time.monotonic() + timeout
    while not check():
        if process.proc.poll() is not None:
            raise AssertionError(
                f"exited ({process.proc.returncode}) before {what}: " + tail(process)
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s: " + tail(process))
        time.sleep(0.1)


def tail(process: Running) -> str:
    """The end of a process's log, for a failure message."""
    return process.log.read_text()[-3000:]


def answers(url: str, **kwargs: Any) -> bool:
    """Whether GET `url` gets any HTTP answer."""
    try:
        httpx.get(url, timeout=2, **kwargs)
    except httpx.TransportError:
        return False
    return True


def caddy_binary() -> str:
    """Debian's caddy (`make services` installs it); skips, or fails in CI, without it."""
    path = shutil.which("caddy")
    if path is None:
        service_missing("caddy", FileNotFoundError("caddy is not installed (make services)"))
        raise AssertionError("unreachable")
    return path
