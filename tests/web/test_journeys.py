"""The dApp's journeys in a real browser against the real stack, through the contract's
data-testids: explore (live over SSE, search), dataset → buy (permit + purchase) → final →
download, a reverted purchase, a cancelled signature, the wrong network, a phone's width.

They skip until the static export exists (web/out/index.html)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.indexer.activity import WAD
from tests.web.conftest import ContextFactory
from tests.web.dapp import (
    BUYER,
    DAPP_MISSING,
    PROVIDER,
    Dapp,
    Upload,
    card,
    connect,
    dapp_built,
    sign_in,
    small_csv,
    wait_final,
)
from tests.web.wallet import wallet_calls, wallet_request

pytestmark = pytest.mark.skipif(not dapp_built(), reason=DAPP_MISSING)

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@dataclass
class Catalog:
    penguins: Upload
    iris: Upload


@pytest.fixture(scope="module")
def catalog(dapp: Dapp) -> Catalog:
    return Catalog(
        penguins=dapp.publish("Penguin census", small_csv(30, seed=1), price=3 * WAD),
        iris=dapp.publish("Iris measurements", small_csv(50, seed=2), price=5 * WAD),
    )


@pytest.fixture
def buyer(dapp: Dapp, new_context: ContextFactory) -> Iterator[BrowserContext]:
    yield new_context(wallet=dapp.wallet(BUYER), accept_downloads=True)


def open_dataset(page: Page, dapp: Dapp, upload: Upload) -> None:
    page.goto(dapp.dataset_url(upload.dataset_id))
    expect(page.get_by_test_id("dataset-title")).to_have_text(upload.title)
    price = f"{upload.price // WAD}"
    expect(page.get_by_test_id("dataset-price")).to_contain_text(price)
    # (the full EIP-55 address, or a shortened form that starts like it)
    provider = re.compile(re.escape(dapp.address(PROVIDER)[:6]), re.I)
    expect(page.get_by_test_id("dataset-provider")).to_contain_text(provider)
    expect(page.get_by_test_id("buy-button")).to_be_enabled()


def no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"  # type: ignore[index]


def buy_to_final(page: Page, dapp: Dapp, upload: Upload) -> list[str]:
    connect(page, dapp.address(BUYER))
    page.get_by_test_id("buy-button").click()
    seen = wait_final(page, dapp)
    market = dapp.platform.client.contract("Marketplace")
    assert market.functions.hasAccess(upload.dataset_id, dapp.address(BUYER)).call()
    return seen


def test_explore_shows_a_new_listing_live(
    dapp: Dapp, catalog: Catalog, buyer: BrowserContext, new_context: ContextFactory
) -> None:
    # Given a buyer on the explore page
    page = buyer.new_page()
    page.goto(dapp.page_url("/"))
    expect(card(page, catalog.penguins.dataset_id)).to_be_visible()
    expect(card(page, catalog.iris.dataset_id)).to_be_visible()
    page.evaluate("() => { window.__sameDocument = true; }")
    # When a provider, in another browser context, lists a dataset through its wallet
    provider_page = new_context(wallet=dapp.wallet(PROVIDER)).new_page()
    provider_page.goto(dapp.page_url("/"))
    upload = dapp.upload("Live puffin counts", small_csv(12, seed=3))
    provider = dapp.address(PROVIDER)
    assert wallet_request(provider_page, "eth_requestAccounts") == [provider]
    tx = {"from": provider, "to": upload["listing"]["to"], "data": upload["listing"]["data"]}
    receipt = dapp.w3.eth.wait_for_transaction_receipt(
        wallet_request(provider_page, "eth_sendTransaction", [tx])
    )
    assert receipt["status"] == 1
    dataset_id = int(dapp.platform.client.contract("Marketplace").functions.datasetCount().call())
    # Then its card appears on the buyer's page, without a reload
    expect(card(page, dataset_id)).to_be_visible(timeout=20_000)
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"


def test_search_narrows_the_results(dapp: Dapp, catalog: Catalog, buyer: BrowserContext) -> None:
    page = buyer.new_page()
    page.goto(dapp.page_url("/"))
    expect(card(page, catalog.iris.dataset_id)).to_be_visible()
    page.get_by_test_id("search").fill("penguin")
    expect(card(page, catalog.iris.dataset_id)).to_have_count(0)
    expect(card(page, catalog.penguins.dataset_id)).to_be_visible()
    page.get_by_test_id("search").fill("no such words anywhere")
    expect(page.get_by_test_id("results-empty")).to_be_visible()
    expect(page.get_by_test_id("dataset-card")).to_have_count(0)
    page.get_by_test_id("search").fill("")
    expect(card(page, catalog.iris.dataset_id)).to_be_visible()


def test_buy_with_a_permit_then_download(dapp: Dapp, buyer: BrowserContext) -> None:
    upload = dapp.publish("Seabird weights", small_csv(25, seed=4), price=2 * WAD)
    page = buyer.new_page()
    open_dataset(page, dapp, upload)
    expect(page.get_by_test_id("dataset-schema")).to_contain_text("species")
    expect(page.get_by_test_id("download-button")).to_be_disabled()
    # When the buyer buys: one permit signature, one purchase transaction
    seen = buy_to_final(page, dapp, upload)
    calls = wallet_calls(page)
    assert "eth_signTypedData_v4" in calls and "eth_sendTransaction" in calls, calls
    assert any(s.startswith("confirmations") or s in {"pending", "mined"} for s in seen), seen
    # Then, once final, the download is the uploaded file
    sign_in(page)
    download_button = page.get_by_test_id("download-button")
    expect(download_button).to_be_enabled()
    with page.expect_download() as info:
        download_button.click()
    path = info.value.path()
    assert path.read_bytes() == upload.data


def test_a_price_raised_after_the_page_loaded_reverts_with_a_sentence(
    dapp: Dapp, buyer: BrowserContext
) -> None:
    upload = dapp.publish("Volatile prices", small_csv(10, seed=5), price=4 * WAD)
    raised: list[str] = []

    def before_sign(source: Any, request: dict[str, Any]) -> None:
        # Between the buyer's click and the wallet's answer, the provider raises the price
        signing = {"eth_signTypedData_v4", "eth_sendTransaction"}
        if request["method"] in signing and not raised:
            dapp.set_price(upload.dataset_id, 9 * WAD)
            raised.append(request["method"])

    buyer.expose_binding("__datacoinWalletBeforeSign", before_sign)
    page = buyer.new_page()
    open_dataset(page, dapp, upload)
    connect(page, dapp.address(BUYER))
    page.get_by_test_id("buy-button").click()
    expect(page.get_by_test_id("tx-status")).to_have_text("failed", timeout=30_000)
    expect(page.get_by_test_id("tx-error")).to_have_text(re.compile(r"price", re.I))
    assert raised, "the wallet was never asked to sign"
    market = dapp.platform.client.contract("Marketplace")
    assert not market.functions.hasAccess(upload.dataset_id, dapp.address(BUYER)).call()


def test_a_rejected_signature_shows_cancelled(
    dapp: Dapp, catalog: Catalog, new_context: ContextFactory
) -> None:
    context = new_context(wallet=dapp.wallet(BUYER, reject_signatures=True))
    page = context.new_page()
    open_dataset(page, dapp, catalog.penguins)
    buyer = dapp.address(BUYER)
    nonce = dapp.w3.eth.get_transaction_count(buyer)  # type: ignore[arg-type]
    connect(page, buyer)
    page.get_by_test_id("buy-button").click()
    expect(page.get_by_test_id("tx-status")).to_have_text("cancelled")
    assert dapp.w3.eth.get_transaction_count(buyer) == nonce  # type: ignore[arg-type]
    expect(page.get_by_test_id("buy-button")).to_be_enabled()  # the buyer may try again


def test_the_wrong_network_banner_switches_to_the_chain(
    dapp: Dapp, catalog: Catalog, new_context: ContextFactory
) -> None:
    context = new_context(wallet=dapp.wallet(BUYER, start_chain_id=1))
    page = context.new_page()
    page.goto(dapp.dataset_url(catalog.iris.dataset_id))
    connect(page, dapp.address(BUYER))
    expect(page.get_by_test_id("wrong-network")).to_be_visible()
    page.get_by_test_id("switch-network").click()
    expect(page.get_by_test_id("wrong-network")).to_be_hidden()
    assert "wallet_switchEthereumChain" in wallet_calls(page)


def test_explore_dataset_buy_at_phone_width(
    dapp: Dapp, catalog: Catalog, new_context: ContextFactory
) -> None:
    upload = dapp.publish("Pocket-sized data", small_csv(8, seed=6), price=1 * WAD)
    page = new_context(wallet=dapp.wallet(BUYER), **PHONE).new_page()
    page.goto(dapp.page_url("/"))
    item = card(page, upload.dataset_id)
    expect(item).to_be_visible()
    no_horizontal_scroll(page)
    link = item.locator("a[href*='/dataset/']")
    (link.first if link.count() else item).click()
    expect(page).to_have_url(re.compile(rf"/dataset/\?id={upload.dataset_id}\b"))
    expect(page.get_by_test_id("dataset-title")).to_have_text(upload.title)
    no_horizontal_scroll(page)
    buy_to_final(page, dapp, upload)
    no_horizontal_scroll(page)
