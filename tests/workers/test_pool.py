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
    s = training_world.settings
    env = {
        **os.environ,
        "DATACOIN_RPC_URL": s.rpc_url,
        "DATACOIN_REDIS_URL": s.redis_url,
        "DATACOIN_DATA_DIR": str(s.data_dir),
        "DATACOIN_MANIFEST_PATH": str(s.manifest_file),
        "DATACOIN_DATABASE_URL": s.database_url,
        "DATACOIN_LOG_FORMAT": "json",
    }
    # run_work(settings, 2, 1) is run_pool with the settings' config: this names the
    # test's broker namespace and no spares explicitly.
    code = (
        "from dataclasses import replace; from common.logs import configure_logging;"
        "configure_logging('json'); from common.settings import Settings;"
        "from workers.config import WorkerConfig; from workers.pool import run_pool;"
        "s = Settings(); c = replace(WorkerConfig.from_settings(s), training_spares=0,"
        f"broker_namespace={training_world.namespace!r}); run_pool(s, c, 2, 1)"
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
