"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998) for 1×28×28 images."""

from __future__ import annotations

import torch
from torch import nn

from ..nn import op_set
from ._common import ACTIVATIONS, batch, choice, count, initialise

POOLINGS = ("avg", "max")


class LeNet5(nn.Module):
    r"""conv 6@5×5 (pad 2) → f → pool 2 → conv 16@5×5 → f → pool 2 → FC 400→120 → f → FC 120→84 → f → FC 84→C.

    Args:
        activation: f — 'tanh' (LeCun's), 'sigmoid' or 'relu'.
        pooling: 'avg' (LeCun's subsampling) or 'max'.
        num_classes: C, the number of output logits.
        in_channels: channels of the input image.
        init: 'torch', 'normal' or 'scaled' (see ``refnets.models._common.initialise``).
        ops: 'custom' or 'builtin'.

    Shape: (N, in_channels, 28, 28) → (N, 6, 28, 28) → (N, 6, 14, 14) → (N, 16, 10, 10) → (N, 16, 5, 5)
        → (N, 400) → (N, 120) → (N, 84) → (N, C) logits.
    """

    def __init__(
        self,
        activation: str = "tanh",
        pooling: str = "avg",
        num_classes: int = 10,
        in_channels: int = 1,
        init: str = "torch",
        ops: str = "custom",
    ) -> None:
        super().__init__()
        S = op_set(ops)
        self.ops = S.name
        choice("activation", activation, ACTIVATIONS)
        choice("pooling", pooling, POOLINGS)
        self.num_classes = num_classes = count("num_classes", num_classes, 2)
        self.in_channels = in_channels = count("in_channels", in_channels, 1)
        pool = S.AvgPool2d if pooling == "avg" else S.MaxPool2d
        self.features = nn.Sequential(
            S.Conv2d(in_channels, 6, 5, padding=2), S.activation(activation), pool(2),
            S.Conv2d(6, 16, 5), S.activation(activation), pool(2),
        )
        self.classifier = nn.Sequential(
            S.Flatten(),
            S.Linear(16 * 5 * 5, 120), S.activation(activation),
            S.Linear(120, 84), S.activation(activation),
            S.Linear(84, num_classes),
        )
        initialise(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch("LeNet5", x, lambda: f"(N, {self.in_channels}, 28, 28)", min_dim=4)
        if x.dim() != 4 or x.shape[1:] != (self.in_channels, 28, 28):
            hints = []
            if x.dim() == 4 and x.shape[1] != self.in_channels:  # the channels, not the size: resizing would not help
                hints.append(f"{x.shape[1]}-channel images need LeNet5(in_channels={x.shape[1]}), model.in_channels={x.shape[1]}")
            if x.dim() != 4 or x.shape[2:] != (28, 28):
                hints.append("resize the images to 28×28, e.g. data=digits with data.size=28")
            raise ValueError(f"LeNet5 expects input (N, {self.in_channels}, 28, 28), got {tuple(x.shape)} ({'; '.join(hints)})")
        return self.classifier(self.features(x))


