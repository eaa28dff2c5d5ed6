"""Working precision for reduced-precision tensors, and autocast at the ops' boundary.

float16 and bfloat16 hold 11 and 8 significant bits. PyTorch's own element-wise and reduction
kernels compute such inputs in float32 ("opmath") and round once at the end; refnets' ops do the
same, so their error stays that of a single rounding, like their twins'.
"""

from __future__ import annotations

import contextlib

import torch

LOW_PRECISION = (torch.float16, torch.bfloat16)


def opmath(t: torch.Tensor) -> torch.Tensor:
    """``t`` in the precision to compute in: float32 for float16/bfloat16, else ``t`` itself."""
    return t.float() if t.dtype in LOW_PRECISION else t


def autocast_dtype(t: torch.Tensor, lower: bool) -> torch.dtype | None:
    """The dtype autocast asks for at this op, or None when autocast is off for ``t``'s device.

    ``lower`` is True for the GEMM ops (linear, conv), which autocast runs in its low-precision dtype,
    and False for the losses, which it runs in float32 — autocast's own op lists.
    """
    device = t.device.type
    if device not in ("cpu", "cuda") or not torch.is_autocast_enabled(device):
        return None
    return torch.get_autocast_dtype(device) if lower else torch.float32


def autocast_off(t: torch.Tensor):
    """A context that turns autocast off inside a Function that already cast its inputs."""
    device = t.device.type
    if device in ("cpu", "cuda") and torch.is_autocast_enabled(device):
        return torch.autocast(device, enabled=False)
    return contextlib.nullcontext()
