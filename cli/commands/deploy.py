"""`datacoin deploy`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from web3 import Web3

from common.chain import DEV_CHAIN_IDS, Transactor, connect, dev_account
from common.deploy import DeployConfig, GovernanceTiming, deploy_platform, governance_timing
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
    from eth_account import Account

    url = rpc_url or settings.rpc_url
    w3 = connect(url)
    if not w3.is_connected():
        raise ConfigurationError(f"no JSON-RPC node answers at {url}")
    chain_id = w3.eth.chain_id
    path = manifest or settings.manifest_file
    if reuse and _deployed(path, w3):
        console.print(f"[green]kept the deployment in {path}[/green]: its contracts are on chain")
        return path
    if settings.deployer_key is not None:
        account = Account.from_key(settings.deployer_key.get_secret_value())
    elif chain_id in DEV_CHAIN_IDS:
        account = dev_account(0)
    else:
        raise ConfigurationError(f"chain {chain_id} is not a dev chain: set DATACOIN_DEPLOYER_KEY")
    config = DeployConfig(
        faucet=faucet,
        governance=governance,
        governance_timing=timing_from_settings(settings, chain_id),
    )
    deployment = deploy_platform(Transactor(w3, account), config)
    deployment.save(path)
    console.print(f"[green]deployed to chain {chain_id}[/green]; manifest written to {path}")
    print(deployment.model_dump_json(indent=2))
    return path


def _deployed(path: Path, w3: Web3) -> bool:
    """Whether the manifest at `path` names this chain and its token has code there."""
    if not path.exists():
        return False
    known = Deployment.load(path)
    address = Web3.to_checksum_address(known.address("DataCoin"))
    return known.chain_id == w3.eth.chain_id and bool(w3.eth.get_code(address))


def timing_from_settings(settings: Settings, chain_id: int) -> GovernanceTiming:
    """The governance timing for `chain_id`, with the settings' overrides."""
    return governance_timing(
        chain_id,
        voting_delay=settings.governance_voting_delay,
        voting_period=settings.governance_voting_period,
        timelock_delay=settings.governance_timelock_delay,
    )
