"""`datacoin deploy`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from common.chain import DEV_CHAIN_IDS, Transactor, connect, dev_account
from common.deploy import DeployConfig, deploy_platform
from common.errors import ConfigurationError
from common.settings import Settings


def run_deploy(
    settings: Settings,
    rpc_url: str | None,
    manifest: Path | None,
    faucet: bool,
    console: Console,
) -> Path:
    """Deploy to `rpc_url` (or the configured one), write and print the manifest."""
    from eth_account import Account

    url = rpc_url or settings.rpc_url
    w3 = connect(url)
    if not w3.is_connected():
        raise ConfigurationError(f"no JSON-RPC node answers at {url}")
    chain_id = w3.eth.chain_id
    if settings.deployer_key is not None:
        account = Account.from_key(settings.deployer_key.get_secret_value())
    elif chain_id in DEV_CHAIN_IDS:
        account = dev_account(0)
    else:
        raise ConfigurationError(f"chain {chain_id} is not a dev chain: set DATACOIN_DEPLOYER_KEY")
    deployment = deploy_platform(Transactor(w3, account), DeployConfig(faucet=faucet))
    path = manifest or settings.manifest_file
    deployment.save(path)
    console.print(f"[green]deployed to chain {chain_id}[/green]; manifest written to {path}")
    print(deployment.model_dump_json(indent=2))
    return path
