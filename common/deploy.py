"""Deploy the platform's contracts and produce the deployment manifest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from web3 import Web3

from common.chain import Transactor
from common.manifest import DeployedContract, Deployment
from contracts.artifacts import abi_digest, load_artifact

log = structlog.get_logger(__name__)

WAD = 10**18


@dataclass(frozen=True)
class DeployConfig:
    """Economic parameters fixed at deployment (amounts in DATACOIN wei)."""

    supply_cap: int = 1_000_000_000 * WAD
    initial_supply: int = 100_000_000 * WAD
    fee_bps: int = 250
    provider_share_bps: int = 1_000
    unstake_cooldown: int = 7 * 24 * 3600
    job_timeout: int = 24 * 3600
    min_worker_stake: int = 1_000 * WAD
    faucet: bool = True
    faucet_drip: int = 10_000 * WAD
    faucet_cooldown: int = 0
    treasury: str | None = None  # default: the deployer


def _deploy(tx: Transactor, name: str, *args: Any) -> DeployedContract:
    artifact = load_artifact(name)
    factory = tx.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = tx.send(factory.constructor(*args))
    address = receipt["contractAddress"]
    assert address is not None  # a successful creation receipt always has one
    log.info("deploy.contract", contract=name, address=address, block=receipt["blockNumber"])
    return DeployedContract(
        address=Web3.to_checksum_address(address),
        abi_digest=abi_digest(artifact["abi"]),
        tx_hash="0x" + receipt["transactionHash"].hex().removeprefix("0x"),
        block_number=receipt["blockNumber"],
    )


def deploy_platform(tx: Transactor, config: DeployConfig | None = None) -> Deployment:
    """Deploy DataCoin, Marketplace, Staking, TrainingLog, the dev Faucet (unless
    `config.faucet` is off) and Profiles from `tx`, in that order."""
    cfg = config or DeployConfig()
    me = tx.address
    treasury = cfg.treasury or me
    deployed: dict[str, DeployedContract] = {}
    deployed["DataCoin"] = token = _deploy(tx, "DataCoin", me, cfg.supply_cap, cfg.initial_supply)
    deployed["Marketplace"] = market = _deploy(
        tx, "Marketplace", token.address, me, treasury, cfg.fee_bps
    )
    deployed["Staking"] = staking = _deploy(tx, "Staking", token.address, cfg.unstake_cooldown)
    deployed["TrainingLog"] = _deploy(
        tx,
        "TrainingLog",
        token.address,
        market.address,
        staking.address,
        me,
        cfg.provider_share_bps,
        cfg.job_timeout,
        cfg.min_worker_stake,
    )
    if cfg.faucet:
        deployed["Faucet"] = faucet = _deploy(
            tx, "Faucet", token.address, cfg.faucet_drip, cfg.faucet_cooldown
        )
        coin = tx.w3.eth.contract(
            address=Web3.to_checksum_address(token.address), abi=load_artifact("DataCoin")["abi"]
        )
        minter_role = coin.functions.MINTER_ROLE().call()
        tx.send(coin.functions.grantRole(minter_role, faucet.address))
    # Last: on a fresh chain every contract above keeps the address it had before Profiles.
    deployed["Profiles"] = _deploy(tx, "Profiles")
    return Deployment(
        chain_id=tx.w3.eth.chain_id,
        start_block=token.block_number,
        deployer=me,
        deployed_at=datetime.now(UTC),
        compiler=load_artifact("DataCoin")["compiler"]["version"],
        contracts=deployed,
    )
