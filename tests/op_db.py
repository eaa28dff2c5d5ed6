"""The op table: each hand-written op, its built-in twin, and its sample inputs, declared once.

In the spirit of PyTorch's OpInfo: the generic tests in test_functional.py run every check over
every sample of every op here. A sample is (args, kwargs); tensors in args are made in float64
on the CPU and moved/cast by the tests.
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
from refnets.nn.losses import builtin_binary_cross_entropy, builtin_quadratic_loss


def _t(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


@dataclass
class OpInfo:
    name: str
    op: Callable
    builtin: Callable
    function: type  # the autograd.Function the op must build its result with
    samples: Callable[[], list[tuple[tuple, dict]]]
    # aten ops the custom path must never dispatch (the built-in it reimplements, forward and backward)
    forbidden_aten: tuple[str, ...] = ()
    double_backward: bool = False
    # positions of args that must not get a gradient (integer targets, say)
    no_grad_args: tuple[int, ...] = field(default_factory=tuple)


def _elementwise_samples() -> list:
    return [((_t(7),), {}), ((_t(3, 4),), {}), ((_t(2, 3, 4, 5),), {})]


def _linear_samples() -> list:
    return [
        ((_t(5), _t(3, 5), _t(3)), {}),  # 1-D input
        ((_t(4, 5), _t(3, 5), _t(3)), {}),  # 2-D
        ((_t(2, 4, 5), _t(3, 5), None), {}),  # 3-D, no bias
        ((_t(1, 1), _t(1, 1), _t(1)), {}),  # 1 feature, batch 1
    ]


def _conv_samples() -> list:
    samples = []
    # A grid over stride 1–3, padding 0–2, dilation 1–2; kernels/inputs non-square in half of it.
    for stride, padding, dilation in itertools.product((1, 2, 3), (0, 1, 2), (1, 2)):
        square = (stride + padding + dilation) % 2 == 0
        kernel = (3, 3) if square else (3, 2)
        size = (7, 7) if square else (7, 8)
        samples.append(((_t(2, 3, *size), _t(4, 3, *kernel), _t(4)), dict(stride=stride, padding=padding, dilation=dilation)))
    samples += [
        ((_t(1, 1, 5, 5), _t(1, 1, 3, 3), None), {}),  # batch 1, 1 channel, no bias
        ((_t(2, 4, 6, 5), _t(6, 2, 3, 3), _t(6)), dict(groups=2, padding=1)),  # groups
        ((_t(2, 4, 6, 6), _t(4, 1, 2, 3), None), dict(groups=4, stride=(2, 1), padding=(1, 0))),  # depthwise, tuples
        ((_t(3, 5, 6), _t(2, 3, 3, 3), _t(2)), dict(padding=1)),  # unbatched
        ((_t(2, 2, 6, 7), _t(3, 2, 4, 3), _t(3)), dict(padding="same", dilation=(1, 2))),  # 'same', even kernel
        ((_t(2, 2, 5, 5), _t(3, 2, 5, 5), _t(3)), dict(padding="valid")),  # kernel = input
    ]
    return samples


def _pool_samples() -> list:
    return [
        ((_t(2, 3, 6, 6), 2), {}),
        ((_t(2, 3, 7, 7), 3), dict(stride=2, padding=1)),
        ((_t(1, 2, 7, 8), (3, 2)), dict(stride=(1, 2), padding=(1, 0))),
        ((_t(2, 1, 5, 6), 2), dict(stride=1)),
        ((_t(3, 6, 6), 2), {}),  # unbatched
        ((_t(2, 2, 5, 5), 5), dict(padding=2)),
    ]


def _ce_samples() -> list:
    return [
        ((_t(6, 4), torch.randint(0, 4, (6,))), {}),
        ((_t(1, 3), torch.tensor([2])), {}),
        ((_t(5), torch.tensor(3)), {}),  # unbatched
        ((_t(4, 3), torch.softmax(_t(4, 3), 1)), {}),  # class probabilities
    ]


def _quadratic_samples() -> list:
    return [
        ((torch.rand(6, 4, dtype=torch.float64), torch.randint(0, 4, (6,))), {}),
        ((_t(5, 3), _t(5, 3)), {}),
        ((_t(3, 2, 2), _t(3, 2, 2)), {}),
    ]


def _bce_samples() -> list:
    return [
        ((torch.rand(6, 4, dtype=torch.float64) * 0.98 + 0.01, torch.randint(0, 4, (6,))), {}),
        ((torch.rand(5, 3, dtype=torch.float64) * 0.98 + 0.01, torch.rand(5, 3, dtype=torch.float64)), {}),
    ]


def builtin_step(z: torch.Tensor) -> torch.Tensor:
    return torch.heaviside(z, torch.zeros((), dtype=z.dtype, device=z.device))


OPS = [
    OpInfo("sigmoid", RF.sigmoid, torch.sigmoid, activations.Sigmoid, _elementwise_samples,
           ("aten.sigmoid", "aten.sigmoid_backward"), double_backward=True),
    OpInfo("tanh", RF.tanh, torch.tanh, activations.Tanh, _elementwise_samples,
           ("aten.tanh_backward",), double_backward=True),
    OpInfo("relu", RF.relu, F.relu, activations.ReLU, _elementwise_samples,
           ("aten.relu", "aten.threshold_backward")),
    OpInfo("step", RF.step, builtin_step, activations.Step, _elementwise_samples, ("aten.heaviside",)),
    OpInfo("linear", RF.linear, F.linear, LinearFunction, _linear_samples, ("aten.linear", "aten.linear_backward"),
           double_backward=True),
    OpInfo("conv2d", RF.conv2d, F.conv2d, conv.Conv2d, _conv_samples,
           ("aten.convolution", "aten.convolution_backward", "aten._convolution", "aten.mkldnn_convolution",
            "aten.conv2d", "aten._slow_conv2d_forward", "aten._slow_conv2d_backward")),
    OpInfo("max_pool2d", RF.max_pool2d, F.max_pool2d, pooling.MaxPool2d, _pool_samples,
           ("aten.max_pool2d_with_indices", "aten.max_pool2d_with_indices_backward", "aten.max_pool2d")),
    OpInfo("avg_pool2d", RF.avg_pool2d, F.avg_pool2d, pooling.AvgPool2d, _pool_samples,
           ("aten.avg_pool2d", "aten.avg_pool2d_backward")),
    OpInfo("cross_entropy", RF.cross_entropy, F.cross_entropy, losses.CrossEntropy, _ce_samples,
           ("aten._log_softmax", "aten._log_softmax_backward_data", "aten.nll_loss_forward", "aten.nll_loss_backward",
            "aten.nll_loss", "aten.cross_entropy_loss"), double_backward=True, no_grad_args=(1,)),
    OpInfo("quadratic_loss", RF.quadratic_loss, builtin_quadratic_loss, losses.QuadraticLoss, _quadratic_samples,
           ("aten.mse_loss", "aten.mse_loss_backward"), double_backward=True, no_grad_args=(1,)),
    OpInfo("binary_cross_entropy", RF.binary_cross_entropy, builtin_binary_cross_entropy, losses.BinaryCrossEntropy,
           _bce_samples, ("aten.binary_cross_entropy", "aten.binary_cross_entropy_backward"), double_backward=True,
           no_grad_args=(1,)),
]

OPS_BY_NAME = {info.name: info for info in OPS}


def cases(predicate: Callable[[OpInfo], bool] = lambda info: True) -> list:
    """(OpInfo, sample index) pairs for pytest.mark.parametrize, with readable ids."""
    import pytest

    torch.manual_seed(0)
    out = []
    for info in OPS:
        if predicate(info):
            for i, _ in enumerate(info.samples()):
                out.append(pytest.param(info, i, id=f"{info.name}-{i}"))
    return out


def sample(info: OpInfo, index: int, *, dtype: torch.dtype, device: str, requires_grad: bool = True, seed: int = 0):
    """Sample ``index`` of ``info``, its floating tensors cast and (where differentiable) requiring grad."""
    torch.manual_seed(seed)
    args, kwargs = info.samples()[index]
    out = []
    for pos, arg in enumerate(args):
        if isinstance(arg, torch.Tensor):
            arg = arg.to(device=device, dtype=dtype if arg.is_floating_point() else arg.dtype)
            if arg.is_floating_point() and requires_grad and pos not in info.no_grad_args:
                arg.requires_grad_(True)
        out.append(arg)
    return tuple(out), dict(kwargs)
