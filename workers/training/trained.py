"""What a training run hands back, whichever framework trained it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ModelFormat = Literal["safetensors", "keras"]
#: The file the sandbox writes the model to, per format (out/<name>).
MODEL_FILES: dict[ModelFormat, str] = {"safetensors": "model.safetensors", "keras": "model.keras"}


@dataclass(frozen=True)
class Trained:
    """The model file's bytes, the validation metrics (computed from those bytes, so anyone
    holding the model file and the dataset reproduces them) and how the loop went."""

    model: bytes
    model_format: ModelFormat
    metrics: dict[str, Any]
    train_loss: float
    seconds: float
    device: str
