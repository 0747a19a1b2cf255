"""Load the committed contract artifacts (ABI, bytecode, compiler provenance)."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import orjson

ARTIFACTS_DIR = Path(__file__).parent / "artifacts"

#: The platform's deployable contracts, in deployment order.
#: Profiles comes after the original five, and the governance pair (deployed only when
#: governance is on) after it, so adding them moved no other contract's address on a
#: fresh chain.
PLATFORM_CONTRACTS = (
    "DataCoin",
    "Marketplace",
    "Staking",
    "TrainingLog",
    "Faucet",
    "Profiles",
    "Timelock",
    "DatacoinGovernor",
)
#: The bridge's contracts, deployed only with a bridge configuration: the home chain adds
#: BridgeVault; the remote chain deploys BridgedDataCoin (under the manifest key
#: "DataCoin", instead of DataCoin and without the Faucet) and BridgeGateway.
BRIDGE_CONTRACTS = ("BridgeVault", "BridgedDataCoin", "BridgeGateway")
#: Every contract whose events the platform records (the typed events cover all of them).
EVENT_CONTRACTS = PLATFORM_CONTRACTS + BRIDGE_CONTRACTS


class ArtifactNotFoundError(FileNotFoundError):
    """No committed artifact for the requested contract (run `make contracts`)."""


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """Return the artifact of contract `name`: abi, bytecode, deployedBytecode, compiler."""
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.exists():
        raise ArtifactNotFoundError(f"no artifact for contract {name!r} at {path}")
    artifact: dict[str, Any] = orjson.loads(path.read_bytes())
    return artifact


def abi_digest(abi: list[dict[str, Any]]) -> str:
    """sha256 of an ABI's canonical JSON (sorted keys), as hex: identifies an interface."""
    return hashlib.sha256(orjson.dumps(abi, option=orjson.OPT_SORT_KEYS)).hexdigest()
