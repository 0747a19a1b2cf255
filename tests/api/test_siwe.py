"""Sign-In with Ethereum: the happy path, replay, expiry, wrong domain/chain, bad
signatures, and two concurrent verifies of one signature (exactly one wins)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient

from common.chain import dev_account
from tests.api.conftest import Server, World


def siwe_text(
    address: str,
    nonce: str,
    *,
    domain: str = "datacoin.test",
    chain_id: int = 31337,
    issued: datetime | None = None,
    expires: datetime | None = None,
    uri: str | None = None,
) -> str:
    issued = issued or datetime.now(UTC)
    lines = [
        f"{domain} wants you to sign in with your Ethereum account:",
        address,
        "",
        "Sign in to Datacoin.",
        "",
        f"URI: {uri or 'https://' + domain}",
        "Version: 1",
        f"Chain ID: {chain_id}",
        f"Nonce: {nonce}",
        f"Issued At: {issued.strftime('%Y-%m-%dT%H:%M:%S.000Z')}",
    ]
    if expires:
        lines.append(f"Expiration Time: {expires.strftime('%Y-%m-%dT%H:%M:%S.000Z')}")
    return "\n".join(lines)


def signed(text: str, index: int = 3) -> dict[str, str]:
    account = dev_account(index)
    signature = account.sign_message(encode_defunct(text=text)).signature.hex()
    return {"message": text, "signature": "0x" + signature.removeprefix("0x")}


def test_sign_in_then_use_the_session(client: TestClient) -> None:
    nonce = client.get("/auth/nonce").json()
    assert nonce["domain"] == "datacoin.test" and nonce["chain_ids"] == [31337]
    address = dev_account(3).address
    session = client.post("/auth/verify", json=signed(siwe_text(address, nonce["nonce"])))
    assert session.status_code == 200, session.text
    token = session.json()["token"]
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json() == {"address": address}
    assert client.get("/auth/me").status_code == 401
    assert client.get("/auth/me", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_replayed_message_is_refused(client: TestClient) -> None:
    nonce = client.get("/auth/nonce").json()["nonce"]
    body = signed(siwe_text(dev_account(3).address, nonce))
    assert client.post("/auth/verify", json=body).status_code == 200
    again = client.post("/auth/verify", json=body)
    assert again.status_code == 401 and "nonce" in again.json()["detail"]
    assert again.json()["code"] == "auth.invalid_nonce"


def test_wrong_domain_chain_expiry_signature_and_unknown_nonce(client: TestClient) -> None:
    address = dev_account(3).address
    past = datetime.now(UTC) - timedelta(minutes=1)
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    future = datetime.now(UTC) + timedelta(hours=1)
    cases: dict[str, Callable[[str], dict[str, str]]] = {
        "domain": lambda n: signed(siwe_text(address, n, domain="evil.example")),
        "chain": lambda n: signed(siwe_text(address, n, chain_id=1)),
        "expired": lambda n: signed(siwe_text(address, n, expires=past)),
        "issued too long ago": lambda n: signed(siwe_text(address, n, issued=long_ago)),
        "issued in the future": lambda n: signed(siwe_text(address, n, issued=future)),
        "uri": lambda n: signed(siwe_text(address, n, uri="https://evil.example/login")),
        "Signature": lambda n: signed(siwe_text(address, n), index=4),  # signed by someone else
    }
    for expected, make in cases.items():
        nonce = client.get("/auth/nonce").json()["nonce"]
        response = client.post("/auth/verify", json=make(nonce))
        assert response.status_code == 401, expected
        assert expected.lower() in response.json()["detail"].lower(), (expected, response.json())
    bogus = signed(siwe_text(address, "deadbeefdeadbeef"))
    assert "nonce" in client.post("/auth/verify", json=bogus).json()["detail"]
    garbage = {"message": "hello", "signature": "0x" + "00" * 65}
    assert client.post("/auth/verify", json=garbage).status_code == 401
    assert (
        client.post("/auth/verify", json={"message": "x", "signature": "0x12"}).status_code == 422
    )


def test_a_failed_verify_does_not_burn_the_nonce(client: TestClient) -> None:
    nonce = client.get("/auth/nonce").json()["nonce"]
    text = siwe_text(dev_account(3).address, nonce)
    assert client.post("/auth/verify", json=signed(text, index=4)).status_code == 401
    assert client.post("/auth/verify", json=signed(text)).status_code == 200


def test_expired_nonce_is_refused(world: World, client: TestClient) -> None:
    import redis

    nonce = client.get("/auth/nonce").json()["nonce"]
    redis.Redis.from_url(world.settings.redis_url).delete(f"datacoin:nonce:{nonce}")  # TTL ran out
    response = client.post("/auth/verify", json=signed(siwe_text(dev_account(3).address, nonce)))
    assert response.status_code == 401


def test_concurrent_double_use_exactly_one_wins(server: Server) -> None:
    async def race() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url) as http:
            nonce = (await http.get("/auth/nonce")).json()["nonce"]
            body = signed(siwe_text(Account.from_key(dev_account(3).key).address, nonce))
            replies = await asyncio.gather(
                *[http.post("/auth/verify", json=body) for _ in range(8)]
            )
            return sorted(r.status_code for r in replies)

    for _ in range(5):
        assert asyncio.run(race()) == [200] + [401] * 7


def test_signatures_off_the_curve_are_refused_not_crashed(client: TestClient) -> None:
    """Signatures that are not points of secp256k1 (or not canonical) are a 401 with a
    reason, like any wrong signature, and the nonce stays usable."""
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    address = dev_account(3).address
    nonce = client.get("/auth/nonce").json()["nonce"]
    text = siwe_text(address, nonce)
    good = signed(text)["signature"][2:]
    r, s, v = good[:64], good[64:128], good[128:]
    bogus = {
        "all zeros": "00" * 65,
        "all ff": "ff" * 65,
        "r = s = 0": "00" * 64 + "1b",
        "r = n": f"{n:064x}" + s + v,
        "s = n": r + f"{n:064x}" + v,
        "r and s swapped": s + r + v,
        "v = 99": r + s + "63",
    }
    for name, signature in bogus.items():
        response = client.post(
            "/auth/verify", json={"message": text, "signature": "0x" + signature}
        )
        assert response.status_code == 401, (name, response.status_code, response.text)
        assert "signature" in response.json()["detail"].lower(), (name, response.json())
    assert client.post("/auth/verify", json=signed(text)).status_code == 200
