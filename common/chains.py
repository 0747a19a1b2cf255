"""Every chain the platform runs on, with its deployment manifest.

One database holds the events of every chain (each keyed by its chain id); each chain has
its own node, manifest, indexer and worker. `Deployments` is what readers of several chains
(the API, the bridge relayer) use to find a chain's contracts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.errors import ConfigurationError
from common.manifest import Deployment
from common.settings import ChainEndpoint, Settings


@dataclass(frozen=True, kw_only=True)
class DeployedChain:
    """A chain with its manifest loaded."""

    endpoint: ChainEndpoint
    deployment: Deployment
    home: bool

    @property
    def chain_id(self) -> int:
        """The chain's id, from its manifest."""
        return self.deployment.chain_id


class Deployments:
    """The deployed chains of `settings`, home first. A manifest is read again when its
    file changes (a redeploy shows without a restart); a chain whose manifest does not
    exist yet is left out until it does."""

    def __init__(self, settings: Settings) -> None:
        self.endpoints = settings.chain_endpoints()
        self._loaded: dict[Path, tuple[int, Deployment]] = {}

    def _load(self, path: Path) -> Deployment | None:
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        cached = self._loaded.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        deployment = Deployment.load(path)
        self._loaded[path] = (mtime, deployment)
        return deployment

    def chains(self) -> list[DeployedChain]:
        """Every chain whose manifest exists, the home chain first."""
        found = []
        for index, endpoint in enumerate(self.endpoints):
            deployment = self._load(endpoint.manifest_path)
            if deployment is not None:
                found.append(
                    DeployedChain(endpoint=endpoint, deployment=deployment, home=index == 0)
                )
        return found

    def chain_ids(self) -> list[int]:
        """The ids of the deployed chains, home first."""
        return [chain.chain_id for chain in self.chains()]

    def find(self, chain_id: int | None = None) -> DeployedChain | None:
        """Chain `chain_id` (the home chain when None), or None when it is not deployed."""
        chains = self.chains()
        if chain_id is None:
            return chains[0] if chains and chains[0].home else None
        return next((chain for chain in chains if chain.chain_id == chain_id), None)

    def get(self, chain_id: int | None = None) -> DeployedChain:
        """Chain `chain_id` (the home chain when None); ConfigurationError when unknown."""
        chain = self.find(chain_id)
        if chain is None:
            which = "the home chain" if chain_id is None else f"chain {chain_id}"
            raise ConfigurationError(f"no deployment manifest for {which}")
        return chain

    def address(self, name: str, chain_id: int | None = None) -> str | None:
        """Contract `name` on chain `chain_id` (home when None); None when not deployed."""
        chain = self.find(chain_id)
        if chain is None or name not in chain.deployment.contracts:
            return None
        return chain.deployment.address(name)
