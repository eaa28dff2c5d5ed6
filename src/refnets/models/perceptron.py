"""Rosenblatt's perceptron: a layer of step units trained by the perceptron rule."""

from __future__ import annotations

import numbers

import torch
from torch import nn

from ..functional._validation import check_tensor, class_targets
from ..nn import op_set
from ._common import batch, count


class Perceptron(nn.Module):
    r"""a = step(w·x + b): output 1 when w·x + b > 0, else 0.

    Two classes use one unit (its output is the class); C > 2 classes use C one-vs-rest units and
    predict the class whose unit has the largest w·x + b.

    Training is not backprop — the step has zero gradient — but the perceptron rule,
    :meth:`perceptron_update`: for each unit, w ← w + η (y − a) x and b ← b + η (y − a),
    averaged over the mini-batch. It converges on linearly separable data (the perceptron
    convergence theorem) and never on XOR.

    Args:
        in_features: size of x (input is flattened).
        num_classes: number of classes, ≥ 2.
        ops: 'custom' (refnets' ops) or 'builtin' (torch.nn's).

    Shape: (N, *) → (N, units) with units = 1 for two classes, else num_classes.
    """

    def __init__(self, in_features: int, num_classes: int = 2, ops: str = "custom") -> None:
        super().__init__()
        in_features, num_classes = count("in_features", in_features, 1), count("num_classes", num_classes, 2)
        S = op_set(ops)
        self.ops = S.name
        self.num_classes = num_classes
        self.flatten = S.Flatten()
        self.linear = S.Linear(in_features, 1 if num_classes == 2 else num_classes)
        self.step = S.activation("step")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(self.linear(self.flatten(self._batch(x))))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class indices (N,)."""
        z = self.linear(self.flatten(self._batch(x)))
        return (z[:, 0] > 0).long() if z.shape[1] == 1 else z.argmax(1)

    def _batch(self, x: object) -> torch.Tensor:
        return batch("Perceptron", x, lambda: f"(N, *) with ∏* = in_features = {self.linear.in_features}")

    @torch.no_grad()
    def perceptron_update(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> None:
        """One step of the perceptron rule on a mini-batch x: (N, *), class indices y: (N,) in [0, num_classes)."""
        x = self.flatten(self._batch(x))
        check_tensor("y", y)
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise TypeError(f"y must hold integer class indices, got dtype {y.dtype} (use y.long())")
        # with one unit a label 2 would be a target of 2: an update twice as large, silently
        class_targets("y", y, self.num_classes, (x.shape[0],))
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
            raise TypeError(f"lr must be a real number, got {lr!r}")
        a = self.step(self.linear(x))  # (N, units)
        if a.shape[1] == 1:
            target = y.to(a.dtype).unsqueeze(1)
        else:
            target = torch.nn.functional.one_hot(y.long(), a.shape[1]).to(a.dtype)
        error = target - a  # (N, units): +1 missed a positive, −1 fired on a negative, 0 right
        n = x.shape[0]
        self.linear.weight += lr * error.t() @ x / n
        self.linear.bias += lr * error.sum(0) / n
