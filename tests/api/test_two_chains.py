"""The API of a platform on two chains: every deployment listed (home first), one chain's
by id, and calldata addressed to the chosen chain's contracts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from common.anvil import start_anvil
from common.settings import ChainEndpoint
from tests.api.conftest import World
from tests.api.test_uploads import FORM, iris_csv, sign_in
from tests.conftest import Platform, deploy_fresh, service_missing

REMOTE_CHAIN_ID = 31338


@pytest.fixture(scope="module")
def remote(world: World) -> Iterator[Platform]:
    """The platform on a second anvil (chain 31338), its manifest in the data dir."""
    try:
        node = start_anvil(extra_args=["--chain-id", str(REMOTE_CHAIN_ID)])
    except Exception as exc:  # any failure to start means "missing service"
        service_missing("anvil", exc)
        raise
    platform = deploy_fresh(node)
    platform.deployment.save(world.settings.data_dir / "deployment-remote.json")
    yield platform
    node.stop()


@pytest.fixture(scope="module")
def two_chains(world: World, remote: Platform) -> Iterator[TestClient]:
    endpoint = ChainEndpoint(
        rpc_url="http://unused.invalid",
        manifest_path=world.settings.data_dir / "deployment-remote.json",
        public_rpc_url="https://rpc.remote.example",
        name="Second chain",
    )
    settings = world.settings.model_copy(
        update={
            "remote_chains": [endpoint],
            "chain_name": "Home",
            "siwe_chain_ids": [31337, REMOTE_CHAIN_ID],
        }
    )
    with TestClient(create_app(settings, dapp_dir=None)) as client:
        yield client


def test_every_chain_is_listed_home_first(
    two_chains: TestClient, world: World, remote: Platform
) -> None:
    reply = two_chains.get("/deployments")
    assert reply.status_code == 200, reply.text
    items = reply.json()["items"]
    assert [(i["chain_id"], i["home"], i["name"]) for i in items] == [
        (31337, True, "Home"),
        (REMOTE_CHAIN_ID, False, "Second chain"),
    ]
    assert items[1]["rpc_url"] == "https://rpc.remote.example"
    assert items[1]["contracts"]["Marketplace"]["address"] == remote.deployment.address(
        "Marketplace"
    )
    assert items[0]["contracts"]["Marketplace"]["address"] == world.platform.deployment.address(
        "Marketplace"
    )


def test_one_chain_by_id_and_an_unknown_chain(two_chains: TestClient, remote: Platform) -> None:
    body = two_chains.get("/deployment", params={"chain_id": REMOTE_CHAIN_ID}).json()
    assert body["chain_id"] == REMOTE_CHAIN_ID and body["home"] is False
    assert two_chains.get("/deployment").json()["chain_id"] == 31337
    reply = two_chains.get("/deployment", params={"chain_id": 5})
    assert reply.status_code == 404
    assert reply.json()["code"] == "deployment.unknown_chain"
    assert "31338" in reply.json()["detail"]


def test_listing_calldata_goes_to_the_chosen_chain(
    two_chains: TestClient, world: World, remote: Platform
) -> None:
    provider = sign_in(two_chains, world, 1)
    files = {"file": ("iris.csv", iris_csv(20))}
    for chain_id, platform in ((None, world.platform), (REMOTE_CHAIN_ID, remote)):
        params = {} if chain_id is None else {"chain_id": chain_id}
        reply = two_chains.post("/uploads", data=FORM, files=files, headers=provider, params=params)
        assert reply.status_code == 201, reply.text
        assert reply.json()["listing"]["to"] == platform.deployment.address("Marketplace")
    reply = two_chains.post(
        "/uploads", data=FORM, files=files, headers=provider, params={"chain_id": 5}
    )
    assert reply.status_code == 404 and reply.json()["code"] == "chain.unknown"


def test_profile_calldata_goes_to_the_chosen_chain(
    two_chains: TestClient, world: World, remote: Platform
) -> None:
    account = sign_in(two_chains, world, 2)
    reply = two_chains.post(
        "/profiles",
        json={"display_name": "Ada", "bio": "", "links": []},
        headers=account,
        params={"chain_id": REMOTE_CHAIN_ID},
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["call"]["to"] == remote.deployment.address("Profiles")
