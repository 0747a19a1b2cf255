"""`datacoin deploy`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from web3 import Web3

from common.bridge import DEV_THRESHOLD, dev_relayers
from common.chain import DEV_CHAIN_IDS, Transactor, connect, dev_account
from common.deploy import (
    BridgedPair,
    DeployConfig,
    GovernanceTiming,
    deploy_bridged_pair,
    deploy_platform,
    governance_timing,
)
from common.errors import ConfigurationError
from common.manifest import Deployment
from common.settings import Settings


def run_deploy(
    settings: Settings,
    rpc_url: str | None,
    manifest: Path | None,
    *,
    faucet: bool,
    governance: bool,
    console: Console,
    reuse: bool = False,
) -> Path:
    """Deploy to `rpc_url` (or the configured one), write and print the manifest. With
    `governance`, the Timelock and Governor take the admin over (timings: dev or
    production by chain, overridden by the DATACOIN_GOVERNANCE_* settings). With `reuse`,
    a manifest whose contracts are on this chain is kept as it is (nothing is sent)."""
    url = rpc_url or settings.rpc_url
    deployer = _deployer(settings, url)
    path = manifest or settings.manifest_file
    if reuse and deployed_here(path, deployer.w3):
        console.print(f"[green]kept the deployment in {path}[/green]: its contracts are on chain")
        return path
    config = DeployConfig(
        faucet=faucet,
        governance=governance,
        governance_timing=timing_from_settings(settings, deployer.w3.eth.chain_id),
    )
    deployment = deploy_platform(deployer, config)
    chain_id = deployment.chain_id
    deployment.save(path)
    console.print(f"[green]deployed to chain {chain_id}[/green]; manifest written to {path}")
    print(deployment.model_dump_json(indent=2))
    return path


def deployed_here(path: Path, w3: Web3) -> bool:
    """Whether the manifest at `path` names this chain and its token has code there."""
    if not path.exists():
        return False
    known = Deployment.load(path)
    address = Web3.to_checksum_address(known.address("DataCoin"))
    return known.chain_id == w3.eth.chain_id and bool(w3.eth.get_code(address))


def _deployer(settings: Settings, url: str) -> Transactor:
    """The deployer on the chain at `url`: ``deployer_key``, or anvil's key 0 on a dev chain."""
    from eth_account import Account

    w3 = connect(url)
    if not w3.is_connected():
        raise ConfigurationError(f"no JSON-RPC node answers at {url}")
    chain_id = w3.eth.chain_id
    if settings.deployer_key is not None:
        return Transactor(w3, Account.from_key(settings.deployer_key.get_secret_value()))
    if chain_id in DEV_CHAIN_IDS:
        return Transactor(w3, dev_account(0))
    raise ConfigurationError(f"chain {chain_id} is not a dev chain: set DATACOIN_DEPLOYER_KEY")


def relayer_set(settings: Settings, chain_ids: tuple[int, int]) -> tuple[tuple[str, ...], int]:
    """The bridge's relayer addresses and threshold: the settings', or the dev set (anvil's
    accounts 7, 8, 9, two of three) when both chains are dev chains."""
    dev = all(chain_id in DEV_CHAIN_IDS for chain_id in chain_ids)
    relayers = tuple(settings.bridge_relayers)
    if not relayers:
        if not dev:
            raise ConfigurationError("set DATACOIN_BRIDGE_RELAYERS: the bridge's relayer set")
        relayers = tuple(account.address for account in dev_relayers())
    threshold = settings.bridge_threshold or (DEV_THRESHOLD if dev else None)
    if threshold is None:
        raise ConfigurationError("set DATACOIN_BRIDGE_THRESHOLD: signatures a message needs")
    return relayers, threshold


def run_deploy_bridged(
    settings: Settings, *, faucet: bool, governance: bool, console: Console, reuse: bool = False
) -> BridgedPair:
    """Deploy the platform on the home chain and on the (one) remote chain with the bridge
    between them, and write both manifests. The home chain is governed when `governance`;
    the remote chain's owner stays the deployer (its bridge's relayer set included). With
    `reuse`, two manifests whose contracts are both on their chains are kept (a pair is
    never half reused: one side alone is redeployed with the other)."""
    if len(settings.remote_chains) != 1:
        raise ConfigurationError("a bridged deployment needs exactly one remote chain")
    remote = settings.remote_chains[0]
    home_tx = _deployer(settings, settings.rpc_url)
    remote_tx = _deployer(settings, remote.rpc_url)
    home_path, remote_path = settings.manifest_file, remote.manifest_path
    if reuse and deployed_here(home_path, home_tx.w3) and deployed_here(remote_path, remote_tx.w3):
        console.print(
            f"[green]kept the deployments in {home_path} and {remote_path}[/green]: their"
            " contracts are on chain"
        )
        return BridgedPair(home=Deployment.load(home_path), remote=Deployment.load(remote_path))
    home_id = home_tx.w3.eth.chain_id
    relayers, threshold = relayer_set(settings, (home_id, remote_tx.w3.eth.chain_id))
    pair = deploy_bridged_pair(
        home_tx,
        remote_tx,
        relayers=relayers,
        threshold=threshold,
        home_config=DeployConfig(
            faucet=faucet,
            governance=governance,
            governance_timing=timing_from_settings(settings, home_id),
        ),
        remote_config=DeployConfig(),
    )
    pair.home.save(settings.manifest_file)
    pair.remote.save(remote.manifest_path)
    console.print(
        f"[green]deployed to chains {pair.home.chain_id} and {pair.remote.chain_id}, bridged"
        f" ({threshold} of {len(relayers)} relayers)[/green]; manifests written to"
        f" {settings.manifest_file} and {remote.manifest_path}"
    )
    return pair


def timing_from_settings(settings: Settings, chain_id: int) -> GovernanceTiming:
    """The governance timing for `chain_id`, with the settings' overrides."""
    return governance_timing(
        chain_id,
        voting_delay=settings.governance_voting_delay,
        voting_period=settings.governance_voting_period,
        timelock_delay=settings.governance_timelock_delay,
    )
