"""PyTorch jobs: deterministic training and the validation metrics.

Same tensors + spec + seed + code + library versions + device kind -> the same weights:
deterministic algorithms only, one intra-op thread, seeded initialisation, split and batch
order. Metrics are computed on the CPU from the model as saved, so anyone holding the model
file and the dataset reproduces them exactly (see :func:`validation_metrics`).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from workers.training.artifact import ModelHeader, TrainedModel, load_model
from workers.training.data import Arrays, Tensors, as_tensors, split
from workers.training.model import build_model
from workers.training.spec import TrainingSpec
from workers.training.trained import Trained


def make_deterministic() -> None:
    """Deterministic kernels, one thread (call before any torch work)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # torch.use_deterministic_algorithms also imports torch.compile's configuration (~2 s
    # of a job's start-up) to set a flag only compiled code reads; we never compile.
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:
        torch.use_deterministic_algorithms(True)
    else:
        setter(True, warn_only=False)
    if not torch.are_deterministic_algorithms_enabled():
        raise RuntimeError("deterministic algorithms could not be enabled")
    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # already set once in this process
        torch.set_num_interop_threads(1)
    torch.backends.cudnn.benchmark = False


def pick_device(preference: str) -> torch.device:
    """``cuda`` when asked for (or ``auto`` and available), else the CPU."""
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


class Adam:
    """Adam (Kingma & Ba), the textbook update. ``torch.optim`` would do the same sums, but
    its first call imports torch.compile's machinery: over a second of every job's start-up."""

    def __init__(
        self,
        params: list[torch.Tensor],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    def zero_grad(self) -> None:
        """Drop the gradients before the next backward pass."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update from the current gradients."""
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            denom = (v / c2).sqrt_().add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / c1)


@dataclass(frozen=True)
class FitResult:
    """The trained model and what the loop itself took."""

    model: TrainedModel
    train_loss: float
    seconds: float


def _standardise(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = x.mean(dim=0)
    std = x.std(dim=0, unbiased=False) if x.shape[0] > 1 else torch.ones_like(mean)
    return mean, torch.where(std > 0, std, torch.ones_like(std))


def fit(spec: TrainingSpec, data: Tensors, device: torch.device, code: str) -> FitResult:
    """Train on the training split (a table standardised with its own statistics)."""
    train_idx, _ = split(data.features.shape[0], spec.validation_split, spec.seed)
    x, y = data.features[train_idx], data.targets[train_idx]
    table = spec.input_kind == "table"
    stats: dict[str, torch.Tensor] = {}
    if table:
        stats |= dict(zip(("input.mean", "input.std"), _standardise(x), strict=True))
    classes = spec.task == "classification"
    if not classes:
        mean, std = y.mean(), y.std(unbiased=False) if y.shape[0] > 1 else torch.tensor(1.0)
        stats |= {"target.mean": mean, "target.std": std if std > 0 else torch.tensor(1.0)}
        y = (y - stats["target.mean"]) / stats["target.std"]
    torch.manual_seed(spec.seed)
    inputs = x.shape[1] if table else 0
    network = build_model(spec.model, inputs, len(data.labels) if classes else 1).to(device)
    loss_fn: nn.Module = nn.CrossEntropyLoss() if classes else nn.MSELoss()
    optimiser = Adam(list(network.parameters()), lr=spec.learning_rate)
    xs = ((x - stats["input.mean"]) / stats["input.std"] if table else x).to(device)
    ys = y.to(device)
    order = torch.Generator().manual_seed(spec.seed + 1)
    started = time.perf_counter()
    last = math.nan
    network.train()
    for _ in range(spec.epochs):
        total = torch.zeros((), device=device)
        perm = torch.randperm(xs.shape[0], generator=order).to(device)
        for batch in torch.split(perm, spec.batch_size):
            out = network(xs[batch])
            loss = loss_fn(out if classes else out.squeeze(-1), ys[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.detach() * batch.shape[0]
        last = float(total) / xs.shape[0]
    seconds = time.perf_counter() - started
    network = network.to("cpu").eval()
    header = ModelHeader(
        task=spec.task,
        features=tuple(spec.features),
        target=spec.target,
        labels=data.labels,
        model=spec.model,
        code_version=code,
    )
    return FitResult(TrainedModel(header, network, stats), last, seconds)


def validation_metrics(model: TrainedModel, data: Tensors, spec: TrainingSpec) -> dict[str, Any]:
    """Metrics on the held-out split (CPU, float64 sums): what the chain's metrics hash covers."""
    train_idx, val_idx = split(data.features.shape[0], spec.validation_split, spec.seed)
    x, y = data.features[val_idx], data.targets[val_idx]
    out = model.predict(x).double()
    counts = {"train_rows": int(train_idx.shape[0]), "validation_rows": int(val_idx.shape[0])}
    if spec.task == "classification":
        log_loss = nn.functional.cross_entropy(out, y).item()
        accuracy = (out.argmax(dim=1) == y).double().mean().item()
        return {**counts, "classes": len(data.labels), "accuracy": accuracy, "log_loss": log_loss}
    target = y.double()
    error = out - target
    mse = error.pow(2).mean().item()
    spread = (target - target.mean()).pow(2).sum().item()
    r2 = 1.0 - error.pow(2).sum().item() / spread if spread > 0 else math.nan
    return {
        **counts,
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": error.abs().mean().item(),
        "r2": r2,
    }


def train(spec: TrainingSpec, arrays: Arrays, device: str, code: str) -> Trained:
    """Train, save and score a PyTorch job on `device` (auto, cpu or cuda)."""
    chosen = pick_device(device)
    data = as_tensors(arrays)
    result = fit(spec, data, chosen, code)
    raw = result.model.to_bytes()
    metrics = validation_metrics(load_model(raw), data, spec)  # exactly what a verifier gets
    return Trained(raw, "safetensors", metrics, result.train_loss, result.seconds, chosen.type)
