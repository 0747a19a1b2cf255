"""The training spec: a JSON document on IPFS that a ``TrainingRequested`` event points to.

Every field is bounded, so a hostile spec cannot ask for unbounded work; the sandbox's
limits are the second line of defence.

Three families of model, each for one kind of input (``workers.training.columns`` checks
the dataset's columns fit): ``linear`` / ``mlp`` on numeric columns, ``text_embedding`` on
one text column, ``cnn`` on the ``image`` column of an image dataset. Each trains in
PyTorch (the default) or in TensorFlow (Keras 3): ``framework``. A spec stored before the
field existed is unchanged: ``framework`` is left out of the stored document while it is
``pytorch``, so such a spec keeps its bytes and its CID.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

MAX_SPEC_BYTES = 64 << 10
ColumnName = Annotated[str, Field(min_length=1, max_length=128)]
HiddenSize = Annotated[int, Field(ge=1, le=1024)]
Channels = Annotated[int, Field(ge=1, le=64)]
Framework = Literal["pytorch", "tensorflow"]
FRAMEWORKS: tuple[Framework, ...] = ("pytorch", "tensorflow")


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


class TextModelSpec(BaseModel):
    """A bag of word embeddings (fastText-like): the text's words, lower-cased and hashed
    into `vocab_size` buckets (the first `max_tokens`), embedded, averaged, then a linear
    layer. The tokens are made outside the framework (workers.training.text), the same for
    both frameworks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["text_embedding"]
    vocab_size: int = Field(4096, ge=16, le=65_536)
    embedding_dim: int = Field(16, ge=1, le=256)
    max_tokens: int = Field(64, ge=1, le=1024)


class CnnModelSpec(BaseModel):
    """A small CNN: the image resized to `image_size` squared (RGB, or grayscale), then per
    entry of `channels` a 3x3 convolution, ReLU and 2x2 max-pooling, then a linear layer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["cnn"]
    image_size: int = Field(16, ge=8, le=64)
    channels: list[Channels] = Field(default_factory=lambda: [8, 16], min_length=1, max_length=3)
    grayscale: bool = False

    @model_validator(mode="after")
    def _pools_fit(self) -> CnnModelSpec:
        if self.image_size % (2 ** len(self.channels)):
            raise ValueError(
                f"image_size must be divisible by 2^{len(self.channels)} "
                "(one 2x2 pooling per convolution)"
            )
        return self


def _family(value: Any) -> str:
    """The union's tag: a model without `kind` is the default linear one."""
    kind = value.get("kind", "linear") if isinstance(value, dict) else getattr(value, "kind", "")
    return {"linear": "table", "mlp": "table", "text_embedding": "text", "cnn": "image"}.get(
        kind, str(kind)
    )


AnyModel = Annotated[
    Annotated[ModelSpec, Tag("table")]
    | Annotated[TextModelSpec, Tag("text")]
    | Annotated[CnnModelSpec, Tag("image")],
    Discriminator(_family),
]


class TrainingSpec(BaseModel):
    """What to train: task, columns, model and optimisation settings, all bounded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    framework: Framework = Field(
        "pytorch",
        exclude_if=lambda value: value == "pytorch",  # specs from before it keep their bytes
        description="pytorch (safetensors model) or tensorflow (Keras 3, a .keras model)",
    )
    task: Literal["classification", "regression"]
    target: ColumnName
    features: list[ColumnName] = Field(min_length=1, max_length=256)
    model: AnyModel = Field(default_factory=ModelSpec)
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
        if not isinstance(self.model, ModelSpec):
            if self.task != "classification":
                raise ValueError(f"a {self.model.kind} model is for classification only")
            if len(self.features) != 1:
                raise ValueError(f"a {self.model.kind} model reads exactly one feature column")
        return self

    @property
    def input_kind(self) -> Literal["table", "text", "image"]:
        """What the model reads: numeric columns, one text column, or images."""
        if isinstance(self.model, TextModelSpec):
            return "text"
        if isinstance(self.model, CnnModelSpec):
            return "image"
        return "table"


def parse_spec(raw: bytes) -> TrainingSpec:
    """Validate a spec document (ValueError/ValidationError when it is not one)."""
    if len(raw) > MAX_SPEC_BYTES:
        raise ValueError(f"a training spec is at most {MAX_SPEC_BYTES} bytes")
    return TrainingSpec.model_validate_json(raw)
