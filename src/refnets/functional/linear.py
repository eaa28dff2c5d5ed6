r"""The fully connected layer as one GEMM: z = a Wᵀ + b."""

from __future__ import annotations

import math

import torch

from ._dtypes import autocast_dtype, autocast_off
from ._function import Function
from ._validation import check_floating, check_rank, check_same_dtype_device

__all__ = ["linear", "Linear"]


class Linear(Function):
    r"""z = a Wᵀ + b over a batch flattened to M rows.

    Forward (one GEMM, the bias folded in by addmm):
        a: (M, in),  W: (out, in),  b: (out,)   →   z = a Wᵀ + b: (M, out)

    Backward: grad_output here is δ = ∂C/∂z: (M, out), since z is this op's output. In Nielsen's
    equations, for a whole batch at once (rows are samples, so his w δ products appear transposed):
        ∂C/∂W = δᵀ a     (out, M) @ (M, in)   → (out, in)   BP4, summed over the batch by the GEMM itself
        ∂C/∂b = Σ_rows δ (M, out) → (out,)                   BP3
        ∂C/∂a = δ W      (M, out) @ (out, in) → (M, in)     BP2's (wᵀ δ), sent to the layer below, whose
                                                             activation's backward multiplies in σ'(z)
    Each term is computed only when ``ctx.needs_input_grad`` asks for it.

    Saved: a and W (the twin saves the same). Autograd checks their version counters, and the
    backward is GEMMs on them, so double backward works.
    """

    @staticmethod
    def forward(a: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if bias is None:
            return a @ weight.t()
        return torch.addmm(bias, a, weight.t())

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, weight, bias = inputs
        ctx.save_for_backward(a, weight)
        ctx.has_bias = bias is not None

    @staticmethod
    def backward(ctx, delta):  # grad_output = δ = ∂C/∂z
        a, weight = ctx.saved_tensors
        grad_a = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = delta @ weight
        if ctx.needs_input_grad[1]:
            grad_w = delta.t() @ a
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = delta.sum(0)
        return grad_a, grad_w, grad_b


def linear(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    r"""Applies z = x Wᵀ + b, the twin of ``torch.nn.functional.linear``.

    Args:
        input: (*, in_features), any number of leading dimensions (including none).
        weight: (out_features, in_features).
        bias: (out_features,) or None.

    Shape:
        (*, in_features) → (*, out_features). The leading dimensions are flattened into the rows of
        one GEMM and restored afterwards. Zero-size dimensions give empty results, as in PyTorch.

    Under autocast the GEMM runs in autocast's dtype (bfloat16 on the CPU), as F.linear's does.
    """
    check_floating("input", input)
    check_floating("weight", weight)
    low = autocast_dtype(input, lower=True)
    if low is not None:
        input, weight = input.to(low), weight.to(low)
        bias = bias.to(low) if isinstance(bias, torch.Tensor) and bias.is_floating_point() else bias
    check_rank("weight", weight, (2,), "(out_features, in_features)")
    check_same_dtype_device("weight", weight, "input", input)
    if input.dim() == 0:
        raise ValueError("input must have at least 1 dimension (*, in_features), got a 0-D tensor")
    out_features, in_features = weight.shape
    if input.shape[-1] != in_features:
        raise ValueError(
            f"input has {input.shape[-1]} features in its last dimension (shape {tuple(input.shape)}) but weight "
            f"{tuple(weight.shape)} expects in_features = {in_features}"
        )
    if bias is not None:
        check_floating("bias", bias)
        check_same_dtype_device("bias", bias, "input", input)
        if bias.shape != (out_features,):
            raise ValueError(f"bias must have shape ({out_features},) to match weight {tuple(weight.shape)}, got {tuple(bias.shape)}")
    with autocast_off(input):
        if input.dim() == 2:  # (N, in_features), the usual case: no flattening, two reshapes less a call
            return Linear.call(input, weight, bias)
        lead = input.shape[:-1]
        z = Linear.call(input.reshape(math.prod(lead), in_features), weight, bias)
    return z.reshape(*lead, out_features)
