"""Training for the browser tests: a registered, staked worker serving in the dApp's stack
(``running_dapp(..., worker=True)``), and steps that pay for a job without a browser."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import httpx
import redis

from common.chain import dev_account
from tests.conftest import Platform, service_missing
from tests.indexer.activity import fund
from tests.web.dapp import BUYER, REPO, Dapp
from tests.workers.conftest import TEST_SANDBOX
from workers.training.warmup import warm_bytecode

#: The dev account the dApp stack's worker signs `logTraining` with.
WORKER = 7


def ensure_sandbox() -> None:
    """bwrap installed (ops/install-sandbox.sh when missing) and the bytecode warmed, as
    tests/workers' `bubblewrap` fixture does; a missing sandbox is a missing service."""
    if shutil.which("bwrap") is None:
        result = subprocess.run(
            ["bash", str(REPO / "ops/install-sandbox.sh")],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or shutil.which("bwrap") is None:
            service_missing("bubblewrap", RuntimeError(result.stderr.strip()[-500:]))
    warm_bytecode()


def worker_settings(platform: Platform, namespace: str) -> dict[str, Any]:
    """Register and stake dev account WORKER on `platform`; the settings of a worker that
    signs as it, trains on the CPU in the tests' sandbox limits and consumes the queues
    of broker `namespace` (its own: other stacks on this Redis never see its messages)."""
    ensure_sandbox()
    training = platform.client.contract("TrainingLog")
    staking = platform.client.contract("Staking")
    coin = platform.client.contract("DataCoin")
    worker = platform.account(WORKER)
    platform.deployer.send(training.functions.registerWorker(worker.address))
    fund(platform, [WORKER])
    worker.send(coin.functions.approve(staking.address, 2**255))
    worker.send(staking.functions.stake(platform.config.min_worker_stake))
    return {
        "worker_key": "0x" + bytes(dev_account(WORKER).key).hex(),
        "training_device": "cpu",
        "broker_namespace": namespace,
        **TEST_SANDBOX,
    }


def forget_namespace(redis_url: str, namespace: str) -> None:
    """Delete broker `namespace`'s keys (its queues and deliveries) from Redis."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"{namespace}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def buy_final(dapp: Dapp, dataset_id: int, buyer: int = BUYER) -> None:
    """Buy `dataset_id` from web3 (the browser purchase is tested in test_journeys) and
    wait until the API counts it as a final purchase: training needs that access."""
    market = dapp.platform.client.contract("Marketplace")
    coin = dapp.platform.client.contract("DataCoin")
    account = dapp.platform.account(buyer)
    account.send(coin.functions.approve(market.address, 2**255))
    account.send(market.functions.purchase(dataset_id, 2**255))

    def final() -> bool:
        dapp.mine(1)
        reply = httpx.get(f"{dapp.url}/accounts/{dapp.address(buyer)}/purchases", timeout=10)
        items = reply.json()["items"] if reply.status_code == 200 else []
        return any(int(p["dataset_id"]) == dataset_id and p["finalized"] for p in items)

    dapp.wait_for(final, f"dataset {dataset_id}'s purchase final")


def prepare_spec(dapp: Dapp, dataset_id: int, spec: dict[str, Any], buyer: int = BUYER) -> Any:
    """POST /training-specs as `buyer`: the reply (201 or a problem), as httpx gives it."""
    body = {"dataset_id": str(dataset_id), "chain_id": dapp.chain_id, "spec": spec}
    return httpx.post(
        f"{dapp.url}/training-specs", json=body, headers=dapp.sign_in(buyer), timeout=30
    )


def request_job(dapp: Dapp, dataset_id: int, spec: dict[str, Any], buyer: int = BUYER) -> int:
    """Store `spec` through the API and send its `requestTraining` from web3: the job id."""
    reply = prepare_spec(dapp, dataset_id, spec, buyer)
    assert reply.status_code == 201, reply.text
    prepared = reply.json()
    training = dapp.platform.client.contract("TrainingLog")
    coin = dapp.platform.client.contract("DataCoin")
    account = dapp.platform.account(buyer)
    account.send(coin.functions.approve(training.address, int(prepared["escrow"])))
    tx = dapp.w3.eth.send_transaction(
        {
            "from": dapp.address(buyer),
            "to": prepared["call"]["to"],
            "data": prepared["call"]["data"],
        }
    )
    assert dapp.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    return int(training.functions.jobCount().call())
