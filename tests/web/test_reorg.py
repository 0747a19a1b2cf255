"""A reorg that removes a listing removes its card from an open explore page (the indexer
retracts the orphaned event; the projection and the SSE stream follow). Own module: its own
fresh chain, since anvil_reorg wants one (see tests/conftest.py's fresh_chain)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.indexer.activity import rpc_call
from tests.web.conftest import ContextFactory
from tests.web.dapp import BUYER, DAPP_MISSING, Dapp, card, dapp_built, small_csv

pytestmark = pytest.mark.skipif(not dapp_built(), reason=DAPP_MISSING)


def test_a_reorged_listing_leaves_the_open_explore_page(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    kept = dapp.publish("Kept across the reorg", small_csv(10, seed=7))
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(dapp.page_url("/"))
    expect(card(page, kept.dataset_id)).to_be_visible()
    # Given a listing in the head block (not final: CONFIRMATIONS blocks must follow)
    listed_in = dapp.w3.eth.block_number
    gone = dapp.list_upload(dapp.upload("Orphaned by a reorg", small_csv(10, seed=8)))
    head = dapp.w3.eth.block_number
    assert head == listed_in + 1
    expect(card(page, gone)).to_be_visible(timeout=20_000)
    page.evaluate("() => { window.__sameDocument = true; }")
    # When anvil replaces that block with an empty one, and the chain moves on
    rpc_call(dapp.w3, "anvil_reorg", [1, []])
    assert dapp.w3.eth.block_number == head
    dapp.mine(1)
    # Then the card leaves the open page (no reload), and the API forgets the listing
    expect(card(page, gone)).to_have_count(0, timeout=20_000)
    expect(card(page, kept.dataset_id)).to_be_visible()
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    dapp.wait_for(
        lambda: httpx.get(f"{dapp.url}/datasets/{gone}").status_code == 404, "API forgets it"
    )
