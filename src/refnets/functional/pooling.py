r"""LeNet's subsampling: max and average pooling over k_h × k_w windows.

Both reuse the convolution's :func:`im2col` / :func:`col2im`: every channel is treated as its own
one-channel image, its windows become columns, and a pooled value is a reduction down a column.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._dtypes import opmath
from ._function import Function
from ._validation import check_floating, check_non_negative, check_positive, check_rank, concrete, pair
from .conv import _im2col, col2im, conv_output_size, pad2d, unpad2d

__all__ = ["max_pool2d", "avg_pool2d", "MaxPool2d", "AvgPool2d"]


def _windows(a: torch.Tensor, kernel, stride, padding, pad_value: float) -> tuple[torch.Tensor, tuple[int, int]]:
    """Every pooling window of every channel as a column: (N, C, H, W) → (N·C, k_h·k_w, L), and (H_out, W_out)."""
    n, c, h, w = a.shape
    p4 = (padding[1], padding[1], padding[0], padding[0])
    cols = _im2col(pad2d(a.reshape(n * c, 1, h, w), p4, value=pad_value), kernel, stride, (1, 1))
    h_out = conv_output_size(h, kernel[0], stride[0], 2 * padding[0], 1)
    w_out = conv_output_size(w, kernel[1], stride[1], 2 * padding[1], 1)
    return cols, (h_out, w_out)


def _first_real_offset(out_size, kernel, stride, padding, device) -> torch.Tensor:
    """For each window, the offset i·k_w + j of its first pixel that is not padding, (L,)."""
    rows = (padding[0] - torch.arange(out_size[0], device=device) * stride[0]).clamp_min(0)
    columns = (padding[1] - torch.arange(out_size[1], device=device) * stride[1]).clamp_min(0)
    return (rows.unsqueeze(1) * kernel[1] + columns).reshape(-1)


class MaxPool2d(Function):
    r"""a_out = max over each window of a; the input is padded with −∞ so padding never wins a value.

    Shapes (N' = N·C, K = k_h·k_w, L = H_out·W_out, P = (H + 2p_h)·(W + 2p_w)):
        a: (N, C, H, W) → (N', 1, H + 2p_h, W + 2p_w) → cols: (N', K, L) → max over K → (N, C, H_out, W_out)

    Which pixel wins matters for the gradient, so it is chosen as PyTorch's kernel chooses: scanning
    a window row by row from its first real pixel, taking a value when it is greater than the best
    so far or NaN. Hence ties go to the *first* maximal pixel (``Tensor.max`` does the same), a NaN
    wins and the *last* NaN of a window wins (``Tensor.max`` would give the first), and a window
    whose real pixels are all −∞ is won by its first real pixel, never by a padding cell.

    Backward: the max is locally the identity on each window's winner and constant in the rest,
    so grad_output goes to the winning pixel only, and a pixel that wins several overlapping windows
    collects the sum:
        ∂C/∂a_flat = scatter_add over pixels of grad_output, at the winners' pixel indices   (N', P)
    which is col2im applied to a column matrix that is zero except at each argmax — done directly,
    without building that mostly-zero (N', K, L) matrix (measured: half the time of col2im here).

    Saved: only the winners' pixel indices, returned as a second, non-differentiable output (the
    backward does not need the input's values). The backward is a scatter-add, linear in
    grad_output, so double backward works (its derivative is a gather at the same winners).
    """

    @staticmethod
    def forward(a, kernel, stride, padding):
        n, c, h, w = a.shape
        cols, (h_out, w_out) = _windows(a, kernel, stride, padding, pad_value=float("-inf"))
        out, offset = cols.max(dim=1)  # which of the k_h·k_w offsets (i, j) won, (N', L)
        if padding[0] or padding[1]:  # all-−∞ windows: the first real pixel, not the padding before it
            first_real = _first_real_offset((h_out, w_out), kernel, stride, padding, a.device)
            offset = torch.where(out == float("-inf"), first_real, offset)
        is_nan = torch.isnan(out)
        if not concrete(out) or bool(is_nan.any()):  # the last NaN of a window, as PyTorch's kernel
            k = kernel[0] * kernel[1]
            last_nan = (k - 1) - torch.isnan(cols).flip(1).to(torch.uint8).argmax(dim=1)
            offset = torch.where(is_nan, last_nan, offset)
        # pixel index in the padded image = window start (p·s_h, q·s_w) + offset (i, j), flattened row-major
        w_padded = w + 2 * padding[1]
        rows = torch.arange(h_out, device=a.device).unsqueeze(1) * stride[0]
        columns = torch.arange(w_out, device=a.device).unsqueeze(0) * stride[1]
        start = (rows * w_padded + columns).reshape(1, h_out * w_out)
        # offset = i·k_w + j lies i rows and j columns into the window: i·W_padded + j = offset + i·(W_padded − k_w)
        # (arithmetic, not a lookup table indexed by offset: advanced indexing was 0.14 ms a call at LeNet-5's first pooling).
        # The row i = offset // k_w is a shift when k_w is a power of two (LeNet-5's 2): int64 division does not
        # vectorise here, the shift does; with the product folded into an in-place add, 158 → 74 µs at that pooling.
        kw = kernel[1]
        row = offset >> (kw.bit_length() - 1) if (kw & (kw - 1)) == 0 else torch.div(offset, kw, rounding_mode="floor")
        winner = (start + offset).add_(row, alpha=w_padded - kw)
        return out.reshape(n, c, h_out, w_out), winner

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, kernel, stride, padding = inputs
        _, winner = output
        ctx.mark_non_differentiable(winner)
        ctx.set_materialize_grads(False)  # no zero-filled ∂C/∂winner for the backward to ignore
        ctx.save_for_backward(winner)
        ctx.input_shape = tuple(a.shape)
        ctx.padding = padding

    @staticmethod
    def backward(ctx, grad_output, _grad_winner):
        if grad_output is None:  # no gradient reached the output (grads are not materialised: see setup_context)
            return None, None, None, None
        (winner,) = ctx.saved_tensors
        n, c, h, w = ctx.input_shape
        ph, pw = ctx.padding
        grad_padded = grad_output.new_zeros(n * c, (h + 2 * ph) * (w + 2 * pw))
        # in place into the fresh zeros: one 1.2 MB tensor less at LeNet-5's first pooling, whose backward went
        # 0.46 → 0.24 ms (one thread; torch's 0.16)
        grad_padded.scatter_add_(1, winner, grad_output.reshape(n * c, winner.shape[1]))
        grad_a = unpad2d(grad_padded.view(n, c, h + 2 * ph, w + 2 * pw), (pw, pw, ph, ph))
        return grad_a, None, None, None


class AvgPool2d(Function):
    r"""a_out = (1 / (k_h·k_w)) Σ over each window of a, zero padding counted in the window
    (PyTorch's default ``count_include_pad=True``).

    Shapes as in :class:`MaxPool2d`. Backward: every input of a window receives grad_output / (k_h·k_w):
        ∂C/∂cols = grad_output / (k_h·k_w), repeated down each column   (N', K, L)
        ∂C/∂a    = col2im(∂C/∂cols), padding cropped                     (N, C, H, W)
    Saves nothing but shapes: the op is linear, and so is its backward (col2im), whose own
    backward is im2col, so double backward works.
    """

    @staticmethod
    def forward(a, kernel, stride, padding):
        cols, out_size = _windows(a, kernel, stride, padding, pad_value=0.0)
        return opmath(cols).mean(dim=1).to(a.dtype).reshape(*a.shape[:2], *out_size)

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, kernel, stride, padding = inputs
        ctx.input_shape = tuple(a.shape)
        ctx.conf = kernel, stride, padding

    @staticmethod
    def backward(ctx, grad_output):
        kernel, stride, padding = ctx.conf
        n, c, h, w = ctx.input_shape
        k = kernel[0] * kernel[1]
        windows, positions = n * c, grad_output.shape[2] * grad_output.shape[3]
        grad_cols = (grad_output.reshape(windows, 1, positions) / k).expand(windows, k, positions)
        grad_a = col2im(grad_cols, (h + 2 * padding[0], w + 2 * padding[1]), kernel, stride, (1, 1))
        return unpad2d(grad_a, (padding[1], padding[1], padding[0], padding[0])).reshape(n, c, h, w), None, None, None


def _pool_args(
    input: torch.Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None,
    padding: int | Sequence[int],
) -> tuple[torch.Tensor, bool, tuple[int, int], tuple[int, int], tuple[int, int]]:
    check_floating("input", input)
    check_rank("input", input, (3, 4), "(N, C, H, W) or unbatched (C, H, W)")
    kernel = pair("kernel_size", kernel_size)
    check_positive("kernel_size", kernel)
    # stride=None (or an empty list, as torch accepts) means stride = kernel_size: non-overlapping windows.
    stride_ = kernel if stride is None or (isinstance(stride, Sequence) and len(stride) == 0) else pair("stride", stride)
    check_positive("stride", stride_)
    padding_ = pair("padding", padding)
    check_non_negative("padding", padding_)
    if padding_[0] > kernel[0] // 2 or padding_[1] > kernel[1] // 2:
        raise ValueError(f"padding {padding_} must be at most half of kernel_size {kernel} (as in PyTorch)")
    batched = input.dim() == 4
    a = input if batched else input.unsqueeze(0)
    padded = (a.shape[2] + 2 * padding_[0], a.shape[3] + 2 * padding_[1])
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ValueError(
            f"kernel_size {kernel} is larger than the padded input {padded} (input {tuple(input.shape)}, padding {padding_})"
        )
    return a, batched, kernel, stride_, padding_


def max_pool2d(
    input: torch.Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
) -> torch.Tensor:
    r"""Max pooling, the twin of ``torch.nn.functional.max_pool2d`` (dilation 1, floor mode).

    Args:
        input: (N, C, H, W) or unbatched (C, H, W).
        kernel_size: window size, int or (k_h, k_w).
        stride: int or (s_h, s_w); default ``kernel_size``.
        padding: implicit −∞ padding on both sides, at most half the kernel.

    Shape:
        H_out = ⌊(H + 2·p_h − k_h) / s_h⌋ + 1, and likewise W_out; (N, C, H, W) → (N, C, H_out, W_out).
    """
    a, batched, kernel, stride_, padding_ = _pool_args(input, kernel_size, stride, padding)
    out, _ = MaxPool2d.call(a, kernel, stride_, padding_)
    return out if batched else out.squeeze(0)


def avg_pool2d(
    input: torch.Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
) -> torch.Tensor:
    r"""Average pooling (LeCun's subsampling without its trainable coefficient), the twin of
    ``torch.nn.functional.avg_pool2d`` with its defaults (zero padding counted, floor mode).

    Args and Shape: as :func:`max_pool2d`.
    """
    a, batched, kernel, stride_, padding_ = _pool_args(input, kernel_size, stride, padding)
    out = AvgPool2d.call(a, kernel, stride_, padding_)
    return out if batched else out.squeeze(0)
