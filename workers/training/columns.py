"""Does a spec fit a dataset? Checked against the column profile of the dataset's metadata
document (names and pyarrow type names, as the upload profiled them), before a job is paid
for: the sandbox would refuse the same spec later, after the escrow.

What fits is what the trainer can use (see workers.training.data): a linear / MLP model's
features are cast to float64, a text model's one feature is a text column, a CNN's is the
``image`` column of an image archive (typed ``image`` by the upload); a classification
target is read as text labels, a regression target as float64.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from common.documents import ColumnProfile
from workers.training.spec import TrainingSpec

#: pyarrow type names whose values cast to float64 (a bool is 0.0 / 1.0).
NUMERIC = re.compile(r"^(u?int(8|16|32|64)|halffloat|float|double|decimal(32|64|128|256)\(.*\))$")
INTEGER = re.compile(r"^u?int(8|16|32|64)$")
TEXT = frozenset({"string", "large_string", "string_view", "utf8", "large_utf8"})
#: The type of an image archive's ``image`` column (common.documents.IMAGE_COLUMN_TYPE).
IMAGE = "image"
#: Fewest rows a job can split into a training and a validation part.
MIN_ROWS = 2


@dataclass(frozen=True)
class SpecMismatch:
    """Why a spec does not fit the dataset: the spec field at fault and a sentence."""

    field: str
    code: Literal["unknown_column", "column_type", "too_few_rows"]
    detail: str


def _feature_fits(reads: str, kind: str) -> bool:
    if reads == "text":
        return kind in TEXT
    if reads == "image":
        return kind == IMAGE
    return kind == "bool" or bool(NUMERIC.match(kind))


_WANTED = {"table": "numeric", "text": "text", "image": "an image column"}


def _target_fits(task: str, kind: str) -> bool:
    if task == "regression":
        return bool(NUMERIC.match(kind))
    return kind == "bool" or kind in TEXT or bool(INTEGER.match(kind))


def spec_mismatch(
    spec: TrainingSpec, columns: list[ColumnProfile], rows: int
) -> SpecMismatch | None:
    """The first way `spec` does not fit a table of `rows` rows with `columns`, or None."""
    types = {c.name: c.type for c in columns}
    used = [("target", spec.target)] + [(f"features[{i}]", f) for i, f in enumerate(spec.features)]
    for field, name in used:
        if name not in types:
            known = ", ".join(sorted(types)[:20])
            return SpecMismatch(
                field, "unknown_column", f"{field}: no column {name!r} (columns: {known})"
            )
    for i, name in enumerate(spec.features):
        if not _feature_fits(spec.input_kind, types[name]):
            wanted = _WANTED[spec.input_kind]
            detail = (
                f"features[{i}]: column {name!r} is {types[name]}; a {spec.model.kind} model "
                f"needs {wanted}"
            )
            return SpecMismatch(f"features[{i}]", "column_type", detail)
    if not _target_fits(spec.task, types[spec.target]):
        wanted = "numeric" if spec.task == "regression" else "integer, string or bool"
        detail = (
            f"target: column {spec.target!r} is {types[spec.target]}; {spec.task} needs {wanted}"
        )
        return SpecMismatch("target", "column_type", detail)
    if rows < MIN_ROWS:
        return SpecMismatch(
            "dataset_id", "too_few_rows", f"the dataset has {rows} rows: a job needs {MIN_ROWS}"
        )
    return None
