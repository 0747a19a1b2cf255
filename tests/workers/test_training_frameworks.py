"""End to end on anvil, per framework: an image job (a small CNN on a ZIP of class
folders) and a text job (a bag of word embeddings on JSON Lines), each trained in the
bubblewrap sandbox by a registered worker, logged on chain, projected, and audited (a fresh
sandbox re-runs it from the chain's record to the same model and metrics hashes).

Kept cheap: 16 images of 8x8 pixels and 32 short reviews, 2 epochs; four jobs on one
chain, one worker, in one test."""

from __future__ import annotations

import io
import zipfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import psycopg
import pytest
from rich.console import Console

from cli.commands.audit import run_audit_training
from common.errors import PermanentError
from common.sample_data import bars_archive, reviews
from storage.open import open_blobs, open_keyring
from tests.workers.conftest import TrainingWorld, classification_csv, spec_doc
from workers.training.job import SandboxLimitError
from workers.training.keras_artifact import FIXED_TIME, HEADER_FILE
from workers.training.stored import open_model

IMAGE_MODEL = {"kind": "cnn", "image_size": 8, "channels": [4]}
TEXT_MODEL = {"kind": "text_embedding", "vocab_size": 256, "embedding_dim": 8, "max_tokens": 16}


def job_spec(framework: str, feature: str, model: dict[str, Any]) -> dict[str, Any]:
    return {
        "framework": framework,
        "task": "classification",
        "target": "label",
        "features": [feature],
        "model": model,
        "epochs": 2,
        "batch_size": 8,
        "learning_rate": 0.05,
        "validation_split": 0.25,
        "seed": 7,
    }


def _card(world: TrainingWorld, cid: str) -> dict[str, Any]:
    card: dict[str, Any] = orjson.loads(b"".join(open_blobs(world.settings).get(cid)))
    return card


def _check_keras_file(raw: bytes) -> None:
    """A .keras ZIP with Keras's entries and our header, every entry at the fixed time."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        names = archive.namelist()
        assert {"config.json", "metadata.json", "model.weights.h5", HEADER_FILE} <= set(names)
        assert {info.date_time for info in archive.infolist()} == {FIXED_TIME}
        assert orjson.loads(archive.read(HEADER_FILE))["format"] == "datacoin-keras-model/1"


@pytest.mark.slow
def test_image_and_text_jobs_in_both_frameworks_are_logged_and_audited(
    training_world: TrainingWorld,
) -> None:
    world = training_world
    # Given an image archive and a text dataset, listed encrypted and bought
    images_id, _ = world.list_dataset(bars_archive(per_class=8), "bars.zip")
    text_id, _ = world.list_dataset(reviews(32), "reviews.jsonl")
    world.buy(images_id)
    world.buy(text_id)
    # And one image job and one text job per framework
    jobs: dict[tuple[str, str], int] = {}
    for framework in ("pytorch", "tensorflow"):
        for kind, dataset_id, feature, model in (
            ("image", images_id, "image", IMAGE_MODEL),
            ("text", text_id, "text", TEXT_MODEL),
        ):
            spec_cid = world.put_spec(job_spec(framework, feature, model))
            jobs[framework, kind] = world.request(dataset_id, spec_cid)
    # When the worker's training service runs them, two at a time as a two-thread worker
    # would (sandboxed, then logTraining; no spare sandboxes: on two cores a spare's import
    # only competes with the jobs')
    world.configure(training_spares=0)
    service = world.services().training
    with ThreadPoolExecutor(2) as pool:
        outcomes = dict(zip(jobs, pool.map(service.run, jobs.values()), strict=True))
    # Then each is logged on chain, once, by the worker
    for key, job_id in jobs.items():
        assert outcomes[key].status == "logged", outcomes[key]
        (event,) = world.logged_events(job_id)
        assert event["args"]["worker"] == world.worker.address
    # And projected as logged
    world.sync()
    with psycopg.connect(world.db_url) as conn:
        rows = conn.execute(
            "SELECT job_id, status FROM readmodels.training_jobs WHERE job_id = ANY(%s)",
            (list(jobs.values()),),
        ).fetchall()
    assert sorted(rows) == sorted((job_id, "logged") for job_id in jobs.values())
    # And each card names its framework, format and libraries; each sealed model opens
    keyring = open_keyring(world.settings)
    for (framework, kind), job_id in jobs.items():
        (event,) = world.logged_events(job_id)
        card = _card(world, event["args"]["metricsCid"])
        assert card["framework"] == framework and card["spec"]["model"]["kind"] in (
            "cnn",
            "text_embedding",
        )
        assert "bit-identical" in card["determinism"]
        assert card["metrics"]["validation_rows"] == (4 if kind == "image" else 8)
        model_bytes = open_model(
            open_blobs(world.settings),
            keyring,
            event["args"]["modelCid"],
            bytes(event["args"]["modelHash"]),
        )
        if framework == "tensorflow":
            assert card["model"]["format"] == "keras"
            assert {"tensorflow-cpu", "keras"} <= set(card["libraries"])
            _check_keras_file(model_bytes)
        else:
            assert card["model"]["format"] == "safetensors" and "torch" in card["libraries"]

    # And an audit re-runs every job from the chain to the same model and metrics hashes
    def audit(job_id: int) -> bool:
        return run_audit_training(world.settings, job_id, 31337, Console(file=io.StringIO()))

    with ThreadPoolExecutor(2) as pool:
        audited = dict(zip(jobs, pool.map(audit, jobs.values()), strict=True))
    assert all(audited.values()), audited


def test_tensorflow_jobs_stop_at_the_sandbox_limits_and_stay_refundable(
    training_world: TrainingWorld,
) -> None:
    world = training_world
    dataset_id, _ = world.list_dataset(classification_csv(rows=40))
    world.buy(dataset_id)
    tf_spec = spec_doc(framework="tensorflow", epochs=1)
    # Given a TensorFlow job whose spec names a column the table lacks
    missing = world.request(dataset_id, world.put_spec({**tf_spec, "features": ["x1", "nope"]}))
    with pytest.raises(PermanentError, match="does not fit"):
        world.services().training.run(missing)
    # And one whose sandbox has too little memory for TensorFlow, and one too little time
    world.configure(sandbox_memory_bytes=512 << 20)
    starved = world.request(dataset_id, world.put_spec(tf_spec))
    with pytest.raises(SandboxLimitError) as memory:
        world.services().training.run(starved)
    world.configure(sandbox_memory_bytes=4 << 30, sandbox_wall_seconds=0.5)
    hurried = world.request(dataset_id, world.put_spec(tf_spec))
    with pytest.raises(SandboxLimitError) as wall:
        world.services().training.run(hurried)
    # Then each stops at its limit, and none is logged: each stays open (refundable)
    assert memory.value.result.failure == "memory" and wall.value.result.failure == "wall_clock"
    for job_id in (missing, starved, hurried):
        assert world.logged_events(job_id) == [] and world.job_status(job_id) == 1
