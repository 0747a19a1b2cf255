"""`datacoin deploy --reuse`: what a deploy step that runs at every start (the compose
file's `deploy` service) needs: the first run deploys, the next ones keep the manifest
whose contracts are on the chain, and a manifest of another chain's is replaced."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from cli.commands.deploy import run_deploy, run_deploy_bridged
from common.anvil import start_anvil
from common.deploy import BridgedPair
from common.manifest import Deployment
from common.settings import ChainEndpoint, Settings
from tests.conftest import Platform


def deploy(settings: Settings, reuse: bool) -> str:
    out = io.StringIO()
    run_deploy(
        settings,
        None,
        None,
        faucet=True,
        governance=False,
        console=Console(file=out, width=200),
        reuse=reuse,
    )
    return out.getvalue()


def test_reuse_deploys_once(chain: Platform, tmp_path: Path) -> None:
    rpc_url = str(chain.client.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    settings = Settings(rpc_url=rpc_url, data_dir=tmp_path)
    # Given no manifest: the first run deploys
    assert "deployed to chain 31337" in deploy(settings, reuse=True)
    first = settings.manifest_file.read_text()
    # When it runs again, then it keeps that deployment (nothing sent, manifest untouched)
    blocks = chain.client.w3.eth.block_number
    assert "kept the deployment" in deploy(settings, reuse=True)
    assert settings.manifest_file.read_text() == first
    assert chain.client.w3.eth.block_number == blocks
    # And a manifest naming another chain is not kept
    other = json.loads(first) | {"chain_id": 5}
    settings.manifest_file.write_text(json.dumps(other))
    assert "deployed to chain 31337" in deploy(settings, reuse=True)
    assert Deployment.load(settings.manifest_file).chain_id == 31337


def test_a_bridged_pair_is_reused_whole_or_not_at_all(chain: Platform, tmp_path: Path) -> None:
    """With a remote chain configured, `--reuse` keeps both manifests when both sides'
    contracts are on their chains, and deploys both again when one side is missing."""
    with start_anvil(chain_id=31338) as remote:
        rpc_url = str(chain.client.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
        endpoint = ChainEndpoint(rpc_url=remote.url, manifest_path=tmp_path / "remote.json")
        settings = Settings(rpc_url=rpc_url, data_dir=tmp_path, remote_chains=[endpoint])

        def bridged() -> tuple[str, BridgedPair]:
            out = io.StringIO()
            console = Console(file=out, width=200)
            pair = run_deploy_bridged(
                settings, faucet=True, governance=False, console=console, reuse=True
            )
            return out.getvalue(), pair

        said, first = bridged()
        assert "bridged" in said and first.remote.bridge is not None
        said, again = bridged()
        assert "kept the deployments" in said and again == first
        # A lost remote manifest: the pair is deployed again, both sides linked anew
        endpoint.manifest_path.unlink()
        said, third = bridged()
        assert "bridged" in said
        assert third.home.address("BridgeVault") != first.home.address("BridgeVault")
