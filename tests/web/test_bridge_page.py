"""The bridge page in a real browser, on two bridged anvils with the stack's relayer: lock
DATACOIN on the home chain (one permit + lockWithPermit), follow the transfer live
(pending with its confirmations → final → delivered) until the relayer mints it on the
second chain and the balance there rises; then burn some back on the second chain (the
wallet switches) until the vault releases it on home. Both transactions' hashes are the
chains' own; the account's transfers are listed.

They skip until the static export exists (web/out/index.html)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eth_typing import HexStr
from playwright.sync_api import Page, expect
from web3 import Web3
from web3.logs import DISCARD

from tests.indexer.activity import WAD
from tests.web.conftest import ContextFactory
from tests.web.dapp import (
    BUYER,
    DAPP_MISSING,
    HOME_NAME,
    SECOND_CHAIN_ID,
    SECOND_NAME,
    Dapp,
    connect,
    dapp_built,
    running_dapp,
    wait_final,
)
from tests.web.test_a11y import serious_violations
from tests.web.wallet import wallet_calls, wallet_chain_id, wallet_requests

pytestmark = pytest.mark.skipif(not dapp_built(), reason=DAPP_MISSING)

ORDER = ["indexing", "pending", "final", "delivered"]


@pytest.fixture(scope="module")
def dapp(
    migrated_template: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dapp]:
    """Two bridged chains and a stack that relays the bridge, for this module."""
    with running_dapp(
        migrated_template, redis_url, tmp_path_factory.mktemp("bridge"), bridge=True
    ) as running:
        yield running


def balance(dapp: Dapp, chain_id: int, index: int) -> int:
    coin = dapp.on(chain_id).client.contract("DataCoin")
    return int(coin.functions.balanceOf(dapp.address(index)).call())


def follow_until_delivered(page: Page, dapp: Dapp, timeout: float = 90) -> dict[str, Any]:
    """Mine a block at a time, once the page shows the transfer, until it reads
    `delivered`: the states and confirmation counts the page showed on the way."""
    card = page.get_by_test_id("bridge-transfer")
    expect(card).to_be_visible()
    states: list[str] = []
    counts: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        state = card.get_attribute("data-state") or ""
        if not states or states[-1] != state:
            states.append(state)
        shown = page.get_by_test_id("bridge-transfer-confirmations")
        if shown.count():
            text = shown.inner_text().strip()
            if not counts or counts[-1] != text:
                counts.append(text)
        if state == "delivered":
            return {"states": states, "counts": counts}
        assert time.monotonic() < deadline, f"never delivered: {states} {counts}"
        if state in {"pending", "final"}:  # blocks come once the page shows the transfer
            dapp.mine(1)
        time.sleep(0.4)


def delivered_event(w3: Web3, contract: Any, event: str, tx_hash: str) -> Any:
    receipt = w3.eth.get_transaction_receipt(HexStr(tx_hash))
    assert receipt["status"] == 1
    # The token's Transfer/Approval logs are not the bridge's: skipped without a warning
    events = getattr(contract.events, event)().process_receipt(receipt, errors=DISCARD)
    assert len(events) == 1, events
    return events[0]["args"]


def test_lock_to_the_second_chain_then_burn_back_followed_live(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    remote = dapp.on(SECOND_CHAIN_ID)
    home_id = dapp.chain_id
    home_before = balance(dapp, home_id, BUYER)
    assert balance(dapp, SECOND_CHAIN_ID, BUYER) == 0

    # Given the buyer on the bridge page, its wallet on the home chain
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(dapp.page_url("/bridge/"))
    connect(page, dapp.address(BUYER))
    expect(page.get_by_test_id("bridge-balance-home")).to_have_text(
        f"{home_before // WAD} DATACOIN"
    )
    expect(page.get_by_test_id("bridge-balance-remote")).to_have_text("0 DATACOIN")
    expect(page.get_by_test_id("bridge-direction-lock")).to_be_checked()
    expect(page.get_by_test_id("bridge-live")).to_have_text("Live updates on.")
    assert serious_violations(page) == []

    # When they bridge 25 DATACOIN out (recipient left empty: themselves)
    page.get_by_test_id("bridge-amount").fill("25")
    page.get_by_test_id("bridge-submit").click()
    card = page.get_by_test_id("bridge-transfer")
    expect(card).to_have_attribute(
        "data-message-id", re.compile(r"^0x[0-9a-f]{64}$"), timeout=20_000
    )
    # Then the page follows it from its first confirmations to its delivery
    seen = follow_until_delivered(page, dapp)
    states = [s for s in seen["states"] if s]
    assert states == sorted(states, key=ORDER.index), seen
    assert "pending" in states and states[-1] == "delivered", seen
    assert any(c.endswith("/2") for c in seen["counts"]), seen
    wait_final(page, dapp)  # the lock's own status line reached final too
    assert wallet_chain_id(page) == home_id  # locking needed no switch
    lock_id = card.get_attribute("data-message-id")

    # And both transactions are the chains' own: the lock on home, the mint on the second
    vault = dapp.platform.client.contract("BridgeVault")
    gateway = remote.client.contract("BridgeGateway")
    locked = delivered_event(
        dapp.w3, vault, "BridgeLocked", page.get_by_test_id("bridge-source-tx").inner_text()
    )
    minted = delivered_event(
        remote.client.w3,
        gateway,
        "BridgeMinted",
        page.get_by_test_id("bridge-delivery-tx").inner_text(),
    )
    assert Web3.to_hex(locked["messageId"]) == lock_id == Web3.to_hex(minted["messageId"])
    assert (locked["amount"], minted["amount"]) == (25 * WAD, 25 * WAD)
    assert minted["to"] == dapp.address(BUYER)
    # And the balance on the second chain rose (on chain and on the page)
    assert balance(dapp, SECOND_CHAIN_ID, BUYER) == 25 * WAD
    assert balance(dapp, home_id, BUYER) == home_before - 25 * WAD
    expect(page.get_by_test_id("bridge-balance-remote")).to_have_text("25 DATACOIN")

    # When they burn 10 back from the second chain
    page.get_by_test_id("bridge-direction-burn").check()
    expect(page.get_by_test_id("bridge-explain")).to_contain_text("asked to switch")
    page.get_by_test_id("bridge-amount").fill("10")
    page.get_by_test_id("bridge-submit").click()
    expect(card).not_to_have_attribute("data-message-id", lock_id or "", timeout=20_000)
    seen = follow_until_delivered(page, dapp)
    assert seen["states"][-1] == "delivered", seen
    wait_final(page, dapp)

    # Then the wallet was moved to the second chain for the burn, and home released it
    switched = [
        int(r["params"][0]["chainId"], 16)
        for r in wallet_requests(page)
        if r["method"] == "wallet_switchEthereumChain"
    ]
    assert switched == [SECOND_CHAIN_ID]
    burn_id = card.get_attribute("data-message-id")
    burned = delivered_event(
        remote.client.w3,
        gateway,
        "BridgeBurned",
        page.get_by_test_id("bridge-source-tx").inner_text(),
    )
    released = delivered_event(
        dapp.w3, vault, "BridgeReleased", page.get_by_test_id("bridge-delivery-tx").inner_text()
    )
    assert Web3.to_hex(burned["messageId"]) == burn_id == Web3.to_hex(released["messageId"])
    assert released["amount"] == 10 * WAD
    assert balance(dapp, SECOND_CHAIN_ID, BUYER) == 15 * WAD
    assert balance(dapp, home_id, BUYER) == home_before - 15 * WAD
    expect(page.get_by_test_id("bridge-balance-remote")).to_have_text("15 DATACOIN")
    expect(page.get_by_test_id("bridge-balance-home")).to_have_text(
        f"{(home_before - 15 * WAD) // WAD} DATACOIN"
    )

    # And the account's transfers list both, delivered, newest first
    items = page.get_by_test_id("bridge-transfer-item")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_attribute("data-message-id", burn_id or "")
    expect(items.nth(1)).to_have_attribute("data-message-id", lock_id or "")
    for i in range(2):
        expect(items.nth(i)).to_have_attribute("data-state", "delivered")
    expect(items.nth(0)).to_contain_text(f"{SECOND_NAME} → {HOME_NAME}")
    assert serious_violations(page) == []

    # And a transfer's link opens it again (its state read from the API)
    page.goto(dapp.page_url(f"/bridge/?transfer={lock_id}"))
    expect(page.get_by_test_id("bridge-transfer")).to_have_attribute("data-state", "delivered")
    expect(page.get_by_test_id("bridge-transfer-amount")).to_have_text("25 DATACOIN")


def test_more_than_the_balance_is_refused_before_any_signature(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(dapp.page_url("/bridge/"))
    connect(page, dapp.address(BUYER))
    expect(page.get_by_test_id("bridge-balance-remote")).to_contain_text("DATACOIN")
    page.get_by_test_id("bridge-direction-burn").check()
    page.get_by_test_id("bridge-amount").fill("1000000000")
    page.get_by_test_id("bridge-submit").click()
    expect(page.get_by_test_id("bridge-form-error")).to_contain_text("more than your balance")
    page.get_by_test_id("bridge-amount").fill("1")
    page.get_by_test_id("bridge-recipient").fill("0x1234")
    page.get_by_test_id("bridge-submit").click()
    expect(page.get_by_test_id("bridge-form-error")).to_contain_text("recipient")
    calls = set(wallet_calls(page))
    assert not {"eth_sendTransaction", "eth_signTypedData_v4", "wallet_switchEthereumChain"} & calls
