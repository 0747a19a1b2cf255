"""Read routes against read models built from a real chain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from projections.statehash import state_hash
from tests.api.conftest import TITLES, World
from tests.indexer.activity import WAD


def all_pages(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = client.get(
            "/datasets", params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_datasets_carry_chain_metadata_and_counters(client: TestClient, world: World) -> None:
    items = all_pages(client, limit=100)
    assert len(items) == len(TITLES)
    by_id = {d["dataset_id"]: d for d in items}
    iris = by_id["1"]
    assert iris["title"] == "Iris flowers" and iris["format"] == "csv" and iris["rows"] == 100
    assert iris["purchases"] == 2 and iris["rating"] == 4.0 and iris["rating_count"] == 2
    assert iris["provider"] == world.platform.account(1).address
    assert iris["price"] == str(WAD) and iris["chain_id"] == 31337 and iris["finalized"] is True
    assert by_id["2"]["price"] == str(42 * WAD)  # the price change
    assert by_id["4"]["purchases"] == 0 and by_id["4"]["rating"] is None


def test_every_sort_order_is_total_and_pages_cover_everything(client: TestClient) -> None:
    every = all_pages(client, limit=100)
    orders: list[tuple[str, Callable[[dict[str, Any]], tuple[int, int]], bool]] = [
        ("newest", lambda d: (int(d["dataset_id"]), 0), True),  # ids grow with listing order
        ("price", lambda d: (int(d["price"]), int(d["dataset_id"])), False),
        ("purchases", lambda d: (d["purchases"], int(d["dataset_id"])), True),
    ]
    for sort, key, reverse in orders:
        # Pages of two: same items, no duplicates, in the documented order
        paged = all_pages(client, sort=sort, limit=2)
        assert [d["dataset_id"] for d in paged] == [
            d["dataset_id"] for d in sorted(every, key=key, reverse=reverse)
        ], sort
    # Prices above 2**63 wei page correctly too (uint256 compared as numbers)
    by_price = all_pages(client, sort="price", limit=1)
    assert [int(d["price"]) for d in by_price] == sorted(int(d["price"]) for d in every)
    assert max(int(d["price"]) for d in every) > 2**63
    rated = all_pages(client, sort="rating", limit=2)
    scores = [d["rating"] or 0 for d in rated]
    assert scores == sorted(scores, reverse=True)
    assert len({d["dataset_id"] for d in rated}) == len(TITLES)


def test_filters_and_full_text_search(client: TestClient, world: World) -> None:
    assert [d["title"] for d in all_pages(client, q="penguins")] == ["Penguins of Palmer station"]
    assert {d["title"] for d in all_pages(client, q="classic wine")} == {"Wine quality"}
    assert {d["category"] for d in all_pages(client, category="finance")} == {"finance"}
    provider = world.platform.account(2).address
    assert {d["provider"] for d in all_pages(client, provider=provider)} == {provider}
    cheap = all_pages(client, max_price=str(3 * WAD))
    assert cheap and all(int(d["price"]) <= 3 * WAD for d in cheap)
    assert all_pages(client, min_price=str(10**30)) == []


def test_bad_input_is_a_clear_4xx(client: TestClient) -> None:
    assert client.get("/datasets", params={"provider": "0x123"}).status_code == 422
    assert client.get("/datasets", params={"cursor": "garbage"}).status_code == 400
    assert client.get("/datasets", params={"limit": 1000}).status_code == 422
    assert client.get("/datasets", params={"min_price": "-1"}).status_code == 422
    assert client.get("/datasets/999").status_code == 404
    assert client.get("/datasets/abc").status_code == 422
    assert client.get("/accounts/not-an-address").status_code == 422
    assert client.get("/training-jobs/1").status_code == 404


def test_dataset_account_purchases_stakes_stats(client: TestClient, world: World) -> None:
    assert (
        client.get("/datasets/3", params={"chain_id": 31337}).json()["title"]
        == "Titanic passengers"
    )
    buyer = world.platform.account(4).address
    account = client.get(f"/accounts/{buyer}").json()
    assert account["purchases"] == 3 and account["datasets_listed"] == 0
    assert account["stakes"][0]["staked"] == str(500 * WAD)
    assert {a["event"] for a in account["recent_activity"]} >= {"Purchased", "Rated", "Staked"}
    first = client.get(f"/accounts/{buyer}/purchases", params={"limit": 2}).json()
    rest = client.get(
        f"/accounts/{buyer}/purchases", params={"cursor": first["next_cursor"]}
    ).json()
    assert sorted(p["dataset_id"] for p in first["items"] + rest["items"]) == ["1", "2", "6"]
    assert rest["next_cursor"] is None
    assert client.get(f"/stakes/{buyer}").json()[0]["staked"] == str(500 * WAD)
    (stats,) = client.get("/stats").json()
    assert stats["datasets_listed"] == 6 and stats["purchases"] == 5 and stats["ratings"] == 5
    assert stats["total_staked"] == str(500 * WAD)


def test_audit_routes(client: TestClient, world: World) -> None:
    page = client.get("/events", params={"limit": 5}).json()
    assert [e["position"] for e in page["items"]] == [1, 2, 3, 4, 5]
    nxt = client.get("/events", params={"cursor": page["next_cursor"], "limit": 1000}).json()
    assert nxt["items"][0]["position"] == 6 and nxt["next_cursor"] is None
    # `after` (a position) still works: an auditor tails the log from what it holds
    tail = client.get("/events", params={"after": 5, "limit": 1}).json()
    assert tail["items"] == nxt["items"][:1] and tail["next_cursor"]
    head = nxt["items"][-1]["position"]
    body = client.get("/state-hash").json()
    assert body["event_store_head"] == head and body["read_model_position"] == head
    assert body["state_hash"] == state_hash(world.db_url, "readmodels")


def test_health_metrics_and_docs(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["chains"][0]["chain_id"] == 31337
    metrics = client.get("/metrics").text
    assert "datacoin_api_requests_total" in metrics
    assert client.get("/docs").status_code == 200
    assert "/datasets" in client.get("/openapi.json").json()["paths"]
