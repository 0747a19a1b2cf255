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


def test_a_single_threaded_process_forks_and_one_that_started_a_thread_does_not() -> None:
    # (in a fresh interpreter: this one may run threads of other tests' fixtures)
    script = (
        "import threading\n"
        "from common.procs import worker_context\n"
        "print(worker_context().get_start_method())\n"
        "threading.Thread(target=threading.Event().wait, daemon=True).start()\n"
        "print(worker_context().get_start_method())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=60)  # fmt: skip
    assert out.stdout.split() == ["fork", "forkserver"]
