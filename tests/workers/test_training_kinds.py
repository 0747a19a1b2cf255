"""The spec's frameworks and model kinds, the text tokenizer, the canonical .keras writer
and the image archive reader, without a chain or a sandbox (and without TensorFlow)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from common.documents import ColumnProfile
from common.sample_data import bars_archive
from workers.training.archive import ArchiveError, ArchiveLimits, read_archive
from workers.training.canonical import canonical_json
from workers.training.columns import spec_mismatch
from workers.training.data import DataError, load_arrays
from workers.training.keras_artifact import FIXED_TIME, HEADER_FILE, KerasHeader, canonical_keras
from workers.training.spec import CnnModelSpec, TrainingSpec
from workers.training.text import PAD, token_id, token_ids

#: A spec stored before `framework` existed, as the API stored it (canonical, defaults in).
STORED_BEFORE = (
    b'{"batch_size":32,"epochs":10,"features":["x1","x2"],"learning_rate":0.01,'
    b'"model":{"hidden_sizes":[8],"kind":"mlp"},"schema_version":1,"seed":3,'
    b'"target":"label","task":"classification","validation_split":0.2}'
)


def spec(**changes: Any) -> TrainingSpec:
    base: dict[str, Any] = {"task": "classification", "target": "label", "features": ["x1"]}
    return TrainingSpec.model_validate(base | changes)


def test_a_pytorch_spec_keeps_the_bytes_it_was_stored_with() -> None:
    # Given a spec document stored before frameworks existed
    parsed = TrainingSpec.model_validate_json(STORED_BEFORE)
    # Then it is a PyTorch spec, and storing it again gives the same bytes (the same CID)
    assert parsed.framework == "pytorch"
    assert canonical_json(parsed.model_dump(mode="json")) == STORED_BEFORE
    # While a TensorFlow spec says so
    tf = parsed.model_copy(update={"framework": "tensorflow"})
    assert b'"framework":"tensorflow"' in canonical_json(tf.model_dump(mode="json"))


BAD_SPECS = {
    "unknown framework": {"framework": "jax"},
    "unknown model kind": {"model": {"kind": "transformer"}},
    "cnn for regression": {"task": "regression", "model": {"kind": "cnn"}},
    "text model on two columns": {"features": ["a", "b"], "model": {"kind": "text_embedding"}},
    "cnn whose poolings do not divide the size": {
        "model": {"kind": "cnn", "image_size": 12, "channels": [4, 4, 4]}
    },
    "vocabulary too large": {"model": {"kind": "text_embedding", "vocab_size": 1 << 20}},
    "too many convolutions": {"model": {"kind": "cnn", "channels": [4, 4, 4, 4]}},
}


@pytest.mark.parametrize("change", BAD_SPECS.values(), ids=BAD_SPECS.keys())
def test_bad_framework_and_model_specs_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        spec(**change)


def test_a_model_without_a_kind_is_the_default_linear_one() -> None:
    assert spec(model={}).model.kind == "linear" and spec().input_kind == "table"
    assert isinstance(spec(model={"kind": "cnn"}).model, CnnModelSpec)


def test_models_fit_only_their_kind_of_column() -> None:
    columns = [
        ColumnProfile(name="x1", type="double", nulls=0),
        ColumnProfile(name="text", type="string", nulls=0),
        ColumnProfile(name="image", type="image", nulls=0),
        ColumnProfile(name="label", type="string", nulls=0),
    ]
    text = {"kind": "text_embedding"}
    fits = [
        spec(features=["text"], model=text),
        spec(features=["image"], model={"kind": "cnn"}),
        spec(features=["x1"]),
    ]
    assert [spec_mismatch(s, columns, 10) for s in fits] == [None] * 3
    misfits = [
        spec(features=["x1"], model=text),
        spec(features=["text"], model={"kind": "cnn"}),
        spec(features=["image"]),
    ]
    for wrong in misfits:
        mismatch = spec_mismatch(wrong, columns, 10)
        assert mismatch is not None and mismatch.code == "column_type", wrong


def test_token_ids_are_hashed_words_padded_and_never_empty() -> None:
    ids = token_ids(["Great, GREAT product!", "", "a b c d e"], vocab_size=64, max_tokens=4)
    great, product = token_id("great", 64), token_id("product", 64)
    assert ids[0].tolist() == [great, great, product, PAD]
    assert ids[1].tolist() == [token_id("", 64), PAD, PAD, PAD]  # no row of padding only
    assert ids[2].tolist() == [token_id(w, 64) for w in "abcd"]  # cut at max_tokens
    assert ids.dtype == np.int32 and ids[ids > 0].min() >= 1 and ids.max() < 64


def _fake_keras(object_id: int, saved: str, when: tuple[int, int, int, int, int, int]) -> bytes:
    """A .keras-shaped ZIP as Keras writes one: a save time, object ids, entry times."""
    config = {"layers": [{"dtype": {"shared_object_id": object_id}}], "other": 1402}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"date_saved": saved}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr(zipfile.ZipInfo("model.weights.h5", date_time=when), b"weights")
    return out.getvalue()


def test_canonical_keras_bytes_drop_times_and_object_ids() -> None:
    header = KerasHeader(
        task="classification",
        features=("x1",),
        target="label",
        labels=("a", "b"),
        model=spec().model,
        code_version="sha:1",
    )
    first = canonical_keras(
        _fake_keras(1401, "2026-01-01@10:00:00", (2026, 1, 1, 10, 0, 0)), header
    )
    second = canonical_keras(
        _fake_keras(9999, "2027-02-02@11:11:11", (2027, 2, 2, 11, 0, 0)), header
    )
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist() == sorted(archive.namelist())
        assert {info.date_time for info in archive.infolist()} == {FIXED_TIME}
        config = json.loads(archive.read("config.json"))
        assert config["layers"][0]["dtype"]["shared_object_id"] == 0
        assert config["other"] == 1402  # only the ids are renumbered
        assert KerasHeader.decode(archive.read(HEADER_FILE)) == header


def test_an_archive_reads_to_labelled_pixels(tmp_path: Path) -> None:
    path = tmp_path / "bars.tar"
    path.write_bytes(bars_archive("tar", per_class=2, size=8))
    archive = read_archive(path, "tar")
    try:
        assert [item.label for item in archive.items] == ["horizontal"] * 2 + ["vertical"] * 2
        pixels = archive.pixels(16, grayscale=True)
    finally:
        archive.close()
    assert pixels.shape == (4, 16, 16, 1) and pixels.dtype == np.float32
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0


def test_an_archive_past_its_total_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bars.zip"
    path.write_bytes(bars_archive(per_class=4))
    with pytest.raises(ArchiveError) as refused:
        read_archive(path, "zip", ArchiveLimits(max_total_bytes=1000))
    assert refused.value.code == "archive.too_large" and refused.value.status == 413


def test_the_sandbox_refuses_a_hostile_archive_the_upload_never_saw(tmp_path: Path) -> None:
    # Given an archive listed on chain without the API (its document may say anything)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a/1.png", b"x")
        archive.writestr("../../etc/cron.d/evil.png", b"x")
    path = tmp_path / "dataset.zip"
    path.write_bytes(out.getvalue())
    # Then the training program's loader refuses it as bad input (status 2, not a crash)
    with pytest.raises(DataError, match="climbs out"):
        load_arrays(path, "zip", spec(features=["image"], model={"kind": "cnn"}))
