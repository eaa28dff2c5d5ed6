"""Cost functions by name, on either refnets' hand-written ops or PyTorch's built-ins."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .. import functional as RF

__all__ = ["LOSSES", "loss_function", "builtin_quadratic_loss"]


def builtin_quadratic_loss(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The quadratic cost 1/(2n) Σ‖y − a‖² from PyTorch's own ops: the twin of refnets' quadratic_loss."""
    if not target.is_floating_point():
        target = F.one_hot(target, input.shape[-1]).to(input.dtype)
    return F.mse_loss(input, target, reduction="sum") / (2 * input.shape[0])


LOSSES: dict[str, dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]] = {
    "cross_entropy": {"custom": RF.cross_entropy, "builtin": F.cross_entropy},
    "quadratic": {"custom": RF.quadratic_loss, "builtin": builtin_quadratic_loss},
}


def loss_function(name: str, ops: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}")
    if ops not in LOSSES[name]:
        raise ValueError(f"ops must be one of ('custom', 'builtin'), got {ops!r}")
    return LOSSES[name][ops]
