"""Datasets a buyer can judge before paying: an upload's column schema (types, nulls,
statistics) in its public metadata document, and the preview rows its provider publishes
unencrypted beside the (encrypted) content."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.problems import install
from storage.blockstore import EmbeddedBlockStore
from tests.api.conftest import World
from tests.api.test_uploads import FORM, sign_in
from workers.resolver import Resolver

CSV = b"id,price,city,rating\n1,10,Oslo,4.5\n2,,Paris,\n3,30,Oslo,3.5\n4,40,,2.0\n5,50,Oslo,\n"
FIRST_ROWS = [[1, 10, "Oslo", 4.5], [2, None, "Paris", None], [3, 30, "Oslo", 3.5]]
SCHEMA: list[dict[str, Any]] = [
    {
        "name": "id",
        "type": "int64",
        "nulls": 0,
        "distinct": 5,
        "distinct_exact": True,
        "min": 1,
        "max": 5,
        "mean": 3.0,
        "histogram": {
            "edges": [1.0, 1.4, 1.8, 2.2, 2.6, 3.0, 3.4, 3.8, 4.2, 4.6, 5.0],
            "counts": [1, 0, 1, 0, 0, 1, 0, 1, 0, 1],
        },
        "top": None,
        "top_exact": None,
        "lengths": None,
    },
    {
        "name": "price",
        "type": "int64",
        "nulls": 1,
        "distinct": 4,
        "distinct_exact": True,
        "min": 10,
        "max": 50,
        "mean": 32.5,
        "histogram": {
            "edges": [10.0, 14.0, 18.0, 22.0, 26.0, 30.0, 34.0, 38.0, 42.0, 46.0, 50.0],
            "counts": [1, 0, 0, 0, 0, 1, 0, 1, 0, 1],
        },
        "top": None,
        "top_exact": None,
        "lengths": None,
    },
    {
        "name": "city",
        "type": "string",
        "nulls": 0,  # an empty CSV field is an empty string, not a null, in a string column
        "distinct": 3,
        "distinct_exact": True,
        "min": None,
        "max": None,
        "mean": None,
        "histogram": None,
        "top": [
            {"value": "Oslo", "count": 3, "truncated": False},
            {"value": "", "count": 1, "truncated": False},
            {"value": "Paris", "count": 1, "truncated": False},
        ],
        "top_exact": True,
        "lengths": {  # characters: Oslo x3, "", Paris
            "min": 0,
            "max": 5,
            "mean": 17 / 5,
            "histogram": {
                "edges": [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0],
                "counts": [1, 0, 0, 0, 0, 0, 0, 0, 3, 1],
            },
        },
    },
    {
        "name": "rating",
        "type": "double",
        "nulls": 2,
        "distinct": 3,
        "distinct_exact": True,
        "min": 2.0,
        "max": 4.5,
        "mean": 10.0 / 3,
        "histogram": {
            "edges": [2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5, 3.75, 4.0, 4.25, 4.5],
            "counts": [1, 0, 0, 0, 0, 0, 1, 0, 0, 1],
        },
        "top": None,
        "top_exact": None,
        "lengths": None,
    },
]


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    """The app with problem details installed (the error shape's `code` is asserted)."""
    app = create_app(world.settings)
    install(app)
    with TestClient(app) as c:
        yield c


def list_on_chain(world: World, upload: dict[str, Any], provider: int) -> int:
    """Send the upload's listing calldata from the provider's wallet; the new dataset's id."""
    w3 = world.platform.client.w3
    account = world.platform.account(provider).account
    tx = account.sign_transaction(
        {
            "to": upload["listing"]["to"],
            "data": upload["listing"]["data"],
            "gas": 400_000,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 10**9,
            "chainId": 31337,
            "nonce": w3.eth.get_transaction_count(account.address),
        }
    )
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(tx.raw_transaction))
    market = world.platform.client.contract("Marketplace")
    return int(market.functions.datasetCount().call())


def upload(client: TestClient, world: World, form: dict[str, str]) -> dict[str, Any]:
    reply = client.post(
        "/uploads",
        data=form,
        files={"file": ("cities.csv", CSV)},
        headers=sign_in(client, world, 1),
    )
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    return body


def test_paid_upload_has_a_schema_and_public_preview(client: TestClient, world: World) -> None:
    # Given a paid upload publishing three preview rows
    up = upload(client, world, {**FORM, "preview_rows": "3"})
    assert up["encrypted"] is True and up["rows"] == 5
    assert up["columns"] == SCHEMA
    dataset_id = list_on_chain(world, up, provider=1)
    store = EmbeddedBlockStore(world.settings.blocks_dir)
    world.sync()
    Resolver(world.db_url, store).resolve_once()
    # When anyone (not signed in) asks for the dataset and its preview
    detail = client.get(f"/datasets/{dataset_id}", params={"chain_id": 31337})
    preview = client.get(f"/datasets/{dataset_id}/preview", params={"chain_id": 31337})
    # Then the column schema and the file's first rows are public
    assert detail.status_code == 200 and detail.json()["column_schema"] == SCHEMA
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["columns"] == ["id", "price", "city", "rating"]
    assert body["rows"] == FIRST_ROWS and body["truncated"] is False
    # while the dataset itself stays encrypted and for buyers only
    assert b"Paris" not in b"".join(store.get(up["content_cid"]))
    assert client.get(f"/datasets/{dataset_id}/download").status_code == 401


def test_no_preview_is_404_with_a_code(client: TestClient, world: World) -> None:
    up = upload(client, world, {**FORM, "price": "0"})  # free: still no preview by default
    dataset_id = list_on_chain(world, up, provider=1)
    world.sync()
    reply = client.get(f"/datasets/{dataset_id}/preview")
    assert reply.status_code == 404 and reply.json()["code"] == "preview.none", reply.text
    unknown = client.get("/datasets/999999/preview")
    assert unknown.status_code == 404 and unknown.json()["code"] == "dataset.not_found"
