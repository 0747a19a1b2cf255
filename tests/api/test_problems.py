"""Every error is RFC 9457 problem+json with a stable `code`: one representative refusal
of each route family, a validation error and an unknown path."""

from __future__ import annotations

import base64

import httpx
from fastapi.testclient import TestClient

from api.problems import MEDIA_TYPE
from common.chain import dev_account
from tests.api.conftest import World
from tests.api.test_siwe import signed, siwe_text

ADDRESS = "0x" + "11" * 20


def assert_problem(reply: httpx.Response, status: int, code: str) -> dict[str, object]:
    """`reply` is a problem of `status` and `code`, with every RFC 9457 member."""
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == MEDIA_TYPE, reply.headers
    body: dict[str, object] = reply.json()
    assert body["code"] == code and body["status"] == status, body
    assert body["type"] == "about:blank" and body["title"] and body["detail"], body
    return body


def session_of(client: TestClient, index: int) -> dict[str, str]:
    """The Authorization header of a fresh session of dev account `index`."""
    nonce = client.get("/auth/nonce").json()["nonce"]
    body = signed(siwe_text(dev_account(index).address, nonce), index=index)
    token = client.post("/auth/verify", json=body).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_each_route_family_refuses_with_a_problem(client: TestClient) -> None:
    assert_problem(client.get("/datasets/999"), 404, "dataset.not_found")
    bad_cursor = base64.urlsafe_b64encode(b'["x"]').decode()  # no route issues it
    assert_problem(client.get("/datasets", params={"cursor": bad_cursor}), 400, "cursor.invalid")
    assert_problem(client.get("/datasets", params={"q": "a\x00"}), 400, "text.nul_character")
    assert_problem(client.get("/training-jobs/1"), 404, "training_job.not_found")
    assert_problem(client.get("/datasets/1/download"), 401, "auth.required")
    assert_problem(client.post("/uploads"), 401, "auth.required")
    assert_problem(
        client.get("/auth/me", headers={"Authorization": "Bearer nope"}),
        401,
        "auth.session_expired",
    )
    garbage = {"message": "hello", "signature": "0x" + "00" * 65}
    assert_problem(client.post("/auth/verify", json=garbage), 401, "auth.invalid_message")
    cursor = {"cursor": bad_cursor}
    assert_problem(
        client.get(f"/accounts/{ADDRESS}/activity", params=cursor), 400, "cursor.invalid"
    )
    assert_problem(client.get("/events", params=cursor), 400, "cursor.invalid")


def test_validation_errors_and_unknown_paths_are_problems(client: TestClient) -> None:
    body = assert_problem(client.get("/datasets", params={"limit": 1000}), 422, "invalid_request")
    assert body["errors"] and "limit" in str(body["detail"]), body
    assert_problem(client.get("/no/such/path"), 404, "not_found")
    assert_problem(client.delete("/datasets"), 405, "method_not_allowed")


def test_logout_ends_the_session_at_once(client: TestClient) -> None:
    session = session_of(client, 3)
    assert client.get("/auth/me", headers=session).status_code == 200
    assert client.post("/auth/logout", headers=session).status_code == 204
    assert_problem(client.get("/auth/me", headers=session), 401, "auth.session_expired")
    assert_problem(client.post("/auth/logout", headers=session), 401, "auth.session_expired")
    assert_problem(client.post("/auth/logout"), 401, "auth.required")


def test_account_activity_pages_with_a_cursor(client: TestClient, world: World) -> None:
    buyer = world.platform.account(4).address
    everything = client.get(f"/accounts/{buyer}/activity", params={"limit": 100}).json()
    assert everything["next_cursor"] is None and len(everything["items"]) >= 3
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"/accounts/{buyer}/activity", params=params).json()
        seen += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == everything["items"]
    recent = client.get(f"/accounts/{buyer}", params={"activity_limit": 2}).json()
    assert recent["recent_activity"] == everything["items"][:2]
