"""The injected test wallet itself, on a plain served page (tests/web/fixtures): EIP-6963
discovery, accounts, a permit signed with eth_signTypedData_v4 and sent on chain, a
personal_sign, refusals (4001, another account's key), and switching chains."""

from __future__ import annotations

import re
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from playwright.sync_api import Page, expect

from tests.conftest import Platform
from tests.web.conftest import ContextFactory
from tests.web.wallet import RDNS, WalletConfig, wallet_calls, wallet_request

VALUE = 12_345 * 10**18


def open_harness(
    new_context: ContextFactory, site: str, chain: Platform, **wallet: Any
) -> tuple[Page, str, str]:
    owner = chain.account(2).address
    token = chain.client.contract("DataCoin").address
    spender = chain.client.contract("Marketplace").address
    rpc = str(chain.client.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    context = new_context(wallet=WalletConfig(account=owner, rpc_url=rpc, **wallet))
    page = context.new_page()
    page.goto(f"{site}/wallet-harness.html?token={token}&spender={spender}&value={VALUE}")
    option = page.get_by_test_id("wallet-option")
    expect(option).to_have_count(1)  # announced once, even though the page asked again
    expect(option).to_have_attribute("data-rdns", RDNS)
    expect(option).to_have_text("Test Wallet")
    option.click()
    expect(page.locator("#account")).to_have_text(owner)
    return page, owner, spender


def test_permit_signed_and_sent_from_the_pages_account(
    new_context: ContextFactory, fixture_site: str, chain: Platform
) -> None:
    page, owner, spender = open_harness(new_context, fixture_site, chain)
    expect(page.locator("#chain")).to_have_text("31337")
    w3 = chain.client.w3
    coin = chain.client.contract("DataCoin")
    # When the page signs an EIP-2612 permit (anvil signs with the dev account's key)
    page.click("#permit")
    expect(page.locator("#signature")).to_have_text(hex_of(132))
    signature = page.locator("#signature").inner_text()
    # Then the signature is the owner's over exactly that permit
    typed = {
        "types": {
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ]
        },
        "primaryType": "Permit",
        "domain": {
            "name": "DATACOIN",
            "version": "1",
            "chainId": 31337,
            "verifyingContract": coin.address,
        },
        "message": {
            "owner": owner,
            "spender": spender,
            "value": VALUE,
            "nonce": 0,
            "deadline": 99999999999,
        },
    }
    signable = encode_typed_data(full_message=typed)
    assert Account.recover_message(signable, signature=signature) == owner
    # When the page sends the permit with eth_sendTransaction
    page.click("#send")
    expect(page.locator("#tx")).to_have_text(hex_of(66))
    receipt = w3.eth.get_transaction_receipt(page.locator("#tx").inner_text())  # type: ignore[arg-type]
    # Then it was mined, from the page's account, and the permit took effect on chain
    assert receipt["status"] == 1 and receipt["from"] == owner
    assert coin.functions.allowance(owner, spender).call() == VALUE
    assert coin.functions.nonces(owner).call() == 1
    # And a personal_sign is the owner's too
    page.click("#personal")
    expect(page.locator("#message-signature")).to_have_text(hex_of(132))
    message = encode_defunct(text="Sign in to the harness")
    signed = page.locator("#message-signature").inner_text()
    assert Account.recover_message(message, signature=signed) == owner
    calls = wallet_calls(page)
    assert {"eth_requestAccounts", "eth_signTypedData_v4", "eth_sendTransaction"} <= set(calls)
    assert page.locator("#error").inner_text() == ""


def test_a_rejecting_wallet_refuses_with_4001_and_sends_nothing(
    new_context: ContextFactory, fixture_site: str, chain: Platform
) -> None:
    page, owner, _ = open_harness(new_context, fixture_site, chain, reject_signatures=True)
    nonce = chain.client.w3.eth.get_transaction_count(owner)  # type: ignore[arg-type]
    page.click("#permit")
    expect(page.locator("#error")).to_have_text("4001: User rejected the request.")
    assert page.locator("#signature").inner_text() == ""
    page.evaluate("() => window.__datacoinTestWallet.setRejectSignatures(false)")
    page.click("#personal")
    expect(page.locator("#message-signature")).to_have_text(hex_of(132))
    assert chain.client.w3.eth.get_transaction_count(owner) == nonce  # type: ignore[arg-type]


