r"""Backpropagation written out: Nielsen's four equations for a whole mini-batch, no autograd.

For an MLP with layers l = 1 … L, weighted inputs z^l = w^l a^{l−1} + b^l and activations
a^l = σ(z^l), the error δ^l = ∂C/∂z^l of every layer follows from four equations (Nielsen, ch. 2):

    BP1   δ^L = ∇ₐC ⊙ σ'(z^L)                       the output layer's error
    BP2   δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)       the error moved one layer back
    BP3   ∂C/∂b^l = δ^l                              summed over the mini-batch
    BP4   ∂C/∂w^l = δ^l (a^{l−1})ᵀ                   summed over the mini-batch by the matrix product

In matrix form a mini-batch of n samples is a matrix whose columns are the samples (Nielsen's
"fully matrix-based approach"): a^l and δ^l are (n_l, n), w^l is (n_l, n_{l−1}) — PyTorch's
``Linear.weight`` layout — and b^l is (n_l, 1), broadcast over the columns. BP4's product
(n_l, n)·(n, n_{l−1}) then sums the n per-sample outer products δ_x (a_x^{l−1})ᵀ in one GEMM.

The costs are means over the batch (refnets' ``quadratic_loss`` and ``cross_entropy``), so ∇ₐC
carries the 1/n and the sums in BP3/BP4 give the gradient of the mean:

    quadratic       C = 1/(2n) Σ_x ‖y(x) − a^L(x)‖²            ∇ₐC = (a^L − y) / n
    cross_entropy   C = −(1/n) Σ_x Σ_j y_j log softmax(a^L)_j    ∇ₐC = (softmax(a^L) − y) / n   (one-hot y)

Each layer has its own σ: the hidden activation (sigmoid, tanh or relu) and, for the output layer,
σ (``output='sigmoid'``) or the identity (``output='logits'``, σ' = 1: with cross-entropy BP1
becomes the familiar δ^L = (softmax(z^L) − y) / n).

Nothing here builds an autograd graph: the weights are read detached and every step runs under
``torch.no_grad()``. tests/test_backprop.py proves the result equal to autograd through refnets'
Functions and through torch.nn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from . import nn as rnn
from .models import MLP

__all__ = ["Activation", "Layer", "Backprop", "layers_of", "columns", "feedforward", "cost_gradient", "backprop",
           "update_mini_batch", "accuracy", "sgd", "COSTS"]

COSTS = ("quadratic", "cross_entropy")


@dataclass(frozen=True)
class Activation:
    """σ and its derivative σ', both as functions of the weighted input z."""

    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    prime: Callable[[torch.Tensor], torch.Tensor]


