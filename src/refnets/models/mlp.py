"""The multi-layer perceptron of Nielsen's network.py, as a stack of Linear + activation layers."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from ..nn import op_set
from ._common import ACTIVATIONS, batch, choice, initialise

OUTPUTS = ("logits", "sigmoid")


class MLP(nn.Module):
    r"""a^l = f(W^l a^{l−1} + b^l) for l = 1 … L−1, then the output layer.

    Args:
        sizes: neurons per layer, input first: ``[784, 30, 10]`` is Nielsen's ch. 1 network;
            ``[2, 2]`` is a single layer of sigmoid neurons (with ``output='sigmoid'``).
        activation: hidden activation f — 'sigmoid' (Nielsen's), 'tanh' or 'relu'.
        output: 'sigmoid' (activations in (0, 1), paired with the quadratic cost, as in the book) or
            'logits' (z^L, paired with cross-entropy, which applies the softmax itself).
        init: 'torch', 'normal' (N(0, 1), network.py) or 'scaled' (N(0, 1/n_in)), see ``initialise``.
        ops: 'custom' or 'builtin'.

    Shape: (N, *) with ∏* = sizes[0] → (N, sizes[-1]).
    """

    def __init__(
        self,
        sizes: Sequence[int] = (784, 30, 10),
        activation: str = "sigmoid",
        output: str = "logits",
        init: str = "torch",
        ops: str = "custom",
    ) -> None:
        super().__init__()
        rule = "sizes must list at least two layer sizes, each an integer ≥ 1 (input first)"
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):  # MLP(784) or MLP("784,10")
            raise ValueError(f"{rule}, e.g. [784, 30, 10], got {sizes!r}")
        sizes = list(sizes)
        # numbers.Integral: numpy's ints too (np.prod(shape) is an np.int64), as torch.nn.Linear takes them
        if len(sizes) < 2 or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in sizes):
            raise ValueError(f"{rule}, got {sizes}")
        sizes = [int(s) for s in sizes]
        S = op_set(ops)
        self.ops = S.name
        choice("activation", activation, ACTIVATIONS)
        choice("output", output, OUTPUTS)
        self.sizes, self.num_classes = sizes, sizes[-1]
        modules: list[nn.Module] = [S.Flatten()]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            modules.append(S.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                modules.append(S.activation(activation))
        if output == "sigmoid":
            modules.append(S.activation("sigmoid"))
        self.layers = nn.Sequential(*modules)
        initialise(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch("MLP", x, lambda: f"(N, *) with ∏* = sizes[0] = {self.sizes[0]}")
        features = math.prod(x.shape[1:])  # from the shape, not x[0]: an empty batch has no sample 0
        if features != self.sizes[0]:
            raise ValueError(
                f"input has {features} features per sample (shape {tuple(x.shape)}), but the MLP's first layer "
                f"expects sizes[0] = {self.sizes[0]}"
            )
        return self.layers(x)


