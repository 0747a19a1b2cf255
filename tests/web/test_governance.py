"""The governance pages in a real browser against a governed stack (the Timelock owns the
platform's admin; dev timings: voting delay 1 block, period 20 blocks, Timelock 60 s).

The journey: a staker proposes a fee change through /governance/new/ (its actions previewed
as sentences first), the proposal shows up in /governance/, two stakers vote in two browser
contexts (for; against with a reason) and each sees the other's vote in the tallies without
reloading, then Queue once the vote has passed and Execute once the Timelock's delay has
passed on the chain's clock: the proposal reads `executed` and the Marketplace charges the
new fee. Also: a stake added after a proposal's snapshot cannot vote on it (the page says so
before any signature), proposing without the threshold is refused the same way, delegating
through the page moves the votes on chain, axe-core on the three pages, and a 390 px phone.

They skip until the static export exists (web/out/index.html)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from common.governance import Call, Governance, Proposal
from tests.indexer.activity import WAD, fund, rpc_call
from tests.web.conftest import ContextFactory
from tests.web.dapp import DAPP_MISSING, Dapp, connect, dapp_built, running_dapp, wait_final
from tests.web.test_a11y import serious_violations
from tests.web.wallet import wallet_calls

pytestmark = pytest.mark.skipif(not dapp_built(), reason=DAPP_MISSING)

# Dev accounts (anvil funds 0-9 with ETH) and their stakes: votes are active stake.
PROPOSER, VOTER, FLASH, DELEGATOR, DELEGATEE, NOBODY = 3, 4, 5, 6, 7, 8
STAKES = {PROPOSER: 2_000 * WAD, VOTER: 1_000 * WAD, DELEGATOR: 500 * WAD}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
SEND = "eth_sendTransaction"
PAGE_CHECKS = "Set the protocol fee to 2.75% (page checks)"


def stake(dapp: Dapp, index: int, amount: int) -> None:
    """`index` stakes `amount` with web3 (its first stake delegates to itself)."""
    coin = dapp.platform.client.contract("DataCoin")
    staking = dapp.platform.client.contract("Staking")
    account = dapp.platform.account(index)
    account.send(coin.functions.approve(staking.address, amount))
    account.send(staking.functions.stake(amount))


def votes_of(dapp: Dapp, index: int) -> int:
    staking = dapp.platform.client.contract("Staking")
    return int(staking.functions.getVotes(dapp.address(index)).call())


@pytest.fixture(scope="module")
def gov(
    migrated_template: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dapp]:
    """A governed stack for this module, with three stakers (2000, 1000 and 500 DATACOIN:
    the threshold to propose is 1000) and a funded account that has not staked."""
    with running_dapp(
        migrated_template, redis_url, tmp_path_factory.mktemp("gov"), governance=True
    ) as running:
        fund(running.platform, [PROPOSER, VOTER, FLASH, DELEGATOR, NOBODY], 10_000 * WAD)
        for index, amount in STAKES.items():
            stake(running, index, amount)
        running.mine(1)  # the stakes are in the past for the next proposal's threshold check
        yield running


def governance(dapp: Dapp) -> Governance:
    return Governance(dapp.platform.client)


def fee_proposal(dapp: Dapp, bps: int, description: str) -> Proposal:
    market = dapp.platform.client.contract("Marketplace")
    return Proposal(calls=(Call.to(market, "setFee", bps),), description=description)


def proposal_url(dapp: Dapp, proposal_id: int) -> str:
    return dapp.page_url(f"/proposal/?id={proposal_id}&chain={dapp.chain_id}")


def open_proposal(
    page: Page, dapp: Dapp, proposal_id: int, index: int, *, reconnects: bool = False
) -> None:
    """Open the proposal's page and connect; with `reconnects`, a page of this context
    connected before, and the wallet reconnects by itself on load."""
    page.goto(proposal_url(dapp, proposal_id))
    if reconnects:
        expect(page.get_by_test_id("account-address")).to_contain_text(dapp.address(index))
    else:
        connect(page, dapp.address(index))
    expect(page.get_by_test_id("proposal-title")).to_be_visible()


def click_to_final(page: Page, dapp: Dapp, button: str) -> list[str]:
    page.get_by_test_id(button).click()
    expect(page.get_by_test_id("tx-status")).not_to_have_text("final")
    return wait_final(page, dapp)


def test_propose_vote_queue_execute_a_fee_change(gov: Dapp, new_context: ContextFactory) -> None:
    market = gov.platform.client.contract("Marketplace")
    assert market.functions.feeBps().call() == 250
    description = "Raise the protocol fee to 3%\n\nThe treasury pays for the indexer."
    proposal = fee_proposal(gov, 300, description)
    proposal_id = governance(gov).proposal_id(proposal)

    # Given the proposer on /governance/new/
    page = new_context(wallet=gov.wallet(PROPOSER)).new_page()
    page.goto(gov.page_url("/governance/new/"))
    connect(page, gov.address(PROPOSER))
    # When it builds a fee change, the action is previewed as a sentence before signing
    page.get_by_test_id("propose-kind").select_option("fee")
    page.get_by_test_id("propose-value").fill("3")
    page.get_by_test_id("propose-description").fill(description)
    expect(page.get_by_test_id("propose-preview-item")).to_have_text(
        "Set the protocol fee to 3% (300 basis points)"
    )
    assert SEND not in wallet_calls(page)
    seen = click_to_final(page, gov, "propose-submit")
    assert any(s.startswith("confirmations") or s in {"pending", "mined"} for s in seen), seen
    # Then the Governor has the proposal the page built (same id: same calls, description)
    link = page.get_by_test_id("proposal-link")
    expect(link).to_have_attribute("href", re.compile(rf"id={proposal_id}&"))

    # And it is listed on /governance/
    page.goto(gov.page_url("/governance/"))
    item = page.locator(f'[data-testid="proposal-item"][data-proposal-id="{proposal_id}"]')
    expect(item).to_be_visible()
    expect(item.get_by_test_id("proposal-state")).to_have_text(re.compile("^(pending|active)$"))

    # When the vote opens, the proposer and a second staker open it in two browsers
    governance(gov).mine_past_vote_start(proposal)
    voter = new_context(wallet=gov.wallet(VOTER)).new_page()
    open_proposal(page, gov, proposal_id, PROPOSER, reconnects=True)
    open_proposal(voter, gov, proposal_id, VOTER)
    for p in (page, voter):
        expect(p.get_by_test_id("proposal-state")).to_have_text("active")
        expect(p.get_by_test_id("proposal-action")).to_have_text(re.compile(r"fee.*3%"))
        expect(p.get_by_test_id("voting-window")).to_contain_text(
            re.compile(r"closes in \d+ blocks?")
        )
    expect(page.get_by_test_id("my-votes")).to_contain_text("2000 votes")
    # (both follow /stream's proposal and vote topics)
    expect(voter.get_by_test_id("live-indicator")).to_have_attribute("data-live", "true")

    # The proposer votes for: the other browser's tally moves without a reload
    page.get_by_test_id("vote-for").check()
    click_to_final(page, gov, "vote-submit")
    expect(voter.get_by_test_id("tally-for")).to_have_text("2000")
    # The second staker votes against, with a reason: the proposer's page shows it
    voter.get_by_test_id("vote-against").check()
    voter.get_by_test_id("vote-reason").fill("3% prices out small buyers")
    click_to_final(voter, gov, "vote-submit")
    expect(page.get_by_test_id("tally-against")).to_have_text("1000")
    expect(page.get_by_test_id("tally-abstain")).to_have_text("0")
    expect(page.get_by_test_id("quorum")).to_have_attribute("data-reached", "true")
    expect(page.get_by_test_id("vote-item-reason")).to_have_text("“3% prices out small buyers”")

    # When the vote closes it has passed: Queue
    governance(gov).mine_past_vote_end(proposal)
    expect(page.get_by_test_id("proposal-state")).to_have_text("succeeded")
    click_to_final(page, gov, "queue-button")
    expect(page.get_by_test_id("proposal-state")).to_have_text("queued")
    # The Timelock's delay (60 s) has not passed on the chain: Execute waits
    expect(page.get_by_test_id("proposal-eta")).to_have_attribute("data-ready", "false")
    expect(page.get_by_test_id("execute-button")).to_be_disabled()

    # When the chain's clock passes the eta (the browser's does not move)
    eta = int(governance(gov).governor.functions.proposalEta(proposal_id).call())
    now = int(gov.w3.eth.get_block("latest")["timestamp"])
    rpc_call(gov.w3, "evm_increaseTime", [eta - now + 1])
    gov.mine(1)
    expect(page.get_by_test_id("execute-button")).to_be_enabled()
    click_to_final(page, gov, "execute-button")
    # Then the proposal is executed and the Marketplace charges the new fee
    expect(page.get_by_test_id("proposal-state")).to_have_text("executed")
    assert market.functions.feeBps().call() == 300


def test_a_stake_after_the_snapshot_cannot_vote(gov: Dapp, new_context: ContextFactory) -> None:
    proposal = fee_proposal(gov, 200, "Lower the protocol fee to 2% (flash stake check)")
    g = governance(gov)
    g.propose(gov.platform.account(PROPOSER), proposal)
    proposal_id = g.proposal_id(proposal)
    snapshot = int(g.governor.functions.proposalSnapshot(proposal_id).call())
    page = new_context(wallet=gov.wallet(FLASH)).new_page()
    open_proposal(page, gov, proposal_id, FLASH)
    # Pending: the page counts the blocks to the vote from the chain's head
    expect(page.get_by_test_id("proposal-state")).to_have_text("pending")
    expect(page.get_by_test_id("voting-window")).to_contain_text(
        f"Voting opens in 1 block (after block {snapshot})"
    )
    g.mine_past_vote_start(proposal)
    # A flash stake: after the snapshot, so it has votes now but none on this proposal
    stake(gov, FLASH, 5_000 * WAD)
    gov.mine(1)
    assert votes_of(gov, FLASH) == 5_000 * WAD

    expect(page.get_by_test_id("proposal-state")).to_have_text("active")
    expect(page.get_by_test_id("my-votes")).to_contain_text("You have 0 votes")
    page.get_by_test_id("vote-for").check()
    page.get_by_test_id("vote-submit").click()
    # The page refuses with a sentence, before the wallet is asked to send anything
    expect(page.get_by_test_id("vote-error")).to_contain_text(
        re.compile(r"no votes at this proposal's snapshot \(block \d+\)")
    )
    assert SEND not in wallet_calls(page)
    expect(page.get_by_test_id("tx-status")).to_have_count(0)
    assert not g.governor.functions.hasVoted(proposal_id, gov.address(FLASH)).call()


def test_proposing_without_the_threshold_is_refused(gov: Dapp, new_context: ContextFactory) -> None:
    page = new_context(wallet=gov.wallet(NOBODY)).new_page()
    page.goto(gov.page_url("/governance/new/"))
    connect(page, gov.address(NOBODY))
    page.get_by_test_id("propose-kind").select_option("quorum")
    page.get_by_test_id("propose-value").fill("5")
    page.get_by_test_id("propose-description").fill("Quorum to 5%")
    expect(page.get_by_test_id("propose-preview-item")).to_have_text(
        "Set the quorum from 4% to 5% of the active stake"
    )
    page.get_by_test_id("propose-submit").click()
    expect(page.get_by_test_id("propose-error")).to_contain_text(
        "You need at least 1000 votes to propose (you have 0)"
    )
    assert SEND not in wallet_calls(page)


def test_delegating_through_the_page_moves_the_votes(
    gov: Dapp, new_context: ContextFactory
) -> None:
    assert (votes_of(gov, DELEGATOR), votes_of(gov, DELEGATEE)) == (STAKES[DELEGATOR], 0)
    page = new_context(wallet=gov.wallet(DELEGATOR)).new_page()
    page.goto(gov.page_url("/governance/"))
    connect(page, gov.address(DELEGATOR))
    expect(page.get_by_test_id("voting-power")).to_have_text("500 votes")
    expect(page.get_by_test_id("voting-delegate")).to_contain_text("(yourself)")

    page.get_by_test_id("delegate-input").fill("0x1234")
    page.get_by_test_id("delegate-submit").click()
    expect(page.get_by_test_id("delegate-error")).to_be_visible()
    assert SEND not in wallet_calls(page)

    page.get_by_test_id("delegate-input").fill(gov.address(DELEGATEE))
    click_to_final(page, gov, "delegate-submit")
    assert (votes_of(gov, DELEGATOR), votes_of(gov, DELEGATEE)) == (0, STAKES[DELEGATOR])
    expect(page.get_by_test_id("voting-power")).to_have_text("0 votes")
    expect(page.get_by_test_id("voting-delegate")).to_contain_text(gov.address(DELEGATEE))


@pytest.fixture(scope="module")
def open_proposal_id(gov: Dapp) -> int:
    """An active proposal with one vote, for the pages' checks."""
    proposal = fee_proposal(gov, 275, PAGE_CHECKS)
    g = governance(gov)
    g.propose(gov.platform.account(PROPOSER), proposal)
    g.mine_past_vote_start(proposal)
    return g.proposal_id(proposal)


