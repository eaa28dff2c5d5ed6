r"""2-D convolution as im2col + GEMM, and its backward as GEMM + col2im.

The idea: every output pixel of a convolution is a dot product between the kernel and one patch of
the input. im2col copies each patch into a column, so the whole convolution becomes one matrix
product W · cols; the backward pass is two more matrix products, and col2im adds the patch
gradients back onto the pixels they came from (patches overlap, so pixels receive several).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ._dtypes import autocast_dtype, autocast_off
from ._function import Function, shape_cache, tracing_or_transformed
from ._validation import (
    check_floating,
    check_non_negative,
    check_positive,
    check_rank,
    check_same_dtype_device,
    check_tensor,
    pair,
)

__all__ = ["conv2d", "im2col", "col2im", "Conv2d", "Im2col", "Col2im", "conv_output_size"]

# (left, right, top, bottom): the order torch.nn.functional.pad takes for the last two dims.
Padding4 = tuple[int, int, int, int]


def conv_output_size(size: int, kernel: int, stride: int, padding_total: int, dilation: int) -> int:
    """H_out = ⌊(H + pad_total − d·(k − 1) − 1) / s⌋ + 1, the size formula of torch.nn.Conv2d."""
    return (size + padding_total - dilation * (kernel - 1) - 1) // stride + 1


def _im2col(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]) -> torch.Tensor:
    r"""Copy every k_h × k_w patch of an (already padded) input into a column.

    x: (N, C, H, W) → cols: (N, C·k_h·k_w, L) with L = H_out·W_out, rows ordered (c, i, j) — the same
    order as ``weight.reshape(C_out, C·k_h·k_w)``, so the convolution is ``W @ cols``.

    The patches are first a *view* of x (no copy): ``unfold`` along H then W gives, at (n, c, p, q),
    the window of d_h·(k_h − 1) + 1 rows starting at row p·s_h (and likewise for columns), and the
    slice ``::d`` keeps its k_h × k_w dilated taps. The single copy happens in the final reshape.
    (Tensor.unfold is a plain strided view: it is not ``F.unfold``, PyTorch's im2col.)
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    h_out = conv_output_size(h, kh, sh, 0, dh)
    w_out = conv_output_size(w, kw, sw, 0, dw)
    patches = x.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)  # (N, C, H_out, W_out, reach_h, reach_w)
    if dh > 1 or dw > 1:
        patches = patches[..., ::dh, ::dw]  # (N, C, H_out, W_out, k_h, k_w)
    return patches.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, h_out * w_out)


def _col2im(
    cols: torch.Tensor,
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> torch.Tensor:
    r"""The adjoint of :func:`_im2col`: add each column entry back onto the pixel it was copied from.

    cols: (N, C·k_h·k_w, L) → (N, C, H, W) with (H, W) = ``size``. Where patches overlap, a pixel
    receives the sum of its entries, which is exactly what the chain rule asks for: a pixel used by
    several output positions collects the gradient of every one of them.

    On the CPU two ways, the same sums in the same order (so the same bits): one strided add per kernel
    offset (i, j), k_h·k_w adds each over all patches at once (:func:`_col2im_adds`); or, for narrow
    outputs, one ``scatter_add_`` of every entry onto its pixel (:func:`_col2im_scatter`). On CUDA one
    gather and one sum (:func:`_col2im_gather`); under torch.compile and torch.func transforms the adds.
    """
    if tracing_or_transformed():
        return _col2im_adds(cols, size, kernel, stride, dilation)
    if cols.device.type == "cuda":
        return _col2im_gather(cols, size, kernel, stride, dilation)
    w_out = conv_output_size(size[1], kernel[1], stride[1], 0, dilation[1])
    if w_out < SCATTER_BELOW_WIDTH and cols.device.type == "cpu":
        return _col2im_scatter(cols, size, kernel, stride, dilation)
    return _col2im_adds(cols, size, kernel, stride, dilation)


# col2im scatters rather than adds when the output is narrower than this. Each strided add runs over rows of
# W_out contiguous values; at LeNet-5's second convolution (W_out = 10) the 25 adds took 0.94 ms and one
# scatter_add_ 0.44 ms (batch 64, 6 channels, 5×5, 2 threads; medians of 40); at W_out = 14 0.63×, at 20–28
# 0.9× (one thread: 1.0–1.06×), and with a 3×3 kernel at W_out = 30 the scatter took 1.6× the adds.
SCATTER_BELOW_WIDTH = 16


def _col2im_adds(cols, size, kernel, stride, dilation) -> torch.Tensor:
    """col2im as k_h·k_w strided adds, each over all patches at once: on every device and under every transform.

    (An ``index_add_`` over a precomputed pixel index per column entry was measured 1.1–3× faster on the
    CPU, but it accumulates by atomics on CUDA, in an order that changes from run to run; these adds
    give the same bits every time, on every device.)
    """
    (h, w), (kh, kw), (sh, sw), (dh, dw) = size, kernel, stride, dilation
    h_out = conv_output_size(h, kh, sh, 0, dh)
    w_out = conv_output_size(w, kw, sw, 0, dw)
    n = cols.shape[0]
    c = cols.shape[1] // (kh * kw)
    cols = cols.reshape(n, c, kh, kw, h_out, w_out)
    x = cols.new_zeros(n, c, h, w)  # new_zeros, not torch.zeros: under vmap it is batched like cols
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (h_out - 1) + 1, sh)
            columns = slice(j * dw, j * dw + sw * (w_out - 1) + 1, sw)
            x[:, :, rows, columns].add_(cols[:, :, i, j])  # in place on the view (``x[...] += `` would copy it back)
    return x


