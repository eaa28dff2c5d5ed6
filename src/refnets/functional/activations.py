r"""Activations a = f(z), each an autograd.Function with its backward beside its forward.

Notation (Nielsen, ch. 2): z is a neuron's weighted input, a = f(z) its activation. The backward
receives ``grad_output`` = ∂C/∂a from the layer above and returns δ = ∂C/∂z = ∂C/∂a ⊙ f'(z) —
the "⊙ σ'(z)" factor of BP1 and BP2. All of them are element-wise: every tensor here has the
input's shape (*). float16/bfloat16 are computed in float32 and rounded once (``_dtypes``).

Each saves its *output* a (the twin saves the same), so modifying a in place before the backward
raises autograd's version-counter error, and each backward is written with differentiable ops on
a, so double backward works. Each is a :class:`~refnets.functional._function.Function`, so torch.func.vmap batches it.
"""

from __future__ import annotations

import torch

from ._dtypes import opmath
from ._function import Function
from ._validation import check_floating

__all__ = ["sigmoid", "relu", "tanh", "step", "Sigmoid", "ReLU", "Tanh", "Step"]

# The integer type whose values share a float's bits (ReLU's backward selects with it).
_SAME_SIZE_INT = {torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}


class Sigmoid(Function):
    r"""σ(z) = 1 / (1 + e^{−z}).

    Forward, as written: one exponential, then 1 + e^{−z} and its reciprocal, the last two in place
    on the fresh tensor (no further allocations). It needs no guard against overflow: for z ≪ 0,
    e^{−z} overflows to +∞ and 1/(1 + ∞) = 0, which is σ's value to float precision; z = ±∞ gives
    0 and 1, and NaN stays NaN — IEEE arithmetic makes the direct formula safe, and PyTorch's own
    CPU kernel computes it so (the two agree at every special value, and within 2 ulp elsewhere).
    The form e^{min(z, 0)} / (1 + e^{−|z|}), which keeps every exponent ≤ 0, was used before:
    twice the exponentials, for nothing — it differs only below z ≈ −88.7 (float32), where e^{−z}
    overflows and the twin, computed the same direct way, returns 0 where the old form returned σ's
    tiny subnormal value. Measured with the backward (refnets-bench ``sigmoid``, 64×6×28×28):
    5.5× → 3.0× the twin's time; the rest is torch.exp itself, twice the twin's whole kernel here.

    Backward, from the saved output a = σ(z) (no second exp):
        δ = ∂C/∂z = ∂C/∂a ⊙ σ'(z) = grad_output ⊙ (1 − a) ⊙ a

    multiplied in that order, (grad_output ⊙ (1 − a)) ⊙ a, which is the order of PyTorch's CPU
    kernel: δ is then bit for bit the twin's (checked on 301 056 values, float32 and float64; the order
    a ⊙ (1 − a) first differs in the last bit for a third of them).

    Fresh tensors cost more than their arithmetic at LeNet-5's sizes (a 1.2 MB tensor is a fresh
    mapping from the allocator, page-faulted in as it is written), so both passes write in place
    where the operand is a temporary: −z is exponentiated in place, and 1 − a is multiplied by
    grad_output and then by a in place. 2 fresh tensors a forward + backward instead of 5. Measured
    (64×6×28×28, one thread, interleaved medians, forward + backward): 1.09–1.18 → 0.81–0.91 ms with
    3 fresh tensors; 3 → 2 took refnets-bench's ``sigmoid`` row from 2.57× to 2.32× and from 2.69× to
    2.44× the twin (two runs, each 25 interleaved rounds of the old and new backward and the twin, 2 threads).

    Shapes: z (*), a (*), grad_output (*), δ (*).
    """

    @staticmethod
    def forward(z: torch.Tensor) -> torch.Tensor:
        return opmath(z).neg().exp_().add_(1).reciprocal_().to(z.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        a_ = opmath(a)
        return (1 - a_).mul_(opmath(grad_output)).mul_(a_).to(a.dtype)


class Tanh(Function):
    r"""a = tanh(z), forward by torch.tanh; backward from the saved output:
        δ = ∂C/∂z = grad_output ⊙ (1 − a²)

    computed in one fresh tensor: a², then −a² + 1 (= 1 − a², exactly) and the product in place — the
    same bits as three fresh tensors (only a NaN's sign bit may differ). Measured (64×6×28×28, one
    thread, interleaved medians): forward + backward 1.39–1.66 → 1.07–1.20 ms, torch.tanh's 0.97–1.16.

    Shapes: z (*), a (*), grad_output (*), δ (*).
    """

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
        return (a_ * a_).neg_().add_(1).mul_(opmath(grad_output)).to(a.dtype)


class ReLU(Function):
    r"""a = max(z, 0); backward δ = ∂C/∂z = grad_output where a > 0, and exactly 0 where a ≤ 0
    (PyTorch's convention: derivative 0 at z = 0).

    The zeros are *selected*, not multiplied in: grad_output · 0 would turn an inf or NaN arriving
    at an inactive unit into NaN, where PyTorch gives 0. A NaN input gives a = NaN, and since
    NaN ≤ 0 is false its gradient passes through, as in PyTorch.

    How it selects: torch.where and masked_fill are the obvious tools, but on the CPU their kernels
    for a bool mask do not vectorise — measured here 0.54 ms for LeNet-5's first activation
    (64×6×28×28), 20× a multiply and two thirds of the whole op. So the backward selects in
    integers instead: keep = 1 where a ≠ 0 (its bits with the sign bit cleared are nonzero: a > 0 or
    NaN) and 0 where a = ±0, and δ's bits = grad_output's bits × keep — a float times 1 is itself,
    bit for bit (inf and NaN included), and 0 is +0.0. Three vectorised integer passes; relu's
    forward + backward went from 0.87 to 0.18 ms, 8.7× → 2.0× the twin's (refnets-bench ``relu``); the
    product written into ``keep`` rather than a fresh tensor: 0.47–0.56 → 0.29–0.45 ms (one thread). When the backward is
    itself differentiated (``create_graph=True``) it uses torch.where, which autograd can differentiate.

    Shapes: z (*), a (*), grad_output (*), δ (*).
    """

    @staticmethod
    def forward(z: torch.Tensor) -> torch.Tensor:
        return z.clamp_min(0)  # max(z, 0) in one pass; NaN stays NaN, as in F.relu

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        if torch.is_grad_enabled():  # double backward: a differentiable select
            return torch.where(a > 0, grad_output, 0)
        bits = _SAME_SIZE_INT[a.dtype]
        keep = (a.view(bits) & torch.iinfo(bits).max).clamp_max_(1)  # 1 where a ≠ ±0 (a > 0 or NaN), else 0
        return keep.mul_(grad_output.view(bits)).view(a.dtype)  # in place: one fresh tensor, not two


class Step(Function):
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
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output)


def sigmoid(input: torch.Tensor) -> torch.Tensor:
    """Element-wise logistic sigmoid σ(z) = 1/(1+e^{−z}), numerically stable; twin of ``torch.sigmoid``."""
    return Sigmoid.call(check_floating("input", input))


def tanh(input: torch.Tensor) -> torch.Tensor:
    """Element-wise tanh with a hand-written backward 1 − a²; twin of ``torch.tanh``."""
    return Tanh.call(check_floating("input", input))


def relu(input: torch.Tensor) -> torch.Tensor:
    """Element-wise max(z, 0) with a hand-written backward; twin of ``torch.nn.functional.relu``."""
    return ReLU.call(check_floating("input", input))


def step(input: torch.Tensor) -> torch.Tensor:
    """Heaviside step, 1 where z > 0 else 0; its gradient is zero almost everywhere (see :class:`Step`).

    Twin of ``torch.heaviside(z, torch.tensor(0.))``.
    """
    return Step.call(check_floating("input", input))
