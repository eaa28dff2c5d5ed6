"""Layers: modules that own parameters or configuration and call refnets.functional in forward."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .. import functional as RF
from ..functional._validation import check_floating, check_rank

__all__ = ["Linear", "Conv2d", "Sigmoid", "ReLU", "Tanh", "Step", "MaxPool2d", "AvgPool2d", "Flatten", "BuiltinStep"]


class Linear(nn.Linear):
    r"""z = x Wᵀ + b by :func:`refnets.functional.linear`.

    Parameters, ``reset_parameters`` and state_dict keys are ``torch.nn.Linear``'s: W and b are drawn
    from U(−1/√in_features, 1/√in_features), in the same order, so under one seed this layer and
    ``torch.nn.Linear`` start from identical weights and their checkpoints are interchangeable.

    Shape: (*, in_features) → (*, out_features).
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return RF.linear(input, self.weight, self.bias)


class Conv2d(nn.Conv2d):
    r"""2-D convolution by :func:`refnets.functional.conv2d` (im2col + GEMM).

    Parameters, ``reset_parameters`` and state_dict keys are ``torch.nn.Conv2d``'s (W and b drawn
    from U(−1/√fan_in, 1/√fan_in), fan_in = C_in/groups·k_h·k_w), so under one seed both start from
    identical weights. ``padding_mode`` other than 'zeros' pads explicitly first, as torch.nn does.

    Shape: (N, C_in, H, W) → (N, C_out, H_out, W_out), H_out = ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.padding_mode != "zeros":
            # checked before the pad, whose own errors (NotImplementedError for a 5-D input) name no argument
            check_floating("input", input)
            check_rank("input", input, (3, 4), "(N, C_in, H, W) or unbatched (C_in, H, W)")
            input = nn.functional.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return RF.conv2d(input, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return RF.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class _Elementwise(nn.Module):
    fn: Callable[[torch.Tensor], torch.Tensor]

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.fn(input)


class Sigmoid(_Elementwise):
    """a = σ(z) by :func:`refnets.functional.sigmoid`. Shape: (*) → (*)."""

    fn = staticmethod(RF.sigmoid)


class Tanh(_Elementwise):
    """a = tanh(z) by :func:`refnets.functional.tanh`. Shape: (*) → (*)."""

    fn = staticmethod(RF.tanh)


class ReLU(_Elementwise):
    """a = max(z, 0) by :func:`refnets.functional.relu`. Shape: (*) → (*)."""

    fn = staticmethod(RF.relu)


class Step(_Elementwise):
    """The perceptron's step a = [z > 0] by :func:`refnets.functional.step` (zero gradient). Shape: (*) → (*)."""

    fn = staticmethod(RF.step)


class BuiltinStep(nn.Module):
    """The step as PyTorch writes it, ``torch.heaviside(z, 0)`` — the built-in twin of :class:`Step`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return torch.heaviside(input, torch.zeros((), dtype=input.dtype, device=input.device))


class _Pool2d(nn.Module):
    fn: Callable[..., torch.Tensor]

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.fn(input, self.kernel_size, self.stride, self.padding)


class MaxPool2d(_Pool2d):
    """Max pooling by :func:`refnets.functional.max_pool2d`. Shape: (N, C, H, W) → (N, C, H_out, W_out)."""

    fn = staticmethod(RF.max_pool2d)


class AvgPool2d(_Pool2d):
    """Average pooling (LeCun's subsampling) by :func:`refnets.functional.avg_pool2d`. Shape as MaxPool2d."""

    fn = staticmethod(RF.avg_pool2d)


# Flattening is a reshape, not an op with a backward worth teaching: torch.nn's module is used as is.
Flatten = nn.Flatten
