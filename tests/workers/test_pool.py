"""`datacoin work`'s pool: worker processes that stop cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.workers.conftest import REPO, TrainingWorld


def test_the_pool_starts_processes_and_stops_on_sigterm(
    training_world: TrainingWorld, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        **{f"DATACOIN_{name.upper()}": str(value) for name, value in training_world.fields.items()},
        "DATACOIN_TRAINING_SPARES": "0",
        "DATACOIN_LOG_FORMAT": "json",
    }
    # `datacoin work --processes 2 --threads 1`, configured by the environment alone
    code = (
        "from common.logs import configure_logging; configure_logging('json');"
        "from common.settings import Settings; from cli.commands.work import run_work;"
        "run_work(Settings(), processes=2, threads=1)"
    )
    log = tmp_path / "pool.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], cwd=REPO, env=env, stdout=out, stderr=out
        )
        try:
            # Given two worker processes up and consuming
            deadline = time.monotonic() + 60
            while log.read_text().count('"worker.started"') < 2:
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
            # When the pool gets SIGTERM
            proc.send_signal(signal.SIGTERM)
            # Then both workers stop and the pool exits cleanly
            assert proc.wait(30) == 0, log.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
    assert log.read_text().count('"worker.stopped"') == 2
