"""Training in a real browser against the real stack with a Dramatiq worker in it: a buyer
opens the train page from the dataset, builds a spec on its columns, sees the escrow,
signs one permit and sends one requestTrainingWithPermit, follows the job page from the
request to `done` (metrics and model card shown, trained by the worker in its bubblewrap
sandbox) and downloads the model the API serves; a spec the API refuses shows the API's
sentence and sends nothing.

They skip until the static export exists (web/out/index.html)."""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.web.conftest import ContextFactory
from tests.web.dapp import (
    BUYER,
    DAPP_MISSING,
    Dapp,
    Upload,
    connect,
    dapp_built,
    running_dapp,
    wait_final,
)
from tests.web.test_a11y import serious_violations
from tests.web.test_journeys import no_horizontal_scroll
from tests.web.training import buy_final, prepare_spec
from tests.web.wallet import wallet_calls

pytestmark = pytest.mark.skipif(not dapp_built(), reason=DAPP_MISSING)
PHASES = {"requested", "running", "done", "failed"}


def labelled_csv(rows: int = 120, seed: int = 5) -> bytes:
    """A small learnable table: `label` follows `x1` and `x2`; `noise` does not."""
    rng = random.Random(seed)
    lines = ["x1,x2,noise,label"]
    for _ in range(rows):
        x1, x2, noise = rng.gauss(0, 1), rng.gauss(0, 1), rng.random()
        lines.append(f"{x1:.4f},{x2:.4f},{noise:.4f},{'high' if x1 + 0.5 * x2 > 0 else 'low'}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def dapp(
    migrated_template: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dapp]:
    """This module's stack trains: a registered, staked worker serves in it."""
    data_dir = tmp_path_factory.mktemp("dapp-training")
    with running_dapp(migrated_template, redis_url, data_dir, worker=True) as running:
        yield running


@pytest.fixture(scope="module")
def bought(dapp: Dapp) -> Upload:
    """A labelled table, listed by the provider and bought (final) by the buyer."""
    upload = dapp.publish("Labelled points", labelled_csv())
    buy_final(dapp, upload.dataset_id)
    return upload


@pytest.fixture
def buyer(dapp: Dapp, new_context: ContextFactory) -> Iterator[BrowserContext]:
    yield new_context(wallet=dapp.wallet(BUYER), accept_downloads=True)


