"""GET /deployment: what the dApp needs to talk to the chain, read at run time (never baked
into the web build): chain id, contract addresses and ABIs, confirmations, and optionally
a public RPC URL and a WalletConnect project id."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import SettingsDep
from api.problems import Problem, problem_responses
from api.schemas import INVALID
from common.chains import DeployedChain, Deployments
from common.settings import Settings

router = APIRouter(tags=["deployment"])


class ContractInfo(BaseModel):
    """One deployed contract: where it lives and how to call it."""

    address: str = Field(description="EIP-55 address.")
    abi: list[dict[str, Any]] = Field(description="The contract's ABI (JSON).")


class DeploymentInfo(BaseModel):
    """One chain and the contracts the dApp talks to there."""

    chain_id: int
    name: str | None = Field(description="The chain's display name, or null.")
    home: bool = Field(description="The home chain (DATACOIN's own; others are bridged).")
    rpc_url: str | None = Field(description="A public JSON-RPC endpoint, or null.")
    contracts: dict[str, ContractInfo] = Field(description="By contract name (DataCoin, ...).")
    confirmations: int = Field(description="Blocks after which a transaction counts as final.")
    walletconnect_project_id: str | None = Field(description="WalletConnect project id, or null.")


class DeploymentList(BaseModel):
    """Every chain the platform runs on, the home chain first."""

    items: list[DeploymentInfo]


def chain_info(settings: Settings, chain: DeployedChain) -> DeploymentInfo:
    """A chain's contracts with their committed ABIs, and the public settings."""
    return DeploymentInfo(
        chain_id=chain.chain_id,
        name=chain.endpoint.name,
        home=chain.home,
        rpc_url=chain.endpoint.public_rpc_url,
        contracts={
            name: ContractInfo(address=deployed.address, abi=chain.deployment.abi(name))
            for name, deployed in sorted(chain.deployment.contracts.items())
        },
        confirmations=settings.confirmations,
        walletconnect_project_id=settings.walletconnect_project_id,
    )


def deployment_info(settings: Settings, chain_id: int | None = None) -> DeploymentInfo:
    """Chain `chain_id`'s deployment (the home chain's when None)."""
    return chain_info(settings, Deployments(settings).get(chain_id))


def _rendered(request: Request, settings: Settings, chain_id: int | None) -> bytes:
    """The body, rendered once per manifest version (their paths and modification times):
    a redeploy shows without a restart, and a request costs no ABI serialisation."""
    chains = request.app.state.deployments.chains()
    if chain_id is None:
        chosen = [chain for chain in chains if chain.home]
    else:
        chosen = [chain for chain in chains if chain.chain_id == chain_id]
    if not chosen:
        if chain_id is not None and chains:
            known = ", ".join(str(chain.chain_id) for chain in chains)
            raise Problem(404, "deployment.unknown_chain", f"no chain {chain_id}; known: {known}")
        path = settings.manifest_file
        raise Problem(
            503,
            "deployment.missing",
            f"no deployment manifest at {path}: run `datacoin deploy` first",
        )
    return _cached(request, settings, chosen[0])


def _cached(request: Request, settings: Settings, chain: DeployedChain) -> bytes:
    cache: dict[int, tuple[object, bytes]] = request.app.state.__dict__.setdefault(
        "deployment_bodies", {}
    )
    key = (chain.endpoint.manifest_path, chain.deployment.deployed_at, chain.home)
    hit = cache.get(chain.chain_id)
    if hit is not None and hit[0] == key:
        return hit[1]
    body = orjson.dumps(chain_info(settings, chain).model_dump(mode="json"))
    cache[chain.chain_id] = (key, body)
    return body


@router.get(
    "/deployment",
    name="get",
    response_model=DeploymentInfo,
    responses=INVALID
    | problem_responses({404: "no such chain", 503: "no deployment manifest yet"}),
)
async def get_deployment(
    request: Request,
    settings: SettingsDep,
    chain_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> Response:
    """Chain id, contract addresses and ABIs, confirmations, public RPC URL and
    WalletConnect project id of chain `chain_id` (the home chain when unset): the dApp's
    runtime configuration (no sign-in)."""
    return Response(
        _rendered(request, settings, chain_id),
        media_type="application/json",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/deployments", name="list", response_model=DeploymentList)
async def list_deployments(request: Request, settings: SettingsDep) -> Response:
    """Every chain the platform runs on (the home chain first) with its contracts: the
    dApp's chain picker. An empty list before the first `datacoin deploy`."""
    chains = request.app.state.deployments.chains()
    bodies = [_cached(request, settings, chain) for chain in chains]
    return Response(
        b'{"items":[' + b",".join(bodies) + b"]}",
        media_type="application/json",
        headers={"Cache-Control": "no-cache"},
    )
