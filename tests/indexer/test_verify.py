"""`datacoin verify --rpc-url` on a chain with a dead letter: a platform log that does not
decode (a contract's code swapped with ``anvil_setCode`` for one that emits a malformed
log under a platform topic)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
from eth_utils.crypto import keccak

from indexer.rpc import RpcClient
from indexer.runner import Indexer, IndexerConfig
from indexer.store_pg import PostgresEventStore
from tests.conftest import Platform
from tests.indexer.activity import fund, list_datasets, mine, rpc_call
from tests.indexer.test_indexer_anvil import url_of

LISTED = "DatasetListed(uint256,address,uint256,uint64,string,bytes32,string)"


def _malformed_emitter(topic0: bytes) -> str:
    """Runtime code that emits one log with topic `topic0`, no other topic and no data
    (``PUSH32 topic0; PUSH1 0; PUSH1 0; LOG1; STOP``), whatever it is called with."""
    return "0x7f" + topic0.hex() + "60006000a100"


def _emit_dead_letter(chain: Platform) -> None:
    """One transaction whose Marketplace log is DatasetListed's topic with nothing else."""
    w3 = chain.client.w3
    market = chain.deployment.address("Marketplace")
    original = rpc_call(w3, "eth_getCode", [market, "latest"])
    rpc_call(w3, "anvil_setCode", [market, _malformed_emitter(keccak(text=LISTED))])
    sender = chain.account(1).address
    # The nonce is read from the state, as the Transactor does for the other transactions.
    nonce = rpc_call(w3, "eth_getTransactionCount", [sender, "latest"])
    call = {"from": sender, "to": market, "gas": hex(100_000), "nonce": nonce}
    tx = rpc_call(w3, "eth_sendTransaction", [call])
    receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=30)  # automine: soon, not now
    rpc_call(w3, "anvil_setCode", [market, original])
    assert receipt["status"] == 1 and len(receipt["logs"]) == 1, receipt


def _verify(db_url: str, manifest: Path, rpc_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATACOIN_DATABASE_URL": db_url, "DATACOIN_LOG_FORMAT": "json"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "verify",
            "--rpc-url",
            rpc_url,
            "--manifest",
            str(manifest),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_verify_audits_a_chain_with_a_dead_letter(
    chain: Platform, fresh_db: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "deployment.json"
    chain.deployment.save(manifest)
    # Given a chain with listings before and after an undecodable platform log
    fund(chain, [1, 2])
    list_datasets(chain, 1, 3)
    _emit_dead_letter(chain)
    list_datasets(chain, 2, 3)
    mine(chain.client.w3, 2)
    head = chain.client.w3.eth.block_number
    # And a store that indexed it, the log as a dead letter
    store = PostgresEventStore(fresh_db)
    try:
        config = IndexerConfig(confirmations=0, poll_interval=0.02, fetch_processes=0)
        Indexer(RpcClient(url_of(chain)), store, chain.deployment, config=config).run(to_block=head)
    finally:
        store.close()
    with psycopg.connect(fresh_db) as conn:
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
    assert dead == (1,)
    # When it is verified against the node
    verified = _verify(fresh_db, manifest, url_of(chain))
    # Then the audit passes, the dead letter checked too
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Traceback" not in verified.stderr
    assert "problem" not in verified.stderr
    assert "1 dead letter" in verified.stderr, verified.stderr
    # And when the dead letter is lost from the store, the audit says so
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("DELETE FROM dead_letters")
    tampered = _verify(fresh_db, manifest, url_of(chain))
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert "dead letter missing from store" in tampered.stderr, tampered.stderr
