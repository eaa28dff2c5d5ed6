r"""LeNet's subsampling: max and average pooling over k_h × k_w windows.

Both reuse the convolution's :func:`im2col` / :func:`col2im`: every channel is treated as its own
one-channel image, its windows become columns, and a pooled value is a reduction down a column.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

from ._dtypes import opmath
from ._function import Function, shape_cache
from ._validation import check_floating, check_non_negative, check_positive, check_rank, concrete, pair
from .conv import Col2im, _im2col, conv_output_size, pad2d, unpad2d

__all__ = ["max_pool2d", "avg_pool2d", "MaxPool2d", "AvgPool2d"]


def _windows(a: torch.Tensor, kernel, stride, padding, pad_value: float) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Every pooling window of every channel as a column: (N, C, H, W) → the padded channels (N·C, 1, H + 2p_h,
    W + 2p_w), their windows (N·C, k_h·k_w, L), and (H_out, W_out)."""
    n, c, h, w = a.shape
    p4 = (padding[1], padding[1], padding[0], padding[0])
    padded = pad2d(a.reshape(n * c, 1, h, w), p4, value=pad_value)
    cols = _im2col(padded, kernel, stride, (1, 1))
    h_out = conv_output_size(h, kernel[0], stride[0], 2 * padding[0], 1)
    w_out = conv_output_size(w, kernel[1], stride[1], 2 * padding[1], 1)
    return padded, cols, (h_out, w_out)


def _first_real_offset(out_size, stride, padding, row_length) -> torch.Tensor:
    """For each window, the offset i·row_length + j from its start of its first pixel that is not padding, (L,)."""
    rows = (padding[0] - torch.arange(out_size[0], device="cpu") * stride[0]).clamp_min(0)
    columns = (padding[1] - torch.arange(out_size[1], device="cpu") * stride[1]).clamp_min(0)
    return (rows.unsqueeze(1) * row_length + columns).reshape(-1)


@shape_cache
def _winner_tables(h: int, w: int, kernel, stride, padding, device: torch.device):
    r"""MaxPool2d's per-shape constants, made once (their dozen small ops were a third of the forward's
    Python time at LeNet-5's sizes). With W_p = W + 2p_w, window offset k = (i, j) lies d_k = i·W_p + j
    pixels after its window's start (p·s_h, q·s_w); D = d_(K−1) + 1. Returns
        start + D (1, L) int64; weight D − d_k (1, K, 1), decreasing in k; nan_weight 1 + d_k, increasing
        in k (uint8 where D ≤ 255, else int32); and, with padding, each window's first real pixel (1, L),
        else None.
    Made on the CPU, then moved to ``device``.
    """
    (kh, kw), (ph, pw) = kernel, padding
    w_padded = w + 2 * pw
    h_out = conv_output_size(h, kh, stride[0], 2 * ph, 1)
    w_out = conv_output_size(w, kw, stride[1], 2 * pw, 1)
    depth = (kh - 1) * w_padded + kw
    small = torch.uint8 if depth <= 255 else torch.int32  # one byte a cell where the weights fit
    arange = functools.partial(torch.arange, device="cpu")
    d = ((arange(kh) * w_padded).unsqueeze(1) + arange(kw)).reshape(1, kh * kw, 1)
    rows = arange(h_out).unsqueeze(1) * stride[0]
    columns = arange(w_out).unsqueeze(0) * stride[1]
    start = (rows * w_padded + columns).reshape(1, h_out * w_out)
    first_real = start + _first_real_offset((h_out, w_out), stride, padding, w_padded) if ph or pw else None
    tables = (start + depth, (depth - d).to(small), (d + 1).to(small), first_real)
    return tuple(t if t is None else t.to(device) for t in tables)


_BFLOAT16_NAN = torch.tensor(0x7FC0, dtype=torch.int16).view(torch.bfloat16)  # the NaN c10::BFloat16(float) gives