def test_proposing_a_duplicate_fails_with_a_sentence(
    gov: Dapp, open_proposal_id: int, new_context: ContextFactory
) -> None:
    # The same actions and description hash to the same id: the Governor refuses it
    # (GovernorUnexpectedProposalState), and the page says why.
    page = new_context(wallet=gov.wallet(VOTER)).new_page()
    page.goto(gov.page_url("/governance/new/"))
    connect(page, gov.address(VOTER))
    page.get_by_test_id("propose-value").fill("2.75")
    page.get_by_test_id("propose-description").fill(PAGE_CHECKS)
    page.get_by_test_id("propose-submit").click()
    expect(page.get_by_test_id("tx-status")).to_have_text("failed")
    expect(page.get_by_test_id("tx-error")).to_have_text(
        "This proposal already exists: the same actions with the same description were"
        " proposed before"
    )
    assert SEND not in wallet_calls(page)


@pytest.mark.parametrize("path", ["/governance/", "/governance/new/", "/proposal/"])
def test_governance_pages_have_no_serious_violations(
    gov: Dapp, open_proposal_id: int, new_context: ContextFactory, path: str
) -> None:
    page = new_context(wallet=gov.wallet(VOTER)).new_page()
    if path == "/proposal/":
        open_proposal(page, gov, open_proposal_id, VOTER)
        expect(page.get_by_test_id("vote-submit")).to_be_visible()
    else:
        page.goto(gov.page_url(path))
        connect(page, gov.address(VOTER))
        ready = "proposal-item" if path == "/governance/" else "propose-preview-item"
        expect(page.get_by_test_id(ready).first).to_be_visible()
    assert serious_violations(page) == []


@pytest.mark.parametrize("path", ["/governance/", "/governance/new/", "/proposal/"])
def test_governance_pages_fit_a_phone(
    gov: Dapp, open_proposal_id: int, new_context: ContextFactory, path: str
) -> None:
    page = new_context(wallet=gov.wallet(VOTER), **PHONE).new_page()
    if path == "/proposal/":
        open_proposal(page, gov, open_proposal_id, VOTER)
        expect(page.get_by_test_id("vote-submit")).to_be_visible()
    else:
        page.goto(gov.page_url(path))
        connect(page, gov.address(VOTER))
        expect(
            page.get_by_test_id("voting-power" if path == "/governance/" else "propose-kind")
        ).to_be_visible()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"{path} is {width}px wide"
