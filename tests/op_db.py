"""The op table: each hand-written op, its built-in twin, its samples, its capabilities and its errors.

In the spirit of PyTorch's OpInfo: an op is one ``OpInfo`` entry, and the generic tests in
test_functional.py and test_bad_input.py run every check over every entry, reading the entry's
capability flags — never its name. Adding an op is adding an entry.

A sample is named (test ids read ``conv2d-stride2-padding1-dilation2``); its tensors are made in
float64 on the CPU and cast/moved by the tests. ``kind`` says which checks it is for:
- ``regular``: finite values, non-empty — every check, gradcheck and gradgradcheck included;
- ``special``: ±inf, NaN, ties, extreme magnitudes — compared with the twin in value and gradient
  (NaN equal to NaN), not by finite differences, which have no meaning there;
- ``empty``: a zero-size dimension — forward and backward must give PyTorch's empty results.
A sample may carry its own upstream gradient (inf/NaN arriving from above).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

import refnets.functional as RF
from refnets.functional import activations, conv, losses, pooling
from refnets.functional.linear import Linear as LinearFunction
from refnets.nn.layers import BuiltinStep
from refnets.nn.losses import builtin_binary_cross_entropy, builtin_quadratic_loss

INF, NAN = float("inf"), float("nan")
LOW_PRECISION = (torch.float16, torch.bfloat16)
ALL_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


def _t(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def _v(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


@dataclass
class Sample:
    name: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    kind: str = "regular"  # regular | special | empty
    grad_output: Callable[[torch.Tensor], torch.Tensor] | None = None  # upstream gradient from the output


@dataclass
class ErrorInput:
    name: str
    call: Callable[[], object]
    error: type[Exception]
    match: str


@dataclass
class OpInfo:
    name: str
    op: Callable
    builtin: Callable
    function: type  # the autograd.Function the op must build its result with
    samples: Callable[[], list[Sample]]
    # aten ops the custom path must never dispatch (the built-in it reimplements, forward and backward)
    forbidden_aten: tuple[str, ...] = ()
    error_inputs: Callable[[], list[ErrorInput]] = list
    differentiable: bool = True  # False: the gradient is zero by definition (the step)
    supports_gradgrad: bool = True
    supports_vmap: bool = True
    supports_compile: bool = True
    dtypes: tuple[torch.dtype, ...] = ALL_DTYPES
    # positions of args that must not get a gradient (integer targets, say)
    no_grad_args: tuple[int, ...] = ()
    # positions of args the backward reads: modifying one in place before the backward must raise
    saved_args: tuple[int, ...] = ()
    saves_output: bool = False  # the backward reads the output (activations): same check on it
    # False where the built-in decomposes before dispatch, so the aten recorder cannot see it
    # (F.linear → addmm); the op's own guard test covers it instead
    recorder_sees_builtin: bool = True


# ---------------------------------------------------------------- samples


def _elementwise_samples() -> list[Sample]:
    special = _v(-INF, INF, NAN, 0.0, -0.0, 1e4, -1e4, 30.0, -30.0, 1e-40, 0.5)
    return [
        Sample("1d", (_t(7),)),
        Sample("2d", (_t(3, 4),)),
        Sample("4d", (_t(2, 3, 4, 5),)),
        Sample("noncontiguous", (_t(5, 4).t(),)),
        Sample("inf-nan-extremes", (special,), kind="special"),
        Sample("inf-upstream", (_v(-2.0, -1.0, 0.0, 1.0, 2.0),), kind="special",
               grad_output=lambda out: torch.full_like(out, INF)),
        Sample("nan-upstream", (_v(-2.0, 0.0, 2.0),), kind="special", grad_output=lambda out: torch.full_like(out, NAN)),
        Sample("empty", (_t(0, 3),), kind="empty"),
    ]


def _linear_samples() -> list[Sample]:
    x_nan = _t(4, 5)
    x_nan[1, 2] = NAN
    return [
        Sample("1d", (_t(5), _t(3, 5), _t(3))),
        Sample("2d", (_t(4, 5), _t(3, 5), _t(3))),
        Sample("3d-nobias", (_t(2, 4, 5), _t(3, 5), None)),
        Sample("batch1-feature1", (_t(1, 1), _t(1, 1), _t(1))),
        Sample("noncontiguous", (_t(5, 4).t(), _t(5, 3).t(), _t(3))),
        Sample("nan-input", (x_nan, _t(3, 5), _t(3)), kind="special"),
        Sample("batch0", (_t(0, 5), _t(3, 5), _t(3)), kind="empty"),
        Sample("features0", (_t(4, 0), _t(3, 0), _t(3)), kind="empty"),
    ]


def _conv_samples() -> list[Sample]:
    samples = []
    # A grid over stride 1–3, padding 0–2, dilation 1–2; kernels/inputs non-square in half of it.
    for stride, padding, dilation in itertools.product((1, 2, 3), (0, 1, 2), (1, 2)):
        square = (stride + padding + dilation) % 2 == 0
        kernel = (3, 3) if square else (3, 2)
        size = (7, 7) if square else (7, 8)
        samples.append(Sample(
            f"stride{stride}-padding{padding}-dilation{dilation}" + ("" if square else "-nonsquare"),
            (_t(2, 3, *size), _t(4, 3, *kernel), _t(4)), dict(stride=stride, padding=padding, dilation=dilation)))
    x_special = _t(2, 3, 6, 6)
    x_special[0, 1, 2, 3], x_special[1, 0, 4, 4] = NAN, INF
    samples += [
        Sample("batch1-channel1-nobias", (_t(1, 1, 5, 5), _t(1, 1, 3, 3), None)),
        Sample("groups2-padding1", (_t(2, 4, 6, 5), _t(6, 2, 3, 3), _t(6)), dict(groups=2, padding=1)),
        Sample("depthwise-tuple-args-nobias", (_t(2, 4, 6, 6), _t(4, 1, 2, 3), None), dict(groups=4, stride=(2, 1), padding=(1, 0))),
        Sample("unbatched", (_t(3, 5, 6), _t(2, 3, 3, 3), _t(2)), dict(padding=1)),
        Sample("same-even-kernel-dilation12", (_t(2, 2, 6, 7), _t(3, 2, 4, 3), _t(3)), dict(padding="same", dilation=(1, 2))),
        Sample("valid-kernel-is-input", (_t(2, 2, 5, 5), _t(3, 2, 5, 5), _t(3)), dict(padding="valid")),
        Sample("noncontiguous-channels-last", (_t(2, 6, 6, 3).permute(0, 3, 1, 2), _t(4, 3, 3, 3), _t(4)), dict(padding=1)),
        Sample("nan-and-inf-pixels", (x_special, _t(4, 3, 3, 3), _t(4)), dict(padding=1), kind="special"),
        Sample("batch0", (_t(0, 3, 6, 6), _t(4, 3, 3, 3), _t(4)), dict(padding=1), kind="empty"),
    ]
    return samples


def _pool_samples() -> list[Sample]:
    ties = torch.randint(0, 3, (2, 3, 6, 6)).double()  # many equal values per window
    nan_ties = _t(1, 2, 4, 4)
    nan_ties[0, 0, 0, 0] = nan_ties[0, 0, 1, 1] = nan_ties[0, 1, 2, 3] = NAN  # two NaNs in one window, one in another
    all_neg_inf = torch.full((1, 2, 4, 5), -INF, dtype=torch.float64)
    all_neg_inf[0, 1, 2:, 3:] = _t(2, 2)
    inf = _t(2, 2, 5, 5)
    inf[0, 0, 1, 1], inf[1, 1, 3, 2] = INF, -INF
    zeros = torch.zeros(1, 2, 2, 4, dtype=torch.float64)
    zeros[0, 0, 0, 0] = zeros[0, 1, 1, 3] = -0.0  # a window whose first zero is −0, and one whose last is
    # a window reaching more than 255 pixels past its start (the winners' weights no longer fit a byte), ties and a NaN
    wide = torch.randint(0, 3, (1, 2, 3, 300)).double()
    wide[0, 1, 1, 7] = NAN
    return [
        Sample("kernel2", (_t(2, 3, 6, 6), 2)),
        Sample("kernel3-stride2-padding1", (_t(2, 3, 7, 7), 3), dict(stride=2, padding=1)),
        Sample("nonsquare-stride12-padding10", (_t(1, 2, 7, 8), (3, 2)), dict(stride=(1, 2), padding=(1, 0))),
        Sample("overlapping-stride1", (_t(2, 1, 5, 6), 2), dict(stride=1)),
        Sample("unbatched", (_t(3, 6, 6), 2)),
        Sample("kernel-is-input-padding2", (_t(2, 2, 5, 5), 5), dict(padding=2)),
        Sample("noncontiguous", (_t(2, 6, 6, 3).permute(0, 3, 1, 2), 2)),
        Sample("ties-overlapping-padding1", (ties, 3), dict(stride=1, padding=1), kind="special"),
        Sample("nan-ties", (nan_ties, 2), kind="special"),
        Sample("all-neg-inf-windows-padding1", (all_neg_inf, 2), dict(stride=1, padding=1), kind="special"),
        Sample("pm-inf", (inf, 3), dict(stride=2, padding=1), kind="special"),
        Sample("signed-zero-ties", (zeros, 2), kind="special"),
        Sample("wide-ties-nan", (wide, (2, 3)), dict(stride=1, padding=(1, 0)), kind="special"),
        Sample("batch0", (_t(0, 3, 6, 6), 2), kind="empty"),
    ]


def _ce_samples() -> list[Sample]:
    neg_inf = _t(3, 4)
    neg_inf[0, 2] = neg_inf[1, 0] = neg_inf[2, 3] = -INF  # never the target below
    plus_inf = _t(2, 3)
    plus_inf[1, 1] = INF
    return [
        Sample("indices", (_t(6, 4), torch.randint(0, 4, (6,)))),
        Sample("batch1", (_t(1, 3), torch.tensor([2]))),
        Sample("unbatched", (_t(5), torch.tensor(3))),
        Sample("probabilities", (_t(4, 3), torch.softmax(_t(4, 3), 1))),
        Sample("uint8-indices", (_t(4, 3), torch.tensor([0, 2, 1, 2], dtype=torch.uint8))),
        Sample("neg-inf-nontarget-logits", (neg_inf, torch.tensor([1, 2, 0])), kind="special"),
        Sample("plus-inf-logit", (plus_inf, torch.tensor([0, 2])), kind="special"),
        Sample("logits-1e4", (_t(5, 4) * 1e4, torch.randint(0, 4, (5,))), kind="special"),
        Sample("batch0", (_t(0, 4), torch.zeros(0, dtype=torch.long)), kind="empty"),
    ]


def _quadratic_samples() -> list[Sample]:
    return [
        Sample("indices", (torch.rand(6, 4, dtype=torch.float64), torch.randint(0, 4, (6,)))),
        Sample("float-2d", (_t(5, 3), _t(5, 3))),
        Sample("float-3d", (_t(3, 2, 2), _t(3, 2, 2))),
        Sample("inf-nan", (_v(INF, 1.0, NAN).reshape(1, 3), _v(0.0, 1.0, 0.0).reshape(1, 3)), kind="special"),
        Sample("batch0", (_t(0, 3), _t(0, 3)), kind="empty"),
    ]


def _bce_samples() -> list[Sample]:
    return [
        Sample("indices", (torch.rand(6, 4, dtype=torch.float64) * 0.98 + 0.01, torch.randint(0, 4, (6,)))),
        Sample("soft-targets", (torch.rand(5, 3, dtype=torch.float64) * 0.98 + 0.01, torch.rand(5, 3, dtype=torch.float64))),
        # a = 0 and a = 1 exactly: logs clamped at −100 and the gradient's denominator at 1e−12, as PyTorch's
        Sample("saturated-0-and-1", (_v(0.0, 1.0, 0.0, 1.0, 0.5).reshape(1, 5), _v(0.0, 1.0, 1.0, 0.0, 1.0).reshape(1, 5)), kind="special"),
        Sample("batch0", (torch.rand(0, 3, dtype=torch.float64), torch.rand(0, 3, dtype=torch.float64)), kind="empty"),
    ]


# ---------------------------------------------------------------- error inputs


def x4(*shape):
    return torch.randn(*shape)


def _activation_errors(op) -> Callable[[], list[ErrorInput]]:
    return lambda: [
        ErrorInput("int-input", lambda: op(torch.arange(3)), TypeError, r"input must be a floating-point tensor, got dtype torch.int64"),
        ErrorInput("not-a-tensor", lambda: op(3.0), TypeError, r"input must be a torch.Tensor, got float"),
    ]


def _linear_errors() -> list[ErrorInput]:
    return [
        ErrorInput("features", lambda: RF.linear(x4(4, 5), x4(3, 6)), ValueError, r"input has 5 features.*in_features = 6"),
        ErrorInput("weight-rank", lambda: RF.linear(x4(4, 5), x4(5)), ValueError, r"weight must be 2-D"),
        ErrorInput("bias-shape", lambda: RF.linear(x4(4, 5), x4(3, 5), x4(4)), ValueError, r"bias must have shape \(3,\)"),
        ErrorInput("scalar-input", lambda: RF.linear(torch.tensor(1.0), x4(3, 1)), ValueError, r"at least 1 dimension"),
        ErrorInput("dtype", lambda: RF.linear(x4(4, 5), x4(3, 5).double()), TypeError, r"weight has dtype torch.float64 but input has dtype torch.float32"),
        ErrorInput("device", lambda: RF.linear(x4(1, 3), torch.empty(2, 3, device="meta")), ValueError, r"weight is on meta but input is on cpu"),
    ]


def _conv_errors() -> list[ErrorInput]:
    c = RF.conv2d
    return [
        ErrorInput("input-rank", lambda: c(x4(3, 5), x4(2, 3, 3, 3)), ValueError, r"input must be 3-D or 4-D.*got shape \(3, 5\)"),
        ErrorInput("weight-rank", lambda: c(x4(1, 3, 5, 5), x4(2, 3, 3)), ValueError, r"weight must be 4-D.*\(2, 3, 3\)"),
        ErrorInput("channels", lambda: c(x4(1, 4, 5, 5), x4(2, 3, 3, 3)), ValueError, r"input has 4 channels.*C_in = 3"),
        ErrorInput("groups-cout", lambda: c(x4(1, 4, 5, 5), x4(3, 2, 3, 3), groups=2), ValueError, r"C_out = 3.*not divisible by groups=2"),
        ErrorInput("groups-channels", lambda: c(x4(1, 5, 5, 5), x4(4, 2, 3, 3), groups=2), ValueError, r"input has 5 channels.*groups=2"),
        ErrorInput("groups-zero", lambda: c(x4(1, 3, 5, 5), x4(2, 3, 3, 3), groups=0), ValueError, r"groups must be a positive int, got 0"),
        ErrorInput("groups-float", lambda: c(x4(1, 3, 5, 5), x4(2, 3, 3, 3), groups=1.0), TypeError, r"groups must be a positive int, got 1.0"),
        ErrorInput("groups-bool", lambda: c(x4(1, 3, 5, 5), x4(2, 3, 3, 3), groups=True), TypeError, r"groups must be a positive int, got True"),
        ErrorInput("kernel-too-big", lambda: c(x4(1, 3, 4, 4), x4(2, 3, 5, 5)), ValueError, r"kernel \(5, 5\).*larger than the padded input \(4, 4\)"),
        ErrorInput("dilated-too-big", lambda: c(x4(1, 3, 5, 5), x4(2, 3, 3, 3), dilation=3), ValueError, r"spans \(7, 7\)"),
        ErrorInput("stride-0", lambda: c(x4(1, 3, 5, 5), x4(2, 3, 3, 3), stride=0), ValueError, r"stride must be positive, got \(0, 0\)"),
        ErrorInput("dilation-negative", lambda: c(x4(1, 3, 5, 5), x4(2, 3, 3, 3), dilation=(1, -1)), ValueError, r"dilation must be positive"),
        ErrorInput("padding-negative", lambda: c(x4(1, 3, 5, 5), x4(2, 3, 3, 3), padding=-1), ValueError, r"padding must be non-negative, got \(-1, -1\)"),
        ErrorInput("padding-word", lambda: c(x4(1, 3, 5, 5), x4(2, 3, 3, 3), padding="full"), ValueError, r"padding must be .*'same'.*got 'full'"),
        ErrorInput("same-with-stride", lambda: c(x4(1, 3, 5, 5), x4(2, 3, 3, 3), padding="same", stride=2), ValueError, r"padding='same' needs stride 1"),
        ErrorInput("stride-float", lambda: c(x4(1, 3, 5, 5), x4(2, 3, 3, 3), stride=1.5), TypeError, r"stride must be an int or a pair of ints, got 1.5"),
        ErrorInput("dtype", lambda: c(x4(1, 3, 5, 5), x4(2, 3, 3, 3).double()), TypeError, r"weight has dtype torch.float64 but input has dtype torch.float32"),
        ErrorInput("int-input", lambda: c(torch.ones(1, 3, 5, 5, dtype=torch.long), x4(2, 3, 3, 3)), TypeError, r"input must be a floating-point tensor, got dtype torch.int64"),
        ErrorInput("bias-shape", lambda: c(x4(1, 3, 5, 5), x4(2, 3, 3, 3), x4(3)), ValueError, r"bias must have shape \(2,\).*got \(3,\)"),
        ErrorInput("not-a-tensor", lambda: c([[1.0]], x4(2, 3, 3, 3)), TypeError, r"input must be a torch.Tensor, got list"),
        ErrorInput("device", lambda: c(x4(1, 3, 5, 5), torch.empty(2, 3, 3, 3, device="meta")), ValueError, r"weight is on meta but input is on cpu"),
    ]


def _pool_errors(op) -> Callable[[], list[ErrorInput]]:
    return lambda: [
        ErrorInput("rank", lambda: op(x4(5, 5), 2), ValueError, r"input must be 3-D or 4-D.*got shape \(5, 5\)"),
        ErrorInput("kernel-0", lambda: op(x4(1, 1, 5, 5), 0), ValueError, r"kernel_size must be positive, got \(0, 0\)"),
        ErrorInput("stride-0", lambda: op(x4(1, 1, 5, 5), 2, stride=0), ValueError, r"stride must be positive"),
        ErrorInput("padding-over-half", lambda: op(x4(1, 1, 5, 5), 2, padding=2), ValueError, r"padding \(2, 2\) must be at most half of kernel_size \(2, 2\)"),
        ErrorInput("padding-negative", lambda: op(x4(1, 1, 5, 5), 2, padding=-1), ValueError, r"padding must be non-negative"),
        ErrorInput("kernel-too-big", lambda: op(x4(1, 1, 3, 3), 4), ValueError, r"kernel_size \(4, 4\) is larger than the padded input \(3, 3\)"),
    ]


def _ce_errors() -> list[ErrorInput]:
    ce = RF.cross_entropy
    return [
        ErrorInput("target-range", lambda: ce(x4(3, 4), torch.tensor([0, 4, 1])), ValueError, r"target has class indices in \[0, 4\], expected values in \[0, 3\]"),
        ErrorInput("negative-target", lambda: ce(x4(3, 4), torch.tensor([0, -1, 1])), ValueError, r"class indices in \[-1, 1\]"),
        ErrorInput("target-shape", lambda: ce(x4(3, 4), torch.tensor([0, 1])), ValueError, r"must have shape \(3,\).*got \(2,\)"),
        ErrorInput("probability-shape", lambda: ce(x4(3, 4), torch.rand(3, 5)), ValueError, r"must have the output's shape \(3, 4\), got \(3, 5\)"),
        ErrorInput("rank", lambda: ce(x4(2, 3, 4), torch.zeros(2, dtype=torch.long)), ValueError, r"input must be 1-D or 2-D logits"),
        ErrorInput("bool-target", lambda: ce(x4(3, 4), torch.ones(3, dtype=torch.bool)), TypeError, r"target must be integer class indices or a float tensor"),
        # PyTorch refuses int32 class indices too ("expected target dtype to be Long or Byte")
        ErrorInput("int32-target", lambda: ce(x4(3, 4), torch.tensor([0, 1, 2], dtype=torch.int32)), TypeError, r"target must hold class indices as int64.*got dtype torch.int32"),
        ErrorInput("device", lambda: ce(x4(2, 3), torch.empty(2, dtype=torch.long, device="meta")), ValueError, r"target is on meta but input is on cpu"),
    ]


def _quadratic_errors() -> list[ErrorInput]:
    q = RF.quadratic_loss
    return [
        ErrorInput("target-range", lambda: q(torch.rand(2, 3), torch.tensor([3, 0])), ValueError, r"class indices in \[0, 3\], expected values in \[0, 2\]"),
        ErrorInput("target-shape", lambda: q(torch.rand(2, 3), torch.rand(2, 4)), ValueError, r"output's shape \(2, 3\), got \(2, 4\)"),
        ErrorInput("index-targets-rank", lambda: q(torch.rand(2, 3, 1), torch.tensor([1, 0])), ValueError, r"with class-index targets, input must be \(N, C\)"),
        ErrorInput("target-not-a-tensor", lambda: q(torch.rand(2, 3), [1, 0]), TypeError, r"target must be a torch.Tensor, got list"),
    ]


def _bce_errors() -> list[ErrorInput]:
    b = RF.binary_cross_entropy
    return [
        ErrorInput("input-out-of-range", lambda: b(torch.tensor([[0.5, 1.5]]), torch.tensor([[0.0, 1.0]])), ValueError, r"values must lie in \[0, 1\], got values in \[0.5, 1.5\]"),
        ErrorInput("input-nan", lambda: b(torch.tensor([[0.5, NAN]]), torch.tensor([[0.0, 1.0]])), ValueError, r"values must lie in \[0, 1\]"),
        ErrorInput("target-range", lambda: b(torch.rand(2, 3), torch.tensor([3, 0])), ValueError, r"class indices in \[0, 3\]"),
        ErrorInput("target-dtype", lambda: b(torch.rand(2, 3), torch.rand(2, 3).double()), TypeError, r"target has dtype torch.float64 but input has dtype torch.float32"),
        # F.binary_cross_entropy refuses these too ("all elements of target should be between 0 and 1")
        ErrorInput("target-out-of-range", lambda: b(torch.rand(2, 2), torch.tensor([[0.0, 1.0], [2.0, -0.5]])), ValueError, r"target holds probabilities y, so its values must lie in \[0, 1\], got values in \[-0.5, 2.0\]"),
        ErrorInput("target-nan", lambda: b(torch.rand(1, 2), torch.tensor([[0.5, NAN]])), ValueError, r"target holds probabilities y, so its values must lie in \[0, 1\]"),
    ]


# ---------------------------------------------------------------- the table


def builtin_step(z: torch.Tensor) -> torch.Tensor:
    return BuiltinStep()(z)


_ACTIVATION_FLAGS = dict(saves_output=True)

OPS = [
    OpInfo("sigmoid", RF.sigmoid, torch.sigmoid, activations.Sigmoid, _elementwise_samples,
           ("aten.sigmoid", "aten.sigmoid_backward"), _activation_errors(RF.sigmoid), **_ACTIVATION_FLAGS),
    OpInfo("tanh", RF.tanh, torch.tanh, activations.Tanh, _elementwise_samples,
           ("aten.tanh_backward",), _activation_errors(RF.tanh), **_ACTIVATION_FLAGS),
    OpInfo("relu", RF.relu, F.relu, activations.ReLU, _elementwise_samples,
           ("aten.relu", "aten.threshold_backward"), _activation_errors(RF.relu), **_ACTIVATION_FLAGS),
    # torch.heaviside has no derivative; the step's is zero almost everywhere, and so is ours.
    OpInfo("step", RF.step, builtin_step, activations.Step, _elementwise_samples, ("aten.heaviside",),
           _activation_errors(RF.step), differentiable=False, supports_gradgrad=False),
    OpInfo("linear", RF.linear, F.linear, LinearFunction, _linear_samples, ("aten.linear", "aten.linear_backward"),
           _linear_errors, saved_args=(0, 1), recorder_sees_builtin=False),
    OpInfo("conv2d", RF.conv2d, F.conv2d, conv.Conv2d, _conv_samples,
           ("aten.convolution", "aten.convolution_backward", "aten._convolution", "aten.mkldnn_convolution",
            "aten.conv2d", "aten._slow_conv2d_forward", "aten._slow_conv2d_backward",
            "aten.im2col", "aten.col2im", "aten.unfold_backward"),
           _conv_errors, saved_args=(0, 1)),
    # The twin also saves its input; ours needs only the winners' indices, so it has nothing to check.
    OpInfo("max_pool2d", RF.max_pool2d, F.max_pool2d, pooling.MaxPool2d, _pool_samples,
           ("aten.max_pool2d_with_indices", "aten.max_pool2d_with_indices_backward", "aten.max_pool2d"),
           _pool_errors(RF.max_pool2d)),
    OpInfo("avg_pool2d", RF.avg_pool2d, F.avg_pool2d, pooling.AvgPool2d, _pool_samples,
           ("aten.avg_pool2d", "aten.avg_pool2d_backward", "aten.col2im", "aten.unfold_backward"),
           _pool_errors(RF.avg_pool2d)),
    OpInfo("cross_entropy", RF.cross_entropy, F.cross_entropy, losses.CrossEntropy, _ce_samples,
           ("aten._log_softmax", "aten._log_softmax_backward_data", "aten.nll_loss_forward", "aten.nll_loss_backward",
            "aten.nll_loss", "aten.cross_entropy_loss"), _ce_errors, no_grad_args=(1,), saved_args=(0,)),
    OpInfo("quadratic_loss", RF.quadratic_loss, builtin_quadratic_loss, losses.QuadraticLoss, _quadratic_samples,
           ("aten.mse_loss", "aten.mse_loss_backward"), _quadratic_errors, no_grad_args=(1,), saved_args=(0,)),
    OpInfo("binary_cross_entropy", RF.binary_cross_entropy, builtin_binary_cross_entropy, losses.BinaryCrossEntropy,
           _bce_samples, ("aten.binary_cross_entropy", "aten.binary_cross_entropy_backward"), _bce_errors,
           no_grad_args=(1,), saved_args=(0,)),
]

OPS_BY_NAME = {info.name: info for info in OPS}


def cases(predicate: Callable[[OpInfo], bool] = lambda info: True, kinds: tuple[str, ...] = ("regular",)) -> list:
    """(OpInfo, sample name) pairs for pytest.mark.parametrize, ids like ``conv2d-stride2-padding1-dilation2``."""
    import pytest

    torch.manual_seed(0)
    return [
        pytest.param(info, s.name, id=f"{info.name}-{s.name}")
        for info in OPS if predicate(info)
        for s in info.samples() if s.kind in kinds
    ]


def get_sample(info: OpInfo, name: str, seed: int = 0) -> Sample:
    torch.manual_seed(seed)
    return next(s for s in info.samples() if s.name == name)


def sample(info: OpInfo, name: str, *, dtype: torch.dtype, device: str, requires_grad: bool = True, seed: int = 0):
    """Sample ``name`` of ``info``, its floating tensors cast and (where differentiable) requiring grad.

    Layouts are kept: a non-contiguous sample stays non-contiguous after the cast."""
    s = get_sample(info, name, seed)
    out = []
    for pos, arg in enumerate(s.args):
        if isinstance(arg, torch.Tensor):
            if arg.is_floating_point():
                arg = torch.empty_strided(arg.shape, arg.stride(), dtype=dtype, device=device).copy_(arg)
            else:
                arg = arg.to(device=device)
            if arg.is_floating_point() and requires_grad and pos not in info.no_grad_args:
                arg.requires_grad_(True)
        out.append(arg)
    return tuple(out), dict(s.kwargs)
