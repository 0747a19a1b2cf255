"""Deploy the platform's contracts and produce the deployment manifest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from web3 import Web3
from web3.contract import Contract

from common.chain import DEV_CHAIN_IDS, Transactor
from common.governance import Call
from common.manifest import DeployedContract, Deployment
from contracts.artifacts import abi_digest, load_artifact

log = structlog.get_logger(__name__)

WAD = 10**18
ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class GovernanceTiming:
    """How long governance takes. The Governor counts in blocks (Staking's clock), the
    Timelock in seconds."""

    voting_delay: int  # blocks from a proposal to its snapshot and the vote's start
    voting_period: int  # blocks the vote stays open
    timelock_delay: int  # seconds from queuing a passed proposal to its earliest execution


#: A day to look at a proposal, a week to vote, two days to react before it runs
#: (12-second blocks).
PRODUCTION_TIMING = GovernanceTiming(
    voting_delay=7_200, voting_period=50_400, timelock_delay=2 * 24 * 3600
)
#: Dev chains: a demo proposal passes in seconds (tests and the demo mine blocks and move
#: the clock with anvil's RPCs; see common.governance).
DEV_TIMING = GovernanceTiming(voting_delay=1, voting_period=20, timelock_delay=60)


def governance_timing(
    chain_id: int,
    *,
    voting_delay: int | None = None,
    voting_period: int | None = None,
    timelock_delay: int | None = None,
) -> GovernanceTiming:
    """The timing for a deployment on `chain_id`: `DEV_TIMING` on a dev chain,
    `PRODUCTION_TIMING` elsewhere, each value overridden when given (settings)."""
    base = DEV_TIMING if chain_id in DEV_CHAIN_IDS else PRODUCTION_TIMING
    return GovernanceTiming(
        voting_delay=base.voting_delay if voting_delay is None else voting_delay,
        voting_period=base.voting_period if voting_period is None else voting_period,
        timelock_delay=base.timelock_delay if timelock_delay is None else timelock_delay,
    )


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
    #: Deploy the Timelock and DatacoinGovernor and hand them the platform's admin (see
    #: `deploy_governance`). Off by default for library callers (tests, benchmarks) that
    #: act as the owner directly; `datacoin deploy` and `datacoin demo` turn it on.
    governance: bool = False
    governance_timing: GovernanceTiming = PRODUCTION_TIMING
    #: Active stake (votes) needed to make a proposal.
    proposal_threshold: int = 1_000 * WAD
    #: Percent of the total active stake at the snapshot that must vote for or abstain.
    quorum_percent: int = 4


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
    `config.faucet` is off), Profiles and, when `config.governance` is on, the Timelock and
    the DatacoinGovernor (which then hold the admin) from `tx`, in that order."""
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
    # After the original five: on a fresh chain they keep the addresses they had before.
    deployed["Profiles"] = _deploy(tx, "Profiles")
    if cfg.governance:
        deployed.update(deploy_governance(tx, cfg, deployed))
    return Deployment(
        chain_id=tx.w3.eth.chain_id,
        start_block=token.block_number,
        deployer=me,
        deployed_at=datetime.now(UTC),
        compiler=load_artifact("DataCoin")["compiler"]["version"],
        contracts=deployed,
    )


def _bind(tx: Transactor, name: str, deployed: DeployedContract) -> Contract:
    address = Web3.to_checksum_address(deployed.address)
    return tx.w3.eth.contract(address=address, abi=load_artifact(name)["abi"])


def deploy_governance(
    tx: Transactor, cfg: DeployConfig, platform: dict[str, DeployedContract]
) -> dict[str, DeployedContract]:
    """Deploy the Timelock and the DatacoinGovernor (votes: Staking) and hand over the
    admin: the Timelock becomes the owner of Marketplace and TrainingLog and DataCoin's
    admin (who grants MINTER_ROLE), the Governor its only proposer and canceller, anyone
    its executor; the deployer keeps nothing. Returns the two new manifest entries.

    The Timelock starts with no delay and the deployer as its proposer and executor, for
    one batch only: Ownable2Step needs the new owner to call ``acceptOwnership``, and the
    Timelock only calls what it executes. That batch accepts both ownerships, wires the
    roles, revokes the deployer's, and sets the real delay (``updateDelay`` may only come
    from the Timelock itself). It has no admin account from the start (it administers
    itself), so nothing outlives the setup."""
    me = tx.address
    timing = cfg.governance_timing
    timelock_entry = _deploy(tx, "Timelock", 0, [me], [me], ZERO_ADDRESS)
    governor_entry = _deploy(
        tx,
        "DatacoinGovernor",
        platform["Staking"].address,
        timelock_entry.address,
        timing.voting_delay,
        timing.voting_period,
        cfg.proposal_threshold,
        cfg.quorum_percent,
    )
    timelock = _bind(tx, "Timelock", timelock_entry)
    market = _bind(tx, "Marketplace", platform["Marketplace"])
    training = _bind(tx, "TrainingLog", platform["TrainingLog"])
    coin = _bind(tx, "DataCoin", platform["DataCoin"])
    for owned in (market, training):
        tx.send(owned.functions.transferOwnership(timelock.address))
    admin_role = coin.functions.DEFAULT_ADMIN_ROLE().call()
    tx.send(coin.functions.grantRole(admin_role, timelock.address))
    tx.send(coin.functions.renounceRole(admin_role, me))
    proposer, executor, canceller = (
        timelock.functions.PROPOSER_ROLE().call(),
        timelock.functions.EXECUTOR_ROLE().call(),
        timelock.functions.CANCELLER_ROLE().call(),
    )
    setup: list[tuple[Any, ...]] = [
        (market, "acceptOwnership"),
        (training, "acceptOwnership"),
        (timelock, "grantRole", proposer, governor_entry.address),
        (timelock, "grantRole", canceller, governor_entry.address),
        (timelock, "grantRole", executor, ZERO_ADDRESS),  # anyone executes
        (timelock, "revokeRole", proposer, me),
        (timelock, "revokeRole", canceller, me),
        (timelock, "revokeRole", executor, me),
        (timelock, "updateDelay", timing.timelock_delay),
    ]
    calls = [Call.to(contract, function, *args) for contract, function, *args in setup]
    batch = (
        [c.target for c in calls],
        [c.value for c in calls],
        [c.calldata for c in calls],
        b"\x00" * 32,  # no predecessor
        b"\x00" * 32,  # salt
    )
    tx.send(timelock.functions.scheduleBatch(*batch, 0))
    tx.send(timelock.functions.executeBatch(*batch))
    log.info(
        "deploy.governance",
        timelock=timelock.address,
        governor=governor_entry.address,
        voting_delay=timing.voting_delay,
        voting_period=timing.voting_period,
        timelock_delay=timing.timelock_delay,
    )
    return {"Timelock": timelock_entry, "DatacoinGovernor": governor_entry}
