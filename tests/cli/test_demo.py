"""`datacoin demo`'s console output and its stop: lines that never wrap, and a SIGTERM that
stops every process the demo started (the full scenario is in tests/e2e/test_demo.py)."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from hexbytes import HexBytes
from rich.console import Console

from cli.commands.demo import print_tx
from tests.procs import alive, descendants

REPO = Path(__file__).resolve().parents[2]


def test_a_transaction_line_never_wraps_on_a_narrow_terminal() -> None:
    # Given a terminal 40 columns wide
    out = io.StringIO()
    console = Console(file=out, width=40, force_terminal=False)
    tx_hash = HexBytes(bytes(range(32)))
    # When a transaction is printed
    print_tx(
        console,
        "requestTraining (10 DATACOIN escrowed)",
        {"transactionHash": tx_hash, "blockNumber": 1234},
    )
    # Then it is one line holding the whole hash (a wrapped hash cannot be copied)
    (line,) = out.getvalue().splitlines()
    assert f"tx 0x{bytes(range(32)).hex()} block 1234" in line


def wait_gone(pids: set[int], timeout: float = 15.0) -> set[int]:
    """The pids still alive after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (left := {pid for pid in pids if alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_sigterm_stops_the_demo_and_its_anvil(
    fresh_db: str, redis_url: str, tmp_path: Path
) -> None:
    # Given a demo that has started its anvil (PostgreSQL and Redis are the CI's)
    env = {
        **os.environ,
        "DATACOIN_DATA_DIR": str(tmp_path),
        "DATACOIN_DATABASE_URL": fresh_db,
        "DATACOIN_REDIS_URL": redis_url,
        "COLUMNS": "200",
    }
    demo = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "demo"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    children: set[int] = set()
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            if "embedded services:" in line:
                break
        children = descendants(demo.pid)
        anvils = [pid for pid in children if "anvil" in Path(f"/proc/{pid}/cmdline").read_text()]
        assert anvils, "the demo's anvil"
        # When a service manager (or a test's teardown) sends SIGTERM
        demo.send_signal(signal.SIGTERM)
        rest = demo.communicate(timeout=60)[0]
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    # Then the demo stops cleanly, exit 0, and no process it started is left behind
    assert demo.returncode == 0, rest[-3000:]
    assert "Traceback" not in rest
    assert wait_gone(children) == set()
    assert re.search(r"\bstopped\b", rest)
