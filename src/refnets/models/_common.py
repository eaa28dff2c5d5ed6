"""What the models share: checked choices and the weight-initialisation schemes.

Layers, activations and costs come from :func:`refnets.nn.op_set`, the one custom/builtin switch."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable

import torch
from torch import nn

INITS = ("torch", "normal", "scaled")
# hidden activations a backprop-trained model may use (the step has no gradient: perceptrons only)
ACTIVATIONS = ("sigmoid", "tanh", "relu")


def choice(name: str, value: object, options: Iterable[str]) -> str:
    options = tuple(options)
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value  # type: ignore[return-value]


def count(name: str, value: object, minimum: int) -> int:
    """An integer ≥ ``minimum`` (a layer size, a number of classes), or a ValueError naming it."""
    # numbers.Integral: numpy's ints too (np.prod(shape) is an np.int64), as torch.nn.Linear takes them
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def batch(model: str, x: object, shape: Callable[[], str], min_dim: int = 2) -> torch.Tensor:
    """``x`` as a model's forward takes it: a tensor of at least ``min_dim`` dimensions, the batch first, or a
    TypeError/ValueError that names the model, the shape received and the shape expected (``shape()``, e.g.
    "(N, 784)"; a function, so that a forward that passes formats nothing)."""
    if isinstance(x, torch.Tensor) and x.dim() >= min_dim:
        return x
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{model} expects a torch.Tensor {shape()}, got {type(x).__name__}")
    hint = " (one sample? add the batch dimension: x.unsqueeze(0))" if x.dim() == min_dim - 1 else ""
    raise ValueError(f"{model} expects a batch {shape()}, got shape {tuple(x.shape)}{hint}")


@torch.no_grad()
def initialise(model: nn.Module, scheme: str) -> None:
    """Re-draw every weight and bias of the Linear/Conv2d layers of ``model``, in module order.

    - ``torch``: keep torch.nn's default (U(−1/√fan_in, 1/√fan_in)).
    - ``normal``: w, b ~ N(0, 1) — Nielsen's network.py (ch. 1).
    - ``scaled``: w ~ N(0, 1/fan_in), b ~ N(0, 1) — Nielsen's improved initialisation (ch. 3).

    The draws depend only on the parameter shapes and their order, so a custom and a builtin model
    seeded alike receive identical weights.
    """
    choice("init", scheme, INITS)
    if scheme == "torch":
        return
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            fan_in = module.weight[0].numel()
            module.weight.normal_(0.0, 1.0 if scheme == "normal" else 1.0 / math.sqrt(fan_in))
            if module.bias is not None:
                module.bias.normal_(0.0, 1.0)
