"""axe-core (npm, node_modules/axe-core) on the explore, dataset, train, job, account, stake and
audit pages: no critical or serious violations."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import ContextFactory
from tests.web.dapp import (
    BUYER,
    DAPP_MISSING,
    PROVIDER,
    REPO,
    Dapp,
    Upload,
    card,
    connect,
    dapp_built,
    small_csv,
)
from tests.web.profiles import avatar_png, set_profile
from tests.web.training import buy_final, request_job

pytestmark = pytest.mark.skipif(not dapp_built(), reason=DAPP_MISSING)
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def listed(dapp: Dapp) -> Upload:
    return dapp.publish("Accessible otters", small_csv(5))


def serious_violations(page: Page) -> list[dict[str, Any]]:
    assert AXE.exists(), "node_modules/axe-core missing: run `npm ci`"
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate("() => axe.run(document)")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in {"critical", "serious"}
    ]


def test_explore_has_no_serious_violations(
    dapp: Dapp, listed: Upload, new_context: ContextFactory
) -> None:
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(dapp.page_url("/"))
    expect(card(page, listed.dataset_id)).to_be_visible()
    assert serious_violations(page) == []


def test_dataset_page_has_no_serious_violations(
    dapp: Dapp, listed: Upload, new_context: ContextFactory
) -> None:
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(dapp.dataset_url(listed.dataset_id))
    expect(page.get_by_test_id("dataset-title")).to_have_text(listed.title)
    expect(page.get_by_test_id("buy-button")).to_be_visible()
    assert serious_violations(page) == []


def test_own_account_page_with_a_profile_has_no_serious_violations(
    dapp: Dapp, listed: Upload, new_context: ContextFactory
) -> None:
    profile = {
        "display_name": "Otter keeper",
        "bio": "Counts otters.\nSometimes beavers.",
        "links": ["https://example.org/otters"],
        "avatar_base64": base64.b64encode(avatar_png()).decode(),
    }
    set_profile(dapp, PROVIDER, profile)
    page = new_context(wallet=dapp.wallet(PROVIDER)).new_page()
    page.goto(dapp.page_url("/account/"))
    connect(page, dapp.address(PROVIDER))
    expect(page.get_by_test_id("profile-name")).to_have_text("Otter keeper")
    expect(page.get_by_test_id("listing-item").first).to_be_visible()
    expect(page.get_by_test_id("activity-item").first).to_be_visible()
    page.get_by_test_id("profile-edit").click()  # the form too
    expect(page.get_by_test_id("profile-form")).to_be_visible()
    assert serious_violations(page) == []


def test_train_page_has_no_serious_violations(
    dapp: Dapp, listed: Upload, new_context: ContextFactory
) -> None:
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(dapp.page_url(f"/train/?dataset={listed.dataset_id}&chain={dapp.chain_id}"))
    expect(page.get_by_test_id("spec-form")).to_be_visible()
    assert serious_violations(page) == []


def test_job_page_has_no_serious_violations(
    dapp: Dapp, listed: Upload, new_context: ContextFactory
) -> None:
    # (no worker in this stack: the job stays requested; test_training checks a done one)
    buy_final(dapp, listed.dataset_id)
    spec = {"task": "classification", "target": "species", "features": ["height_cm"]}
    job_id = request_job(dapp, listed.dataset_id, spec)
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(dapp.page_url(f"/job/?id={job_id}&chain={dapp.chain_id}"))
    expect(page.get_by_test_id("job-status")).to_have_text(re.compile("^(requested|running)$"))
    assert serious_violations(page) == []


def test_stake_page_has_no_serious_violations(dapp: Dapp, new_context: ContextFactory) -> None:
    page = new_context(wallet=dapp.wallet(BUYER)).new_page()
    page.goto(dapp.page_url("/stake/"))
    connect(page, dapp.address(BUYER))
    expect(page.get_by_test_id("stake-balance")).to_contain_text("DATACOIN")
    # (the amount's error sentence is part of the page to check)
    page.get_by_test_id("stake-amount").fill("-1")
    expect(page.get_by_test_id("amount-error")).to_be_visible()
    assert serious_violations(page) == []


def test_audit_page_has_no_serious_violations(
    dapp: Dapp, listed: Upload, new_context: ContextFactory
) -> None:
    page = new_context().new_page()
    page.goto(dapp.page_url("/audit/"))
    expect(page.get_by_test_id("event-row").first).to_be_visible()
    expect(page.get_by_test_id("state-hash")).not_to_have_text("…")
    assert serious_violations(page) == []
