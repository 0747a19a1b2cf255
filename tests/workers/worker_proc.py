"""A worker process for crash tests: ``python -m tests.workers.worker_proc SETTINGS.json``
(the JSON holds the keyword arguments of its ``Settings``)."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import orjson

from common.settings import Settings
from workers.pool import serve


def main() -> None:
    """Serve one worker thread with the given settings until SIGTERM (or SIGKILL)."""
    settings = Settings(**orjson.loads(Path(sys.argv[1]).read_bytes()))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    serve(settings, threads=1, stop=stop)


if __name__ == "__main__":
    main()
