"""The README's screenshots of the explore and dataset pages are taken here, on the real
stack: each run writes them to test-artifacts/web/screenshots/ (`make screenshots` copies them
to docs/screenshots/, which the README shows)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.web.conftest import ContextFactory
from tests.web.dapp import BUYER, DAPP_MISSING, REPO, Dapp, card, dapp_built, small_csv

pytestmark = pytest.mark.skipif(not dapp_built(), reason=DAPP_MISSING)
SHOTS = REPO / "test-artifacts" / "web" / "screenshots"


def test_explore_and_dataset_pages_render_for_the_readme(
    dapp: Dapp, new_context: ContextFactory
) -> None:
    # Given two listings with a column schema and a preview
    first = dapp.publish("Penguin census", small_csv(30, seed=1))
    dapp.publish("Seabird weights", small_csv(20, seed=4))
    page = new_context(
        wallet=dapp.wallet(BUYER), viewport={"width": 1280, "height": 900}
    ).new_page()
    SHOTS.mkdir(parents=True, exist_ok=True)
    # When the explore page shows both, and the dataset page its columns
    page.goto(dapp.page_url("/"))
    expect(card(page, first.dataset_id)).to_be_visible()
    expect(page.get_by_test_id("dataset-card")).to_have_count(2)
    explore = SHOTS / "explore.png"
    page.screenshot(path=str(explore), full_page=True)
    page.goto(dapp.dataset_url(first.dataset_id))
    expect(page.get_by_test_id("dataset-schema")).to_contain_text("height_cm")
    dataset = SHOTS / "dataset.png"
    page.screenshot(path=str(dataset), full_page=True)
    # Then both pictures exist and are real PNGs of a rendered page
    for shot in (explore, dataset):
        assert _is_png(shot) and shot.stat().st_size > 10_000, shot


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