def test_the_wallet_signs_only_for_its_own_account(
    new_context: ContextFactory, fixture_site: str, chain: Platform
) -> None:
    page, _, _ = open_harness(new_context, fixture_site, chain)
    other = chain.account(3).address
    refused = page.evaluate(
        """(other) => window.__datacoinTestWallet.provider
            .request({method: "personal_sign", params: ["0x68690a", other]})
            .then(() => null, (e) => e.code)""",
        other,
    )
    assert refused == 4100
    tx = {"from": other, "to": other, "value": "0x1"}
    refused = page.evaluate(
        """(tx) => window.__datacoinTestWallet.provider
            .request({method: "eth_sendTransaction", params: [tx]})
            .then(() => null, (e) => e.code)""",
        tx,
    )
    assert refused == 4100


def test_switching_to_anvils_chain_and_events(
    new_context: ContextFactory, fixture_site: str, chain: Platform
) -> None:
    # Given a wallet on another chain (mainnet)
    page, owner, _ = open_harness(new_context, fixture_site, chain, start_chain_id=1)
    expect(page.locator("#chain")).to_have_text("1")
    # When the page asks for an unknown chain, then the wallet says so (4902)
    unknown = page.evaluate(
        """() => window.__datacoinTestWallet.provider
            .request({method: "wallet_switchEthereumChain", params: [{chainId: "0x5"}]})
            .then(() => null, (e) => e.code)"""
    )
    assert unknown == 4902
    # When it asks for anvil's chain, then the wallet switches and emits chainChanged
    assert wallet_request(page, "wallet_switchEthereumChain", [{"chainId": "0x7a69"}]) is None
    expect(page.locator("#chain")).to_have_text("31337")
    assert wallet_request(page, "eth_chainId") == "0x7a69"
    # And accountsChanged reaches listeners
    other = chain.account(3).address
    seen = page.evaluate(
        """(other) => new Promise((resolve) => {
            const w = window.__datacoinTestWallet;
            w.provider.on("accountsChanged", resolve);
            w.setAccount(other);
        })""",
        other,
    )
    assert seen == [other]
    assert wallet_request(page, "eth_accounts") == [other]
    # And other JSON-RPC reaches anvil
    assert int(wallet_request(page, "eth_blockNumber"), 16) == chain.client.w3.eth.block_number
    assert owner != other


def hex_of(length: int) -> re.Pattern[str]:
    """A pattern for a 0x-hex string of `length` characters."""
    return re.compile(f"^0x[0-9a-f]{{{length - 2}}}$")


def test_a_before_sign_binding_runs_between_the_click_and_the_signature(
    new_context: ContextFactory, fixture_site: str, chain: Platform
) -> None:
    # (The journeys use it to change the chain while the wallet "asks the user".)
    owner = chain.account(2).address
    token = chain.client.contract("DataCoin").address
    rpc = str(chain.client.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    context = new_context(wallet=WalletConfig(account=owner, rpc_url=rpc))
    seen: list[tuple[str, int]] = []

    def before_sign(source: Any, request: dict[str, Any]) -> None:
        seen.append((request["method"], chain.client.w3.eth.block_number))
        chain.account(3).send(chain.client.contract("DataCoin").functions.approve(owner, 1))

    context.expose_binding("__datacoinWalletBeforeSign", before_sign)
    page = context.new_page()
    page.goto(f"{fixture_site}/wallet-harness.html?token={token}&spender={owner}&value=1")
    page.get_by_test_id("wallet-option").click()
    block = chain.client.w3.eth.block_number
    page.click("#personal")
    expect(page.locator("#message-signature")).to_have_text(hex_of(132))
    assert seen == [("personal_sign", block)]
    assert chain.client.w3.eth.block_number == block + 1  # the binding's transaction landed