def _col2im_scatter(cols, size, kernel, stride, dilation) -> torch.Tensor:
    """col2im as one ``scatter_add_`` of every column entry onto its pixel: CPU only.

    The CPU kernel runs each image's entries in their order (c, i, j, p, q), so every pixel collects its
    terms in the order of the strided adds, (i, j), and gets the same bits. (On CUDA scatter_add_
    accumulates by atomics, in an order that changes from run to run: there the adds are used.)
    """
    (h, w), (kh, kw) = size, kernel
    n = cols.shape[0]
    c = cols.shape[1] // (kh * kw)
    index = _pixel_index(c, h, w, kernel, stride, dilation)
    x = cols.new_zeros(n, c * h * w)
    x.scatter_add_(1, index.expand(n, -1), cols.reshape(n, index.numel()))
    return x.view(n, c, h, w)


def _col2im_gather(cols, size, kernel, stride, dilation) -> torch.Tensor:
    """col2im as one gather and one sum: for each pixel, its column entries (at most k_h·k_w, padded with a
    zero) side by side, summed along that last dimension. Used on CUDA.

    On a GPU the k_h·k_w strided adds are k_h·k_w kernel launches, each with its Python slicing, and at
    LeNet-5's sizes the launches, not the arithmetic, are the time (H200, batch 64, the second convolution's
    ∂x: col2im 0.39 ms against F.fold's 0.035). The pad, the gather and the sum are five kernels (a fill and a copy for the pad), and no atomics: a
    reduction gives the same bits on every run (``index_add_``/``scatter_add_`` accumulate by atomics on
    CUDA, in an order that changes from run to run). The sum's order is the reduction kernel's, so the bits
    can differ from the adds' in the last place; what it costs is a (N, C·H·W, T) temporary, T ≤ k_h·k_w.
    """
    (h, w), (kh, kw) = size, kernel
    n = cols.shape[0]
    c = cols.shape[1] // (kh * kw)
    entries = _pixel_entries(c, h, w, kernel, stride, dilation, cols.device)  # (C·H·W, T)
    padded = F.pad(cols.reshape(n, cols.shape[1] * cols.shape[2]), (0, 1))  # entry C·K·L is the zero that pads a pixel's list
    return padded.index_select(1, entries.view(-1)).view(n, c, h, w, entries.shape[1]).sum(-1)


