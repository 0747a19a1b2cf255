"""Steps for the account page's tests: a profile set without the browser (POST /profiles
as the account, then its wallet sends `setProfile`), a small avatar, and a purchase."""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import Image

from tests.web.dapp import Dapp


def avatar_png(size: tuple[int, int] = (48, 32)) -> bytes:
    """A small PNG (an avatar the API accepts)."""
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


def set_profile(dapp: Dapp, index: int, fields: dict[str, Any]) -> str:
    """Store `fields` as dev account `index`'s profile and set it on chain (anvil signs);
    returns once the API shows it resolved: its CID."""
    with httpx.Client(base_url=dapp.url, timeout=30) as http:
        reply = http.post("/profiles", json=fields, headers=dapp.sign_in(index))
    assert reply.status_code == 201, reply.text
    stored: dict[str, Any] = reply.json()
    account = dapp.address(index)
    tx = dapp.w3.eth.send_transaction(
        {"from": account, "to": stored["call"]["to"], "data": stored["call"]["data"]}
    )
    assert dapp.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    cid: str = stored["profile_cid"]
    dapp.wait_for(lambda: shown_profile(dapp, account).get("profile_cid") == cid, "profile shown")
    dapp.wait_for(lambda: shown_profile(dapp, account).get("resolved") is True, "profile resolved")
    return cid


def shown_profile(dapp: Dapp, account: str) -> dict[str, Any]:
    """GET /profiles/{account}: the profile the API shows ({} when none)."""
    reply = httpx.get(f"{dapp.url}/profiles/{account}", timeout=10)
    return reply.json() if reply.status_code == 200 else {}


def buy(dapp: Dapp, buyer: int, dataset_id: int, price: int) -> None:
    """The buyer approves and purchases through web3 (the browser purchase is tested in
    test_journeys.py); returns once the API lists the purchase."""
    coin = dapp.platform.client.contract("DataCoin")
    market = dapp.platform.client.contract("Marketplace")
    account = dapp.platform.account(buyer)
    account.send(coin.functions.approve(market.address, price))
    account.send(market.functions.purchase(dataset_id, price))

    def listed() -> bool:
        reply = httpx.get(f"{dapp.url}/accounts/{account.address}/purchases", timeout=10)
        return any(int(p["dataset_id"]) == dataset_id for p in reply.json()["items"])

    dapp.wait_for(listed, f"purchase of {dataset_id} listed")
