"""Hostile queries and names: clear 4xx, never a 500; downloads of any file name; and
subscriptions judged by the chain's clock, as the contract judges them."""

from __future__ import annotations

import base64
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from common.documents import ColumnProfile, DatasetDocument
from storage.blockstore import EmbeddedBlockStore
from storage.cid import parse_cid
from tests.api.conftest import World
from tests.api.test_uploads import sign_in
from tests.indexer.activity import WAD, mine, rpc_call

ADDRESS = "0x" + "ab" * 20


def cursor_of(json_text: str) -> str:
    """A cursor carrying exactly this JSON text (as encode_cursor would, unpadded)."""
    return base64.urlsafe_b64encode(json_text.encode()).decode().rstrip("=")


# Well-formed cursors (base64 of a JSON list of the right length) that we never issue.
DATASET_CURSORS = [
    '[true, 1, "1"]',
    '[false, 1, "1"]',
    '["\\u00b2", 1, "1"]',
    '["abc", 1, "1"]',
    '[{"a": 1}, 1, "1"]',
    '[[1], 1, "1"]',
    '[null, 1, "1"]',
    '[1, true, "1"]',
    '[1, 1, "\\u00b2"]',
    '[1, 1, {"x": 1}]',
    "[1, 1, null]",
    "[1, 1, true]",
    '[1, "1", "1"]',
    '[1, 1.5, "1"]',
    '[1, -1, "1"]',
    '[99999999999999999999999, 1, "1"]',
    '[1e400, 1, "1"]',
    '[1, 1, "-1"]',
    '["1e5", 1, "1"]',
    '[1, 1, "' + "9" * 79 + '"]',
]
PURCHASE_CURSORS = [
    "[true, 1, 1]",
    '["\\u00b2", 1, 1]',
    '["1", 1, 1]',
    '[{"a": 1}, 1, 1]',
    "[1.5, 1, 1]",
    "[1, 1, false]",
    "[1, null, 1]",
    "[-1, 1, 1]",
    "[9223372036854775808, 1, 1]",
    "[1e400, 1, 1]",
    '[1, 1, "x"]',
    "[[], 1, 1]",
]


@pytest.mark.parametrize("sort", ["newest", "price", "purchases", "rating"])
def test_cursors_we_did_not_issue_are_a_400(client: TestClient, sort: str) -> None:
    for text in DATASET_CURSORS:
        reply = client.get("/datasets", params={"sort": sort, "cursor": cursor_of(text)})
        assert reply.status_code == 400, (sort, text, reply.status_code, reply.text)
        assert "cursor" in reply.json()["detail"], (sort, text)


def test_purchase_cursors_we_did_not_issue_are_a_400(client: TestClient) -> None:
    for text in PURCHASE_CURSORS:
        reply = client.get(f"/accounts/{ADDRESS}/purchases", params={"cursor": cursor_of(text)})
        assert reply.status_code == 400, (text, reply.status_code, reply.text)
        assert "cursor" in reply.json()["detail"], text


