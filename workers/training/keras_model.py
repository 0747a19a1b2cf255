"""The Keras 3 networks a spec can ask for (TensorFlow backend), mirroring
workers.training.model's PyTorch ones. Every initializer is seeded explicitly from the
spec's seed, so the initial weights depend on nothing else (no global random state)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from workers.training.spec import CnnModelSpec, ModelSpec, TextModelSpec, TrainingSpec


class _Seeds:
    """A fresh seed per layer, derived from the spec's."""

    def __init__(self, seed: int) -> None:
        self.next = seed

    def glorot(self) -> Any:
        self.next += 1
        return keras.initializers.GlorotUniform(seed=self.next % 2**31)

    def uniform(self) -> Any:
        self.next += 1
        return keras.initializers.RandomUniform(-0.05, 0.05, seed=self.next % 2**31)


def _dense(units: int, seeds: _Seeds, activation: str | None = None) -> Any:
    return keras.layers.Dense(units, activation=activation, kernel_initializer=seeds.glorot())


def _table(spec: ModelSpec, mean: np.ndarray, std: np.ndarray, outputs: int, seeds: _Seeds) -> Any:
    layers = [
        keras.Input((mean.shape[0],), dtype="float32"),
        keras.layers.Normalization(mean=mean.tolist(), variance=(std * std).tolist()),
    ]
    layers += [_dense(hidden, seeds, "relu") for hidden in spec.hidden_sizes]
    return keras.Sequential([*layers, _dense(outputs, seeds)], name="datacoin_table")


def _text(spec: TextModelSpec, outputs: int, seeds: _Seeds) -> Any:
    embed = keras.layers.Embedding(
        spec.vocab_size, spec.embedding_dim, mask_zero=True, embeddings_initializer=seeds.uniform()
    )
    return keras.Sequential(
        [
            keras.Input((spec.max_tokens,), dtype="int32"),
            embed,
            keras.layers.GlobalAveragePooling1D(),  # over the unmasked (non-padding) tokens
            _dense(outputs, seeds),
        ],
        name="datacoin_text",
    )


def _cnn(spec: CnnModelSpec, outputs: int, seeds: _Seeds) -> Any:
    layers: list[Any] = [
        keras.Input((spec.image_size, spec.image_size, 1 if spec.grayscale else 3), dtype="float32")
    ]
    for channels in spec.channels:
        conv = keras.layers.Conv2D(
            channels, 3, padding="same", activation="relu", kernel_initializer=seeds.glorot()
        )
        layers += [conv, keras.layers.MaxPooling2D(2)]
    layers += [keras.layers.Flatten(), _dense(outputs, seeds)]
    return keras.Sequential(layers, name="datacoin_cnn")


def build_keras_model(
    spec: TrainingSpec, outputs: int, mean: np.ndarray | None, std: np.ndarray | None
) -> Any:
    """The spec's network; a table's model standardises its raw features itself (`mean`,
    `std` of the training split), so the saved file takes raw rows."""
    seeds = _Seeds(spec.seed)
    model = spec.model
    if isinstance(model, TextModelSpec):
        return _text(model, outputs, seeds)
    if isinstance(model, CnnModelSpec):
        return _cnn(model, outputs, seeds)
    assert mean is not None and std is not None
    return _table(model, mean, std, outputs, seeds)
