"""The in-sandbox pieces on their own: spec bounds, loading every format, deterministic
training, the model file, and the code version."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import torch
from pydantic import ValidationError

from tests.workers.conftest import classification_csv, spec_doc
from workers.training.artifact import load_model
from workers.training.canonical import canonical_json
from workers.training.data import DataError, read_table, split, to_tensors
from workers.training.fit import fit, make_deterministic, validation_metrics
from workers.training.spec import MAX_SPEC_BYTES, TrainingSpec, parse_spec
from workers.training.version import code_version


@pytest.mark.parametrize(
    "change",
    [
        {"epochs": 0},
        {"epochs": 501},
        {"batch_size": 0},
        {"learning_rate": 0},
        {"learning_rate": 2.0},
        {"validation_split": 0.9},
        {"seed": -1},
        {"seed": 2**32},
        {"features": []},
        {"features": ["x1", "x1"]},
        {"features": ["label"]},
        {"features": [f"c{i}" for i in range(257)]},
        {"target": ""},
        {"target": "x" * 129},
        {"task": "clustering"},
        {"model": {"kind": "mlp"}},
        {"model": {"kind": "linear", "hidden_sizes": [4]}},
        {"model": {"kind": "mlp", "hidden_sizes": [2048]}},
        {"model": {"kind": "mlp", "hidden_sizes": [4] * 5}},
        {"unknown": 1},
    ],
)
def test_out_of_bounds_specs_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TrainingSpec.model_validate(spec_doc(**change))


def test_a_spec_document_is_bounded_in_size() -> None:
    assert parse_spec(json.dumps(spec_doc()).encode()).seed == 11
    with pytest.raises(ValueError, match="at most"):
        parse_spec(b" " * (MAX_SPEC_BYTES + 1))


def _tables(tmp_path: Path) -> dict[str, Path]:
    table = pacsv.read_csv(io.BytesIO(classification_csv(40)))
    rows = table.to_pylist()
    paths = {fmt: tmp_path / f"data.{fmt}" for fmt in ("csv", "jsonl", "json", "parquet")}
    paths["csv"].write_bytes(classification_csv(40))
    paths["jsonl"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    paths["json"].write_text(json.dumps(rows))
    pq.write_table(table, paths["parquet"])
    return paths


def test_every_format_loads_to_the_same_tensors(tmp_path: Path) -> None:
    spec = TrainingSpec.model_validate(spec_doc())
    loaded = [
        to_tensors(read_table(path, fmt, [*spec.features, spec.target]), spec)
        for fmt, path in _tables(tmp_path).items()
    ]
    for other in loaded[1:]:
        assert torch.equal(other.features, loaded[0].features)
        assert torch.equal(other.targets, loaded[0].targets)
        assert other.labels == ("high", "low")


def test_data_that_does_not_fit_the_spec_is_refused(tmp_path: Path) -> None:
    spec = TrainingSpec.model_validate(spec_doc())
    path = tmp_path / "t.csv"
    path.write_text("x1,x2,noise,label\n1,a,3,high\n2,b,4,low\n")
    with pytest.raises(DataError, match="not numeric"):
        to_tensors(read_table(path, "csv", [*spec.features, spec.target]), spec)
    with pytest.raises(DataError, match="not in the dataset"):
        read_table(path, "csv", ["x1", "nope"])
    path.write_text("x1,x2,noise,label\n1,2,3,high\n2,2,4,high\n")
    with pytest.raises(DataError, match=r"2\.\.1000 classes"):
        to_tensors(read_table(path, "csv", [*spec.features, spec.target]), spec)


def test_rows_with_nulls_are_dropped() -> None:
    spec = TrainingSpec.model_validate(spec_doc(task="regression", target="noise", features=["x1"]))
    table = pa.table(
        {"x1": [1.0, None, 3.0, float("nan"), 5.0], "noise": [1.0, 2.0, None, 4.0, 5.0]}
    )
    assert to_tensors(table, spec).features.tolist() == [[1.0], [5.0]]


def test_the_split_is_seeded_and_disjoint() -> None:
    train, val = split(100, 0.2, seed=5)
    assert len(val) == 20 and len(train) == 80
    assert set(train.tolist()).isdisjoint(val.tolist())
    again = split(100, 0.2, seed=5)
    assert torch.equal(train, again[0]) and not torch.equal(val, split(100, 0.2, seed=6)[1])


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_training_is_deterministic_and_the_file_reproduces_the_metrics(
    tmp_path: Path, task: str
) -> None:
    make_deterministic()
    changes = {} if task == "classification" else {"target": "x1", "features": ["x2", "noise"]}
    spec = TrainingSpec.model_validate(spec_doc(task=task, **changes))
    path = tmp_path / "t.csv"
    path.write_bytes(classification_csv(120))
    data = to_tensors(read_table(path, "csv", [*spec.features, spec.target]), spec)
    first, second = (fit(spec, data, torch.device("cpu"), "code") for _ in range(2))
    raw = first.model.to_bytes()
    assert raw == second.model.to_bytes()
    other_seed = spec.model_copy(update={"seed": 12})
    assert fit(other_seed, data, torch.device("cpu"), "code").model.to_bytes() != raw
    reloaded = load_model(raw)
    assert reloaded.header.task == task and reloaded.header.features == tuple(spec.features)
    metrics = validation_metrics(reloaded, data, spec)
    assert canonical_json(metrics) == canonical_json(validation_metrics(first.model, data, spec))
    key = "accuracy" if task == "classification" else "r2"
    assert metrics[key] == metrics[key]  # finite, not NaN
    assert hashlib.sha256(raw).hexdigest() == hashlib.sha256(reloaded.to_bytes()).hexdigest()


def test_the_code_version_covers_the_training_modules() -> None:
    version = code_version()
    assert version.startswith("sha256:") and len(version) == 71
    assert version == code_version()


def test_canonical_json_is_sorted_compact_and_finite() -> None:
    assert canonical_json({"b": 1.5, "a": [float("nan"), 2]}) == b'{"a":[null,2],"b":1.5}'
