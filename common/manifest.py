"""The deployment manifest: which contracts live where on one chain.

Written by ``datacoin deploy``; read by every other component. It is the only place that
knows addresses and the block the indexer starts from.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from common.errors import ConfigurationError
from contracts.artifacts import abi_digest, load_artifact


class DeployedContract(BaseModel):
    """One deployed contract."""

    address: str = Field(description="EIP-55 address.")
    abi_digest: str = Field(description="sha256 of the ABI it was deployed with.")
    tx_hash: str
    block_number: int
    artifact: str | None = Field(
        default=None,
        description="The artifact it was deployed from, when it differs from its manifest "
        "name (the remote chain's DataCoin is a BridgedDataCoin).",
    )


#: A bridge side's role: the home chain locks DATACOIN, a remote chain mints it bridged.
BridgeRole = Literal["home", "remote"]
#: The bridge contract of each role, by manifest name.
BRIDGE_CONTRACT_OF: dict[BridgeRole, str] = {"home": "BridgeVault", "remote": "BridgeGateway"}


class BridgeInfo(BaseModel):
    """This chain's side of the DATACOIN bridge."""

    role: BridgeRole
    peer_chain_id: int = Field(description="The chain on the bridge's other side.")

    @property
    def contract(self) -> str:
        """Manifest name of this side's bridge contract (BridgeVault or BridgeGateway)."""
        return BRIDGE_CONTRACT_OF[self.role]


class Deployment(BaseModel):
    """All platform contracts on one chain."""

    chain_id: int
    start_block: int = Field(description="First block that can hold platform events.")
    deployer: str
    deployed_at: datetime
    compiler: str
    contracts: dict[str, DeployedContract]
    bridge: BridgeInfo | None = Field(default=None, description="None: no bridge here.")

    def address(self, name: str) -> str:
        """Address of contract `name`; ConfigurationError if it was not deployed."""
        return self._entry(name).address

    def artifact(self, name: str) -> str:
        """The artifact (ABI) of contract `name`: its manifest name unless it says otherwise."""
        return self._entry(name).artifact or name

    def abi(self, name: str) -> list[dict[str, Any]]:
        """The committed ABI of contract `name` (through its artifact)."""
        abi: list[dict[str, Any]] = load_artifact(self.artifact(name))["abi"]
        return abi

    def addresses_by_artifact(self) -> dict[str, str]:
        """Artifact name -> address of every contract: what ``EventDecoder`` decodes with
        (it loads each ABI by that name). ConfigurationError if two entries share one."""
        found: dict[str, str] = {}
        for name, deployed in self.contracts.items():
            artifact = deployed.artifact or name
            if artifact in found:
                raise ConfigurationError(f"two manifest entries are {artifact!r} contracts")
            found[artifact] = deployed.address
        return found

    def stale_abis(self) -> list[str]:
        """Contracts whose committed ABI differs from the one they were deployed with."""
        return [
            name
            for name, deployed in self.contracts.items()
            if abi_digest(self.abi(name)) != deployed.abi_digest
        ]

    def _entry(self, name: str) -> DeployedContract:
        try:
            return self.contracts[name]
        except KeyError:
            raise ConfigurationError(f"contract {name!r} is not in the manifest") from None

    def save(self, path: Path) -> None:
        """Write the manifest atomically (a reader never sees half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.model_dump_json(indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Deployment:
        """Read a manifest; ConfigurationError with a hint when it is missing."""
        if not path.exists():
            raise ConfigurationError(
                f"no deployment manifest at {path}: run `datacoin deploy` first"
            )
        return cls.model_validate_json(path.read_text())
