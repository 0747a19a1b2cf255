"""TensorFlow jobs: Keras 3 on the TensorFlow backend, deterministic, on the CPU.

Same arrays + spec + seed + code + library versions + platform -> the same weights: op
determinism on (``tf.config.experimental.enable_op_determinism``), one intra-op and one
inter-op thread, oneDNN's CPU-specific kernels off (``TF_ENABLE_ONEDNN_OPTS=0``, set by the
worker before TensorFlow loads), every initializer seeded from the spec, and the split and
batch order from seeded numpy generators. Metrics come from the model as saved, reloaded.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from workers.training import metrics as scores
from workers.training.data import Arrays, split_numpy
from workers.training.keras_artifact import KerasHeader, load_keras, save_keras
from workers.training.keras_model import build_keras_model
from workers.training.spec import TrainingSpec
from workers.training.trained import Trained

PREDICT_BATCH = 1024


def make_deterministic() -> None:
    """Deterministic ops, one thread each way (before any TensorFlow op runs)."""
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    tf.config.set_visible_devices([], "GPU")  # the CPU build; and CPU results reproduce
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"Keras runs on {keras.backend.backend()}, not tensorflow")


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = x.std(axis=0, dtype=np.float64).astype(np.float32) if x.shape[0] > 1 else None
    std = np.ones_like(mean) if std is None else np.where(std > 0, std, np.float32(1.0))
    return mean, std


def _step(model: Any, optimiser: Any, loss_fn: Any, sample: Any, target: Any) -> Any:
    """A tf.function taking one batch: forward, backward, Adam update; the batch's loss."""

    def step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimiser.apply(grads, model.trainable_variables)
        return loss

    return tf.function(step, input_signature=[sample, target], reduce_retracing=True)


def _signature(array: np.ndarray) -> Any:
    return tf.TensorSpec([None, *array.shape[1:]], tf.as_dtype(array.dtype))


def fit_keras(spec: TrainingSpec, data: Arrays, code: str) -> tuple[bytes, float, float]:
    """(the .keras bytes, last epoch's mean training loss, loop seconds)."""
    train_idx, _ = split_numpy(data.inputs.shape[0], spec.validation_split, spec.seed)
    x, y = data.inputs[train_idx], data.targets[train_idx]
    classes = spec.task == "classification"
    mean = std = None
    if spec.input_kind == "table":
        mean, std = _standardise(x)
    target_mean = target_std = None
    if not classes:
        target_mean = float(y.mean(dtype=np.float64))
        spread = float(y.std(dtype=np.float64)) if y.shape[0] > 1 else 1.0
        target_std = spread if spread > 0 else 1.0
        y = ((y - target_mean) / target_std).astype(np.float32)
    keras.utils.set_random_seed(spec.seed)
    model = build_keras_model(spec, len(data.labels) if classes else 1, mean, std)
    if classes:
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        y = y.reshape(-1, 1)
        loss_fn = keras.losses.MeanSquaredError()
    optimiser = keras.optimizers.Adam(learning_rate=spec.learning_rate)
    optimiser.build(model.trainable_variables)
    step = _step(model, optimiser, loss_fn, _signature(x), _signature(y))
    order = np.random.default_rng(spec.seed + 1)
    started = time.perf_counter()
    last = math.nan
    for _ in range(spec.epochs):
        total = 0.0
        perm = order.permutation(x.shape[0])
        for begin in range(0, x.shape[0], spec.batch_size):
            batch = perm[begin : begin + spec.batch_size]
            loss = step(tf.constant(x[batch]), tf.constant(y[batch]))
            total += float(loss) * batch.shape[0]
        last = total / x.shape[0]
    seconds = time.perf_counter() - started
    header = KerasHeader(
        task=spec.task,
        features=tuple(spec.features),
        target=spec.target,
        labels=data.labels,
        model=spec.model,
        code_version=code,
        target_mean=target_mean,
        target_std=target_std,
    )
    return save_keras(model, header), last, seconds


def predict(model: Any, inputs: np.ndarray, header: KerasHeader) -> np.ndarray:
    """Logits (classification) or values in target units (regression), float64."""
    parts = [
        np.asarray(model(tf.constant(inputs[i : i + PREDICT_BATCH]), training=False))
        for i in range(0, inputs.shape[0], PREDICT_BATCH)
    ]
    out = np.concatenate(parts).astype(np.float64)
    if header.task == "regression":
        assert header.target_mean is not None and header.target_std is not None
        out = out[:, 0] * header.target_std + header.target_mean
    return out


def keras_validation_metrics(raw: bytes, data: Arrays, spec: TrainingSpec) -> dict[str, Any]:
    """Metrics on the held-out split, from the saved model reloaded (float64 sums)."""
    loaded = load_keras(raw)
    train_idx, val_idx = split_numpy(data.inputs.shape[0], spec.validation_split, spec.seed)
    out = predict(loaded.network, data.inputs[val_idx], loaded.header)
    counts = {"train_rows": int(train_idx.shape[0]), "validation_rows": int(val_idx.shape[0])}
    targets = data.targets[val_idx]
    if spec.task == "classification":
        return {**counts, "classes": len(data.labels), **scores.classification(out, targets)}
    return {**counts, **scores.regression(out, targets)}


def train(spec: TrainingSpec, data: Arrays, device: str, code: str) -> Trained:
    """Train, save and score a TensorFlow job (on the CPU, whatever `device` asks)."""
    raw, loss, seconds = fit_keras(spec, data, code)
    metrics = keras_validation_metrics(raw, data, spec)
    return Trained(raw, "keras", metrics, loss, seconds, "cpu")
