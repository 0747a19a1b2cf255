"""GET /deployment: what the dApp needs to talk to the chain, read at run time (never baked
into the web build): chain id, contract addresses and ABIs, confirmations, and optionally
a public RPC URL and a WalletConnect project id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.deps import SettingsDep
from api.problems import Problem, problem_responses
from common.manifest import Deployment
from common.settings import Settings
from contracts.artifacts import load_artifact

router = APIRouter(tags=["deployment"])


class ContractInfo(BaseModel):
    """One deployed contract: where it lives and how to call it."""

    address: str = Field(description="EIP-55 address.")
    abi: list[dict[str, Any]] = Field(description="The contract's ABI (JSON).")


class DeploymentInfo(BaseModel):
    """The chain and contracts the dApp talks to."""

    chain_id: int
    rpc_url: str | None = Field(description="A public JSON-RPC endpoint, or null.")
    contracts: dict[str, ContractInfo] = Field(description="By contract name (DataCoin, ...).")
    confirmations: int = Field(description="Blocks after which a transaction counts as final.")
    walletconnect_project_id: str | None = Field(description="WalletConnect project id, or null.")


def deployment_info(settings: Settings) -> DeploymentInfo:
    """The manifest's contracts with their committed ABIs, and the public settings."""
    deployment = Deployment.load(settings.manifest_file)
    return DeploymentInfo(
        chain_id=deployment.chain_id,
        rpc_url=settings.public_rpc_url,
        contracts={
            name: ContractInfo(address=deployed.address, abi=load_artifact(name)["abi"])
            for name, deployed in sorted(deployment.contracts.items())
        },
        confirmations=settings.confirmations,
        walletconnect_project_id=settings.walletconnect_project_id,
    )


def _rendered(request: Request, settings: Settings) -> bytes:
    """The body, rendered once per manifest version (its path and modification time): a
    redeploy shows without a restart, and a request costs no ABI serialisation."""
    path: Path = settings.manifest_file
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except FileNotFoundError:
        raise Problem(
            503,
            "deployment.missing",
            f"no deployment manifest at {path}: run `datacoin deploy` first",
        ) from None
    cached: tuple[tuple[str, int], bytes] | None = getattr(request.app.state, "deployment", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    body = orjson.dumps(deployment_info(settings).model_dump(mode="json"))
    request.app.state.deployment = (key, body)
    return body


@router.get(
    "/deployment",
    name="get",
    response_model=DeploymentInfo,
    responses=problem_responses({503: "no deployment manifest yet"}),
)
async def get_deployment(request: Request, settings: SettingsDep) -> Response:
    """Chain id, contract addresses and ABIs, confirmations, public RPC URL and
    WalletConnect project id: the dApp's runtime configuration (no sign-in)."""
    return Response(
        _rendered(request, settings),
        media_type="application/json",
        headers={"Cache-Control": "no-cache"},
    )
