"""The deployment manifest: which contracts live where on one chain.

Written by ``datacoin deploy``; read by every other component. It is the only place that
knows addresses and the block the indexer starts from.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field

from common.errors import ConfigurationError
from contracts.artifacts import abi_digest, load_artifact


class DeployedContract(BaseModel):
    """One deployed contract."""

    address: str = Field(description="EIP-55 address.")
    abi_digest: str = Field(description="sha256 of the ABI it was deployed with.")
    tx_hash: str
    block_number: int


class Deployment(BaseModel):
    """All platform contracts on one chain."""

    chain_id: int
    start_block: int = Field(description="First block that can hold platform events.")
    deployer: str
    deployed_at: datetime
    compiler: str
    contracts: dict[str, DeployedContract]

    def address(self, name: str) -> str:
        """Address of contract `name`; ConfigurationError if it was not deployed."""
        try:
            return self.contracts[name].address
        except KeyError:
            raise ConfigurationError(f"contract {name!r} is not in the manifest") from None

    def stale_abis(self) -> list[str]:
        """Contracts whose committed ABI differs from the one they were deployed with."""
        return [
            name
            for name, deployed in self.contracts.items()
            if abi_digest(load_artifact(name)["abi"]) != deployed.abi_digest
        ]

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
