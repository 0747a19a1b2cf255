"""The PyTorch model file (safetensors; workers.training.keras_artifact has TensorFlow's).

A model file holds the network's weights under ``model.*``, for a table the input
standardisation (``input.mean``, ``input.std``) and, for regression, the target's
(``target.mean``, ``target.std``), plus one metadata entry ``datacoin``: a canonical JSON
header naming the task, columns, labels, network and code version. One entry only, because
safetensors writes several metadata entries in hash-map order, which would break
byte-identical output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

import orjson
import torch
from pydantic import TypeAdapter
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from workers.training.canonical import canonical_json
from workers.training.model import build_model
from workers.training.spec import AnyModel

MODEL_FORMAT = "datacoin-model/1"
HEADER_KEY = "datacoin"
MODEL_ADAPTER: TypeAdapter[AnyModel] = TypeAdapter(AnyModel)


@dataclass(frozen=True, kw_only=True)
class ModelHeader:
    """What a model file says about itself (``KerasHeader`` adds TensorFlow's fields)."""

    #: The header's `format`: a header of another format is refused when read.
    FORMAT: ClassVar[str] = MODEL_FORMAT

    task: str
    features: tuple[str, ...]
    target: str
    labels: tuple[str, ...]
    model: AnyModel
    code_version: str

    def document(self) -> dict[str, Any]:
        """The header as the file stores it, its format first."""
        return {
            "format": self.FORMAT,
            "task": self.task,
            "features": self.features,
            "target": self.target,
            "labels": self.labels,
            "model": self.model.model_dump(),
            "code_version": self.code_version,
        }

    def canonical(self) -> bytes:
        """The header's canonical JSON (what byte-identical model files hold)."""
        return canonical_json(self.document())

    def encode(self) -> str:
        """The canonical JSON text stored in the file's metadata."""
        return self.canonical().decode()

    @classmethod
    def fields(cls, document: dict[str, Any]) -> dict[str, Any]:
        """The constructor's arguments from a stored header (ValueError for another
        format)."""
        if document.get("format") != cls.FORMAT:
            raise ValueError(f"not a {cls.FORMAT} file")
        return {
            "task": document["task"],
            "features": tuple(document["features"]),
            "target": document["target"],
            "labels": tuple(document["labels"]),
            "model": MODEL_ADAPTER.validate_python(document["model"]),
            "code_version": document["code_version"],
        }

    @classmethod
    def decode(cls, text: str | bytes) -> Self:
        """Parse a header (ValueError for another format)."""
        return cls(**cls.fields(orjson.loads(text)))


@dataclass(frozen=True)
class TrainedModel:
    """A network with its standardisation, ready to predict on raw feature rows."""

    header: ModelHeader
    network: torch.nn.Module
    tensors: dict[str, torch.Tensor]

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (classification) or values in target units (regression)."""
        x = features
        if "input.mean" in self.tensors:  # a table's features, standardised
            x = (features - self.tensors["input.mean"]) / self.tensors["input.std"]
        with torch.no_grad():
            out: torch.Tensor = self.network(x)
        if self.header.task == "regression":
            out = out.squeeze(-1) * self.tensors["target.std"] + self.tensors["target.mean"]
        return out

    def to_bytes(self) -> bytes:
        """The safetensors file (byte-identical for identical weights)."""
        state = {
            f"model.{k}": v.detach().to("cpu").contiguous()
            for k, v in self.network.state_dict().items()
        }
        extra = {k: v.detach().to("cpu").contiguous() for k, v in self.tensors.items()}
        return bytes(st_save({**state, **extra}, metadata={HEADER_KEY: self.header.encode()}))


def load_model(raw: bytes) -> TrainedModel:
    """Rebuild a model from its file (on the CPU)."""
    header = ModelHeader.decode(_metadata(raw))
    tensors = st_load(raw)
    weights = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    outputs = len(header.labels) if header.task == "classification" else 1
    network = build_model(header.model, len(header.features), outputs)
    network.load_state_dict(weights)
    network.eval()
    extra = {k: v for k, v in tensors.items() if not k.startswith("model.")}
    return TrainedModel(header, network, extra)


def _metadata(raw: bytes) -> str:
    size = int.from_bytes(raw[:8], "little")
    if size > len(raw) - 8:
        raise ValueError("truncated safetensors header")
    meta = orjson.loads(raw[8 : 8 + size]).get("__metadata__") or {}
    if HEADER_KEY not in meta:
        raise ValueError("not a datacoin model file")
    return str(meta[HEADER_KEY])
