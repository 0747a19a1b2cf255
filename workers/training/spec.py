"""The training spec: a JSON document on IPFS that a ``TrainingRequested`` event points to.

Every field is bounded, so a hostile spec cannot ask for unbounded work; the sandbox's
limits are the second line of defence.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_SPEC_BYTES = 64 << 10
ColumnName = Annotated[str, Field(min_length=1, max_length=128)]
HiddenSize = Annotated[int, Field(ge=1, le=1024)]


class ModelSpec(BaseModel):
    """The network: a linear model, or an MLP with ReLU between `hidden_sizes` layers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["linear", "mlp"] = "linear"
    hidden_sizes: list[HiddenSize] = Field(default_factory=list, max_length=4)

    @model_validator(mode="after")
    def _layers_match_kind(self) -> ModelSpec:
        if self.kind == "linear" and self.hidden_sizes:
            raise ValueError("a linear model has no hidden layers")
        if self.kind == "mlp" and not self.hidden_sizes:
            raise ValueError("an mlp needs at least one hidden size")
        return self


class TrainingSpec(BaseModel):
    """What to train: task, columns, model and optimisation settings, all bounded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    task: Literal["classification", "regression"]
    target: ColumnName
    features: list[ColumnName] = Field(min_length=1, max_length=256)
    model: ModelSpec = Field(default_factory=ModelSpec)
    epochs: int = Field(10, ge=1, le=500)
    batch_size: int = Field(32, ge=1, le=8192)
    learning_rate: float = Field(0.01, gt=0, le=1.0)
    validation_split: float = Field(0.2, ge=0.05, le=0.5)
    seed: int = Field(0, ge=0, le=2**32 - 1)

    @model_validator(mode="after")
    def _columns_distinct(self) -> TrainingSpec:
        if len(set(self.features)) != len(self.features):
            raise ValueError("feature columns must be distinct")
        if self.target in self.features:
            raise ValueError("the target column cannot also be a feature")
        return self


def parse_spec(raw: bytes) -> TrainingSpec:
    """Validate a spec document (ValueError/ValidationError when it is not one)."""
    if len(raw) > MAX_SPEC_BYTES:
        raise ValueError(f"a training spec is at most {MAX_SPEC_BYTES} bytes")
    return TrainingSpec.model_validate_json(raw)
