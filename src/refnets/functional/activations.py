r"""Activations a = f(z), each an autograd.Function with its backward beside its forward.

Notation (Nielsen, ch. 2): z is a neuron's weighted input, a = f(z) its activation. The backward
receives ``grad_output`` = ∂C/∂a from the layer above and returns δ = ∂C/∂z = ∂C/∂a ⊙ f'(z) —
the "⊙ σ'(z)" factor of BP1 and BP2. All of them are element-wise: every tensor here has the
input's shape (*). float16/bfloat16 are computed in float32 and rounded once (``_dtypes``).

Each saves its *output* a (the twin saves the same), so modifying a in place before the backward
raises autograd's version-counter error, and each backward is written with differentiable ops on
a, so double backward works. ``generate_vmap_rule`` lets torch.func.vmap batch them.
"""

from __future__ import annotations

import torch

from ._dtypes import opmath
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
        δ = ∂C/∂z = ∂C/∂a ⊙ σ'(z) = grad_output ⊙ a ⊙ (1 − a)

    Shapes: z (*), a (*), grad_output (*), δ (*).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(z: torch.Tensor) -> torch.Tensor:
        z_ = opmath(z)
        return (torch.exp(z_.clamp_max(0)) / (1 + torch.exp(-z_.abs()))).to(z.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        a_ = opmath(a)
        return (opmath(grad_output) * a_ * (1 - a_)).to(a.dtype)


class Tanh(torch.autograd.Function):
    r"""a = tanh(z), forward by torch.tanh; backward from the saved output:
        δ = ∂C/∂z = grad_output ⊙ (1 − a²)

    Shapes: z (*), a (*), grad_output (*), δ (*).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        a_ = opmath(a)
        return (opmath(grad_output) * (1 - a_ * a_)).to(a.dtype)


class ReLU(torch.autograd.Function):
    r"""a = max(z, 0); backward δ = ∂C/∂z = grad_output where a > 0, and exactly 0 where a ≤ 0
    (PyTorch's convention: derivative 0 at z = 0).

    The zeros are *selected*, not multiplied in: grad_output · 0 would turn an inf or NaN arriving
    at an inactive unit into NaN, where PyTorch gives 0. A NaN input gives a = NaN, and since
    NaN ≤ 0 is false its gradient passes through, as in PyTorch.

    Shapes: z (*), a (*), grad_output (*), δ (*).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(z: torch.Tensor) -> torch.Tensor:
        return z.clamp_min(0)  # max(z, 0) in one pass; NaN stays NaN, as in F.relu

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        return grad_output.masked_fill(a <= 0, 0)


class Step(torch.autograd.Function):
    r"""The perceptron's Heaviside step: a = 1 if z > 0 else 0 (Nielsen: w·x + b ≤ 0 → 0).

    Its derivative is 0 wherever it exists (everywhere but z = 0), so the backward returns zeros:
    no gradient flows through a step unit. That is why perceptrons are trained by the perceptron
    rule w ← w + η (y − ŷ) x, not by backpropagation, and why the sigmoid neuron — a smoothed step —
    was the way forward.

    Shapes: z (*), a (*).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(z: torch.Tensor) -> torch.Tensor:
        return (z > 0).to(z.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output)


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
