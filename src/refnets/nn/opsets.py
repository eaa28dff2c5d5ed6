"""The one switch between refnets' hand-written ops and PyTorch's: ``op_set('custom' | 'builtin')``.

Every model and the training code get their layers, activations and costs from here, so a new op
is registered once, in the two tables below, and ``ops=custom`` ↔ ``ops=builtin`` swaps all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import functional as RF
from . import layers as custom
from .losses import builtin_binary_cross_entropy, builtin_quadratic_loss

__all__ = ["OPS", "OpSet", "op_set", "loss_function"]

OPS = ("custom", "builtin")

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class OpSet:
    """Layer classes, activations and costs of one kind of ops; both kinds have the same names,
    constructor arguments and parameter shapes, so a model is written once and built on either."""

    name: str
    Linear: type[nn.Module]
    Conv2d: type[nn.Module]
    MaxPool2d: type[nn.Module]
    AvgPool2d: type[nn.Module]
    Flatten: type[nn.Module]
    activations: Mapping[str, type[nn.Module]]
    losses: Mapping[str, Loss]

    def activation(self, name: str) -> nn.Module:
        """A fresh activation module: 'sigmoid', 'tanh', 'relu' or 'step'."""
        if name not in self.activations:
            raise ValueError(f"activation must be one of {tuple(self.activations)}, got {name!r}")
        return self.activations[name]()

    def loss(self, name: str) -> Loss:
        """The cost function: 'cross_entropy', 'quadratic' or 'binary_cross_entropy'."""
        if name not in self.losses:
            raise ValueError(f"loss must be one of {tuple(self.losses)}, got {name!r}")
        return self.losses[name]


_SETS = {
    "custom": OpSet(
        "custom", custom.Linear, custom.Conv2d, custom.MaxPool2d, custom.AvgPool2d, custom.Flatten,
        activations={"sigmoid": custom.Sigmoid, "tanh": custom.Tanh, "relu": custom.ReLU, "step": custom.Step},
        losses={"cross_entropy": RF.cross_entropy, "quadratic": RF.quadratic_loss,
                "binary_cross_entropy": RF.binary_cross_entropy},
    ),
    "builtin": OpSet(
        "builtin", nn.Linear, nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.Flatten,
        activations={"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "step": custom.BuiltinStep},
        losses={"cross_entropy": F.cross_entropy, "quadratic": builtin_quadratic_loss,
                "binary_cross_entropy": builtin_binary_cross_entropy},
    ),
}


def op_set(ops: str) -> OpSet:
    """The layers, activations and costs for ``ops='custom'`` (refnets' hand-written ops) or ``'builtin'`` (PyTorch's)."""
    if ops not in _SETS:
        raise ValueError(f"ops must be one of {OPS}, got {ops!r}")
    return _SETS[ops]


def loss_function(name: str, ops: str) -> Loss:
    """Shorthand for ``op_set(ops).loss(name)``."""
    return op_set(ops).loss(name)
