"""The journeys' stack works without the pages: a provider's upload (SIWE on the server's own
host) listed on chain is indexed, resolved and searchable; a buyer's injected wallet, in a page
on the stack's origin, buys it with eth_sendTransaction; once final, the download is the
uploaded bytes. (The dApp's own journeys are in test_journeys.py.)"""

from __future__ import annotations

import httpx

from tests.web.conftest import ContextFactory
from tests.web.dapp import BUYER, CONFIRMATIONS, Dapp, small_csv
from tests.web.wallet import wallet_request


def test_publish_buy_through_the_wallet_and_download(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    data = small_csv(40)
    upload = dapp.publish("Stack smoke penguins", data)
    found = httpx.get(f"{dapp.url}/datasets", params={"q": "smoke penguins"}).json()["items"]
    assert [d["dataset_id"] for d in found] == [str(upload.dataset_id)]
    # A buyer's wallet on a page of the stack's origin (cross-origin to anvil)
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(f"{dapp.url}/health")
    buyer = dapp.address(BUYER)
    assert wallet_request(page, "eth_requestAccounts") == [buyer]
    market = dapp.platform.client.contract("Marketplace")
    coin = dapp.platform.client.contract("DataCoin")
    for call in (
        coin.functions.approve(market.address, upload.price),
        market.functions.purchase(upload.dataset_id, upload.price),
    ):
        tx = {"from": buyer, "to": call.address, "data": call._encode_transaction_data()}
        receipt = dapp.w3.eth.wait_for_transaction_receipt(
            wallet_request(page, "eth_sendTransaction", [tx])
        )
        assert receipt["status"] == 1 and receipt["from"] == buyer
    assert market.functions.hasAccess(upload.dataset_id, buyer).call()
    # Once final (mined past the confirmations), the buyer downloads what was uploaded
    dapp.mine(CONFIRMATIONS + 1)
    headers = dapp.sign_in(BUYER)
    url = f"{dapp.url}/datasets/{upload.dataset_id}/download"

    def downloaded() -> bool:
        reply = httpx.get(url, headers=headers, timeout=10)
        return reply.status_code == 200 and reply.content == data

    dapp.wait_for(downloaded, "the download")
