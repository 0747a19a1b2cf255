"""The account page in a real browser against the real stack: a provider edits its profile
(sign-in, POST /profiles, setProfile from the wallet → final) and the account and dataset
pages show it; an invalid profile shows the API's sentence and sends no transaction; a
buyer's page lists its purchase and activity; long lists page with "Load more"; a phone's
width. They skip until the static export exists (web/out/index.html)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.indexer.activity import WAD
from tests.web.conftest import ContextFactory
from tests.web.dapp import (
    BUYER,
    DAPP_MISSING,
    PROVIDER,
    Dapp,
    Upload,
    connect,
    dapp_built,
    small_csv,
    wait_final,
)
from tests.web.profiles import avatar_png, buy, shown_profile
from tests.web.test_journeys import PHONE, no_horizontal_scroll
from tests.web.wallet import wallet_calls

pytestmark = pytest.mark.skipif(not dapp_built(), reason=DAPP_MISSING)

PAGE_SIZE = 10  # web/src/app/account/PagedSection.tsx
NAME = "Ada of Palmer Station"
BIO = "Penguin counts, 2007-2009.\nAsk me about bills."
LINKS = ["https://example.org/ada", "https://pal.lternet.edu/"]


@dataclass
class Market:
    listed: Upload


@pytest.fixture(scope="module")
def market(dapp: Dapp) -> Market:
    """One dataset of the provider's, bought by the buyer (through web3)."""
    listed = dapp.publish("Krill densities", small_csv(12, seed=7), price=2 * WAD)
    buy(dapp, BUYER, listed.dataset_id, listed.price)
    return Market(listed=listed)


def own_account_page(page: Page, dapp: Dapp, index: int) -> None:
    """/account/ with the wallet connected: the page is the connected account's."""
    page.goto(dapp.page_url("/account/"))
    connect(page, dapp.address(index))
    expect(page.get_by_test_id("account-page-address")).to_have_text(dapp.address(index))


def test_the_provider_edits_its_profile_and_the_pages_show_it(
    dapp: Dapp, market: Market, new_context: ContextFactory
) -> None:
    provider = dapp.address(PROVIDER)
    page = new_context(wallet=dapp.wallet(PROVIDER)).new_page()
    own_account_page(page, dapp, PROVIDER)
    # When the provider fills in its profile with an avatar and saves it
    page.get_by_test_id("profile-edit").click()
    page.get_by_test_id("profile-name-input").fill(NAME)
    page.get_by_test_id("profile-bio-input").fill(BIO)
    page.get_by_test_id("profile-links-input").fill("\n".join(LINKS))
    avatar = avatar_png()
    page.get_by_test_id("profile-avatar-input").set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": avatar}
    )
    page.get_by_test_id("profile-save").click()
    # Then it signs in, and setProfile goes from the wallet to final
    seen = wait_final(page, dapp)
    assert any(s.startswith("confirmations") or s in {"pending", "mined"} for s in seen), seen
    calls = wallet_calls(page)
    assert "personal_sign" in calls and "eth_sendTransaction" in calls, calls
    # And the page shows the profile from the read model, avatar included
    expect(page.get_by_test_id("profile-name")).to_have_text(NAME, timeout=30_000)
    expect(page.get_by_test_id("profile-sync")).to_contain_text("saved and shown")
    expect(page.get_by_test_id("profile-bio")).to_have_text(BIO)
    for link in LINKS:
        expect(page.get_by_test_id("profile-links").get_by_role("link", name=link)).to_be_visible()
    image = page.get_by_test_id("profile-avatar")
    expect(image).to_be_visible()
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    assert image.evaluate("(img) => [img.naturalWidth, img.naturalHeight]") == [48, 32]
    shown = shown_profile(dapp, provider)
    profiles = dapp.platform.client.contract("Profiles")
    assert profiles.functions.profileOf(provider).call() == shown["profile_cid"]
    # And the dataset page's provider line is the name, linking to the account page
    page.goto(dapp.dataset_url(market.listed.dataset_id))
    provider_link = page.get_by_test_id("provider-link")
    expect(provider_link).to_have_text(NAME)
    provider_link.click()
    expect(page).to_have_url(re.compile(rf"/account/\?address={provider}$", re.I))
    expect(page.get_by_test_id("profile-name")).to_have_text(NAME)
    expect(page.get_by_test_id("listing-item")).to_contain_text([market.listed.title])


