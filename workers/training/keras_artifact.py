"""The TensorFlow model file: a Keras 3 ``.keras`` archive, written byte-identically for
identical weights, with the Datacoin header beside Keras's own entries.

Keras writes a ZIP holding ``metadata.json`` (with the time it was saved), ``config.json``
(whose ``shared_object_id``s are Python object ids, different in every process) and
``model.weights.h5`` (stamped with the time of writing in the ZIP). Rewritten here:
``date_saved`` fixed, object ids renumbered in order of appearance (they only pair up
shared objects, so the model loads the same), every entry stored uncompressed in name
order with a fixed time and mode, and ``datacoin.json`` added: a canonical JSON header
(task, columns, labels, network, code version and, for regression, the target's scale)
that Keras's loader ignores. Measured: two runs of a job give the same bytes (see
tests/workers/test_training_keras.py and the README's determinism statement).
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from workers.training.artifact import ModelHeader

KERAS_MODEL_FORMAT = "datacoin-keras-model/1"
HEADER_FILE = "datacoin.json"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FIXED_DATE = "1980-01-01@00:00:00"
UNIX = 3  # ZipInfo.create_system


@dataclass(frozen=True, kw_only=True)
class KerasHeader(ModelHeader):
    """What a .keras model file says about itself (besides Keras's config): the PyTorch
    file's header and, for regression, the target's scale (a .keras file has no tensors
    beside the network's to hold it)."""

    FORMAT: ClassVar[str] = KERAS_MODEL_FORMAT

    target_mean: float | None = None
    target_std: float | None = None

    def document(self) -> dict[str, Any]:
        """The header as datacoin.json stores it."""
        return super().document() | {
            "target_mean": self.target_mean,
            "target_std": self.target_std,
        }

    @classmethod
    def fields(cls, document: dict[str, Any]) -> dict[str, Any]:
        """The constructor's arguments from a stored header."""
        return super().fields(document) | {
            "target_mean": document.get("target_mean"),
            "target_std": document.get("target_std"),
        }


def _renumber(node: Any, ids: dict[int, int]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "shared_object_id" and isinstance(value, int):
                out[key] = ids.setdefault(value, len(ids))
            else:
                out[key] = _renumber(value, ids)
        return out
    if isinstance(node, list):
        return [_renumber(v, ids) for v in node]
    return node


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = UNIX
    info.external_attr = 0o100644 << 16
    return info


def canonical_keras(raw: bytes, header: KerasHeader) -> bytes:
    """Keras's .keras bytes rewritten deterministically, with the header added."""
    with zipfile.ZipFile(io.BytesIO(raw)) as source:
        entries = {info.filename: source.read(info) for info in source.infolist()}
    meta = json.loads(entries["metadata.json"])
    meta["date_saved"] = FIXED_DATE
    entries["metadata.json"] = json.dumps(meta, sort_keys=True).encode()
    config = _renumber(json.loads(entries["config.json"]), {})
    entries["config.json"] = json.dumps(config, sort_keys=True).encode()
    entries[HEADER_FILE] = header.canonical()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in sorted(entries):
            target.writestr(_entry(name), entries[name])
    return out.getvalue()


def save_keras(model: Any, header: KerasHeader) -> bytes:
    """The model as canonical .keras bytes."""
    with tempfile.TemporaryDirectory(prefix="keras-") as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return canonical_keras(path.read_bytes(), header)


@dataclass(frozen=True)
class KerasModel:
    """A loaded .keras model and its header."""

    header: KerasHeader
    network: Any


def load_keras(raw: bytes) -> KerasModel:
    """Rebuild a model from its file (Keras's safe mode: no code in the file runs)."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        header = KerasHeader.decode(archive.read(HEADER_FILE))
    import keras  # here, not at the top: reading a header needs no TensorFlow

    with tempfile.TemporaryDirectory(prefix="keras-") as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(raw)
        network = keras.saving.load_model(path, compile=False, safe_mode=True)
    return KerasModel(header, network)