@shape_cache
def _pixel_entries(c: int, h: int, w: int, kernel, stride, dilation, device: torch.device) -> torch.Tensor:
    """For each pixel of the flattened (C, H, W) image, the flat indices of the column entries copied from it,
    in their (i, j) order, padded with the index one past the last entry: (C·H·W, T), T the most any pixel has."""
    pixel = _pixel_index(c, h, w, kernel, stride, dilation)  # entry → pixel
    order = torch.sort(pixel, stable=True).indices  # entries grouped by pixel, each group in entry order
    counts = torch.bincount(pixel, minlength=c * h * w)
    width = int(counts.max()) if counts.numel() else 0
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(pixel.numel(), device="cpu") - starts[pixel[order]]  # place of each entry in its pixel's list
    table = torch.full((c * h * w, max(width, 1)), pixel.numel(), dtype=torch.int64, device="cpu")
    table[pixel[order], rank] = order
    return table.to(device)


@shape_cache
def _pixel_index(c: int, h: int, w: int, kernel, stride, dilation) -> torch.Tensor:
    """For each entry (c, i, j, p, q) of a column matrix, the index of its pixel in the flattened (C, H, W) image
    (a CPU tensor)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    h_out = conv_output_size(h, kh, sh, 0, dh)
    w_out = conv_output_size(w, kw, sw, 0, dw)
    arange = functools.partial(torch.arange, device="cpu")
    channel = (arange(c) * (h * w)).view(c, 1, 1, 1, 1)
    row = (arange(kh) * dh).view(1, kh, 1, 1, 1) + (arange(h_out) * sh).view(1, 1, 1, h_out, 1)
    column = (arange(kw) * dw).view(1, 1, kw, 1, 1) + (arange(w_out) * sw).view(1, 1, 1, 1, w_out)
    return (channel + row * w + column).reshape(-1)


class Im2col(Function):
    r"""cols = im2col(x) as a differentiable op; its backward is its adjoint, col2im.

    Both are linear maps and each is the other's transpose, so ∂C/∂x = col2im(∂C/∂cols) and, the
    other way round, ∂C/∂cols = im2col(∂C/∂x): derivatives of any order stay hand-written.
    Shapes as :func:`_im2col`.
    """

    @staticmethod
    def forward(x, kernel, stride, dilation):
        return _im2col(x, kernel, stride, dilation)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, kernel, stride, dilation = inputs
        ctx.size, ctx.conf = tuple(x.shape[2:]), (kernel, stride, dilation)

    @staticmethod
    def backward(ctx, grad_output):
        return Col2im.call(grad_output, ctx.size, *ctx.conf), None, None, None


class Col2im(Function):
    r"""x = col2im(cols) as a differentiable op; its backward is its adjoint, im2col. Shapes as :func:`_col2im`."""

    @staticmethod
    def forward(cols, size, kernel, stride, dilation):
        return _col2im(cols, size, kernel, stride, dilation)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, size, kernel, stride, dilation = inputs
        ctx.conf = kernel, stride, dilation

    @staticmethod
    def backward(ctx, grad_output):
        return Im2col.call(grad_output, *ctx.conf), None, None, None, None


def _window_args(kernel, stride, dilation) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """kernel, stride and dilation of the public im2col/col2im, each an int or a pair (as F.unfold takes them), positive."""
    kernel_, stride_, dilation_ = pair("kernel", kernel), pair("stride", stride), pair("dilation", dilation)
    for name, value in (("kernel", kernel_), ("stride", stride_), ("dilation", dilation_)):
        check_positive(name, value)
    return kernel_, stride_, dilation_


def _check_reach(kernel, dilation, size, what: str) -> None:
    """At least one window: the dilated kernel fits in the (H, W) = ``size`` that ``what`` names."""
    reach = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    if reach[0] > size[0] or reach[1] > size[1]:
        raise ValueError(f"kernel {kernel} with dilation {dilation} spans {reach} pixels, larger than {what}")


def im2col(
    x: torch.Tensor, kernel: int | Sequence[int], stride: int | Sequence[int], dilation: int | Sequence[int]
) -> torch.Tensor:
    r"""Every k_h × k_w patch of x (N, C, H, W), dilated and strided, as a column: → (N, C·k_h·k_w, L).

    ``kernel``, ``stride``, ``dilation``: an int or a pair each, as ``torch.nn.functional.unfold`` takes them.
    Differentiable, with col2im as its hand-written backward (:class:`Im2col`). No padding: pad first.
    """
    check_tensor("x", x)
    check_rank("x", x, (4,), "(N, C, H, W)")
    kernel_, stride_, dilation_ = _window_args(kernel, stride, dilation)
    _check_reach(kernel_, dilation_, tuple(x.shape[2:]), f"the image, (H, W) = {tuple(x.shape[2:])} (x has shape {tuple(x.shape)})")
    return Im2col.call(x, kernel_, stride_, dilation_)


def col2im(
    cols: torch.Tensor,
    size: int | Sequence[int],
    kernel: int | Sequence[int],
    stride: int | Sequence[int],
    dilation: int | Sequence[int],
) -> torch.Tensor:
    r"""The adjoint of :func:`im2col`: sum each column entry onto its pixel, (N, C·k_h·k_w, L) → (N, C, H, W).

    ``size`` = (H, W); ``size``, ``kernel``, ``stride``, ``dilation``: an int or a pair each, as
    ``torch.nn.functional.fold`` takes them. Differentiable, with im2col as its hand-written backward (:class:`Col2im`).
    """
    check_tensor("cols", cols)
    check_rank("cols", cols, (3,), "(N, C·k_h·k_w, L)")
    size_ = pair("size", size)
    check_positive("size", size_)
    kernel_, stride_, dilation_ = _window_args(kernel, stride, dilation)
    _check_reach(kernel_, dilation_, size_, f"size {size_}")
    k = kernel_[0] * kernel_[1]
    if cols.shape[1] % k:
        raise ValueError(
            f"cols has {cols.shape[1]} rows (shape {tuple(cols.shape)}), which is not a multiple of "
            f"k_h·k_w = {k} for kernel {kernel_}"
        )
    windows = [conv_output_size(size_[i], kernel_[i], stride_[i], 0, dilation_[i]) for i in (0, 1)]
    if cols.shape[2] != windows[0] * windows[1]:
        raise ValueError(
            f"cols has L = {cols.shape[2]} columns (shape {tuple(cols.shape)}), but size {size_} with kernel {kernel_}, "
            f"stride {stride_} and dilation {dilation_} has {windows[0]} × {windows[1]} = {windows[0] * windows[1]} windows"
        )
    return Col2im.call(cols, size_, kernel_, stride_, dilation_)


def pad2d(x: torch.Tensor, padding: Padding4, value: float = 0.0) -> torch.Tensor:
    return x if not any(padding) else F.pad(x, padding, value=value)


def unpad2d(x: torch.Tensor, padding: Padding4) -> torch.Tensor:
    left, right, top, bottom = padding
    return x[..., top : x.shape[-2] - bottom, left : x.shape[-1] - right]


class Conv2d(Function):
    r"""z = W ⋆ a + b by im2col + GEMM, for g groups.

    Shapes (K = C_in/g · k_h · k_w, L = H_out · W_out):
        a: (N, C_in, H, W)  --pad, im2col-->  cols: (N, g, K, L)
        W: (C_out, C_in/g, k_h, k_w)  -->  (g, C_out/g, K)
        z = W @ cols: (N, g, C_out/g, L)  -->  (N, C_out, H_out, W_out),  plus b: (C_out,) per channel

    Backward: grad_output is δ = ∂C/∂z (z is this op's output), reshaped to (N, g, C_out/g, L).
    The convolution is a linear layer applied at every position, so Nielsen's equations hold with
    the columns in the role of the layer's input:
        ∂C/∂W    = Σ_n δ_n colsᵀ_n    GEMMs against the columns, summed over the batch  (BP4)  → (C_out, C_in/g, k_h, k_w)
        ∂C/∂b    = Σ_{n, p, q} δ      a reduction                                       (BP3)  → (C_out,)
        ∂C/∂cols = Wᵀ δ               a GEMM                                            (BP2's wᵀδ) → (N, g, K, L)
        ∂C/∂a    = col2im(∂C/∂cols), with the padding cropped off                              → (N, C_in, H, W)

    Saved: the input a and W (as the twin does: autograd's version counters then catch an in-place
    change of either before the backward), and the columns, returned as a second, non-differentiable
    output, so that the backward needs no second im2col (time bought with the columns' memory).
    When the backward is itself differentiated (``create_graph=True``: gradient penalties,
    Hessian–vector products), the saved columns would be constants and ∂(∂C/∂W)/∂a would be lost;
    the backward then rebuilds them from a with :func:`im2col`, whose own backward is col2im, so
    every term of the second derivative is there.
    """

    @staticmethod
    def forward(a, weight, bias, stride, padding, dilation, groups):
        n, _, h, w = a.shape
        c_out, c_in_g, kh, kw = weight.shape
        cols = _im2col(pad2d(a, padding), (kh, kw), stride, dilation)
        h_out = conv_output_size(h, kh, stride[0], padding[2] + padding[3], dilation[0])
        w_out = conv_output_size(w, kw, stride[1], padding[0] + padding[1], dilation[1])
        cols = cols.view(n, groups, c_in_g * kh * kw, h_out * w_out)
        z = torch.matmul(weight.reshape(groups, c_out // groups, c_in_g * kh * kw), cols)
        z = z.reshape(n, c_out, h_out, w_out)
        if bias is not None:
            if torch._C._are_functorch_transforms_active():  # under vmap a batched bias cannot be added into an unbatched z
                z = z + bias.view(1, c_out, 1, 1)
            else:  # into the fresh product, in place: one fresh tensor less (1.2 MB at LeNet-5's first convolution)
                z.add_(bias.view(1, c_out, 1, 1))
        return z, cols

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, weight, bias, stride, padding, dilation, groups = inputs
        _, cols = output
        ctx.mark_non_differentiable(cols)
        ctx.set_materialize_grads(False)  # else every backward first fills a zero ∂C/∂cols as large as the columns
        ctx.save_for_backward(a, weight, cols)
        ctx.has_bias = bias is not None
        ctx.padded_size = (a.shape[2] + padding[2] + padding[3], a.shape[3] + padding[0] + padding[1])
        ctx.conf = stride, padding, dilation, groups

    @staticmethod
    def backward(ctx, delta, _grad_cols):  # grad_output = δ = ∂C/∂z
        if delta is None:  # no gradient reached the output (grads are not materialised: see setup_context)
            return None, None, None, None, None, None, None
        a, weight, cols = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        c_out, c_in_g, kh, kw = weight.shape
        n, k, positions = delta.shape[0], c_in_g * kh * kw, delta.shape[2] * delta.shape[3]
        delta_g = delta.reshape(n, groups, c_out // groups, positions)
        grad_a = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            w_g = weight.reshape(groups, c_out // groups, k)
            grad_cols = torch.matmul(w_g.transpose(1, 2), delta_g)  # (N, g, K, L)
            grad_a_padded = Col2im.call(grad_cols.reshape(n, groups * k, positions), ctx.padded_size, (kh, kw), stride, dilation)
            grad_a = unpad2d(grad_a_padded, padding)
        if ctx.needs_input_grad[1]:
            if torch.is_grad_enabled():  # create_graph: the columns as a function of a (see the docstring)
                cols = Im2col.call(pad2d(a, padding), (kh, kw), stride, dilation).view(cols.shape)
            # Σ_n δ_n colsᵀ_n as N small GEMMs then a sum: measured 3–4× faster on CPU than one einsum,
            # which must first copy δ and the columns into (g, ·, N·L) layouts.
            grad_w = torch.matmul(delta_g, cols.transpose(-1, -2)).sum(0).reshape(weight.shape)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = delta.sum((0, 2, 3))
        return grad_a, grad_w, grad_b, None, None, None, None


def _conv_padding(
    padding: str | int | Sequence[int], kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]
) -> Padding4:
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"padding='same' needs stride 1 (as in torch.nn.functional.conv2d), got stride {stride}")
            # Total padding d·(k−1) per dimension; an odd total puts the extra row/column at the end, as PyTorch does.
            th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
            return tw // 2, tw - tw // 2, th // 2, th - th // 2
        raise ValueError(f"padding must be an int, a pair of ints, 'valid' or 'same', got {padding!r}")
    ph, pw = pair("padding", padding)
    check_non_negative("padding", (ph, pw))
    return pw, pw, ph, ph


def conv2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: str | int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> torch.Tensor:
    r"""2-D convolution (cross-correlation, as in every deep-learning library), the twin of
    ``torch.nn.functional.conv2d``, computed by im2col + GEMM (see :class:`Conv2d`).

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_out, C_in / groups, k_h, k_w).
        bias: (C_out,) or None.
        stride, dilation: int or (h, w), positive.
        padding: int or (h, w), non-negative (zeros are added on both sides), or 'valid' / 'same'.
        groups: splits C_in and C_out into ``groups`` independent convolutions.

    Shape:
        H_out = ⌊(H + 2·p_h − d_h·(k_h − 1) − 1) / s_h⌋ + 1, and likewise W_out;
        (N, C_in, H, W) → (N, C_out, H_out, W_out), or (C_in, H, W) → (C_out, H_out, W_out).
        A batch of N = 0 gives an empty result and empty gradients, as in PyTorch.

    Under autocast the GEMMs run in autocast's dtype (bfloat16 on the CPU), as F.conv2d's do.
    """
    check_floating("input", input)
    check_floating("weight", weight)
    low = autocast_dtype(input, lower=True)
    if low is not None:
        input, weight = input.to(low), weight.to(low)
        bias = bias.to(low) if isinstance(bias, torch.Tensor) and bias.is_floating_point() else bias
    check_rank("input", input, (3, 4), "(N, C_in, H, W) or unbatched (C_in, H, W)")
    check_rank("weight", weight, (4,), "(C_out, C_in / groups, k_h, k_w)")
    check_same_dtype_device("weight", weight, "input", input)
    # numbers.Integral: numpy's ints too (np.int64(2)), as for stride and padding and as F.conv2d takes them
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral):
        raise TypeError(f"groups must be a positive int, got {groups!r}")
    if groups <= 0:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    groups = int(groups)
    stride_, dilation_ = pair("stride", stride), pair("dilation", dilation)
    check_positive("stride", stride_)
    check_positive("dilation", dilation_)
    c_out, c_in_g, kh, kw = weight.shape
    if min(c_out, c_in_g, kh, kw) == 0:
        raise ValueError(f"weight must have no empty dimension, got shape {tuple(weight.shape)}")
    padding_ = _conv_padding(padding, (kh, kw), stride_, dilation_)

    batched = input.dim() == 4
    a = input if batched else input.unsqueeze(0)
    c_in = a.shape[1]
    if c_in != c_in_g * groups:
        raise ValueError(
            f"input has {c_in} channels (shape {tuple(input.shape)}) but weight {tuple(weight.shape)} with "
            f"groups={groups} expects C_in = {c_in_g} × {groups} = {c_in_g * groups}"
        )
    if c_out % groups:
        raise ValueError(f"weight has C_out = {c_out} output channels, which is not divisible by groups={groups}")
    if bias is not None:
        check_floating("bias", bias)
        check_same_dtype_device("bias", bias, "input", input)
        if bias.shape != (c_out,):
            raise ValueError(f"bias must have shape ({c_out},) to match weight {tuple(weight.shape)}, got {tuple(bias.shape)}")
    padded = (a.shape[2] + padding_[2] + padding_[3], a.shape[3] + padding_[0] + padding_[1])
    reach = (dilation_[0] * (kh - 1) + 1, dilation_[1] * (kw - 1) + 1)
    if reach[0] > padded[0] or reach[1] > padded[1]:
        raise ValueError(
            f"kernel ({kh}, {kw}) with dilation {dilation_} spans {reach} pixels, larger than the padded input "
            f"{padded} (input {tuple(input.shape)}, padding {padding!r})"
        )
    with autocast_off(input):
        z, _ = Conv2d.call(a, weight, bias, stride_, padding_, dilation_, groups)
    return z if batched else z.squeeze(0)
