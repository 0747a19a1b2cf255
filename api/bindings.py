"""Contract bindings for encoding calldata: a platform contract's ABI bound to its address
on one of the deployed chains."""

from __future__ import annotations

from functools import cache

from fastapi import Request
from web3 import Web3
from web3.contract import Contract

from api.problems import Problem
from common.chains import Deployments
from contracts.artifacts import load_artifact


def deployments(request: Request) -> Deployments:
    """The app's view of every deployed chain (manifests re-read when they change)."""
    found: Deployments = request.app.state.deployments
    return found


@cache
def _bound(artifact: str, address: str | None) -> Contract:
    abi = load_artifact(artifact)["abi"]
    if address is None:
        return Web3().eth.contract(abi=abi)  # type: ignore[return-value]
    return Web3().eth.contract(address=Web3.to_checksum_address(address), abi=abi)


def binding(found: Deployments, name: str, chain_id: int | None = None) -> Contract:
    """`name`'s ABI bound to its address on chain `chain_id` (the home chain when None).
    Unbound (no address) before the first deployment; 404 for a chain that is not one of
    the platform's."""
    chain = found.find(chain_id)
    if chain is None:
        known = found.chain_ids()
        if chain_id is not None and known:
            raise Problem(
                404, "chain.unknown", f"the platform is not on chain {chain_id}; it is on {known}"
            )
        return _bound(name, None)
    entry = chain.deployment.contracts.get(name)
    if entry is None:
        return _bound(name, None)
    return _bound(entry.artifact or name, entry.address)
