"""The publish journey in a real browser, end to end: a provider uploads a file through the
Publish page (progress, then a review of the profile the platform computed), lists it from
its wallet; the listing appears live on a buyer's open Explore page (another browser
context), the buyer buys it, downloads exactly the uploaded bytes, and rates it once.

They skip until the static export exists (web/out/index.html)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.indexer.activity import WAD
from tests.web.conftest import ContextFactory
from tests.web.dapp import (
    BUYER,
    DAPP_MISSING,
    PROVIDER,
    Dapp,
    card,
    connect,
    dapp_built,
    sign_in,
    small_csv,
    wait_final,
)
from tests.web.test_a11y import serious_violations
from tests.web.wallet import wallet_calls

pytestmark = pytest.mark.skipif(not dapp_built(), reason=DAPP_MISSING)

DAY_S = 86_400


def fill_publish_form(page: Page, *, title: str, data: bytes, price: str, days: int | None) -> None:
    page.get_by_test_id("publish-file").set_input_files(
        {"name": "otters.csv", "mimeType": "text/csv", "buffer": data}
    )
    page.get_by_test_id("publish-title").fill(title)
    page.get_by_test_id("publish-description").fill("Otter sightings by river and season")
    page.get_by_test_id("publish-category").fill("tabular")
    page.get_by_test_id("publish-tags").fill("otters, rivers")
    page.get_by_test_id("publish-price").fill(price)
    if days is not None:
        page.get_by_test_id("publish-subscription").check()
        page.get_by_test_id("publish-access-days").fill(str(days))


def wait_for_text(page: Page, dapp: Dapp, testid: str, wanted: str, timeout: float = 60) -> None:
    """Mine a block at a time until `testid` reads `wanted` (confirmations need blocks)."""
    element = page.get_by_test_id(testid)
    deadline = time.monotonic() + timeout
    while (text := element.inner_text().strip() if element.count() else "") != wanted:
        assert "failed" not in text, text
        assert time.monotonic() < deadline, f"{testid} reads {text!r}, not {wanted!r}"
        dapp.mine(1)
        time.sleep(0.25)


def test_publish_in_the_browser_then_a_buyer_sees_it_live_buys_downloads_and_rates(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    data = small_csv(40, seed=11)
    title = "Otter sightings"
    # Given a buyer with the Explore page open
    watcher = new_context(wallet=dapp.wallet(BUYER), accept_downloads=True).new_page()
    watcher.goto(dapp.page_url("/"))
    expect(watcher.get_by_test_id("search")).to_be_visible()
    watcher.evaluate("() => { window.__sameDocument = true; }")
    market = dapp.platform.client.contract("Marketplace")
    listed_before = int(market.functions.datasetCount().call())

    # When the provider uploads a file through the Publish page (a 30-day subscription)
    page = new_context(wallet=dapp.wallet(PROVIDER)).new_page()
    page.goto(dapp.page_url("/publish/"))
    connect(page, dapp.address(PROVIDER))
    fill_publish_form(page, title=title, data=data, price="2.5", days=30)
    page.get_by_test_id("publish-submit").click()
    # Then it shows the upload's progress and what the platform computed, and lists nothing yet
    expect(page.get_by_test_id("upload-result")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("upload-progress")).to_have_attribute("value", "1")
    expect(page.get_by_test_id("review-rows")).to_have_text("40")
    expect(page.get_by_test_id("review-price")).to_have_text("2.5 DATACOIN")
    expect(page.get_by_test_id("review-access")).to_contain_text("30 days")
    columns = page.get_by_test_id("review-columns")
    for column in ("id", "height_cm", "weight_kg", "species"):
        expect(columns).to_contain_text(column)
    assert int(market.functions.datasetCount().call()) == listed_before
    assert serious_violations(page) == []  # axe-core on the review step

    # When the provider lists it from the wallet
    page.get_by_test_id("publish-list").click()
    seen = wait_final(page, dapp)
    assert any(s == "mined" or s.startswith("confirmations") for s in seen), seen
    dataset_id = listed_before + 1
    assert int(market.functions.datasetCount().call()) == dataset_id
    expect(page.get_by_test_id("publish-dataset-link")).to_have_attribute(
        "href", re.compile(rf"/dataset/\?id={dataset_id}&chain={dapp.chain_id}")
    )
    # Marketplace.Dataset: (provider, accessDuration, active, ratingCount, ratingSum, price, ...)
    on_chain = market.functions.getDataset(dataset_id).call()
    assert on_chain[0] == dapp.address(PROVIDER)
    assert (on_chain[1], on_chain[5]) == (30 * DAY_S, 25 * WAD // 10), on_chain

    # Then it appears on the buyer's open Explore page without a reload
    item = card(watcher, dataset_id)
    expect(item).to_be_visible(timeout=20_000)
    expect(item).to_contain_text(title)
    assert watcher.evaluate("() => window.__sameDocument === true"), "the page was reloaded"

    # And the buyer buys it, downloads the uploaded bytes once final, and rates it
    item.locator("a[href*='/dataset/']").first.click()
    expect(watcher.get_by_test_id("dataset-title")).to_have_text(title)
    connect(watcher, dapp.address(BUYER))
    watcher.get_by_test_id("buy-button").click()
    wait_final(watcher, dapp)
    sign_in(watcher)
    with watcher.expect_download() as info:
        watcher.get_by_test_id("download-button").click()
    assert info.value.path().read_bytes() == data
    watcher.get_by_test_id("rate-score").select_option("4")
    watcher.get_by_test_id("rate-button").click()
    wait_for_text(watcher, dapp, "rate-status", "final")
    dapp.wait_for(lambda: dapp.dataset(dataset_id).get("rating_count") == 1, "rating indexed")
    expect(watcher.get_by_test_id("dataset-rating")).to_contain_text("(1)", timeout=20_000)


def test_a_bad_price_is_refused_before_anything_is_uploaded_or_signed(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    page = new_context(wallet=dapp.wallet(PROVIDER)).new_page()
    page.goto(dapp.page_url("/publish/"))
    connect(page, dapp.address(PROVIDER))
    assert serious_violations(page) == []  # axe-core on the form
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if "/uploads" in r.url else None)
    fill_publish_form(page, title="Priceless", data=small_csv(3), price="two coins", days=None)
    page.get_by_test_id("publish-submit").click()
    expect(page.get_by_test_id("publish-error")).to_have_text(re.compile("price", re.I))
    assert uploads == []
    assert not {"personal_sign", "eth_sendTransaction"} & set(wallet_calls(page))


def test_an_upload_the_api_refuses_shows_its_reason(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    page = new_context(wallet=dapp.wallet(PROVIDER)).new_page()
    page.goto(dapp.page_url("/publish/"))
    connect(page, dapp.address(PROVIDER))
    # A file that is not UTF-8 text: the API answers 400 naming the byte offset
    fill_publish_form(page, title="Garbled", data=b"a,b\n1,\xff\xfe\n", price="1", days=None)
    page.get_by_test_id("publish-submit").click()
    expect(page.get_by_test_id("publish-error")).to_have_text(
        re.compile("UTF-8", re.I), timeout=30_000
    )
    expect(page.get_by_test_id("upload-result")).to_have_count(0)
    assert "eth_sendTransaction" not in wallet_calls(page)


def test_explore_filters_by_provider(dapp: Dapp, new_context: ContextFactory) -> None:
    upload = dapp.publish("Provider-filtered otters", small_csv(4, seed=12))
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(dapp.page_url("/"))
    expect(card(page, upload.dataset_id)).to_be_visible()
    page.get_by_test_id("provider-filter").fill(dapp.address(BUYER))
    expect(card(page, upload.dataset_id)).to_have_count(0)
    expect(page.get_by_test_id("results-empty")).to_be_visible()
    page.get_by_test_id("provider-filter").fill(dapp.address(PROVIDER).lower())
    expect(card(page, upload.dataset_id)).to_be_visible()
