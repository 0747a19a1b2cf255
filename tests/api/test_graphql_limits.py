"""Abusive GraphQL documents are refused with a GraphQL error, before they run."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from graphql import get_introspection_query

from api.graphql.connections import MAX_FIRST
from api.graphql.limits import MAX_ALIASES


def refused(client: TestClient, query: str) -> str:
    """The first error's message; the request answered 200 or 400, never 5xx."""
    reply = client.post("/graphql", json={"query": query})
    assert reply.status_code in (200, 400), reply.text
    body = reply.json()
    assert body.get("data") is None, body
    message: str = body["errors"][0]["message"]
    return message


def test_introspection_is_allowed(client: TestClient) -> None:
    reply = client.post("/graphql", json={"query": get_introspection_query()})
    assert reply.status_code == 200 and "errors" not in reply.json()
    types = {t["name"] for t in reply.json()["data"]["__schema"]["types"]}
    assert {"Dataset", "DatasetConnection", "BigInt", "ChainUpdate"} <= types


@pytest.mark.parametrize("first", [0, MAX_FIRST + 1, 10**9])
def test_a_page_past_the_bound_is_refused(client: TestClient, first: int) -> None:
    query = f"{{ datasets(first: {first}) {{ edges {{ cursor }} }} }}"
    assert "first must be between 1 and 100" in refused(client, query)


def test_many_aliases_are_refused(client: TestClient) -> None:
    def aliased(count: int) -> str:
        return "{ " + " ".join(f"a{i}: stats {{ chainId }}" for i in range(count)) + " }"

    assert "aliases" in refused(client, aliased(MAX_ALIASES + 1))
    assert "token" in refused(client, aliased(1000)).lower()  # too long even to parse
    # ... while the bound itself passes
    within = client.post("/graphql", json={"query": aliased(MAX_ALIASES)}).json()
    assert within.get("errors") is None and len(within["data"]) == MAX_ALIASES


def test_deep_nesting_is_refused(client: TestClient) -> None:
    deep = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    assert "introspection" in refused(client, deep).lower()
    nested = "{ stats " + "{ chainId " * 20 + "}" * 21
    refused(client, nested)


def test_a_huge_document_is_refused(client: TestClient) -> None:
    fields = " ".join(["chainId"] * 5000)
    assert "token" in refused(client, f"{{ stats {{ {fields} }} }}").lower()


def test_a_bigint_must_be_a_uint256(client: TestClient) -> None:
    for bad in ('"-1"', '"1e3"', f'"{2**256}"', '"abc"'):
        refused(client, f"{{ dataset(id: {bad}) {{ datasetId }} }}")
