"""Deploy the platform's contracts and produce the deployment manifest."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import structlog
from web3 import Web3
from web3.contract import Contract

from common.chain import DEV_CHAIN_IDS, Transactor
from common.errors import ConfigurationError
from common.governance import Call
from common.manifest import BridgeInfo, BridgeRole, DeployedContract, Deployment
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
class BridgeConfig:
    """This chain's side of the DATACOIN bridge (see contracts/src/BridgeAuthority.sol)."""

    #: "home": the platform as usual plus BridgeVault (locks DATACOIN). "remote":
    #: BridgedDataCoin (manifest key "DataCoin") instead of DataCoin, no Faucet, the rest of
    #: the platform paid in it, plus BridgeGateway (its only minter).
    role: BridgeRole
    #: The chain on the other side (its id, not this chain's).
    peer_chain_id: int
    #: The relayer set's addresses and the signatures a message needs (k of n).
    relayers: tuple[str, ...]
    threshold: int
    #: The other side's bridge contract when it is already deployed: linked at once (the
    #: side deployed first is linked afterwards with `link_bridge`).
    peer_contract: str | None = None


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
    #: This chain's side of the bridge; None: no bridge (a lone home chain, as before).
    bridge: BridgeConfig | None = None


@dataclass(frozen=True)
class BridgedPair:
    """The two deployments of a bridged pair of chains, linked to each other."""

    home: Deployment
    remote: Deployment


