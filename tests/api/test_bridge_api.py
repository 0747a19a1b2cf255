"""The bridge routes' answers to bad input, and on a platform without a bridge (the
bridged journey itself: tests/e2e/test_bridge.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

ZERO_ID = "0x" + "00" * 32


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/bridge/transfers/0x12", "bridge_transfer.invalid_id"),
        ("/bridge/transfers/" + "0x" + "zz" * 32, "bridge_transfer.invalid_id"),
        ("/bridge/transfers?state=lost", "bridge_transfer.invalid_state"),
        ("/bridge/transfers?state=final%00", "text.nul_character"),
        ("/bridge/transfers?account=0x1234", "address.invalid"),
        ("/bridge/transfers?cursor=not-a-cursor", "cursor.invalid"),
        ("/accounts/0xnope/bridge-transfers", "address.invalid"),
    ],
)
def test_bad_input_is_a_400_with_its_code(client: TestClient, url: str, code: str) -> None:
    reply = client.get(url)
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["code"] == code


def test_an_unknown_transfer_is_a_404(client: TestClient) -> None:
    reply = client.get(f"/bridge/transfers/{ZERO_ID}")
    assert reply.status_code == 404
    assert reply.json()["code"] == "bridge_transfer.not_found"


def test_without_a_bridge_the_lists_are_empty(client: TestClient) -> None:
    assert client.get("/bridge/transfers").json() == {"items": [], "next_cursor": None}
    account = "0x" + "11" * 20
    assert client.get(f"/accounts/{account}/bridge-transfers").json()["items"] == []
    summary = client.get("/bridge").json()
    assert summary == {
        "chains": [],
        "in_flight": {"count": 0, "amount": "0"},
        "delivered": {"count": 0, "amount": "0"},
    }
