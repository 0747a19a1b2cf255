"""The staking and audit pages in a real browser against the real stack.

Staking: the buyer stakes through /stake/ (one permit signature, one stakeWithPermit
transaction), requests an unstake and sees the cooldown count down in the chain's time,
and withdraws once anvil's clock has passed it; staking more than the balance is refused
by the page before the wallet is asked for anything. Audit: /audit/ shows the API's state
hash, the event log, and a reorg's retraction; its replay how-to names real CLI commands.

They skip until the static export exists (web/out/index.html)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import typer.main
from playwright.sync_api import Locator, Page, expect
from typer.core import TyperGroup

from cli.main import app as cli_app
from tests.indexer.activity import WAD, rpc_call
from tests.web.conftest import ContextFactory
from tests.web.dapp import (
    BUYER,
    DAPP_MISSING,
    Dapp,
    connect,
    dapp_built,
    small_csv,
    wait_final,
)
from tests.web.wallet import wallet_calls

pytestmark = pytest.mark.skipif(not dapp_built(), reason=DAPP_MISSING)

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
STAKE = 250 * WAD + WAD // 2  # 250.5 DATACOIN: a fraction, to exercise the 18 decimals
SIGN_PERMIT = "eth_signTypedData_v4"
SEND = "eth_sendTransaction"


@dataclass(frozen=True)
class OnChain:
    """The buyer's DATACOIN and staking position, read with web3."""

    balance: int
    staked: int
    pending: int
    available_at: int


def on_chain(dapp: Dapp, index: int = BUYER) -> OnChain:
    account = dapp.address(index)
    coin = dapp.platform.client.contract("DataCoin")
    staking = dapp.platform.client.contract("Staking")
    pending, available_at = staking.functions.pendingUnstake(account).call()
    return OnChain(
        balance=int(coin.functions.balanceOf(account).call()),
        staked=int(staking.functions.stakeOf(account).call()),
        pending=int(pending),
        available_at=int(available_at),
    )


def coin_text(wei: int) -> str:
    """Wei as the page writes it (viem's formatUnits: no trailing zeros)."""
    whole, frac = divmod(wei, WAD)
    return f"{whole}.{frac:018d}".rstrip("0").rstrip(".") + " DATACOIN"


def open_stake_page(page: Page, dapp: Dapp) -> None:
    page.goto(dapp.page_url("/stake/"))
    connect(page, dapp.address(BUYER))
    expect(page.get_by_test_id("stake-balance")).to_contain_text("DATACOIN")


def act_to_final(page: Page, dapp: Dapp, button: str, amount: str | None = None) -> list[str]:
    """Type `amount`, click `button`, and mine until the page's tx-status reads final."""
    if amount is not None:
        page.get_by_test_id("stake-amount").fill(amount)
    page.get_by_test_id(button).click()
    # The previous action's "final" must give way first (confirmations need mined blocks,
    # which only wait_final makes): otherwise wait_final would return at once.
    expect(page.get_by_test_id("tx-status")).not_to_have_text("final")
    return wait_final(page, dapp)


def test_stake_request_unstake_then_withdraw_after_the_cooldown(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    before = on_chain(dapp)
    assert before.balance >= STAKE and before.staked == 0
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    open_stake_page(page, dapp)
    expect(page.get_by_test_id("stake-balance")).to_have_text(coin_text(before.balance))
    expect(page.get_by_test_id("stake-staked")).to_have_text(coin_text(0))

    # When the buyer stakes 250.5 DATACOIN: one permit signature, one transaction
    seen = act_to_final(page, dapp, "stake-button", "250.5")
    assert any(s.startswith("confirmations") or s in {"pending", "mined"} for s in seen), seen
    calls = wallet_calls(page)
    assert calls.count(SIGN_PERMIT) == 1 and calls.count(SEND) == 1, calls
    # Then the chain and the page show the new stake
    assert on_chain(dapp).staked == STAKE
    expect(page.get_by_test_id("stake-staked")).to_have_text(coin_text(STAKE))
    expect(page.get_by_test_id("stake-balance")).to_have_text(coin_text(before.balance - STAKE))
    expect(page.get_by_test_id("unstake-countdown")).to_have_count(0)

    # When it asks to unstake all of it
    act_to_final(page, dapp, "unstake-button", "250.5")
    after_request = on_chain(dapp)
    assert (after_request.staked, after_request.pending) == (0, STAKE)
    # Then the cooldown (7 days on this chain) counts down, second by second
    countdown = page.get_by_test_id("unstake-countdown")
    expect(countdown).to_have_text(re.compile(r"^in 6d 23h 5\dm \d+s$"))
    expect(countdown).to_have_attribute("data-ready", "false")
    shown = countdown.inner_text()
    expect(countdown).not_to_have_text(shown)  # a second later it reads less
    expect(page.get_by_test_id("stake-pending")).to_have_text(coin_text(STAKE))
    expect(page.get_by_test_id("withdraw-button")).to_be_disabled()

    # When the chain's clock passes the end of the cooldown (the browser's does not)
    chain_now = int(dapp.w3.eth.get_block("latest")["timestamp"])
    rpc_call(dapp.w3, "evm_increaseTime", [after_request.available_at - chain_now + 1])
    dapp.mine(1)
    # Then the page, reading the chain's time, enables the withdrawal
    expect(countdown).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("withdraw-button")).to_be_enabled()

    # When it withdraws, the DATACOIN is back in the wallet
    act_to_final(page, dapp, "withdraw-button")
    after = on_chain(dapp)
    assert after == OnChain(balance=before.balance, staked=0, pending=0, available_at=0)
    expect(page.get_by_test_id("stake-balance")).to_have_text(coin_text(before.balance))
    expect(page.get_by_test_id("stake-pending")).to_have_text(coin_text(0))
    expect(countdown).to_have_count(0)
    # And staking again works on the chain's clock, now a week ahead of the browser's (the
    # permit's deadline must be in the chain's future)
    act_to_final(page, dapp, "stake-button", "1")
    assert on_chain(dapp).staked == WAD
    expect(page.get_by_test_id("stake-staked")).to_have_text(coin_text(WAD))
    # And the API's read model follows: the withdrawal of the whole stake, then the new one
    dapp.wait_for(
        lambda: (
            [(s["staked"], s["pending"], s["withdrawn"]) for s in stakes(dapp)]
            == [(str(WAD), "0", str(STAKE))]
        ),
        "the API shows the withdrawal and the new stake",
    )