def _sigmoid_prime(z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return s * (1 - s)  # σ'(z) = σ(z)(1 − σ(z))


SIGMOID = Activation("sigmoid", torch.sigmoid, _sigmoid_prime)
TANH = Activation("tanh", torch.tanh, lambda z: 1 - torch.tanh(z) ** 2)
RELU = Activation("relu", lambda z: z.clamp_min(0), lambda z: (z > 0).to(z.dtype))
IDENTITY = Activation("identity", lambda z: z, torch.ones_like)

# The modules an MLP may hold after a Linear, on either ops path: refnets.nn's and torch.nn's.
_ACTIVATION_MODULES: tuple[tuple[tuple[type[nn.Module], ...], Activation], ...] = (
    ((rnn.Sigmoid, nn.Sigmoid), SIGMOID),
    ((rnn.Tanh, nn.Tanh), TANH),
    ((rnn.ReLU, nn.ReLU), RELU),
)


@dataclass(frozen=True)
class Layer:
    """One layer l of the network: z^l = w^l a^{l−1} + b^l, a^l = σ(z^l).

    ``w`` is (n_l, n_{l−1}) and ``b`` (n_l, 1), detached views of the model's parameters;
    ``weight_name`` and ``bias_name`` are their keys in ``model.named_parameters()``.
    """

    w: torch.Tensor
    b: torch.Tensor
    sigma: Activation
    weight_name: str
    bias_name: str


class Backprop(dict):
    """∂C/∂w^l and ∂C/∂b^l keyed like ``model.named_parameters()``, with the pass that made them:
    ``zs`` (z^1 … z^L), ``activations`` (a^0 = x … a^L) and ``deltas`` (δ^1 … δ^L), each (n_l, n)."""

    def __init__(self, grads: dict[str, torch.Tensor], zs, activations, deltas, cost: torch.Tensor) -> None:
        super().__init__(grads)
        self.zs, self.activations, self.deltas, self.cost = zs, activations, deltas, cost


def _activation(module: nn.Module) -> Activation | None:
    for classes, activation in _ACTIVATION_MODULES:
        if isinstance(module, classes):
            return activation
    return None


def layers_of(model: MLP) -> list[Layer]:
    """Read an MLP's ``layers`` (Flatten, Linear, σ, …, Linear[, Sigmoid]) as Nielsen's list of layers."""
    if not isinstance(model, MLP):
        raise TypeError(f"model must be a refnets.models.MLP, got {type(model).__name__}")
    found: list[dict] = []
    for name, module in model.layers.named_children():
        prefix = f"layers.{name}"
        if isinstance(module, nn.Flatten):
            continue
        if isinstance(module, nn.Linear):
            if module.bias is None:
                raise ValueError(f"{prefix} is a Linear without a bias; backprop expects z = w a + b")
            found.append({"w": module.weight.detach(), "b": module.bias.detach().unsqueeze(1), "sigma": IDENTITY,
                          "weight_name": f"{prefix}.weight", "bias_name": f"{prefix}.bias"})
            continue
        activation = _activation(module)
        if activation is None or not found or found[-1]["sigma"] is not IDENTITY:
            raise ValueError(
                f"{prefix} is a {type(module).__module__}.{type(module).__name__}; backprop expects the MLP's "
                "Flatten, then Linear layers each followed by at most one Sigmoid, Tanh or ReLU (refnets.nn or torch.nn)"
            )
        found[-1]["sigma"] = activation
    if not found:
        raise ValueError("model.layers holds no Linear layer")
    return [Layer(**layer) for layer in found]


def columns(x: torch.Tensor) -> torch.Tensor:
    """A batch (n, *) as the matrix a^0 whose n columns are the flattened samples: (∏*, n)."""
    return x.reshape(x.shape[0], -1).T


@torch.no_grad()
def feedforward(layers: list[Layer], x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The forward pass, storing every z^l and a^l: x (n, *) → (zs, activations), a^L = activations[-1]."""
    activation = columns(x.detach())
    zs, activations = [], [activation]
    for layer in layers:
        z = layer.w @ activation + layer.b  # (n_l, n_{l−1})·(n_{l−1}, n) + (n_l, 1) → (n_l, n)
        activation = layer.sigma.f(z)
        zs.append(z)
        activations.append(activation)
    return zs, activations


def _one_hot_columns(y: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Targets as the (n_L, n) matrix y: one-hot columns for class indices (n,), else the given (n, n_L) rows."""
    n_out, n = a.shape
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a tensor of class indices (n,) or target rows (n, {n_out}), got {type(y).__name__}")
    if y.is_floating_point():
        if tuple(y.shape) != (n, n_out):
            raise ValueError(f"y holds target rows, so it must have shape {(n, n_out)}, got {tuple(y.shape)}")
        return y.T.to(a.dtype)
    if tuple(y.shape) != (n,):
        raise ValueError(f"y holds class indices, so it must have shape ({n},), got {tuple(y.shape)}")
    if n and (y.min() < 0 or y.max() >= n_out):
        raise ValueError(f"y's class indices must lie in [0, {n_out}), got values in [{int(y.min())}, {int(y.max())}]")
    onehot = torch.zeros_like(a)
    onehot[y, torch.arange(n, device=a.device)] = 1.0
    return onehot


@torch.no_grad()
def cost_gradient(cost: str, a: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The cost C and ∇ₐC for output activations a (n_L, n) and target columns y (n_L, n)."""
    n = a.shape[1]
    if cost == "quadratic":
        return ((a - y) ** 2).sum() / (2 * n), (a - y) / n
    # cross_entropy: softmax over each column, shifted by its max so no e^a overflows
    shifted = a - a.max(dim=0, keepdim=True).values
    log_softmax = shifted - shifted.exp().sum(dim=0, keepdim=True).log()
    # −Σ_j y_j log p_j; for target rows that do not sum to 1, ∇ₐ = (p Σ_j y_j − y)/n, as refnets' cross_entropy
    return -(y * log_softmax).sum() / n, (log_softmax.exp() * y.sum(dim=0, keepdim=True) - y) / n


def _check_cost(cost: str) -> str:
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {COSTS}, got {cost!r}")
    return cost


@torch.no_grad()
def backprop(model: MLP, x: torch.Tensor, y: torch.Tensor, cost: str) -> Backprop:
    r"""∂C/∂w^l and ∂C/∂b^l of the mean cost over the mini-batch (x, y), by BP1–BP4.

    Args:
        model: a :class:`refnets.models.MLP` on either ops path (custom or builtin), any depth,
            sigmoid, tanh or relu hidden neurons, ``output='sigmoid'`` or ``'logits'``.
        x: the inputs, (n, *) with ∏* = ``model.sizes[0]``.
        y: class indices (n,), or float target rows (n, n_L).
        cost: 'quadratic' or 'cross_entropy' (softmax cross-entropy), as ``refnets.nn.loss_function``.

    Returns:
        a :class:`Backprop` dict: ``{name: ∂C/∂parameter}`` with the keys and shapes of
        ``model.named_parameters()``, carrying ``zs``, ``activations``, ``deltas`` and ``cost``.
    """
    _check_cost(cost)
    layers = layers_of(model)
    if x.shape[0] == 0 or x[0].numel() != layers[0].w.shape[1]:
        raise ValueError(f"x must be a non-empty batch (n, *) of {layers[0].w.shape[1]} features per sample, "
                         f"got shape {tuple(x.shape)}")
    zs, activations = feedforward(layers, x.to(layers[0].w.dtype))
    C, nabla_a = cost_gradient(cost, activations[-1], _one_hot_columns(y, activations[-1]))

    deltas = [nabla_a * layers[-1].sigma.prime(zs[-1])]  # BP1: δ^L = ∇ₐC ⊙ σ'(z^L)
    for l in range(len(layers) - 2, -1, -1):
        # BP2: δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l);  (n_l, n_{l+1})·(n_{l+1}, n) → (n_l, n)
        deltas.insert(0, (layers[l + 1].w.T @ deltas[0]) * layers[l].sigma.prime(zs[l]))

    grads = {}
    for layer, delta, a_prev in zip(layers, deltas, activations[:-1]):
        grads[layer.weight_name] = delta @ a_prev.T  # BP4: ∂C/∂w^l = δ^l (a^{l−1})ᵀ, (n_l, n)·(n, n_{l−1})
        grads[layer.bias_name] = delta.sum(dim=1)  # BP3: ∂C/∂b^l = δ^l, summed over the n columns
    return Backprop(grads, zs, activations, deltas, C)


@torch.no_grad()
def update_mini_batch(model: MLP, x: torch.Tensor, y: torch.Tensor, eta: float, cost: str) -> torch.Tensor:
    """One step of gradient descent on the mini-batch (x, y): w ← w − η ∂C/∂w, b ← b − η ∂C/∂b.

    C is the mean over the mini-batch, so this is network.py's w − (η/m) Σ_x ∇C_x. Returns C.
    """
    nabla = backprop(model, x, y, cost)
    for name, parameter in model.named_parameters():
        parameter -= eta * nabla[name]
    return nabla.cost


@torch.no_grad()
def accuracy(model: MLP, x: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of samples whose largest output a^L_j is the class y (forward pass of :func:`feedforward`)."""
    layers = layers_of(model)
    _, activations = feedforward(layers, x.to(layers[0].w.dtype))
    return (activations[-1].argmax(dim=0) == y).double().mean().item()


def sgd(
    model: MLP,
    training_data: tuple[torch.Tensor, torch.Tensor],
    epochs: int,
    mini_batch_size: int,
    eta: float,
    cost: str = "quadratic",
    test_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, list[float]]:
    """Nielsen's ``SGD``: each epoch, shuffle the training data, cut it into mini-batches and call
    :func:`update_mini_batch` on each. The model's parameters are updated in place.

    Args:
        training_data, test_data: (inputs (n, *), class indices (n,)).
        epochs, mini_batch_size, eta: as network.py (η is the learning rate).
        cost: 'quadratic' (ch. 1) or 'cross_entropy'.
        generator: the source of the shuffles, for a reproducible run.

    Returns:
        ``{'cost': [mean training cost of each epoch], 'test_accuracy': [after each epoch]}``
        (the latter empty without test_data).
    """
    _check_cost(cost)
    for name, value in (("epochs", epochs), ("mini_batch_size", mini_batch_size)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not eta > 0:
        raise ValueError(f"eta must be a positive learning rate, got {eta!r}")
    x, y = training_data
    history: dict[str, list[float]] = {"cost": [], "test_accuracy": []}
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator).to(y.device)
        costs = [update_mini_batch(model, x[batch], y[batch], eta, cost) for batch in order.split(mini_batch_size)]
        history["cost"].append(torch.stack(costs).mean().item())
        if test_data is not None:
            history["test_accuracy"].append(accuracy(model, *test_data))
    return history