def _as(dtype: torch.dtype, mask: torch.Tensor) -> torch.Tensor:
    """A bool mask as 0/1 of ``dtype``: for uint8 a view of its bytes. (A bool times a uint8 tensor would first
    be cast into a fresh uint8 copy; that copy was one of a LeNet-5 step's 21.)"""
    if dtype == torch.uint8 and not torch.jit.is_tracing():  # torch.jit.trace has no aten::view(dtype)
        return mask.view(torch.uint8)
    return mask.to(dtype)


class MaxPool2d(Function):
    r"""a_out = max over each window of a; the input is padded with −∞ so padding never wins a value.

    Shapes (N' = N·C, K = k_h·k_w, L = H_out·W_out, P = (H + 2p_h)·(W + 2p_w)):
        a: (N, C, H, W) → (N', 1, H + 2p_h, W + 2p_w) → cols: (N', K, L) → winner of each column (N', L)
        → a_out = the padded input at the winners → (N, C, H_out, W_out)

    Which pixel wins matters for the gradient, so it is chosen as PyTorch's kernel chooses: scanning
    a window row by row from its first real pixel, taking a value when it is greater than the best
    so far or NaN. Hence ties go to the *first* maximal pixel, a NaN wins and the *last* NaN of a
    window wins, and a window whose real pixels are all −∞ is won by its first real pixel, never by
    a padding cell. The output is read at the winner, so a tie of −0 and +0 gives the first one's sign.

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
        padded, cols, (h_out, w_out) = _windows(a, kernel, stride, padding, pad_value=float("-inf"))  # (N', 1, H_p, W_p), (N', K, L)
        # The winner is the first k whose value equals the window's maximum. Not Tensor.max(dim), whose
        # indices come from a scalar loop: at LeNet-5's first pooling it took 560 µs where amax takes 30.
        # Instead, with weights D − d_k (positive and decreasing in k; see _winner_tables), the largest
        # weight among the cells equal to the maximum is D − d_first:
        #     winner = start + D − amax_k[(cols_k == max) · (D − d_k)]
        # A NaN window has no cell equal to its maximum (NaN ≠ NaN) and is mended below. Then the value is
        # read at the winner, so that ±0 and NaN come out as PyTorch's kernel gives them (amax's own choice
        # among tied zeros need not be the first). 560 → 330 µs for the forward's reduction there.
        start, weight, nan_weight, first_real = _winner_tables(h, w, kernel, stride, padding, a.device)
        maximum = cols.amax(dim=1, keepdim=True)
        first = torch.mul(_as(weight.dtype, cols == maximum), weight).amax(dim=1)  # D − d_first, (N', L)
        winner = torch.sub(start, first)  # int64: (start + D) − (D − d_first)
        if first_real is not None:  # all-−∞ windows: the first real pixel, not the padding before it
            winner = torch.where(maximum.squeeze(1) == float("-inf"), first_real, winner)
        is_nan = torch.isnan(maximum.squeeze(1))
        if not concrete(a) or bool(is_nan.any()):  # a NaN wins, and the last NaN of a window (PyTorch's kernel)
            last_nan = torch.mul(_as(weight.dtype, torch.isnan(cols)), nan_weight).amax(dim=1)  # d_last + 1
            depth = (kernel[0] - 1) * padded.shape[3] + kernel[1]  # D, as in _winner_tables
            winner = torch.where(is_nan, torch.add(start, last_nan).sub_(depth + 1), winner)  # start + d_last
        out = padded.reshape(n * c, padded.shape[2] * padded.shape[3]).gather(1, winner)
        if out.dtype == torch.bfloat16 and out.device.type == "cpu":  # the CPU kernel rounds its float maximum back
            out = torch.where(torch.isnan(out), _BFLOAT16_NAN, out)  # to bfloat16, which makes every NaN 0x7FC0
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
        _, cols, out_size = _windows(a, kernel, stride, padding, pad_value=0.0)
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
        grad_a = Col2im.call(grad_cols, (h + 2 * padding[0], w + 2 * padding[1]), kernel, stride, (1, 1))
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
