"""Load a dataset file into arrays (numpy; torch tensors for PyTorch jobs), and split it
reproducibly.

Framework-neutral: nothing here imports torch or TensorFlow at import time (a TensorFlow
job never loads torch). Tables (csv / jsonl / json / parquet) are read with pyarrow; a text
column becomes hashed token ids (workers.training.text); an image archive becomes resized
pixel arrays (workers.training.archive).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from workers.training.spec import CnnModelSpec, TextModelSpec, TrainingSpec

if TYPE_CHECKING:
    import torch

TABLE_FORMATS = ("csv", "jsonl", "json", "parquet")
ARCHIVE_FORMATS = ("zip", "tar")
FORMATS = (*TABLE_FORMATS, *ARCHIVE_FORMATS)
MAX_CLASSES = 1_000


class DataError(ValueError):
    """The dataset does not fit the spec (missing column, non-numeric feature, too few rows)."""


@dataclass(frozen=True)
class Arrays:
    """Inputs (one row per example: float32 features, int32 token ids, or float32 images
    height x width x channels in [0, 1]), targets (int64 class indices or float32 values)
    and, for classification, the labels (class index ``i`` is ``labels[i]``; labels sorted
    as text, so the mapping is stable)."""

    inputs: np.ndarray
    targets: np.ndarray
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Tensors:
    """:class:`Arrays` as torch tensors (PyTorch jobs)."""

    features: torch.Tensor
    targets: torch.Tensor
    labels: tuple[str, ...]


def read_table(path: Path, fmt: str, columns: list[str]) -> pa.Table:
    """The named `columns` of a csv / jsonl / json / parquet file."""
    try:
        if fmt == "csv":
            table = pacsv.read_csv(path)
        elif fmt == "jsonl":
            table = pajson.read_json(path)
        elif fmt == "json":
            records = orjson.loads(path.read_bytes())
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise DataError("a .json dataset must be an array of objects")
            table = pa.Table.from_pylist(records)
        elif fmt == "parquet":
            table = pq.read_table(path)
        else:
            raise DataError(f"unsupported dataset format {fmt!r}")
    except (pa.ArrowException, orjson.JSONDecodeError) as exc:
        raise DataError(f"cannot parse the {fmt} dataset: {str(exc)[:300]}") from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DataError(f"columns not in the dataset: {', '.join(missing)}")
    return table.select(columns)


def _numeric(table: pa.Table, name: str) -> np.ndarray:
    try:
        column = pc.cast(table.column(name), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DataError(f"column {name!r} is not numeric") from None
    values: np.ndarray = column.to_numpy()
    return values


def class_indices(names: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """(int64 class index per example, the sorted labels); DataError unless 2..MAX_CLASSES."""
    labels = tuple(sorted(set(names)))
    if not 2 <= len(labels) <= MAX_CLASSES:
        raise DataError(f"classification needs 2..{MAX_CLASSES} classes, got {len(labels)}")
    index = {label: i for i, label in enumerate(labels)}
    return np.array([index[n] for n in names], dtype=np.int64), labels


def to_arrays(table: pa.Table, spec: TrainingSpec) -> Arrays:
    """Rows with a null or non-finite value in a used column are dropped (deterministically)."""
    table = table.drop_null()
    features = np.column_stack([_numeric(table, c) for c in spec.features]).reshape(
        table.num_rows, len(spec.features)
    )
    keep = np.isfinite(features).all(axis=1)
    labels: tuple[str, ...] = ()
    if spec.task == "classification":
        text = pc.cast(table.column(spec.target), pa.string())
        labels = tuple(sorted(str(v) for v in pc.unique(text).to_pylist()))
        if not 2 <= len(labels) <= MAX_CLASSES:
            raise DataError(f"classification needs 2..{MAX_CLASSES} classes, got {len(labels)}")
        index = pc.index_in(text, value_set=pa.array(labels, pa.string()))
        targets = index.to_numpy().astype(np.int64)[keep]
    else:
        values = _numeric(table, spec.target)
        keep &= np.isfinite(values)
        targets = values[keep].astype(np.float32)
    x = np.ascontiguousarray(features[keep], dtype=np.float32)
    _enough(x.shape[0])
    return Arrays(x, targets, labels)


def _enough(rows: int) -> None:
    if rows < 2:
        raise DataError(f"{rows} usable rows: need at least 2")


def text_arrays(table: pa.Table, spec: TrainingSpec, model: TextModelSpec) -> Arrays:
    """Token ids of the text column (rows with a null dropped) and the label indices."""
    from workers.training.text import token_ids

    table = table.drop_null()
    try:
        texts = pc.cast(table.column(spec.features[0]), pa.string()).to_pylist()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DataError(f"column {spec.features[0]!r} is not text") from None
    names = [str(v) for v in pc.cast(table.column(spec.target), pa.string()).to_pylist()]
    _enough(len(texts))
    targets, labels = class_indices(names)
    return Arrays(token_ids(texts, model.vocab_size, model.max_tokens), targets, labels)


def image_arrays(path: Path, fmt: str, model: CnnModelSpec) -> Arrays:
    """The archive's images, resized as the model says, and their class indices."""
    from workers.training.archive import ArchiveError, read_archive

    try:
        archive = read_archive(path, fmt)
        try:
            pixels = archive.pixels(model.image_size, model.grayscale)
        finally:
            archive.close()
    except ArchiveError as exc:
        raise DataError(f"the image archive: {exc}") from None
    _enough(pixels.shape[0])
    targets, labels = class_indices([item.label for item in archive.items])
    return Arrays(pixels, targets, labels)


def load_arrays(path: Path, fmt: str, spec: TrainingSpec) -> Arrays:
    """The dataset at `path` as the spec's model reads it (DataError when it cannot)."""
    kind = spec.input_kind
    if (fmt in ARCHIVE_FORMATS) != (kind == "image"):
        raise DataError(f"a {spec.model.kind} model cannot read a {fmt} dataset")
    if isinstance(spec.model, CnnModelSpec):
        return image_arrays(path, fmt, spec.model)
    table = read_table(path, fmt, [*spec.features, spec.target])
    if isinstance(spec.model, TextModelSpec):
        return text_arrays(table, spec, spec.model)
    return to_arrays(table, spec)


def as_tensors(arrays: Arrays) -> Tensors:
    """The arrays as torch tensors (sharing memory)."""
    import torch

    return Tensors(torch.from_numpy(arrays.inputs), torch.from_numpy(arrays.targets), arrays.labels)


def to_tensors(table: pa.Table, spec: TrainingSpec) -> Tensors:
    """A table's numeric features and target as torch tensors (see :func:`to_arrays`)."""
    return as_tensors(to_arrays(table, spec))


def split(rows: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices): a seeded torch permutation, validation first."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(rows, generator=generator)
    held_out = held_out_rows(rows, fraction)
    return order[held_out:], order[:held_out]


def held_out_rows(rows: int, fraction: float) -> int:
    """How many of `rows` the validation split holds (at least 1, at most rows - 1)."""
    return min(rows - 1, max(1, round(rows * fraction)))


def split_numpy(rows: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices) for TensorFlow jobs: a seeded numpy (PCG64)
    permutation, validation first (torch's generator is not loaded in such a job)."""
    order = np.random.default_rng(seed).permutation(rows)
    held_out = held_out_rows(rows, fraction)
    return order[held_out:], order[:held_out]
