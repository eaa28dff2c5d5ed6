r"""Activations a = f(z), each an autograd.Function with its backward beside its forward.

Notation (Nielsen, ch. 2): z is a neuron's weighted input, a = f(z) its activation, and
δ = ∂C/∂a arrives from the layer above; each backward returns ∂C/∂z = δ ⊙ f'(z).
All of them are element-wise: every tensor here has the input's shape (*).
"""

from __future__ import annotations

import torch

from ._validation import check_floating

__all__ = ["sigmoid", "relu", "tanh", "step", "Sigmoid", "ReLU", "Tanh", "Step"]


class Sigmoid(torch.autograd.Function):
    r"""σ(z) = 1 / (1 + e^{−z}).

    Forward, in a form that never overflows:
        σ(z) = e^{min(z, 0)} / (1 + e^{−|z|})
    which is 1/(1 + e^{−z}) for z ≥ 0 and e^{z}/(1 + e^{z}) for z < 0 (multiply through by e^{z}).
    Both exponents are ≤ 0, so nothing overflows: the naive 1/(1+e^{−z}) computes e^{10⁴} = inf
    for z = −10⁴. One formula rather than a torch.where over two branches: where is the slowest
    element-wise kernel on the CPU build measured (refnets-bench: ~8× a multiply).

    Backward, from the saved output a = σ(z) (no second exp):
        ∂C/∂z = δ ⊙ σ'(z) = δ ⊙ a ⊙ (1 − a)

    Shapes: z (*), a (*), δ (*).
    """

    @staticmethod
    def forward(z: torch.Tensor) -> torch.Tensor:
        return torch.exp(z.clamp_max(0)) / (1 + torch.exp(-z.abs()))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, delta):
        (a,) = ctx.saved_tensors
        # Written with differentiable ops on a saved *output*, so double backward (gradgradcheck) works.
        return delta * a * (1 - a)


class Tanh(torch.autograd.Function):
    r"""a = tanh(z), forward by torch.tanh; backward from the saved output: ∂C/∂z = δ ⊙ (1 − a²).

    Shapes: z (*), a (*), δ (*).
    """

    @staticmethod
    def forward(z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, delta):
        (a,) = ctx.saved_tensors
        return delta * (1 - a * a)


class ReLU(torch.autograd.Function):
    r"""a = max(z, 0); backward ∂C/∂z = δ ⊙ [a > 0] (PyTorch's convention: derivative 0 at z = 0).

    Since a ≥ 0, the indicator [a > 0] is exactly sign(a), which is how the backward computes it
    (a multiply by sign(a) is ~10× faster than a torch.where on the CPU, see refnets-bench).

    Shapes: z (*), a (*), δ (*).
    """

    @staticmethod
    def forward(z: torch.Tensor) -> torch.Tensor:
        return z.clamp_min(0)  # max(z, 0) in one pass; NaN stays NaN, as in F.relu

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, delta):
        (a,) = ctx.saved_tensors
        return delta * torch.sign(a)


class Step(torch.autograd.Function):
    r"""The perceptron's Heaviside step: a = 1 if z > 0 else 0 (Nielsen: w·x + b ≤ 0 → 0).

    Its derivative is 0 wherever it exists (everywhere but z = 0), so the backward returns zeros:
    no gradient flows through a step unit. That is why perceptrons are trained by the perceptron
    rule w ← w + η (y − ŷ) x, not by backpropagation, and why the sigmoid neuron — a smoothed step —
    was the way forward.

    Shapes: z (*), a (*).
    """

    @staticmethod
    def forward(z: torch.Tensor) -> torch.Tensor:
        return (z > 0).to(z.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, delta):
        return torch.zeros_like(delta)


def sigmoid(input: torch.Tensor) -> torch.Tensor:
    """Element-wise logistic sigmoid σ(z) = 1/(1+e^{−z}), numerically stable; twin of ``torch.sigmoid``."""
    return Sigmoid.apply(check_floating("input", input))


def tanh(input: torch.Tensor) -> torch.Tensor:
    """Element-wise tanh with a hand-written backward 1 − a²; twin of ``torch.tanh``."""
    return Tanh.apply(check_floating("input", input))


def relu(input: torch.Tensor) -> torch.Tensor:
    """Element-wise max(z, 0) with a hand-written backward; twin of ``torch.nn.functional.relu``."""
    return ReLU.apply(check_floating("input", input))


def step(input: torch.Tensor) -> torch.Tensor:
    """Heaviside step, 1 where z > 0 else 0; its gradient is zero almost everywhere (see :class:`Step`).

    Twin of ``torch.heaviside(z, torch.tensor(0.))``.
    """
    return Step.apply(check_floating("input", input))
