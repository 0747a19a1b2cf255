"""The PyTorch networks a spec can ask for (workers.training.keras_model has the Keras
ones). Every network takes its inputs as the data loader makes them: float features, int32
token ids, or images height x width x channels."""

from __future__ import annotations

import torch
from torch import nn

from workers.training.spec import AnyModel, CnnModelSpec, ModelSpec, TextModelSpec


class TextBag(nn.Module):
    """Token embeddings (id 0 pads and is left out), averaged, then a linear layer."""

    def __init__(self, spec: TextModelSpec, outputs: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(spec.vocab_size, spec.embedding_dim, padding_idx=0)
        self.head = nn.Linear(spec.embedding_dim, outputs)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of token-id rows."""
        ids = ids.long()
        mask = (ids != 0).unsqueeze(-1).to(self.embedding.weight.dtype)
        total = (self.embedding(ids) * mask).sum(dim=1)
        out: torch.Tensor = self.head(total / mask.sum(dim=1).clamp(min=1.0))
        return out


class ChannelsFirst(nn.Module):
    """Images height x width x channels (as loaded) to torch's channels x height x width."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The batch, permuted."""
        return images.permute(0, 3, 1, 2)


def _cnn(spec: CnnModelSpec, outputs: int) -> nn.Sequential:
    layers: list[nn.Module] = [ChannelsFirst()]
    width = 1 if spec.grayscale else 3
    for channels in spec.channels:
        layers += [nn.Conv2d(width, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        width = channels
    side = spec.image_size // 2 ** len(spec.channels)
    layers += [nn.Flatten(), nn.Linear(width * side * side, outputs)]
    return nn.Sequential(*layers)


def build_model(spec: AnyModel, inputs: int, outputs: int) -> nn.Module:
    """The spec's network (seed torch first). `inputs`: the feature count of a table."""
    if isinstance(spec, TextModelSpec):
        return TextBag(spec, outputs)
    if isinstance(spec, CnnModelSpec):
        return _cnn(spec, outputs)
    return _mlp(spec, inputs, outputs)


def _mlp(spec: ModelSpec, inputs: int, outputs: int) -> nn.Sequential:
    """A linear layer, or Linear-ReLU blocks then a linear head."""
    layers: list[nn.Module] = []
    width = inputs
    for hidden in spec.hidden_sizes:
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, outputs))
    return nn.Sequential(*layers)