def _deploy(tx: Transactor, name: str, *args: Any) -> DeployedContract:
    """Deploy artifact `name` with constructor `args`; its entry's `artifact` stays None
    (the caller sets it where the manifest key is another name)."""
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
    `config.faucet` is off), Profiles, when `config.governance` is on the Timelock and the
    DatacoinGovernor (which then hold the admin) and, with `config.bridge`, the bridge
    contract from `tx`, in that order. On a bridge's remote chain the token is a
    BridgedDataCoin (still the manifest's "DataCoin") and there is no Faucet."""
    cfg = config or DeployConfig()
    me = tx.address
    treasury = cfg.treasury or me
    remote = cfg.bridge is not None and cfg.bridge.role == "remote"
    deployed: dict[str, DeployedContract] = {}
    deployed["DataCoin"] = token = _deploy_token(tx, cfg, remote=remote)
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
    if cfg.faucet and not remote:
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
    bridge = None
    if cfg.bridge is not None:
        deployed.update(deploy_bridge(tx, cfg.bridge, deployed))
        bridge = BridgeInfo(role=cfg.bridge.role, peer_chain_id=cfg.bridge.peer_chain_id)
    return Deployment(
        chain_id=tx.w3.eth.chain_id,
        start_block=token.block_number,
        deployer=me,
        deployed_at=datetime.now(UTC),
        compiler=load_artifact("DataCoin")["compiler"]["version"],
        contracts=deployed,
        bridge=bridge,
    )


def _deploy_token(tx: Transactor, cfg: DeployConfig, *, remote: bool) -> DeployedContract:
    """The manifest's "DataCoin": DataCoin itself (cap, initial supply to the deployer) or,
    on a bridge's remote chain, a BridgedDataCoin, whose supply only comes over the bridge."""
    if not remote:
        return _deploy(tx, "DataCoin", tx.address, cfg.supply_cap, cfg.initial_supply)
    bridged = _deploy(tx, "BridgedDataCoin")
    return bridged.model_copy(update={"artifact": "BridgedDataCoin"})


def _bind(tx: Transactor, name: str, deployed: DeployedContract) -> Contract:
    """Contract `name` of a deployment in progress, with its artifact's ABI."""
    address = Web3.to_checksum_address(deployed.address)
    abi = load_artifact(deployed.artifact or name)["abi"]
    return tx.w3.eth.contract(address=address, abi=abi)


def deploy_governance(
    tx: Transactor, cfg: DeployConfig, platform: dict[str, DeployedContract]
) -> dict[str, DeployedContract]:
    """Deploy the Timelock and the DatacoinGovernor (votes: Staking) and hand over the
    admin: the Timelock becomes the owner of Marketplace and TrainingLog and DataCoin's
    admin (who grants MINTER_ROLE), the Governor its only proposer and canceller, anyone
    its executor; the deployer keeps nothing. Returns the two new manifest entries. (A
    remote chain's BridgedDataCoin has no admin to hand over: its gateway is fixed.)

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
    for owned in (market, training):
        tx.send(owned.functions.transferOwnership(timelock.address))
    if platform["DataCoin"].artifact is None:  # DataCoin itself (AccessControl)
        coin = _bind(tx, "DataCoin", platform["DataCoin"])
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


def deploy_bridge(
    tx: Transactor, bridge: BridgeConfig, platform: dict[str, DeployedContract]
) -> dict[str, DeployedContract]:
    """Deploy this chain's bridge contract for `platform`'s token: BridgeVault (home) or
    BridgeGateway (remote, then set as the BridgedDataCoin's gateway), owned by the
    Timelock when there is one (relayer rotation by a vote), else by the deployer; linked
    to `bridge.peer_contract` when given. Returns the new manifest entry."""
    name = BridgeInfo(role=bridge.role, peer_chain_id=bridge.peer_chain_id).contract
    owner = platform["Timelock"].address if "Timelock" in platform else tx.address
    relayers = [Web3.to_checksum_address(r) for r in bridge.relayers]
    token = platform["DataCoin"]
    entry = _deploy(
        tx, name, token.address, bridge.peer_chain_id, relayers, bridge.threshold, owner
    )
    if bridge.role == "remote":
        coin = _bind(tx, "DataCoin", token)
        tx.send(coin.functions.setGateway(entry.address))
    if bridge.peer_contract is not None:
        peer = Web3.to_checksum_address(bridge.peer_contract)
        tx.send(_bind(tx, name, entry).functions.setPeer(peer))
    log.info(
        "deploy.bridge",
        role=bridge.role,
        contract=entry.address,
        peer_chain_id=bridge.peer_chain_id,
        relayers=len(relayers),
        threshold=bridge.threshold,
        owner=owner,
        peer=bridge.peer_contract,
    )
    return {name: entry}


def link_bridge(tx: Transactor, deployment: Deployment, peer_contract: str) -> None:
    """Point `deployment`'s bridge contract at `peer_contract` (the other side's), from
    `tx`: the deployer while no peer is set yet, or the owner (a vote under governance)."""
    if deployment.bridge is None:
        raise ConfigurationError(f"chain {deployment.chain_id} has no bridge in its manifest")
    name = deployment.bridge.contract
    bridge = _bind(tx, name, deployment.contracts[name])
    tx.send(bridge.functions.setPeer(Web3.to_checksum_address(peer_contract)))
    log.info("deploy.bridge.linked", chain_id=deployment.chain_id, peer=peer_contract)


def deploy_bridged_pair(
    home: Transactor,
    remote: Transactor,
    *,
    relayers: tuple[str, ...],
    threshold: int,
    home_config: DeployConfig | None = None,
    remote_config: DeployConfig | None = None,
) -> BridgedPair:
    """Deploy the platform on two chains with the bridge between them, and link them:
    the home chain first (its vault), the remote chain linked to that vault, then the
    vault linked to the remote gateway. `home_config` and `remote_config` (their `bridge`
    is replaced) set everything else."""
    home_id, remote_id = home.w3.eth.chain_id, remote.w3.eth.chain_id
    home_bridge = BridgeConfig(
        role="home", peer_chain_id=remote_id, relayers=relayers, threshold=threshold
    )
    home_dep = deploy_platform(home, replace(home_config or DeployConfig(), bridge=home_bridge))
    remote_bridge = replace(
        home_bridge,
        role="remote",
        peer_chain_id=home_id,
        peer_contract=home_dep.address("BridgeVault"),
    )
    remote_dep = deploy_platform(
        remote, replace(remote_config or DeployConfig(), bridge=remote_bridge)
    )
    link_bridge(home, home_dep, remote_dep.address("BridgeGateway"))
    return BridgedPair(home=home_dep, remote=remote_dep)