def test_issued_cursors_still_page(client: TestClient) -> None:
    for sort in ["newest", "price", "purchases", "rating"]:
        seen: list[str] = []
        cursor = None
        while True:
            params = {"sort": sort, "limit": 2, **({"cursor": cursor} if cursor else {})}
            reply = client.get("/datasets", params=params)
            assert reply.status_code == 200, (sort, reply.text)
            seen += [d["dataset_id"] for d in reply.json()["items"]]
            cursor = reply.json()["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) >= 6, sort


def test_nul_characters_in_text_filters_are_a_400(client: TestClient) -> None:
    for name in ["q", "category"]:
        for value in ["\x00", "iris\x00", "a\x00b"]:
            reply = client.get("/datasets", params={name: value})
            assert reply.status_code == 400, (name, value, reply.status_code, reply.text)
            assert "NUL" in reply.json()["detail"] and name in reply.json()["detail"]


def list_file(world: World, *, provider: int, filename: str, data: bytes, duration: int) -> int:
    """Store `data` and its metadata document as an upload would, list it on chain; its id."""
    blobs = EmbeddedBlockStore(world.settings.blocks_dir)
    put = blobs.put([data], pin=True)
    doc = DatasetDocument(
        title=f"File {filename}",
        category="tabular",
        format="csv",
        rows=1,
        columns=[ColumnProfile(name="a", type="int64", nulls=0)],
        size=len(data),
        sha256=put.sha256,
        filename=filename,
        content_cid=put.cid,
        content_sha256=put.sha256,
        encrypted=False,
    )
    meta = blobs.put([doc.model_dump_json().encode()], pin=True)
    with psycopg.connect(world.db_url) as conn:
        conn.execute(
            "INSERT INTO dataset_metadata (cid, title, description, tags, format, rows, columns,"
            " document) VALUES (%s, %s, '', '', 'csv', 1, 1, %s)",
            (meta.cid, doc.title, Jsonb(doc.model_dump())),
        )
    market = world.platform.client.contract("Marketplace")
    world.platform.account(provider).send(
        market.functions.listDataset(meta.cid, bytes(32), "tabular", WAD, duration)
    )
    return int(market.functions.datasetCount().call())


def test_any_file_name_downloads_with_rfc_6266_headers(client: TestClient, world: World) -> None:
    """Given a listed, bought dataset whose file name is not Latin-1 (nor even in the BMP),
    the buyer gets its bytes, and the name as RFC 5987 `filename*` with an ASCII fallback."""
    data = b"a\n1\n"
    name = 'données_📊 "q".csv'
    dataset_id = list_file(world, provider=2, filename=name, data=data, duration=0)
    market = world.platform.client.contract("Marketplace")
    world.platform.account(4).send(market.functions.purchase(dataset_id, 2**255))
    mine(world.platform.client.w3, 3)
    world.sync()
    got = client.get(f"/datasets/{dataset_id}/download", headers=sign_in(client, world, 4))
    assert got.status_code == 200, got.text
    assert got.content == data
    disposition = got.headers["content-disposition"]
    assert disposition.isascii()
    assert "filename*=UTF-8''donn%C3%A9es_%F0%9F%93%8A%20%22q%22.csv" in disposition
    assert 'filename="donn_es__ _q_.csv"' in disposition  # quotes cannot break out


def test_listings_without_a_usable_document_are_a_404(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    """The metadata CID is whatever the provider put on chain: junk, a CID nobody stored,
    a document that is not a dataset document, one whose content is gone. Each download
    is a 404 with the reason, not a 500."""
    market = world.platform.client.contract("Marketplace")
    blobs = EmbeddedBlockStore(world.settings.blocks_dir)
    not_a_document = blobs.put([b'{"title": "no content here"}'], pin=True).cid
    elsewhere = EmbeddedBlockStore(tmp_path).put([b"stored in another store only"]).cid
    lost = blobs.put([b"a\n3\n"], pin=True).cid
    ids = [list_file(world, provider=2, filename="lost.csv", data=b"a\n3\n", duration=0)]
    blobs.block_path(parse_cid(lost)).unlink()  # its content is lost from the store
    for cid in ["not-a-cid", not_a_document, elsewhere]:
        world.platform.account(2).send(market.functions.listDataset(cid, bytes(32), "x", WAD, 0))
        ids.append(int(market.functions.datasetCount().call()))
    mine(world.platform.client.w3, 3)
    world.sync()
    provider = sign_in(client, world, 2)
    for dataset_id in ids:
        reply = client.get(f"/datasets/{dataset_id}/download", headers=provider)
        assert reply.status_code == 404, (dataset_id, reply.status_code, reply.text)
        assert "document" in reply.json()["detail"] or "content" in reply.json()["detail"]


def test_subscription_expiry_follows_the_chain_clock(client: TestClient, world: World) -> None:
    """The API grants a download exactly when the contract's `hasAccess` says so, though the
    chain's clock runs ahead of PostgreSQL's."""
    w3 = world.platform.client.w3
    market = world.platform.client.contract("Marketplace")
    dataset_id = list_file(world, provider=3, filename="ticking.csv", data=b"a\n2\n", duration=3600)
    buyer = world.platform.account(5)
    buyer.send(market.functions.purchase(dataset_id, 2**255))
    mine(w3, 3)
    headers = sign_in(client, world, 5)

    def decisions() -> tuple[bool, bool]:
        world.sync()
        reply = client.get(f"/datasets/{dataset_id}/download", headers=headers)
        assert reply.status_code in (200, 403), reply.text
        on_chain = market.functions.hasAccess(dataset_id, buyer.address).call()
        return reply.status_code == 200, on_chain

    assert decisions() == (True, True)
    # An hour less a minute later: still subscribed
    rpc_call(w3, "evm_increaseTime", [3600 - 60])
    mine(w3, 1)
    assert decisions() == (True, True)
    # Past the expiry by the chain's clock (PostgreSQL's clock is an hour behind)
    rpc_call(w3, "evm_increaseTime", [120])
    mine(w3, 1)
    assert decisions() == (False, False)
