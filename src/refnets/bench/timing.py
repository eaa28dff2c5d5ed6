"""Interleaved timing of two paths: every repeat times the custom and the built-in side back to back.

A machine's load drifts (other processes, frequency scaling, the allocator handing pages back to the
OS); timing one side's 30 repeats and then the other's lets that drift land on one side only.
Interleaving spreads it over both, and the order is reversed each repeat (c b, b c, c b, …) so that
neither side always runs in the caches the other just warmed. The summary is the median of each side,
robust to the odd slow repeat, and the ratio of the medians.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable

import torch

# One timed sample calls the function this often: enough calls that a sample lasts ≥ this long, so that
# sub-millisecond ops are not measured at the timer's and the loop's resolution.
MIN_SAMPLE_S = 2e-3


def synchronize(device: str) -> None:
    """Wait for queued GPU kernels: on CUDA a call returns before its kernels finish."""
    if device == "cuda":
        torch.cuda.synchronize()


def stopwatch(fn: Callable[[], None], device: str, calls: int = 1) -> Callable[[], float]:
    """A side whose each call runs ``fn`` ``calls`` times and returns the seconds per call."""

    def timed() -> float:
        synchronize(device)
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        synchronize(device)
        return (time.perf_counter() - start) / calls

    return timed


def calls_per_sample(fns: Iterable[Callable[[], None]], device: str) -> int:
    """How many calls make one sample last ≥ MIN_SAMPLE_S (the fastest side decides; all use the same)."""
    fastest = min(stopwatch(fn, device)() for fn in fns)
    return max(1, math.ceil(MIN_SAMPLE_S / max(fastest, 1e-9)))


def interleaved(sides: dict[str, Callable[[], float]], repeats: int, warmup: int = 0) -> dict[str, list[float]]:
    """Run ``warmup`` untimed rounds, then ``repeats`` rounds of every side, the order reversed each round.

    Each side is a callable that returns the seconds it measured (see :func:`stopwatch`).
    Returns each side's samples, in seconds, under the side's name.
    """
    if repeats <= 0:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    order = list(sides)
    for _ in range(warmup):
        for name in order:
            sides[name]()
    samples: dict[str, list[float]] = {name: [] for name in order}
    for i in range(repeats):
        for name in order if i % 2 == 0 else reversed(order):
            samples[name].append(sides[name]())
    return samples


def summary(custom_s: list[float], builtin_s: list[float], target: float | None) -> dict:
    """Medians (ms), each side's min–max, the ratio custom/built-in of the medians, and the target check."""
    c, b = statistics.median(custom_s), statistics.median(builtin_s)
    ratio = c / b
    return {
        "custom_ms": 1e3 * c,
        "builtin_ms": 1e3 * b,
        "ratio": ratio,
        "custom_range_ms": [1e3 * min(custom_s), 1e3 * max(custom_s)],
        "builtin_range_ms": [1e3 * min(builtin_s), 1e3 * max(builtin_s)],
        "repeats": len(custom_s),
        "target": target,
        "pass": None if target is None else ratio <= target,
    }
