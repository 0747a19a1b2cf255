"""`datacoin project` as a real subprocess: started with its settings in the environment,
its JSON log captured, and always stopped (SIGTERM, then SIGKILL) by the fixture."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from projections.tracking import tracking_position
from tests.procs import alive

SCHEMA = "readmodels"


@dataclass
class ProjectProcess:
    """A running `datacoin project` and where its log goes."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    database_url: str

    def events(self) -> list[dict[str, Any]]:
        """Every structured (JSON) log line so far."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_position(self, position: int, timeout: float = 60.0) -> None:
        """Until every projection applied `position` (failing if the process died)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"datacoin project exited:\n{self.log_text()[-3000:]}"
            if (tracking_position(self.database_url, SCHEMA) or 0) >= position:
                return
            time.sleep(0.1)
        raise AssertionError(
            f"not at position {position} in {timeout} s:\n{self.log_text()[-3000:]}"
        )

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait (SIGKILL past `timeout`); the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


@pytest.fixture
def start_project(tmp_path: Path) -> Iterator[Callable[..., ProjectProcess]]:
    """Start `datacoin project` on a database (extra settings as environment variables);
    every process started is gone when the test ends."""
    started: list[ProjectProcess] = []

    def start(database_url: str, **env: str) -> ProjectProcess:
        log_path = tmp_path / f"project-{len(started)}.log"
        environment = {
            **os.environ,
            "DATACOIN_DATABASE_URL": database_url,
            "DATACOIN_LOG_FORMAT": "json",
            "DATACOIN_DATA_DIR": str(tmp_path / "data"),
            **env,
        }
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "project"],
                cwd=tmp_path,
                env=environment,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        started.append(ProjectProcess(proc, log_path, database_url))
        return started[-1]

    try:
        yield start
    finally:
        for project in started:
            project.stop()
            assert not alive(project.proc.pid)
