"""Which start method worker processes get: fork only where nothing can be copied mid-lock."""

from __future__ import annotations

import subprocess
import sys
import threading

from common.procs import single_threaded, worker_context


def test_a_process_with_a_thread_gets_the_fork_server() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert not single_threaded()
        assert worker_context().get_start_method() == "forkserver"
    finally:
        stop.set()
        thread.join()


def test_a_single_threaded_process_forks_until_its_fork_server_runs() -> None:
    # (in a fresh interpreter: this one may have threads, or a fork server, of other tests)
    script = (
        "from common.procs import forkserver_context, forkserver_running, worker_context\n"
        "print(forkserver_running(), worker_context().get_start_method())\n"
        "worker = forkserver_context().Process(target=int)\n"
        "worker.start(); worker.join()\n"
        "print(forkserver_running(), worker_context().get_start_method())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["False", "fork", "True", "forkserver"]
