"""A worker pool process for crash tests: ``python -m tests.workers.worker_proc DESC.json``."""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

import orjson

from common.settings import Settings
from workers.config import WorkerConfig
from workers.pool import serve
from workers.sandbox.base import Limits


def main() -> None:
    """Serve one worker thread as the description says until SIGTERM (or SIGKILL)."""
    desc = orjson.loads(Path(sys.argv[1]).read_bytes())
    settings = Settings(**desc["settings"])
    config = replace(
        WorkerConfig.from_settings(settings),
        worker_key=desc["worker_key"],
        limits=Limits(**desc["limits"]),
        training_device="cpu",
        broker_namespace=desc["namespace"],
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    serve(settings, config, 1, stop)


if __name__ == "__main__":
    main()
