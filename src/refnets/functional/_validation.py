"""Argument checks shared by every op.

Errors are part of the interface: each message names the argument, what was received and what was
expected, so a wrong call fails here and not deep inside a matmul or an index.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch


def check_tensor(name: str, value: object) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def check_floating(name: str, value: torch.Tensor) -> torch.Tensor:
    check_tensor(name, value)
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    return value


def check_rank(name: str, value: torch.Tensor, ranks: Sequence[int], layout: str) -> None:
    if value.dim() not in ranks:
        expected = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(f"{name} must be {expected} {layout}, got shape {tuple(value.shape)}")


def check_same_dtype_device(name: str, value: torch.Tensor, ref_name: str, ref: torch.Tensor) -> None:
    if value.dtype != ref.dtype:
        raise TypeError(f"{name} has dtype {value.dtype} but {ref_name} has dtype {ref.dtype}; they must match")
    if value.device != ref.device:
        raise ValueError(f"{name} is on {value.device} but {ref_name} is on {ref.device}; they must be on one device")


def pair(name: str, value: int | Sequence[int]) -> tuple[int, int]:
    """Turn an int or a 2-sequence into (h, w), as torch.nn.modules.utils._pair does, but checked.

    A 1-sequence (k,) is (k, k), as torch's conv2d and pools take it (their int[2] arguments expand one value)."""
    # numbers.Integral: Python's ints and numpy's (np.int64(2)), which torch's own ops take; never a bool
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value), int(value)
    if isinstance(value, Sequence) and len(value) in (1, 2) and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
        return int(value[0]), int(value[-1])
    raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")


def check_positive(name: str, value: tuple[int, int]) -> None:
    if min(value) <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


def check_non_negative(name: str, value: tuple[int, int]) -> None:
    if min(value) < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")


def concrete(t: torch.Tensor) -> bool:
    """True when ``t``'s values can be read here: not while torch.compile traces, not inside a
    torch.func transform (vmap, grad), not on the meta device. Checks of values (class indices in
    range, probabilities in [0, 1]) run only then; shapes and dtypes are checked always."""
    if torch.compiler.is_compiling() or t.device.type == "meta":
        return False
    return not torch._C._functorch.is_functorch_wrapped_tensor(t)


def class_targets(name: str, target: torch.Tensor, num_classes: int, batch_shape: tuple[int, ...]) -> None:
    """Check integer class indices: shape = the batch shape, values in [0, num_classes) (when readable)."""
    if target.shape != batch_shape:
        raise ValueError(
            f"{name} holds class indices, so it must have shape {batch_shape} (one index per sample), "
            f"got {tuple(target.shape)}"
        )
    if target.numel() and concrete(target):
        lo, hi = (int(v) for v in target.aminmax())  # one reduction, one wait
        if lo < 0 or hi >= num_classes:
            raise ValueError(
                f"{name} has class indices in [{lo}, {hi}], expected values in [0, {num_classes - 1}] "
                f"for {num_classes} classes"
            )
