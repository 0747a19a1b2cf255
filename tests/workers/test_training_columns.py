"""A spec against a dataset's column profile (before anyone pays), and the sealed model."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from common.documents import ColumnProfile
from storage.blockstore import EmbeddedBlockStore
from storage.keyring import KeyRing, generate_key
from tests.workers.conftest import spec_doc
from workers.training.columns import spec_mismatch
from workers.training.spec import TrainingSpec
from workers.training.stored import ModelMismatchError, open_model, seal_model

COLUMNS = [
    ColumnProfile(name="x1", type="double", nulls=0),
    ColumnProfile(name="x2", type="int64", nulls=0),
    ColumnProfile(name="noise", type="bool", nulls=0),
    ColumnProfile(name="label", type="string", nulls=0),
    ColumnProfile(name="when", type="timestamp[s]", nulls=0),
    ColumnProfile(name="price", type="decimal128(10, 2)", nulls=0),
]


def _check(rows: int = 100, **changes: Any) -> tuple[str, str] | None:
    found = spec_mismatch(TrainingSpec.model_validate(spec_doc(**changes)), COLUMNS, rows)
    return None if found is None else (found.field, found.code)


def test_a_fitting_spec_passes() -> None:
    assert _check() is None
    assert _check(task="regression", target="price", features=["x1", "x2", "noise"]) is None
    assert _check(target="x2", features=["x1", "price"]) is None  # integer classes


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"target": "species"}, ("target", "unknown_column")),
        ({"features": ["x1", "nope"]}, ("features[1]", "unknown_column")),
        ({"features": ["x1", "label"], "target": "x2"}, ("features[1]", "column_type")),
        ({"features": ["when"]}, ("features[0]", "column_type")),
        ({"task": "regression"}, ("target", "column_type")),  # text is no regression target
        ({"task": "regression", "target": "noise", "features": ["x1"]}, ("target", "column_type")),
        ({"target": "x1", "features": ["x2"]}, ("target", "column_type")),  # floats: no classes
    ],
)
def test_a_spec_that_does_not_fit_names_its_field(
    changes: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert _check(**changes) == expected


def test_a_dataset_too_small_to_split_is_refused() -> None:
    assert _check(rows=1) == ("dataset_id", "too_few_rows")


def test_a_sealed_model_opens_only_to_its_committed_hash(tmp_path: Any) -> None:
    store = EmbeddedBlockStore(tmp_path / "blocks")
    keyring = KeyRing({"k1": generate_key()}, "k1")
    model = b"safetensors bytes" * 1000
    cid = seal_model(store, keyring, model)
    stored = b"".join(store.get(cid))
    assert model not in stored  # sealed, not published
    assert open_model(store, keyring, cid, hashlib.sha256(model).digest()) == model
    with pytest.raises(ModelMismatchError):
        open_model(store, keyring, cid, hashlib.sha256(b"another model").digest())
