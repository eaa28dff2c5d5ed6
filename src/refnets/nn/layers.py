"""Layers: modules that own parameters or configuration and call refnets.functional in forward."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .. import functional as RF
from ..functional._validation import check_floating, check_rank, pair

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


def _only_default(layer: str, name: str, value: object, default: object, does: str) -> None:
    """A torch.nn constructor argument that refnets' op computes only at its default: taken there (so code written
    for torch.nn runs unchanged), refused elsewhere with what the op does and where the option is."""
    if value is not default and value != default:
        raise ValueError(
            f"{layer}({name}={value!r}) is not available in refnets: {does}, as torch.nn.{layer}'s default "
            f"{name}={default!r} does. Leave {name} at its default, or use torch.nn.{layer} (ops=builtin)"
        )


class Sigmoid(_Elementwise):
    """a = σ(z) by :func:`refnets.functional.sigmoid`. Shape: (*) → (*)."""

    fn = staticmethod(RF.sigmoid)


class Tanh(_Elementwise):
    """a = tanh(z) by :func:`refnets.functional.tanh`. Shape: (*) → (*)."""

    fn = staticmethod(RF.tanh)


class ReLU(_Elementwise):
    """a = max(z, 0) by :func:`refnets.functional.relu`. Shape: (*) → (*).

    ``inplace`` is torch.nn.ReLU's argument, taken at its default False only: the hand-written backward
    reads the saved output, so the op writes a new tensor."""

    fn = staticmethod(RF.relu)

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        _only_default("ReLU", "inplace", inplace, False, "its op writes a new tensor (its backward reads its saved output)")
        self.inplace = False


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
    """Max pooling by :func:`refnets.functional.max_pool2d`. Shape: (N, C, H, W) → (N, C, H_out, W_out).

    Takes torch.nn.MaxPool2d's arguments; ``dilation``, ``return_indices`` and ``ceil_mode`` at their defaults
    only (windows of adjacent pixels, the pooled values alone, floor mode)."""

    fn = staticmethod(RF.max_pool2d)

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        _only_default("MaxPool2d", "dilation", 1 if pair("dilation", dilation) == (1, 1) else dilation, 1,
                      "its windows are of adjacent pixels")
        _only_default("MaxPool2d", "return_indices", return_indices, False, "it returns the pooled values alone")
        _only_default("MaxPool2d", "ceil_mode", ceil_mode, False, "it rounds H_out and W_out down")
        self.dilation, self.return_indices, self.ceil_mode = 1, False, False

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dilation={self.dilation}, ceil_mode={self.ceil_mode}"


class AvgPool2d(_Pool2d):
    """Average pooling (LeCun's subsampling) by :func:`refnets.functional.avg_pool2d`. Shape as MaxPool2d.

    Takes torch.nn.AvgPool2d's arguments; ``ceil_mode``, ``count_include_pad`` and ``divisor_override`` at their
    defaults only (floor mode, zero padding counted in each window's k_h·k_w)."""

    fn = staticmethod(RF.avg_pool2d)

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        _only_default("AvgPool2d", "ceil_mode", ceil_mode, False, "it rounds H_out and W_out down")
        _only_default("AvgPool2d", "count_include_pad", count_include_pad, True, "its windows count their zero padding")
        _only_default("AvgPool2d", "divisor_override", divisor_override, None, "it divides every window's sum by k_h·k_w")
        self.ceil_mode, self.count_include_pad, self.divisor_override = False, True, None


# Flattening is a reshape, not an op with a backward worth teaching: torch.nn's module is used as is.
Flatten = nn.Flatten
