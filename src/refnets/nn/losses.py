"""The built-in twins of refnets' costs that torch.nn.functional has no single function for."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["builtin_quadratic_loss", "builtin_binary_cross_entropy"]


def _onehot_like(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # scatter rather than F.one_hot, which reads the indices' values (impossible under vmap)
    return target if target.is_floating_point() else torch.zeros_like(input).scatter(1, target.long().unsqueeze(1), 1.0)


def builtin_quadratic_loss(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The quadratic cost 1/(2n) Σ‖y − a‖² from PyTorch's own ops: the twin of refnets' quadratic_loss."""
    return F.mse_loss(input, _onehot_like(input, target), reduction="sum") / (2 * input.shape[0])


def builtin_binary_cross_entropy(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Nielsen's cross-entropy −(1/n) Σ [y ln a + (1 − y) ln(1 − a)] from PyTorch's own ops: the twin of
    refnets' binary_cross_entropy."""
    return F.binary_cross_entropy(input, _onehot_like(input, target), reduction="sum") / input.shape[0]
