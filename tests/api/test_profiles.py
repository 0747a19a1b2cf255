"""Profiles end to end on anvil, PostgreSQL and Redis: POST /profiles -> the wallet sends
the returned `setProfile` calldata -> index, project, resolve -> GET /accounts/{address}
shows it (and the avatar streams back); `clearProfile` removes it; a document the resolver
cannot use is recorded as a failure, as a dataset's is."""

from __future__ import annotations

import base64
import io
from typing import Any

import orjson
import psycopg
from fastapi.testclient import TestClient
from PIL import Image

from storage.blockstore import EmbeddedBlockStore
from tests.api.conftest import World
from tests.api.test_uploads import sign_in
from workers.resolver import Resolver

PROFILE = {
    "display_name": "Ada of Palmer Station",
    "bio": "Penguin counts, 2007-2009.\nAsk me about bills.",
    "links": ["https://example.org/ada", "https://pal.lternet.edu/"],
}


def image(fmt: str, size: tuple[int, int] = (48, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 80, 20)).save(out, fmt)
    return out.getvalue()


def send_call(world: World, index: int, call: dict[str, Any]) -> None:
    """Sign and send the calldata the API returned, as the account's wallet would."""
    w3 = world.platform.client.w3
    sender = world.platform.account(index).account
    tx = sender.sign_transaction(
        {
            "to": call["to"],
            "data": call["data"],
            "gas": 300_000,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 10**9,
            "chainId": 31337,
            "nonce": w3.eth.get_transaction_count(sender.address),
        }
    )
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(tx.raw_transaction))
    assert receipt["status"] == 1


def index_and_resolve(world: World) -> None:
    world.sync()
    Resolver(world.db_url, EmbeddedBlockStore(world.settings.blocks_dir)).resolve_once()


def test_profile_post_set_show_clear(client: TestClient, world: World) -> None:
    account = world.platform.account(1).address
    headers = sign_in(client, world, 1)
    avatar = image("PNG")
    # Given a signed-in provider's profile with an avatar, stored through the API
    files = {"avatar": ("me.png", avatar, "application/octet-stream")}
    form = {**PROFILE, "links": PROFILE["links"]}
    reply = client.post("/profiles", data=form, files=files, headers=headers)
    assert reply.status_code == 201, reply.text
    stored = reply.json()
    assert stored["document"]["display_name"] == PROFILE["display_name"]
    assert stored["document"]["links"] == PROFILE["links"]
    assert stored["call"]["function"] == "setProfile"
    assert stored["call"]["to"] == world.platform.deployment.address("Profiles")
    assert stored["avatar_cid"] and stored["document"]["avatar_cid"] == stored["avatar_cid"]
    # No profile before the wallet sends the transaction
    assert client.get(f"/accounts/{account}").json()["profile"] is None
    # When the wallet sends it and the platform indexes, projects and resolves
    send_call(world, 1, stored["call"])
    index_and_resolve(world)
    # Then the account shows the profile beside its listings, counts and stake
    shown = client.get(f"/accounts/{account}").json()
    profile = shown["profile"]
    assert profile["profile_cid"] == stored["profile_cid"] and profile["resolved"] is True
    assert (profile["display_name"], profile["bio"], profile["links"]) == (
        PROFILE["display_name"],
        PROFILE["bio"],
        PROFILE["links"],
    )
    assert profile["avatar_url"] == f"/profiles/{account}/avatar"
    assert shown["datasets_listed"] == 2 and len(shown["listings"]["items"]) == 2
    assert {d["provider"] for d in shown["listings"]["items"]} == {account}
    assert shown["training_jobs"] == 0 and shown["purchases"] == 0
    assert client.get(f"/profiles/{account}").json() == profile
    # And the avatar streams back as sent, typed by its bytes
    got = client.get(profile["avatar_url"])
    assert got.status_code == 200 and got.content == avatar
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    # When the account clears its profile, it is gone
    profiles = world.platform.client.contract("Profiles")
    world.platform.account(1).send(profiles.functions.clearProfile())
    world.sync()
    assert client.get(f"/accounts/{account}").json()["profile"] is None
    assert client.get(f"/profiles/{account}").status_code == 404
    assert client.get(f"/profiles/{account}/avatar").status_code == 404


def test_json_profile_with_a_webp_avatar(client: TestClient, world: World) -> None:
    account = world.platform.account(2).address
    avatar = image("WEBP", (64, 64))
    body = {**PROFILE, "display_name": "Bo", "avatar_base64": base64.b64encode(avatar).decode()}
    reply = client.post("/profiles", json=body, headers=sign_in(client, world, 2))
    assert reply.status_code == 201, reply.text
    send_call(world, 2, reply.json()["call"])
    index_and_resolve(world)
    assert client.get(f"/accounts/{account}").json()["profile"]["display_name"] == "Bo"
    got = client.get(f"/profiles/{account}/avatar")
    assert (got.content, got.headers["content-type"]) == (avatar, "image/webp")


def test_an_unusable_profile_document_is_recorded_not_shown(
    client: TestClient, world: World
) -> None:
    # Given a profile set on chain straight to a document the API would have refused
    blobs = EmbeddedBlockStore(world.settings.blocks_dir)
    bad = blobs.put([orjson.dumps({"display_name": "x" * 65, "links": ["http://plain.org"]})])
    garbage = blobs.put([b"<html>not a profile</html>"])
    profiles = world.platform.client.contract("Profiles")
    world.platform.account(3).send(profiles.functions.setProfile(bad.cid))
    world.platform.account(4).send(profiles.functions.setProfile(garbage.cid))
    # When the platform indexes and resolves
    index_and_resolve(world)
    # Then each failure is recorded once, for good, and the profile shows its CID only
    with psycopg.connect(world.db_url) as conn:
        failures = conn.execute(
            "SELECT cid, permanent FROM readmodels.document_failures WHERE kind = 'profile'"
        ).fetchall()
    assert sorted(failures) == sorted([(bad.cid, True), (garbage.cid, True)])
    profile = client.get(f"/accounts/{world.platform.account(3).address}").json()["profile"]
    assert profile["profile_cid"] == bad.cid and profile["resolved"] is False
    assert profile["display_name"] is None and profile["avatar_url"] is None


def test_a_browser_forms_crlf_line_breaks_are_stored_as_lf(
    client: TestClient, world: World
) -> None:
    # A textarea's line breaks arrive as CRLF in multipart/form-data (HTML's form encoding)
    form = {**PROFILE, "bio": "Penguin counts.\r\nAsk me about bills.\r\n\r\nBye"}
    reply = client.post("/profiles", data=form, headers=sign_in(client, world, 5))
    assert reply.status_code == 201, reply.text
    assert reply.json()["document"]["bio"] == "Penguin counts.\nAsk me about bills.\n\nBye"
    # A lone CR is still a control character
    form = {**PROFILE, "bio": "Penguin counts.\rAsk me"}
    reply = client.post("/profiles", data=form, headers=sign_in(client, world, 5))
    assert reply.status_code == 400, reply.text
