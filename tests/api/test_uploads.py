"""Upload -> list on chain -> buy -> index -> project -> resolve -> buyer-only download,
and uploads that must be refused cleanly with nothing stored."""

from __future__ import annotations

import io
import random

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from api.routers.uploads import UPLOAD_CODES
from storage.blockstore import EmbeddedBlockStore
from tests.api.conftest import World
from tests.api.test_siwe import signed, siwe_text
from tests.indexer.activity import WAD, mine
from workers.resolver import Resolver


def sign_in(client: TestClient, world: World, index: int) -> dict[str, str]:
    nonce = client.get("/auth/nonce").json()["nonce"]
    body = signed(siwe_text(world.platform.account(index).address, nonce), index=index)
    token = client.post("/auth/verify", json=body).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def iris_csv(rows: int = 150) -> bytes:
    rng = random.Random(4)
    lines = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    for _ in range(rows):
        species = rng.choice(["setosa", "versicolor", "virginica"])
        lines.append(
            f"{rng.uniform(4, 8):.1f},{rng.uniform(2, 4.5):.1f},"
            f"{rng.uniform(1, 7):.1f},{rng.uniform(0.1, 2.5):.1f},{species}"
        )
    return ("\n".join(lines) + "\n").encode()


FORM = {
    "title": "Iris measurements",
    "description": "Sepal and petal sizes of three species",
    "category": "tabular",
    "price": str(5 * WAD),
    "tags": "botany, classic",
}


def test_upload_list_buy_download(client: TestClient, world: World) -> None:
    provider, buyer, stranger = (
        sign_in(client, world, 1),
        sign_in(client, world, 5),
        sign_in(client, world, 3),
    )
    data = iris_csv()
    # Given a provider's paid upload
    assert client.post("/uploads", data=FORM, files={"file": ("iris.csv", data)}).status_code == 401
    reply = client.post("/uploads", data=FORM, files={"file": ("iris.csv", data)}, headers=provider)
    assert reply.status_code == 201, reply.text
    up = reply.json()
    assert up["encrypted"] is True and up["rows"] == 150 and len(up["columns"]) == 5
    species = up["columns"][4]
    assert (species["name"], species["type"], species["nulls"]) == ("species", "string", 0)
    assert species["distinct"] == 3 and species["top_exact"] is True
    # The stored content is an envelope, not the plaintext
    blobs = EmbeddedBlockStore(world.settings.blocks_dir)
    stored = b"".join(blobs.get(up["content_cid"]))
    assert data not in stored and b"setosa" not in stored
    # When the provider's wallet sends the returned calldata, a buyer purchases, and the
    # platform indexes, projects and resolves the metadata document
    w3 = world.platform.client.w3
    market = world.platform.client.contract("Marketplace")
    tx = world.platform.account(1).account.sign_transaction(
        {
            "to": up["listing"]["to"],
            "data": up["listing"]["data"],
            "gas": 400_000,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 10**9,
            "chainId": 31337,
            "nonce": w3.eth.get_transaction_count(world.platform.account(1).account.address),
        }
    )
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(tx.raw_transaction))
    dataset_id = market.functions.datasetCount().call()
    world.platform.account(5).send(market.functions.purchase(dataset_id, 2**255))
    world.sync()
    Resolver(world.db_url, blobs).resolve_once()
    # Then the dApp finds it by its words, with the profiled shape
    found = client.get("/datasets", params={"q": "petal species"}).json()["items"]
    assert [(d["dataset_id"], d["title"], d["rows"], d["columns"]) for d in found] == [
        (str(dataset_id), "Iris measurements", 150, 5)
    ]
    url = f"/datasets/{dataset_id}/download"
    # And before the purchase is final, the buyer must wait; strangers never get it
    assert client.get(url, headers=buyer).status_code == 403
    assert client.get(url, headers=stranger).status_code == 403
    assert client.get(url).status_code == 401
    mine(w3, 3)
    world.sync()
    got = client.get(url, headers=buyer)
    assert got.status_code == 200 and got.content == data
    assert "iris.csv" in got.headers["content-disposition"]
    assert client.get(url, headers=stranger).status_code == 403
    assert client.get(url, headers=provider).content == data


def test_bad_uploads_are_refused_and_nothing_is_pinned(client: TestClient, world: World) -> None:
    provider = sign_in(client, world, 2)
    blobs = EmbeddedBlockStore(world.settings.blocks_dir)
    pinned = set(blobs.pins())
    table = pa.table({"a": [1, 2, 3]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    parquet = sink.getvalue()
    nested = b'[{"x": ' + b"[" * 2000 + b"1" + b"]" * 2000 + b"}]"
    cases = {
        "truncated parquet": ("t.parquet", parquet[: len(parquet) // 2], 400),
        "binary labelled csv": ("b.csv", bytes(range(256)) * 10, 400),
        "parquet labelled csv": ("p.csv", parquet, 400),
        "deeply nested json": ("d.json", nested, 400),
        "nested jsonl": ("n.jsonl", b'{"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}\n', 400),
        "json that is not records": ("o.json", b'{"a": 1}', 400),
        "malformed csv": ("m.csv", b'a,b\n1,2,3,4\n"unterminated\n', 400),
        "empty": ("e.csv", b"", 400),
        "huge": ("h.csv", b"a,b\n" + b"1,2\n" * (3 * 2**20 // 4), 413),
        "unsupported type": ("x.xlsx", b"PK\x03\x04", 415),
    }
    for name, (filename, content, status) in cases.items():
        reply = client.post(
            "/uploads", data=FORM, files={"file": (filename, content)}, headers=provider
        )
        assert reply.status_code == status, (name, reply.status_code, reply.text)
        assert reply.headers["content-type"] == "application/problem+json", name
        assert reply.json()["detail"], name
        assert reply.json()["code"] == UPLOAD_CODES.get(status, "upload.invalid"), name
    assert set(blobs.pins()) == pinned
    lines = b'{"a": 1}\n{"a": null}\n'
    free = {**FORM, "price": "0"}
    good = client.post("/uploads", data=free, files={"file": ("ok.jsonl", lines)}, headers=provider)
    assert good.status_code == 201, good.text
    body = good.json()
    assert body["encrypted"] is False and [
        (c["name"], c["type"], c["nulls"], c["min"], c["max"]) for c in body["columns"]
    ] == [("a", "int64", 1, 1, 1)]
    assert b"".join(blobs.get(body["content_cid"])) == b'{"a": 1}\n{"a": null}\n'
