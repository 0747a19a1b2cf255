"""Validation metrics in numpy float64, from a model's outputs (TensorFlow jobs; PyTorch
jobs compute the same quantities in torch, workers.training.fit.validation_metrics)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def classification(logits: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
    """Accuracy and mean log loss (softmax cross-entropy) of `logits` against class indices."""
    out = logits.astype(np.float64)
    shifted = out - out.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    picked = log_probs[np.arange(len(targets)), targets]
    return {
        "accuracy": float((out.argmax(axis=1) == targets).mean()),
        "log_loss": float(-picked.mean()),
    }


def regression(predicted: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
    """MSE, RMSE, MAE and R² of `predicted` against the targets."""
    error = predicted.astype(np.float64) - targets.astype(np.float64)
    mse = float((error**2).mean())
    spread = float(((targets - targets.astype(np.float64).mean()) ** 2).sum())
    r2 = 1.0 - float((error**2).sum()) / spread if spread > 0 else math.nan
    return {"mse": mse, "rmse": math.sqrt(mse), "mae": float(np.abs(error).mean()), "r2": r2}
