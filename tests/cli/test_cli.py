"""The `datacoin` command end to end: deploy, index, verify (real anvil and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pyarrow.parquet as pq

from common.anvil import start_anvil
from common.chain import ChainClient, connect, dev_account
from common.deploy import DEV_TIMING, PRODUCTION_TIMING, governance_timing
from common.manifest import Deployment
from contracts.artifacts import PLATFORM_CONTRACTS


def datacoin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env={**os.environ, "DATACOIN_LOG_FORMAT": "json", **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_deploy_governance_settings_and_opt_out(tmp_path: Path) -> None:
    """Given `DATACOIN_GOVERNANCE_VOTING_PERIOD=7`, when deploying, then the Governor
    votes for 7 blocks (the other timings the dev chain's); with `--no-governance` the
    manifest has no Timelock or Governor and the deployer owns the Marketplace."""
    with start_anvil() as node:
        governed, plain = tmp_path / "governed.json", tmp_path / "plain.json"
        env = {"DATACOIN_GOVERNANCE_VOTING_PERIOD": "7"}
        out = datacoin("deploy", "--rpc-url", node.url, "--manifest", str(governed), env=env)
        assert out.returncode == 0, out.stderr
        client = ChainClient(connect(node.url), Deployment.load(governed))
        governor = client.contract("DatacoinGovernor")
        assert governor.functions.votingPeriod().call() == 7
        assert governor.functions.votingDelay().call() == DEV_TIMING.voting_delay
        out = datacoin("deploy", "--rpc-url", node.url, "--manifest", str(plain), "--no-governance")
        assert out.returncode == 0, out.stderr
        deployment = Deployment.load(plain)
        assert {"Timelock", "DatacoinGovernor"}.isdisjoint(deployment.contracts)
        market = ChainClient(connect(node.url), deployment).contract("Marketplace")
        assert market.functions.owner().call() == dev_account(0).address


def test_governance_timing_is_short_on_dev_chains_only() -> None:
    """Dev chains (31337) get DEV_TIMING, others PRODUCTION_TIMING; overrides win."""
    assert governance_timing(31337) == DEV_TIMING
    assert governance_timing(1) == PRODUCTION_TIMING
    assert governance_timing(1, timelock_delay=5).timelock_delay == 5
    assert governance_timing(1, timelock_delay=5).voting_period == PRODUCTION_TIMING.voting_period


def test_deploy_index_verify_and_detect_tampering(tmp_path: Path, fresh_db: str) -> None:
    manifest = tmp_path / "m.json"
    env = {"DATACOIN_DATABASE_URL": fresh_db, "DATACOIN_CONFIRMATIONS": "0"}
    with start_anvil() as node:
        # Given a deployment made by the CLI
        deployed = datacoin("deploy", "--rpc-url", node.url, "--manifest", str(manifest))
        assert deployed.returncode == 0, deployed.stderr
        deployment = Deployment.load(manifest)
        assert set(deployment.contracts) == set(PLATFORM_CONTRACTS)
        assert deployment.chain_id == 31337
        assert deployment.stale_abis() == []
        # governed by default, with the dev chain's timings
        client = ChainClient(connect(node.url), deployment)
        timelock = deployment.address("Timelock")
        assert client.contract("Marketplace").functions.owner().call() == timelock
        assert client.contract("TrainingLog").functions.owner().call() == timelock
        governor = client.contract("DatacoinGovernor")
        assert governor.functions.votingPeriod().call() == DEV_TIMING.voting_period
        assert json.loads(deployed.stdout)["start_block"] == deployment.start_block
        # When it is indexed to the head and verified against the node
        head = "6"  # deployment plus the faucet's role grant
        indexed = datacoin(
            "index", "--rpc-url", node.url, "--manifest", str(manifest), "--to-block", head, env=env
        )
        assert indexed.returncode == 0, indexed.stderr
        verified = datacoin("verify", "--rpc-url", node.url, "--manifest", str(manifest), env=env)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "hash chain" in verified.stderr and "problem" not in verified.stderr
    # And the read models are projected, replayed to the same state hash, and exported
    assert datacoin("project", "--once", env=env).returncode == 0
    live = datacoin("state-hash", env=env)
    assert live.returncode == 0 and live.stdout.split()[1] == "position"
    replayed = datacoin("replay", env=env)
    assert replayed.returncode == 0, replayed.stderr
    # (with no thread of its own, not even the progress bar's, it forks its workers)
    assert '"start_method": "fork"' in replayed.stderr
    assert f"replay state hash: {live.stdout.split()[0]}" in replayed.stdout
    ndjson = datacoin("export", "--format", "ndjson", env=env)
    lines = [json.loads(line) for line in ndjson.stdout.splitlines()]
    assert [r["position"] for r in lines] == list(range(1, len(lines) + 1))
    assert {r["event_name"] for r in lines} >= {"Transfer", "RoleGranted"}
    parquet = tmp_path / "events.parquet"
    assert (
        datacoin("export", "--format", "parquet", "--output", str(parquet), env=env).returncode == 0
    )
    table = pq.read_table(parquet)
    assert table.num_rows == len(lines)
    assert table.column("hash").to_pylist() == [r["hash"] for r in lines]
    # Then an edit made behind the store's back (triggers disabled by a superuser) is caught
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("ALTER TABLE events DISABLE TRIGGER events_append_only")
        conn.execute('UPDATE events SET args = \'{"role": "0x00"}\' WHERE position = 2')
    tampered = datacoin("verify", env=env)
    assert tampered.returncode == 1
    assert "position 2: hash mismatch" in tampered.stderr


def test_deploy_refuses_non_dev_chain_without_key(tmp_path: Path) -> None:
    with start_anvil(extra_args=["--chain-id", "5"]) as node:
        result = datacoin("deploy", "--rpc-url", node.url, "--manifest", str(tmp_path / "m.json"))
    assert result.returncode == 1
    assert "DATACOIN_DEPLOYER_KEY" in result.stderr


def test_index_without_manifest_explains_what_to_do(tmp_path: Path) -> None:
    result = datacoin("index", "--manifest", str(tmp_path / "missing.json"))
    assert result.returncode == 1
    assert "datacoin deploy" in result.stderr
