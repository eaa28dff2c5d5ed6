r"""Cost functions C(a, y), averaged over the n samples of a mini-batch.

Both accept the target either as integer class indices (turned into one-hot rows y) or as a float
tensor shaped like the output; the backward of each returns ∂C/∂a (or ∂C/∂z for the logits).
"""

from __future__ import annotations

import torch

from ._validation import check_floating, check_rank, check_same_dtype_device, check_tensor, class_targets

__all__ = ["cross_entropy", "quadratic_loss", "CrossEntropy", "QuadraticLoss"]


def _target_rows(name: str, target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """Return the target as a float (n, C) matrix: one-hot rows for class indices, else as given."""
    check_tensor(name, target)
    if target.device != output.device:
        raise ValueError(f"{name} is on {target.device} but the output is on {output.device}; they must be on one device")
    if target.is_floating_point():
        if target.shape != output.shape:
            raise ValueError(
                f"{name} holds per-class values, so it must have the output's shape {tuple(output.shape)}, got {tuple(target.shape)}"
            )
        check_same_dtype_device(name, target, "output", output)
        return target
    if target.dtype == torch.bool or target.is_complex():
        raise TypeError(f"{name} must be integer class indices or a float tensor, got dtype {target.dtype}")
    class_targets(name, target, output.shape[-1], tuple(output.shape[:-1]))
    onehot = torch.zeros_like(output)
    return onehot.scatter_(-1, target.unsqueeze(-1).long(), 1.0)


class CrossEntropy(torch.autograd.Function):
    r"""C = (1/n) Σ_x [ lse(z_x) Σ_j y_xj − Σ_j y_xj z_xj ],  lse(z) = log Σ_j e^{z_j}

    which is −(1/n) Σ_x Σ_j y_xj log softmax(z_x)_j, the cross-entropy of softmax outputs. With
    one-hot y it is the mean of lse(z_x) − z_{x, label}.

    Forward, stably: lse(z) = m + log Σ_j e^{z_j − m} with m = max_j z_j, so no e^{z} overflows.

    Backward (shapes z, y: (n, C)), with p = softmax(z):
        ∂C/∂z = (p ⊙ Σ_j y_j − y) / n      — for one-hot y, the famous (softmax − onehot) / n
        ∂C/∂y = (lse(z) − z) / n           — only for float targets that require a gradient
    p is recomputed from z in the backward with differentiable ops, so double backward works.
    """

    @staticmethod
    def forward(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (_logsumexp(z) * y.sum(1) - (y * z).sum(1)).mean()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad):
        z, y = ctx.saved_tensors
        n = z.shape[0]
        grad_z = grad_y = None
        if ctx.needs_input_grad[0]:
            m = z.max(dim=1, keepdim=True).values.detach()  # softmax is shift-invariant: m carries no gradient
            e = torch.exp(z - m)
            p = e / e.sum(dim=1, keepdim=True)
            grad_z = grad * (p * y.sum(1, keepdim=True) - y) / n
        if ctx.needs_input_grad[1]:
            grad_y = grad * (_logsumexp(z).unsqueeze(1) - z) / n
        return grad_z, grad_y


def _logsumexp(z: torch.Tensor) -> torch.Tensor:
    """Row-wise log Σ_j e^{z_j} = m + log Σ_j e^{z_j − m}, m = max_j z_j (stable for any z)."""
    m = z.max(dim=1, keepdim=True).values
    return (m + torch.log(torch.exp(z - m).sum(dim=1, keepdim=True))).squeeze(1)


class QuadraticLoss(torch.autograd.Function):
    r"""C = 1/(2n) Σ_x ‖y(x) − a(x)‖²  (Nielsen's eq. 6, the mean squared error cost).

    Backward (shapes a, y: (n, *)): ∂C/∂a = (a − y) / n, and ∂C/∂y = (y − a) / n when asked for.
    Written with differentiable ops on the saved inputs, so double backward works.
    """

    @staticmethod
    def forward(a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((a - y) ** 2).sum() / (2 * a.shape[0])

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad):
        a, y = ctx.saved_tensors
        diff = grad * (a - y) / a.shape[0]
        return (diff if ctx.needs_input_grad[0] else None), (-diff if ctx.needs_input_grad[1] else None)


def cross_entropy(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Softmax cross-entropy averaged over the batch, the twin of ``torch.nn.functional.cross_entropy``
    with its defaults (``reduction='mean'``). Computed from log-sum-exp, never from log_softmax.

    Args:
        input: logits z, (N, C) or unbatched (C,).
        target: class indices (N,) / () in [0, C), or class probabilities shaped like ``input``.

    Returns:
        the scalar mean cost. (For float targets PyTorch also divides by N.)
    """
    check_floating("input", input)
    check_rank("input", input, (1, 2), "logits (N, C) or unbatched (C,)")
    y = _target_rows("target", target, input)
    if input.dim() == 1:
        return CrossEntropy.apply(input.unsqueeze(0), y.unsqueeze(0))
    return CrossEntropy.apply(input, y)


def quadratic_loss(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""The quadratic cost C = 1/(2n) Σ_x ‖y(x) − a(x)‖², n = batch size (Nielsen's cost).

    Twin of ``torch.nn.functional.mse_loss(a, y, reduction='sum') / (2 * n)``.

    Args:
        input: outputs a, (N, *) — typically sigmoid outputs (N, C).
        target: float, shaped like ``input``; or integer class indices (N,) turned into one-hot rows
            (then ``input`` must be (N, C)).
    """
    check_floating("input", input)
    check_tensor("target", target)
    if input.dim() == 0:
        raise ValueError("input must be at least 1-D (N, *), got a 0-D tensor")
    if not target.is_floating_point() and input.dim() != 2:
        raise ValueError(f"with class-index targets, input must be (N, C), got shape {tuple(input.shape)}")
    return QuadraticLoss.apply(input, _target_rows("target", target, input))
