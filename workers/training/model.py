"""The networks a spec can ask for."""

from __future__ import annotations

from torch import nn

from workers.training.spec import ModelSpec


def build_model(spec: ModelSpec, inputs: int, outputs: int) -> nn.Sequential:
    """A linear layer, or Linear-ReLU blocks then a linear head (seed torch first)."""
    layers: list[nn.Module] = []
    width = inputs
    for hidden in spec.hidden_sizes:
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, outputs))
    return nn.Sequential(*layers)