def test_an_invalid_profile_shows_the_apis_sentence_and_sends_nothing(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    provider = dapp.address(PROVIDER)
    profiles = dapp.platform.client.contract("Profiles")
    before = profiles.functions.profileOf(provider).call()
    nonce = dapp.w3.eth.get_transaction_count(provider)  # type: ignore[arg-type]
    page = new_context(wallet=dapp.wallet(PROVIDER)).new_page()
    own_account_page(page, dapp, PROVIDER)
    page.get_by_test_id("profile-edit").click()
    error = page.get_by_test_id("profile-error")
    # A name over the 64-character limit
    page.get_by_test_id("profile-name-input").fill("x" * 65)
    page.get_by_test_id("profile-save").click()
    expect(error).to_have_text("Display name: string should have at most 64 characters.")
    # A NUL byte in the bio
    page.get_by_test_id("profile-name-input").fill("Ada")
    page.get_by_test_id("profile-bio-input").fill("before\x00after")
    page.get_by_test_id("profile-save").click()
    expect(error).to_have_text("Bio: must not contain control characters.")
    # A link that is not https
    page.get_by_test_id("profile-bio-input").fill("")
    page.get_by_test_id("profile-links-input").fill("https://example.org/\nhttp://plain.org/")
    page.get_by_test_id("profile-save").click()
    expect(error).to_have_text("Link 2: must be an https:// URL with a host and no spaces.")
    # Then no transaction was sent, and the profile on chain is as it was
    assert "eth_sendTransaction" not in wallet_calls(page)
    expect(page.get_by_test_id("tx-status")).to_have_count(0)
    assert dapp.w3.eth.get_transaction_count(provider) == nonce  # type: ignore[arg-type]
    assert profiles.functions.profileOf(provider).call() == before


def test_the_buyers_page_lists_its_purchase_and_activity(
    dapp: Dapp, market: Market, new_context: ContextFactory
) -> None:
    buyer = dapp.address(BUYER)
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(dapp.page_url(f"/account/?address={buyer}"))
    expect(page.get_by_test_id("account-page-address")).to_have_text(buyer)
    dataset_id = market.listed.dataset_id
    bought = page.locator(f'[data-testid="purchase-item"][data-dataset-id="{dataset_id}"]')
    expect(bought).to_contain_text(f"Dataset #{dataset_id}")
    expect(bought.get_by_role("link")).to_have_attribute("href", re.compile(rf"id={dataset_id}\b"))
    activity = page.locator('[data-testid="activity-item"][data-event="Purchased"]')
    expect(activity).to_contain_text(f"Bought dataset #{dataset_id} for 2 DATACOIN")
    # And what it has none of says so
    expect(page.get_by_test_id("account-listings-empty")).to_have_text("No listings.")
    expect(page.get_by_test_id("account-jobs-empty")).to_have_text("No training jobs.")
    expect(page.get_by_test_id("account-stake-empty")).to_have_text("No stake.")
    expect(page.get_by_test_id("profile-empty")).to_be_visible()
    expect(page.get_by_test_id("profile-edit")).to_have_count(0)  # not the connected account
    # And the seller's activity shows the sale
    page.goto(dapp.page_url(f"/account/?address={dapp.address(PROVIDER)}"))
    sold = page.locator('[data-testid="activity-item"][data-event="Purchased"][data-role="seller"]')
    expect(sold).to_contain_text(f"Sold dataset #{dataset_id}")


def test_long_lists_load_more_with_the_cursor(
    dapp: Dapp, market: Market, new_context: ContextFactory
) -> None:
    # Given a provider with more listings than a page holds (one upload, listed again)
    upload = dapp.upload("Repeated census", small_csv(4, seed=8))
    for _ in range(PAGE_SIZE + 1):
        last = dapp.list_upload(upload)
    dapp.wait_for(lambda: dapp.dataset(last).get("title") == "Repeated census", "listings shown")
    provider = dapp.address(PROVIDER)
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(dapp.page_url(f"/account/?address={provider}"))
    listings = page.get_by_test_id("listing-item")
    expect(listings).to_have_count(PAGE_SIZE)
    # When the reader asks for more, the next page follows (no item twice), then no more
    page.get_by_test_id("account-listings-more").click()
    expect(listings).to_have_count(PAGE_SIZE + 2)
    expect(page.get_by_test_id("account-listings-more")).to_have_count(0)
    hrefs = listings.get_by_role("link").evaluate_all("(links) => links.map((a) => a.href)")
    assert len(set(hrefs)) == PAGE_SIZE + 2, hrefs
    activity = page.get_by_test_id("activity-item")
    expect(activity).to_have_count(PAGE_SIZE)
    page.get_by_test_id("account-activity-more").click()
    expect(activity).to_have_count(PAGE_SIZE + 3)  # 12 listings and 1 sale


def test_the_own_account_page_at_phone_width(
    dapp: Dapp, market: Market, new_context: ContextFactory
) -> None:
    page = new_context(wallet=dapp.wallet(PROVIDER), **PHONE).new_page()
    own_account_page(page, dapp, PROVIDER)
    expect(page.get_by_test_id("listing-item").first).to_be_visible()
    expect(page.get_by_test_id("activity-item").first).to_be_visible()
    no_horizontal_scroll(page)
    page.get_by_test_id("profile-edit").click()
    expect(page.get_by_test_id("profile-form")).to_be_visible()
    no_horizontal_scroll(page)