def stakes(dapp: Dapp) -> list[dict[str, Any]]:
    reply = httpx.get(f"{dapp.url}/stakes/{dapp.address(BUYER)}", timeout=10)
    reply.raise_for_status()
    found: list[dict[str, Any]] = reply.json()
    return found


def test_staking_more_than_the_balance_is_refused_before_any_signature(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    before = on_chain(dapp)
    balance = before.balance
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    open_stake_page(page, dapp)
    error = page.get_by_test_id("amount-error")
    # A negative amount is refused as it is typed
    page.get_by_test_id("stake-amount").fill("-5")
    expect(error).to_have_text("The amount cannot be negative.")
    # One DATACOIN more than the balance is refused on Stake, with the balance spelled out
    page.get_by_test_id("stake-amount").fill(str(balance // WAD + 1))
    expect(error).to_have_count(0)
    page.get_by_test_id("stake-button").click()
    expect(error).to_have_text(
        f"That is more than your balance ({coin_text(balance).removesuffix(' DATACOIN')} DATACOIN)."
    )
    expect(page.get_by_test_id("tx-status")).to_have_text("")
    calls = wallet_calls(page)
    assert SIGN_PERMIT not in calls and SEND not in calls, calls
    assert on_chain(dapp) == before


def state_hash(dapp: Dapp) -> dict[str, Any]:
    reply = httpx.get(f"{dapp.url}/state-hash", timeout=10)
    reply.raise_for_status()
    body: dict[str, Any] = reply.json()
    return body


def caught_up(dapp: Dapp) -> dict[str, Any]:
    """/state-hash once the read models have applied the whole event store."""
    found: dict[str, Any] = {}

    def check() -> bool:
        found.update(state_hash(dapp))
        return found["state_hash"] is not None and (
            found["read_model_position"] == found["event_store_head"]
        )

    dapp.wait_for(check, "the read models catch up with the event store")
    return found


def event_row(page: Page, position: int) -> Locator:
    return page.locator(f'[data-testid="event-row"][data-position="{position}"]')


def test_audit_shows_the_state_hash_the_events_and_a_reorgs_retraction(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    # Given a listing on chain, indexed and projected
    kept = dapp.publish("Audited listing", small_csv(8, seed=11))
    kept_entry = log_of(dapp, kept.dataset_id)
    api = caught_up(dapp)
    listed = httpx.get(f"{dapp.url}/events", params={"limit": 1000}, timeout=10).json()["items"]
    at = next(e for e in listed if e["position"] == api["read_model_position"])
    # When an auditor opens the page
    page = new_context().new_page()
    page.goto(dapp.page_url("/audit/"))
    # Then it shows the API's state hash, the block it stands at, and the log
    expect(page.get_by_test_id("state-hash")).to_have_text(api["state_hash"])
    expect(page.get_by_test_id("state-hash-block")).to_contain_text(f"{at['block_number']} on")
    expect(page.get_by_test_id("state-hash-position")).to_contain_text(
        f"position {api['read_model_position']} of {api['event_store_head']}"
    )
    expect(event_row(page, kept_entry["position"])).to_contain_text("DatasetListed")
    expect(page.get_by_test_id("event-row")).to_have_count(len(listed))
    expect(page.get_by_test_id("event-retraction")).to_have_count(0)
    page.evaluate("() => { window.__sameDocument = true; }")

    # When a listing in the head block is orphaned by a reorg
    gone = dapp.list_upload(dapp.upload("Orphaned under audit", small_csv(8, seed=12)))
    head = dapp.w3.eth.block_number
    orphan = log_of(dapp, gone)
    expect(event_row(page, orphan["position"])).to_contain_text(f"block {head}", timeout=20_000)
    with_orphan = caught_up(dapp)["state_hash"]
    assert with_orphan != api["state_hash"]
    expect(page.get_by_test_id("state-hash")).to_have_text(with_orphan, timeout=20_000)
    rpc_call(dapp.w3, "anvil_reorg", [1, []])
    dapp.mine(1)
    # Then the open page (no reload) shows the retraction, and the log it retracts as such
    retraction = page.locator('[data-testid="event-row"][data-kind="retract"]')
    expect(retraction).to_have_count(1, timeout=20_000)
    expect(retraction.get_by_test_id("event-retraction")).to_have_text(
        f"Retraction of #{orphan['position']}"
    )
    expect(event_row(page, orphan["position"]).get_by_test_id("event-retracted")).to_be_visible()
    expect(event_row(page, kept_entry["position"]).get_by_test_id("event-retracted")).to_have_count(
        0
    )
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    # And the state hash follows the read models back to where they were before the listing
    assert caught_up(dapp)["state_hash"] == api["state_hash"]
    expect(page.get_by_test_id("state-hash")).to_have_text(api["state_hash"], timeout=20_000)


def log_of(dapp: Dapp, dataset_id: int) -> dict[str, Any]:
    """The store's DatasetListed entry of `dataset_id`, once indexed."""
    found: list[dict[str, Any]] = []

    def check() -> bool:
        items = httpx.get(f"{dapp.url}/events", params={"limit": 1000}, timeout=10).json()
        found[:] = [
            e
            for e in items["items"]
            if e["event_name"] == "DatasetListed"
            and e["kind"] == "log"
            and int(e["args"]["datasetId"]) == dataset_id
        ]
        return bool(found)

    dapp.wait_for(check, f"dataset {dataset_id}'s listing indexed")
    return found[0]


def command_of(words: list[str]) -> tuple[Any, list[str]]:
    """The `datacoin` (sub)command `words` names (a click command of typer's), and the
    words left after its name."""
    command: Any = typer.main.get_command(cli_app)
    rest = list(words)
    while isinstance(command, TyperGroup) and rest and rest[0] in command.commands:
        command = command.commands[rest.pop(0)]
    return command, rest


def test_the_replay_howto_names_real_cli_commands_and_flags(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    page = new_context().new_page()
    page.goto(dapp.page_url("/audit/"))
    items = page.get_by_test_id("replay-howto").locator("li")
    expect(items.first).to_be_visible()
    assert items.count() >= 4
    named = set()
    for li in items.all():
        shown = li.get_by_test_id("cli-command").inner_text()
        words = re.sub(r"<[^>]*>", "VALUE", shown).split()
        assert words[0] == "datacoin", shown
        command, rest = command_of(words[1:])
        # a group runs as a command only when it has a callback of its own (`verify`)
        is_group = isinstance(command, TyperGroup)
        assert not is_group or command.invoke_without_command, f"{shown}: not a command"
        named.add(" ".join(words[1 : len(words) - len(rest)]))
        # Every --flag in the command and in its explanation is one this command takes
        options = {o for p in command.params for o in p.opts if o.startswith("--")}
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", li.inner_text()):
            assert flag in options, f"{shown}: {flag} is not an option of it ({options})"
        # and every other word is an option's value or an argument it takes
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        loose = [
            w
            for i, w in enumerate(rest)
            if not w.startswith("--") and not (i > 0 and rest[i - 1].startswith("--"))
        ]
        assert len(loose) <= len(arguments), f"{shown}: {loose} are not arguments of it"
    assert {"verify", "replay", "state-hash"} <= named, named


@pytest.mark.parametrize("path", ["/stake/", "/audit/"])
def test_stake_and_audit_fit_a_phone(dapp: Dapp, new_context: ContextFactory, path: str) -> None:
    page = new_context(wallet=dapp.wallet(BUYER), **PHONE).new_page()
    page.goto(dapp.page_url(path))
    if path == "/stake/":
        connect(page, dapp.address(BUYER))
        expect(page.get_by_test_id("stake-balance")).to_contain_text("DATACOIN")
    else:
        expect(page.get_by_test_id("state-hash")).not_to_have_text("…")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"{path} is {width}px wide"
