"""The dApp on two chains, in a real browser: two anvils (home 31337, second 31338) with the
platform deployed on both, bridged, and one stack indexing both and relaying the bridge.
The header's chain picker sets the current chain (remembered across loads); publishing on
the second chain asks the wallet to switch and lists there; Explore shows the listing with
its chain badge; a buyer whose wallet is on the home chain (and does not know the second
one) buys it: the wallet is asked to switch, then to add the chain, and the purchase lands
on the second chain. Declining the switch says so and sends nothing.

They skip until the static export exists (web/out/index.html)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.indexer.activity import WAD
from tests.web.conftest import ContextFactory
from tests.web.dapp import (
    BUYER,
    DAPP_MISSING,
    HOME_NAME,
    PROVIDER,
    SECOND_CHAIN_ID,
    SECOND_NAME,
    Dapp,
    card,
    connect,
    dapp_built,
    running_dapp,
    small_csv,
    wait_final,
)
from tests.web.test_a11y import serious_violations
from tests.web.test_publish import fill_publish_form
from tests.web.wallet import wallet_calls, wallet_chain_id, wallet_requests

pytestmark = pytest.mark.skipif(not dapp_built(), reason=DAPP_MISSING)

HOME_CHAIN_ID = 31337
SIGNING = {"eth_sendTransaction", "eth_signTypedData_v4"}


@pytest.fixture(scope="module")
def dapp(
    migrated_template: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dapp]:
    """A stack on two bridged chains for this module; the buyer bridged 100 DATACOIN to the
    second chain (its only way there)."""
    with running_dapp(
        migrated_template, redis_url, tmp_path_factory.mktemp("dapp2"), bridge=True
    ) as running:
        assert [r.chain_id for r in running.remotes] == [SECOND_CHAIN_ID]
        running.bridge_out(BUYER, 100 * WAD)
        yield running


def switches(page: Page) -> list[int]:
    """The chain ids the page asked the wallet to switch to, in order."""
    return [
        int(r["params"][0]["chainId"], 16)
        for r in wallet_requests(page)
        if r["method"] == "wallet_switchEthereumChain"
    ]


def balance(dapp: Dapp, chain_id: int, index: int) -> int:
    coin = dapp.on(chain_id).client.contract("DataCoin")
    return int(coin.functions.balanceOf(dapp.address(index)).call())


def pick_chain(page: Page, chain_id: int) -> None:
    picker = page.get_by_test_id("chain-select")
    picker.select_option(str(chain_id))
    expect(picker).to_have_value(str(chain_id))


def test_publish_on_the_second_chain_then_buy_there_from_a_wallet_on_home(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    remote = dapp.on(SECOND_CHAIN_ID)
    remote_market = remote.client.contract("Marketplace")
    home_market = dapp.platform.client.contract("Marketplace")
    home_listed = int(home_market.functions.datasetCount().call())
    remote_listed = int(remote_market.functions.datasetCount().call())
    title = "Second-chain otters"
    data = small_csv(12, seed=21)

    # Given a provider connected on the home chain
    page = new_context(wallet=dapp.wallet(PROVIDER)).new_page()
    page.goto(dapp.page_url("/publish/"))
    connect(page, dapp.address(PROVIDER))
    assert wallet_chain_id(page) == HOME_CHAIN_ID
    picker = page.get_by_test_id("chain-select")
    expect(picker).to_have_value(str(HOME_CHAIN_ID))  # the home chain until one is picked
    expect(picker.locator("option")).to_have_text([f"{HOME_NAME} — home", SECOND_NAME])

    # When they pick the second chain and publish there
    pick_chain(page, SECOND_CHAIN_ID)
    expect(page.get_by_test_id("publish-chain")).to_contain_text(SECOND_NAME)
    expect(page.get_by_test_id("publish-chain")).to_contain_text("asked to switch")
    fill_publish_form(page, title=title, data=data, price="3", days=None)
    page.get_by_test_id("publish-submit").click()
    expect(page.get_by_test_id("upload-result")).to_be_visible(timeout=30_000)
    assert switches(page) == []  # nothing asked of the network before the listing
    page.get_by_test_id("publish-list").click()
    wait_final(page, dapp)

    # Then the wallet was asked to switch to the second chain, and the listing is there
    assert switches(page) == [SECOND_CHAIN_ID]
    assert wallet_chain_id(page) == SECOND_CHAIN_ID
    dataset_id = remote_listed + 1
    assert int(remote_market.functions.datasetCount().call()) == dataset_id
    assert remote_market.functions.getDataset(dataset_id).call()[0] == dapp.address(PROVIDER)
    assert int(home_market.functions.datasetCount().call()) == home_listed
    expect(page.get_by_test_id("publish-dataset-link")).to_have_attribute(
        "href", re.compile(rf"/dataset/\?id={dataset_id}&chain={SECOND_CHAIN_ID}")
    )

    # And Explore (the choice remembered across loads) shows it with its chain badge
    page.goto(dapp.page_url("/"))
    expect(page.get_by_test_id("chain-select")).to_have_value(str(SECOND_CHAIN_ID))
    expect(page.get_by_test_id("chain-filter")).to_have_value(str(SECOND_CHAIN_ID))
    item = card(page, dataset_id)
    expect(item).to_have_attribute("data-chain-id", str(SECOND_CHAIN_ID), timeout=20_000)
    expect(item).to_contain_text(title)
    badge = item.get_by_test_id("chain-badge")
    expect(badge).to_have_text(SECOND_NAME)
    expect(badge).to_have_attribute("data-chain-id", str(SECOND_CHAIN_ID))
    # The home chain (picked in the header) has no such listing
    pick_chain(page, HOME_CHAIN_ID)
    expect(page.get_by_test_id("chain-filter")).to_have_value(str(HOME_CHAIN_ID))
    expect(page.get_by_test_id("dataset-card")).to_have_count(0)

    # When a buyer whose wallet is on home (knowing no other network) finds it on Explore
    paid_before = balance(dapp, SECOND_CHAIN_ID, BUYER)
    home_before = balance(dapp, HOME_CHAIN_ID, BUYER)
    buyer = new_context(wallet=dapp.wallet(BUYER, chains={})).new_page()
    buyer.goto(dapp.page_url("/"))
    expect(buyer.get_by_test_id("chain-select")).to_have_value(str(HOME_CHAIN_ID))
    buyer.get_by_test_id("chain-filter").select_option("")  # all chains
    found = card(buyer, dataset_id)
    expect(found.get_by_test_id("chain-badge")).to_have_text(SECOND_NAME)
    found.locator("a[href*='/dataset/']").first.click()
    expect(buyer.get_by_test_id("dataset-title")).to_have_text(title)
    expect(buyer.get_by_test_id("dataset-chain")).to_have_attribute(
        "data-chain-id", str(SECOND_CHAIN_ID)
    )
    connect(buyer, dapp.address(BUYER))
    expect(buyer.get_by_test_id("switch-hint")).to_contain_text(SECOND_NAME)
    buyer.get_by_test_id("buy-button").click()
    wait_final(buyer, dapp)

    # Then the wallet was asked to switch, did not know the chain (4902), was asked to add it
    # from /deployments, and the purchase landed on the second chain only
    requests = wallet_requests(buyer)
    methods = [r["method"] for r in requests]
    switch = methods.index("wallet_switchEthereumChain")
    add = methods.index("wallet_addEthereumChain")
    assert switch < add < methods.index("eth_signTypedData_v4"), methods
    added = requests[add]["params"][0]
    assert int(added["chainId"], 16) == SECOND_CHAIN_ID
    assert added["rpcUrls"] == [dapp.remotes[0].node.url]
    assert added["chainName"] == SECOND_NAME
    assert wallet_chain_id(buyer) == SECOND_CHAIN_ID
    assert remote_market.functions.hasPurchased(dataset_id, dapp.address(BUYER)).call()
    assert balance(dapp, SECOND_CHAIN_ID, BUYER) == paid_before - 3 * WAD
    assert balance(dapp, HOME_CHAIN_ID, BUYER) == home_before


def test_declining_the_switch_says_so_and_sends_nothing(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    # Given a dataset on the second chain and a buyer whose wallet is on home
    upload = dapp.publish("Declined otters", small_csv(4, seed=22), chain_id=SECOND_CHAIN_ID)
    before = balance(dapp, SECOND_CHAIN_ID, BUYER)
    page = new_context(wallet=dapp.wallet(BUYER, reject_switch=True)).new_page()
    page.goto(dapp.dataset_url(upload.dataset_id, SECOND_CHAIN_ID))
    expect(page.get_by_test_id("dataset-title")).to_have_text(upload.title)
    connect(page, dapp.address(BUYER))

    # When they buy and decline the wallet's request to switch networks
    page.get_by_test_id("buy-button").click()

    # Then the page says which chain was needed and that nothing was sent
    error = page.get_by_test_id("tx-error")
    expect(error).to_contain_text("declined to switch")
    expect(error).to_contain_text(SECOND_NAME)
    expect(error).to_contain_text("Nothing was signed or sent")
    expect(page.get_by_test_id("tx-status")).to_have_text("cancelled")
    assert switches(page) == [SECOND_CHAIN_ID]
    assert not SIGNING & set(wallet_calls(page)), wallet_calls(page)
    assert wallet_chain_id(page) == HOME_CHAIN_ID
    market = dapp.on(SECOND_CHAIN_ID).client.contract("Marketplace")
    assert not market.functions.hasPurchased(upload.dataset_id, dapp.address(BUYER)).call()
    assert balance(dapp, SECOND_CHAIN_ID, BUYER) == before


def test_the_chain_picker_is_labelled_and_has_no_serious_violations(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(dapp.page_url("/"))
    picker = page.get_by_role("combobox", name="Chain", exact=True)
    expect(picker).to_have_attribute("data-testid", "chain-select")
    expect(page.get_by_role("combobox", name="Filter by chain")).to_be_visible()
    assert serious_violations(page) == []
    # Keyboard: focus the picker and choose the second chain with the arrow key
    picker.focus()
    page.keyboard.press("ArrowDown")
    expect(picker).to_have_value(str(SECOND_CHAIN_ID))
    assert page.evaluate("() => localStorage.getItem('datacoin:chain')") == str(SECOND_CHAIN_ID)
    assert serious_violations(page) == []