def open_train_page(page: Page, dapp: Dapp, upload: Upload) -> None:
    """From the dataset page, connected as the buyer, through its Request training link."""
    page.goto(dapp.dataset_url(upload.dataset_id))
    expect(page.get_by_test_id("dataset-title")).to_have_text(upload.title)
    connect(page, dapp.address(BUYER))
    page.get_by_test_id("request-training").click()
    expect(page.get_by_test_id("spec-form")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/train/\?dataset={upload.dataset_id}&chain="))


def follow_job(page: Page, dapp: Dapp, timeout: float = 180) -> list[str]:
    """Mine blocks (finality for the request, then for the worker's log) until the job page
    shows `done` with its metrics and an enabled download; the phases seen on the way."""
    status, metrics = page.get_by_test_id("job-status"), page.get_by_test_id("job-metrics")
    download = page.get_by_test_id("download-model")
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        text = status.inner_text().strip() if status.count() else ""
        if text and (not seen or seen[-1] != text):
            assert text in PHASES, f"job-status {text!r} is not in the contract"
            seen.append(text)
        if text == "done" and metrics.count() and download.count() and download.is_enabled():
            return seen
        assert text != "failed", f"the job failed: {seen}"
        assert time.monotonic() < deadline, f"the job never got done: {seen}"
        dapp.mine(1)
        time.sleep(0.5)


def test_train_on_a_bought_dataset_then_download_the_model(
    dapp: Dapp, bought: Upload, buyer: BrowserContext
) -> None:
    training = dapp.platform.client.contract("TrainingLog")
    jobs_before = int(training.functions.jobCount().call())
    # Given the buyer of a dataset on its train page
    page = buyer.new_page()
    open_train_page(page, dapp, bought)
    # Then the builder starts from the dataset's columns: the label is the target, the
    # numeric columns the features
    expect(page.get_by_test_id("spec-target")).to_have_value("label")
    checked = page.locator('[data-testid="spec-feature"]:checked')
    expect(checked).to_have_count(3)
    assert {c.get_attribute("data-column") for c in checked.all()} == {"x1", "x2", "noise"}
    # When the buyer picks a small network and fewer epochs and checks the spec
    page.locator('[data-testid="spec-feature"][data-column="noise"]').uncheck()
    page.get_by_test_id("spec-hidden-sizes").fill("8")
    page.get_by_test_id("spec-epochs").fill("20")
    page.get_by_test_id("spec-seed").fill("3")
    expect(page.get_by_test_id("pay-training")).to_be_disabled()
    page.get_by_test_id("prepare-training").click()
    # Then the page shows the escrow the API quotes, before anything is paid
    expect(page.get_by_test_id("training-escrow")).to_have_text("10 DATACOIN")
    assert "eth_signTypedData_v4" not in wallet_calls(page)
    # When the buyer pays: one permit signature, one transaction, followed to final
    page.get_by_test_id("pay-training").click()
    seen = wait_final(page, dapp)
    assert any(s.startswith("confirmations") or s in {"pending", "mined"} for s in seen), seen
    calls = wallet_calls(page)
    assert calls.count("eth_signTypedData_v4") == 1 and calls.count("eth_sendTransaction") == 1
    # Then the chain holds the buyer's job, paid with the spec the page built
    job_id = int(training.functions.jobCount().call())
    assert job_id == jobs_before + 1
    spec_cid = page.get_by_test_id("training-spec-cid").inner_text().strip()
    job = httpx.get(f"{dapp.url}/training-jobs/{job_id}", timeout=10)
    assert job.status_code == 200, job.text
    assert job.json()["requester"].lower() == dapp.address(BUYER).lower()
    assert job.json()["spec_cid"] == spec_cid
    assert job.json()["spec"]["features"] == ["x1", "x2"] and job.json()["spec"]["epochs"] == 20
    # When the buyer follows the job page while the worker trains
    page.get_by_test_id("job-link").click()
    expect(page).to_have_url(re.compile(rf"/job/\?id={job_id}&chain={dapp.chain_id}"))
    phases = follow_job(page, dapp)
    # Then it goes from the request (or the worker running it) to done, with the metrics
    # and model card the API holds
    assert phases[-1] == "done" and set(phases[:-1]) <= {"requested", "running"}, phases
    final = httpx.get(f"{dapp.url}/training-jobs/{job_id}", timeout=10).json()
    assert final["status"] == "logged" and final["metrics"]["validation_rows"] > 0
    metrics = page.get_by_test_id("job-metrics")
    shown = float(metrics.locator('[data-metric="accuracy"]').inner_text())
    assert shown == pytest.approx(final["metrics"]["accuracy"], rel=1e-3)
    expect(page.get_by_test_id("model-hash")).to_have_text(final["model_hash"])
    assert serious_violations(page) == []
    page.set_viewport_size({"width": 390, "height": 844})
    no_horizontal_scroll(page)
    # When the buyer downloads the model
    with page.expect_download() as info:
        page.get_by_test_id("download-model").click()
    downloaded = info.value.path().read_bytes()
    # Then it is the model the API serves the requester, the one the chain's hash names
    served = httpx.get(
        f"{dapp.url}/training-jobs/{job_id}/model", headers=dapp.sign_in(BUYER), timeout=30
    )
    assert served.status_code == 200, served.text
    assert downloaded and downloaded == served.content
    assert "0x" + hashlib.sha256(downloaded).hexdigest() == final["model_hash"]
    expect(page.get_by_test_id("download-status")).to_have_text(f"saved ({len(downloaded)} bytes)")
    # And the buyer's account page lists the job, linking back to its page
    page.goto(dapp.page_url(f"/account/?address={dapp.address(BUYER)}"))
    job_link = page.get_by_test_id("account-jobs").get_by_test_id("job-link")
    expect(job_link).to_have_text(f"Job #{job_id}")
    job_link.click()
    expect(page).to_have_url(re.compile(rf"/job/\?id={job_id}&chain={dapp.chain_id}"))
    expect(page.get_by_test_id("job-status")).to_have_text("done")


def test_a_spec_the_api_refuses_shows_its_sentence_and_sends_nothing(
    dapp: Dapp, bought: Upload, buyer: BrowserContext
) -> None:
    training = dapp.platform.client.contract("TrainingLog")
    jobs_before = int(training.functions.jobCount().call())
    page = buyer.new_page()
    open_train_page(page, dapp, bought)
    # When the buyer asks for a regression on the text label
    page.get_by_test_id("spec-task").select_option("regression")
    page.get_by_test_id("prepare-training").click()
    # Then the page shows the API's own sentence for that spec, next to the form
    refused = prepare_spec(
        dapp,
        bought.dataset_id,
        {"task": "regression", "target": "label", "features": ["x1", "x2", "noise"]},
    )
    assert refused.status_code == 400, refused.text
    sentence = refused.json()["detail"]
    assert "regression needs numeric" in sentence
    expect(page.get_by_test_id("spec-error")).to_have_text(sentence)
    page.set_viewport_size({"width": 390, "height": 844})
    no_horizontal_scroll(page)
    # And nothing can be paid, nothing was signed or sent, and no job exists
    expect(page.get_by_test_id("pay-training")).to_be_disabled()
    expect(page.get_by_test_id("training-escrow")).to_have_count(0)
    calls = wallet_calls(page)
    assert "eth_signTypedData_v4" not in calls and "eth_sendTransaction" not in calls, calls
    assert int(training.functions.jobCount().call()) == jobs_before
    # When the buyer fixes the task, the same form is accepted and quoted
    page.get_by_test_id("spec-task").select_option("classification")
    expect(page.get_by_test_id("spec-error")).to_have_count(0)
    page.get_by_test_id("prepare-training").click()
    expect(page.get_by_test_id("training-escrow")).to_have_text("10 DATACOIN")
