"""`datacoin up` started with the environment ops/compose.yaml gives the indexer, projector,
API and worker (one process here, as on one machine) plays the demo's scenario: upload,
list, buy, download, rate, train in the sandbox, stake, and change the fee by a vote.

What cannot exist on this machine is replaced, each by name: the compose network's host
names by the test's PostgreSQL, Redis and anvil; kubo by the embedded block store (same
CIDs); the Docker sandbox by bubblewrap (no engine here); /run/secrets by files; paths and
the API's port by the test's own. Everything else is the compose file's, as written."""

from __future__ import annotations

import base64
import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from cli.commands.demo import Scenario
from cli.commands.stack import Stack
from common.anvil import free_port, start_anvil
from common.chain import ChainClient, dev_account
from common.settings import Settings
from tests.conftest import GOVERNED, Platform, deploy_fresh, service_missing
from tests.ops.compose import effective, environment
from tests.ops.servers import answers, datacoin, running, tail, wait_for
from tests.procs import alive, descendants

#: The services `datacoin up` runs in one process.
UP_SERVICES = ("indexer", "projector", "api", "worker")
#: Compose variables that name the compose network, its volumes or the engine.
REPLACED = {
    "DATACOIN_DATABASE_URL",
    "DATACOIN_REDIS_URL",
    "DATACOIN_RPC_URL",
    "DATACOIN_IPFS_API_URL",
    "DATACOIN_MANIFEST_PATH",
    "DATACOIN_WORK_DIR",
    "DATACOIN_API_PORT",
    "DATACOIN_SANDBOX_BACKEND",
    "DATACOIN_SANDBOX_UID",
    "DATACOIN_PLATFORM_KEYS_FILE",
    "DATACOIN_WORKER_KEY_FILE",
}


def compose_environment() -> dict[str, str]:
    """The DATACOIN_* variables of the services `up` runs, which must agree where shared."""
    merged: dict[str, str] = {}
    services = effective()["services"]
    for name in UP_SERVICES:
        for variable, value in environment(services[name]).items():
            if not variable.startswith("DATACOIN_"):
                continue
            assert merged.get(variable, value) == value, f"{name} differs on {variable}"
            merged[variable] = value
    return merged


@pytest.fixture
def governed_chain() -> Iterator[tuple[Platform, str]]:
    """A fresh anvil with the platform deployed under governance, as `datacoin deploy`."""
    try:
        node = start_anvil()
    except Exception as exc:  # any failure to start means "missing service"
        service_missing("anvil", exc)
        raise
    try:
        yield deploy_fresh(node, GOVERNED), node.url
    finally:
        node.stop()


def test_up_with_the_compose_environment_plays_the_demo(
    governed_chain: tuple[Platform, str], fresh_db: str, redis_url: str, tmp_path: Path
) -> None:
    platform, rpc_url = governed_chain
    compose = compose_environment()
    assert compose["DATACOIN_SANDBOX_BACKEND"] == "docker"  # replaced: no engine here
    manifest = tmp_path / "deployment.json"
    platform.deployment.save(manifest)
    keys, worker_key = tmp_path / "platform_keys", tmp_path / "worker_key"
    keys.write_text(json.dumps({"k1": base64.b64encode(os.urandom(32)).decode()}) + "\n")
    worker_key.write_text(dev_account(0).key.hex() + "\n")  # the demo's worker: account 0
    port = free_port()
    env = {k: v for k, v in compose.items() if k not in REPLACED} | {
        "DATACOIN_DATABASE_URL": fresh_db,
        "DATACOIN_REDIS_URL": redis_url,
        "DATACOIN_RPC_URL": rpc_url,
        "DATACOIN_MANIFEST_PATH": str(manifest),
        "DATACOIN_DATA_DIR": str(tmp_path / "data"),
        "DATACOIN_WORK_DIR": str(tmp_path / "jobs"),
        "DATACOIN_API_HOST": "127.0.0.1",
        "DATACOIN_API_PORT": str(port),
        "DATACOIN_SANDBOX_BACKEND": "bubblewrap",
        "DATACOIN_PLATFORM_KEYS_FILE": str(keys),
        "DATACOIN_WORKER_KEY_FILE": str(worker_key),
    }
    # (the compose file's own values stay: confirmations, public URL, proxies, log format ...)
    assert env["DATACOIN_CONFIRMATIONS"] == "12"
    assert env["DATACOIN_PUBLIC_URL"].startswith("https://")
    with running(datacoin("up"), env, tmp_path / "up.log") as up:
        api = f"http://127.0.0.1:{port}"
        wait_for("the API", lambda: answers(api + "/health"), up, timeout=90)
        children = descendants(up.proc.pid)
        # When the demo's scenario is played against it
        settings = Settings(api_port=port, confirmations=int(env["DATACOIN_CONFIRMATIONS"]))
        out = io.StringIO()
        scenario = Scenario(
            Stack(settings, platform.deployment),  # (not started: names the API and depth)
            ChainClient(platform.client.w3, platform.deployment),
            Console(file=out, width=200),
        )
        try:
            scenario.run()
        except Exception as exc:
            raise AssertionError(f"{exc}\n{out.getvalue()}\n{tail(up)}") from exc
        # Then every step's effect shows through the API
        http = httpx.Client(base_url=api, timeout=10)
        nonce = http.get("/auth/nonce").json()
        assert (nonce["domain"], nonce["uri"]) == ("localhost", env["DATACOIN_PUBLIC_URL"])
        job = http.get("/training-jobs/1").json()
        assert job["status"] == "logged" and job["model_cid"], job
        (stats,) = http.get("/stats").json()
        # the PyTorch job on Iris and the TensorFlow job on the text sample
        assert stats["purchases"] == 1 and stats["jobs_logged"] == 2
        assert http.get("/governance").json()["fee_bps"] == 300
        children |= descendants(up.proc.pid)
        # And SIGTERM stops it cleanly, with every process it started
        assert up.stop() == 0, tail(up)
    assert "Traceback" not in up.log.read_text()
    deadline = time.monotonic() + 15
    while {pid for pid in children if alive(pid)} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not {pid for pid in children if alive(pid)}
