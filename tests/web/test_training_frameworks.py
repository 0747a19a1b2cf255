"""The dApp's frameworks and dataset kinds in a real browser against the real stack, with a
Dramatiq worker that really trains: a provider publishes the generated image archive
(common/sample_data.py) through the Publish page, its dataset page shows the thumbnails as
images named by their label, a buyer requests a TensorFlow CNN from the train page and
follows the job to done, and downloads a .keras model whose sha256 is the chain's model
hash; a text dataset (JSON Lines) shows its length distribution and the train page sends a
text-embedding spec in the chosen framework.

They skip until the static export exists (web/out/index.html)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from common.sample_data import BAR_CLASSES, bars_archive, reviews
from tests.web.conftest import ContextFactory
from tests.web.dapp import (
    BUYER,
    DAPP_MISSING,
    PROVIDER,
    Dapp,
    Upload,
    connect,
    dapp_built,
    running_dapp,
    wait_final,
)
from tests.web.test_a11y import serious_violations
from tests.web.test_training import follow_job, open_train_page
from tests.web.training import buy_final

pytestmark = pytest.mark.skipif(not dapp_built(), reason=DAPP_MISSING)
PER_CLASS = 6


@pytest.fixture(scope="module")
def dapp(
    migrated_template: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dapp]:
    """This module's stack trains: a registered, staked worker serves in it."""
    data_dir = tmp_path_factory.mktemp("dapp-frameworks")
    with running_dapp(migrated_template, redis_url, data_dir, worker=True) as running:
        yield running


@pytest.fixture(scope="module")
def text_dataset(dapp: Dapp) -> Upload:
    """The generated reviews (JSON Lines: text, label), listed and bought by the buyer."""
    upload = dapp.publish("Product reviews", reviews(40), suffix=".jsonl")
    buy_final(dapp, upload.dataset_id)
    return upload


@pytest.fixture
def buyer(dapp: Dapp, new_context: ContextFactory) -> Iterator[BrowserContext]:
    yield new_context(wallet=dapp.wallet(BUYER), accept_downloads=True)


def publish_in_browser(page: Page, dapp: Dapp, title: str, name: str, data: bytes) -> int:
    """Upload `data` as file `name` through the Publish page and list it: the new id."""
    market = dapp.platform.client.contract("Marketplace")
    page.goto(dapp.page_url("/publish/"))
    connect(page, dapp.address(PROVIDER))
    picker = page.get_by_test_id("publish-file")
    accepted = (picker.get_attribute("accept") or "").split(",")
    assert {".jsonl", ".zip", ".tar"} <= set(accepted), accepted
    expect(page.get_by_test_id("publish-file-kinds")).to_contain_text("image archive")
    assert serious_violations(page) == []
    picker.set_input_files({"name": name, "mimeType": "application/zip", "buffer": data})
    page.get_by_test_id("publish-title").fill(title)
    page.get_by_test_id("publish-category").fill("images")
    page.get_by_test_id("publish-price").fill("1")
    page.get_by_test_id("publish-submit").click()
    expect(page.get_by_test_id("upload-result")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("review-rows")).to_have_text(str(PER_CLASS * len(BAR_CLASSES)))
    page.get_by_test_id("publish-list").click()
    wait_final(page, dapp)
    dataset_id = int(market.functions.datasetCount().call())
    dapp.wait_for(lambda: dapp.dataset(dataset_id).get("title") == title, f"{title} shown")
    return dataset_id


def sent_spec(page: Page) -> dict[str, Any]:
    """Check the spec on the train page: the spec the POST /training-specs request carried."""
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/training-specs")
    ) as info:
        page.get_by_test_id("prepare-training").click()
    body = info.value.post_data_json
    assert isinstance(body, dict), body
    return dict(body["spec"])


