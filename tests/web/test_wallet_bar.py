"""The header's wallet bar: wallets discovered through EIP-6963 (and none offered where
the browser has none), WalletConnect hidden while no project id is set, and a sign-out that
revokes the API session, not only forgets it in the page."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.conftest import ContextFactory
from tests.web.dapp import BUYER, DAPP_MISSING, Dapp, connect, dapp_built, sign_in
from tests.web.wallet import RDNS

pytestmark = pytest.mark.skipif(not dapp_built(), reason=DAPP_MISSING)


def test_a_browser_without_a_wallet_is_told_so(dapp: Dapp, new_context: ContextFactory) -> None:
    page = new_context().new_page()
    page.goto(dapp.page_url("/"))
    page.get_by_test_id("connect-wallet").click()
    expect(page.get_by_role("menu")).to_contain_text("No wallet found in this browser")
    expect(page.get_by_test_id("wallet-option")).to_have_count(0)


def test_the_announced_wallet_is_offered_and_walletconnect_is_hidden_without_a_project(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    assert dapp.settings.walletconnect_project_id is None
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(dapp.page_url("/"))
    page.get_by_test_id("connect-wallet").click()
    options = page.get_by_test_id("wallet-option")
    expect(options).to_have_count(1)
    expect(options).to_have_attribute("data-rdns", RDNS)
    expect(page.locator('[data-rdns="walletconnect"]')).to_have_count(0)


def test_sign_out_revokes_the_session(dapp: Dapp, new_context: ContextFactory) -> None:
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(dapp.page_url("/"))
    connect(page, dapp.address(BUYER))
    with page.expect_response(lambda r: r.url.endswith("/auth/verify")) as verified:
        sign_in(page)
    token = verified.value.json()["token"]
    me = httpx.get(f"{dapp.url}/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    # When the user signs out
    with page.expect_response(lambda r: r.url.endswith("/auth/logout")):
        page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("sign-in")).to_be_visible()
    # Then the token no longer opens anything
    me = httpx.get(f"{dapp.url}/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401, me.text
