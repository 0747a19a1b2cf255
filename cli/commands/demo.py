"""`datacoin demo`: the main job on embedded defaults.

Today it starts a local anvil, deploys the platform and prints the manifest; the later
stages (indexer, projections, API, worker and the marketplace scenario) plug in here.
"""

from __future__ import annotations

import time

from rich.console import Console

from common.anvil import free_port, start_anvil
from common.chain import ChainClient, Transactor, connect, dev_account
from common.settings import Settings
from contracts.deploy import deploy_platform


def run_demo(settings: Settings, keep_running: bool, console: Console) -> None:
    """Start anvil, deploy every contract, write and print the manifest."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    console.rule("[bold]Datacoin demo")
    console.print(f"starting anvil on 127.0.0.1:{port} (log: {settings.data_dir / 'anvil.log'})")
    node = start_anvil(port=port, log_path=settings.data_dir / "anvil.log")
    try:
        w3 = connect(node.url)
        deployer = Transactor(w3, dev_account(0))
        console.print(f"deploying contracts from {deployer.address} ...")
        deployment = deploy_platform(deployer)
        deployment.save(settings.manifest_file)
        client = ChainClient(w3, deployment)
        for name, info in deployment.contracts.items():
            console.print(f"  {name:<12} {info.address}  block {info.block_number}")
        supply = client.contract("DataCoin").functions.totalSupply().call()
        console.print(f"DATACOIN total supply: {supply / 10**18:,.0f}")
        console.print(f"manifest written to {settings.manifest_file}:")
        print(deployment.model_dump_json(indent=2))
        if keep_running:
            console.print(f"[green]anvil stays up at {node.url}; Ctrl-C stops it[/green]")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        node.stop()