def test_image_archive_to_a_tensorflow_cnn_and_its_keras_model(
    dapp: Dapp, new_context: ContextFactory, buyer: BrowserContext
) -> None:
    # Given the generated bars archive published through the Publish page
    title = "Bars"
    provider = new_context(wallet=dapp.wallet(PROVIDER)).new_page()
    dataset_id = publish_in_browser(
        provider, dapp, title, "bars.zip", bars_archive("zip", PER_CLASS)
    )
    buy_final(dapp, dataset_id)
    upload = Upload(dataset_id, title, b"", 0)
    # When the buyer opens its dataset page
    page = buyer.new_page()
    page.goto(dapp.dataset_url(dataset_id))
    # Then the preview is thumbnails, each an image with its label as its text alternative
    thumbnails = page.get_by_test_id("preview-thumbnail")
    expect(thumbnails.first).to_be_visible()
    assert thumbnails.count() >= len(BAR_CLASSES)
    assert {t.get_attribute("alt") for t in thumbnails.all()} == set(BAR_CLASSES)
    for t in thumbnails.all():
        assert (t.get_attribute("src") or "").startswith("data:image/png;base64,")
        assert t.evaluate("img => img.complete && img.naturalWidth > 0"), "not decoded"
    assert serious_violations(page) == []
    # When the buyer opens the train page: the CNN is the model it suggests, on `image`
    open_train_page(page, dapp, upload)
    expect(page.get_by_test_id("spec-model")).to_have_value("cnn")
    kinds = page.get_by_test_id("spec-model").locator("option").all_inner_texts()
    assert len(kinds) == 1 and kinds[0].startswith("CNN"), kinds
    expect(page.get_by_test_id("spec-input")).to_have_value("image")
    expect(page.get_by_test_id("spec-target")).to_have_value("label")
    assert serious_violations(page) == []
    # When the buyer picks TensorFlow, a small network, and checks the spec
    page.get_by_label("Framework").select_option("tensorflow")
    page.get_by_test_id("spec-image-size").fill("8")
    page.get_by_test_id("spec-channels").fill("4")
    page.get_by_test_id("spec-epochs").fill("3")
    spec = sent_spec(page)
    # Then the spec sent names the framework and the CNN with its fields
    assert spec["framework"] == "tensorflow"
    assert spec["model"] == {"kind": "cnn", "image_size": 8, "channels": [4], "grayscale": False}
    assert (spec["task"], spec["target"], spec["features"]) == (
        "classification",
        "label",
        ["image"],
    )
    expect(page.get_by_test_id("training-escrow")).to_be_visible()
    # When the buyer pays and follows the job while the worker trains it
    page.get_by_test_id("pay-training").click()
    wait_final(page, dapp)
    page.get_by_test_id("job-link").click()
    phases = follow_job(page, dapp)
    assert phases[-1] == "done", phases
    job_id = int(re.search(r"id=(\d+)", page.url).group(1))  # type: ignore[union-attr]
    final = httpx.get(f"{dapp.url}/training-jobs/{job_id}", timeout=10).json()
    # Then the model card is a TensorFlow one, its model a .keras file
    assert final["model_card"]["framework"] == "tensorflow", final["model_card"]
    expect(page.get_by_test_id("model-framework")).to_have_text("TensorFlow (Keras 3)")
    file_name = f"model-{dapp.chain_id}-{job_id}.keras"
    expect(page.get_by_test_id("model-file")).to_have_text(file_name)
    assert serious_violations(page) == []
    # When the buyer downloads it: a .keras file (a ZIP) whose sha256 is the chain's hash
    with page.expect_download() as info:
        page.get_by_test_id("download-model").click()
    assert info.value.suggested_filename == file_name
    downloaded = info.value.path().read_bytes()
    assert downloaded.startswith(b"PK\x03\x04")
    assert hashlib.sha256(downloaded).digest() == logged_model_hash(dapp, job_id)
    assert "0x" + hashlib.sha256(downloaded).hexdigest() == final["model_hash"]


def logged_model_hash(dapp: Dapp, job_id: int) -> bytes:
    """The modelHash of job `job_id`'s TrainingLogged event, read from the chain."""
    training = dapp.platform.client.contract("TrainingLog")
    logs = training.events.TrainingLogged().get_logs(
        from_block=dapp.platform.deployment.start_block, argument_filters={"jobId": job_id}
    )
    assert len(logs) == 1, logs
    return bytes(logs[0]["args"]["modelHash"])


def test_text_dataset_lengths_and_the_text_spec_in_both_frameworks(
    dapp: Dapp, text_dataset: Upload, buyer: BrowserContext
) -> None:
    # Given the buyer on a text dataset's page
    page = buyer.new_page()
    page.goto(dapp.dataset_url(text_dataset.dataset_id))
    # Then its text column's length distribution is a table, matching the profile
    profile = {c["name"]: c for c in dapp.dataset(text_dataset.dataset_id)["column_schema"]}
    lengths = page.locator('[data-testid="text-lengths"][data-column="text"]')
    expect(lengths).to_be_visible()
    counts = profile["text"]["lengths"]["histogram"]["counts"]
    rows = lengths.locator("tbody tr")
    expect(rows).to_have_count(len(counts))
    shown = [int(r.locator("td").inner_text().strip()) for r in rows.all()]
    assert shown == counts and sum(shown) == 40
    expect(lengths.locator("caption")).to_contain_text(f"{profile['text']['lengths']['min']} to")
    assert serious_violations(page) == []
    # When the buyer opens the train page: a text embedding on `text`, labelled by `label`
    open_train_page(page, dapp, text_dataset)
    expect(page.get_by_test_id("spec-model")).to_have_value("text_embedding")
    expect(page.get_by_test_id("spec-input")).to_have_value("text")
    expect(page.get_by_test_id("spec-target")).to_have_value("label")
    assert serious_violations(page) == []
    # Then the spec it sends is that, in PyTorch by default and in TensorFlow when chosen
    page.get_by_test_id("spec-embedding-dim").fill("8")
    for framework in ("pytorch", "tensorflow"):
        page.get_by_label("Framework").select_option(framework)
        spec = sent_spec(page)
        assert spec["framework"] == framework
        assert spec["model"] == {
            "kind": "text_embedding",
            "vocab_size": 4096,
            "embedding_dim": 8,
            "max_tokens": 64,
        }
        assert (spec["target"], spec["features"]) == ("label", ["text"])
        # And the API accepts it (a quote, not a refusal)
        expect(page.get_by_test_id("training-escrow")).to_be_visible()
        expect(page.get_by_test_id("spec-error")).to_have_count(0)
