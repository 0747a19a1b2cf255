"""GET /deployment on a real deployment: the dApp's runtime configuration carries the
manifest's chain and addresses, the committed ABIs, and the public settings."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from contracts.artifacts import load_artifact
from tests.api.conftest import World


def test_deployment_names_the_chain_contracts_and_abis(client: TestClient, world: World) -> None:
    reply = client.get("/deployment")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert set(body) == {
        "chain_id",
        "name",
        "home",
        "rpc_url",
        "contracts",
        "confirmations",
        "walletconnect_project_id",
    }
    deployment = world.platform.deployment
    assert body["chain_id"] == deployment.chain_id == 31337
    assert body["home"] is True and body["name"] is None
    assert body["confirmations"] == world.settings.confirmations
    assert body["rpc_url"] is None and body["walletconnect_project_id"] is None
    assert set(body["contracts"]) == set(deployment.contracts)
    assert {"DataCoin", "Marketplace", "Faucet"} <= set(body["contracts"])
    for name, contract in body["contracts"].items():
        assert contract["address"] == deployment.address(name)
        assert contract["abi"] == load_artifact(name)["abi"]
    functions = {f["name"] for f in body["contracts"]["Marketplace"]["abi"] if "name" in f}
    assert {"purchaseWithPermit", "PriceAboveMax", "rate"} <= functions


def test_public_rpc_and_walletconnect_come_from_settings(world: World) -> None:
    settings = world.settings.model_copy(
        update={
            "public_rpc_url": "https://rpc.example",
            "walletconnect_project_id": "wc-123",
            "confirmations": 3,
        }
    )
    with TestClient(create_app(settings, dapp_dir=None)) as c:
        body = c.get("/deployment").json()
    assert body["rpc_url"] == "https://rpc.example"
    assert body["walletconnect_project_id"] == "wc-123"
    assert body["confirmations"] == 3


def test_no_manifest_is_a_503_problem(world: World) -> None:
    settings = world.settings.model_copy(update={"manifest_path": world.settings.data_dir / "none"})
    with TestClient(create_app(settings, dapp_dir=None)) as c:
        reply = c.get("/deployment")
    assert reply.status_code == 503
    assert reply.json()["code"] == "deployment.missing"


def test_the_route_is_in_the_openapi_document(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/deployment"]["get"]
    assert operation["operationId"] == "deployment_get"
