"""Load a dataset file with pyarrow into torch tensors, and split it reproducibly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import torch

from workers.training.spec import TrainingSpec

FORMATS = ("csv", "jsonl", "json", "parquet")
MAX_CLASSES = 1_000


class DataError(ValueError):
    """The dataset does not fit the spec (missing column, non-numeric feature, too few rows)."""


@dataclass(frozen=True)
class Tensors:
    """Features (float32, one row per example), targets and, for classification, the labels
    (class index ``i`` is ``labels[i]``; labels sorted as text, so the mapping is stable)."""

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


def to_tensors(table: pa.Table, spec: TrainingSpec) -> Tensors:
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
        targets = torch.from_numpy(index.to_numpy().astype(np.int64)[keep])
    else:
        values = _numeric(table, spec.target)
        keep &= np.isfinite(values)
        targets = torch.from_numpy(values[keep].astype(np.float32))
    x = torch.from_numpy(np.ascontiguousarray(features[keep], dtype=np.float32))
    if x.shape[0] < 2:
        raise DataError(f"{x.shape[0]} usable rows: need at least 2")
    return Tensors(x, targets, labels)


def split(rows: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices): a seeded permutation, validation first."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(rows, generator=generator)
    held_out = min(rows - 1, max(1, round(rows * fraction)))
    return order[held_out:], order[:held_out]
