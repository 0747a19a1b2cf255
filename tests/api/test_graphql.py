"""/graphql answers as REST does on the same database, after a real flow on anvil: the
same datasets page (filter, sort, cursor), dataset, purchases, training job and stats."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.schemas import Dataset, Purchase, Stats, TrainingJob
from tests.api.conftest import World
from tests.indexer.activity import mine
from workers.training.price import JOB_PRICE

BUYER = 4  # bought dataset 1 in the world fixture


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def fields(model: type[BaseModel]) -> str:
    """Every field of a REST model, as a GraphQL selection."""
    return " ".join(camel(name) for name in model.model_fields)


def graphql(client: TestClient, query: str, **variables: Any) -> dict[str, Any]:
    reply = client.post("/graphql", json={"query": query, "variables": variables})
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def same_values(value: Any) -> Any:
    """A REST or GraphQL value in one spelling: snake_case keys, numbers that GraphQL
    sends as BigInt strings as strings, datetimes parsed."""
    if isinstance(value, dict):
        return {re.sub("([A-Z])", r"_\1", k).lower(): same_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [same_values(v) for v in value]
    if isinstance(value, str) and re.match(r"\d{4}-\d\d-\d\dT", value):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


@pytest.fixture(scope="module")
def job_id(world: World) -> int:
    """The buyer of dataset 1 pays for a training job; indexed and final."""
    platform = world.platform
    training, coin = platform.client.contract("TrainingLog"), platform.client.contract("DataCoin")
    buyer = platform.account(BUYER)
    buyer.send(coin.functions.approve(training.address, JOB_PRICE))
    buyer.send(training.functions.requestTraining(1, "bafy-spec-graphql", JOB_PRICE))
    mine(platform.client.w3, 3)
    world.sync()
    return int(training.functions.jobCount().call())


def test_a_datasets_page_is_the_rest_page(client: TestClient) -> None:
    rest = client.get("/datasets", params={"category": "tabular", "sort": "price", "limit": 2})
    query = f"""query($after: String) {{
      datasets(category: "tabular", sort: price, first: 2, after: $after) {{
        edges {{ cursor node {{ {fields(Dataset)} }} }}
        pageInfo {{ hasNextPage endCursor }}
      }}
    }}"""
    page = graphql(client, query)["datasets"]
    expected = rest.json()
    assert [same_values(e["node"]) for e in page["edges"]] == same_values(
        [{**d, "access_duration": str(d["access_duration"])} for d in expected["items"]]
    )
    assert page["pageInfo"] == {"hasNextPage": True, "endCursor": expected["next_cursor"]}
    # ... and `after: endCursor` is REST's `cursor=next_cursor`
    after = graphql(client, query, after=page["pageInfo"]["endCursor"])["datasets"]
    rest_after = client.get(
        "/datasets",
        params={
            "category": "tabular",
            "sort": "price",
            "limit": 2,
            "cursor": expected["next_cursor"],
        },
    ).json()
    assert [e["node"]["datasetId"] for e in after["edges"]] == [
        d["dataset_id"] for d in rest_after["items"]
    ]
    assert after["pageInfo"]["hasNextPage"] is (rest_after["next_cursor"] is not None)


def test_one_dataset_is_the_rest_dataset(client: TestClient) -> None:
    rest = client.get("/datasets/1").json()
    query = f'{{ dataset(id: "1") {{ {fields(Dataset)} columnSchema }} }}'
    got = graphql(client, query)["dataset"]
    assert same_values(got) == same_values(
        {**rest, "access_duration": str(rest["access_duration"])}
    )
    assert graphql(client, '{ dataset(id: "999") { datasetId } }') == {"dataset": None}


def test_an_accounts_purchases_and_counts_are_the_rest_ones(
    client: TestClient, world: World
) -> None:
    address = world.platform.account(BUYER).address
    rest = client.get(f"/accounts/{address}/purchases", params={"limit": 2}).json()
    account = client.get(f"/accounts/{address}").json()
    query = f"""{{ account(address: "{address.lower()}") {{
      address datasetsListed purchaseCount stakes {{ staked }}
      purchases(first: 2) {{ edges {{ node {{ {fields(Purchase)} }} }} pageInfo {{ endCursor }} }}
    }} }}"""
    got = graphql(client, query)["account"]
    assert got["address"] == address  # EIP-55, whatever the client typed
    assert [same_values(e["node"]) for e in got["purchases"]["edges"]] == same_values(rest["items"])
    assert got["purchases"]["pageInfo"]["endCursor"] == rest["next_cursor"]
    assert (got["datasetsListed"], got["purchaseCount"]) == (
        account["datasets_listed"],
        account["purchases"],
    )
    assert [s["staked"] for s in got["stakes"]] == [s["staked"] for s in account["stakes"]]


def test_a_training_job_and_the_stats_are_the_rest_ones(client: TestClient, job_id: int) -> None:
    rest = client.get(f"/training-jobs/{job_id}").json()
    got = graphql(client, f'{{ trainingJob(id: "{job_id}") {{ {fields(TrainingJob)} }} }}')
    expected = {k: v for k, v in rest.items() if k not in ("spec", "model_card")}
    assert same_values(got["trainingJob"]) == same_values(expected)
    assert got["trainingJob"]["payment"] == str(JOB_PRICE)  # a uint256: a decimal string
    jobs = graphql(client, "{ trainingJobs(first: 1) { edges { node { jobId } } } }")
    assert jobs["trainingJobs"]["edges"][0]["node"]["jobId"] == str(job_id)
    stats = graphql(client, f"{{ stats {{ {fields(Stats)} }} }}")["stats"]
    assert same_values(stats) == same_values(client.get("/stats").json())


def test_a_refusal_keeps_its_reason_and_code(client: TestClient) -> None:
    reply = client.post("/graphql", json={"query": '{ account(address: "0x12") { address } }'})
    error = reply.json()["errors"][0]
    assert "not an address" in error["message"] and error["extensions"]["code"] == "address.invalid"
    reply = client.post(
        "/graphql", json={"query": '{ datasets(after: "junk") { pageInfo { endCursor } } }'}
    )
    assert "invalid cursor" in reply.json()["errors"][0]["message"]
