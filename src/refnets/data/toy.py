"""The 2-D sets of "linear vs nonlinear classification": blobs, xor, moons, circles."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import make_blobs, make_circles, make_moons

from .base import ArrayDataModule, is_int

KINDS = ("blobs", "xor", "moons", "circles")


def make_xor(n_samples: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points scattered around the four corners (±1, ±1); class 1 where the signs differ (x₁ XOR x₂)."""
    corners = rng.integers(0, 2, size=(n_samples, 2))
    x = (2.0 * corners - 1.0) + noise * rng.standard_normal((n_samples, 2))
    return x, corners[:, 0] ^ corners[:, 1]


def make_toy(kind: str, n_samples: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if kind == "blobs":
        # Two well-separated Gaussian clouds: linearly separable for noise (cluster std) up to ~0.8.
        x, y = make_blobs(n_samples, centers=[(-2.0, -2.0), (2.0, 2.0)], cluster_std=noise, random_state=seed)
    elif kind == "xor":
        x, y = make_xor(n_samples, noise, np.random.default_rng(seed))
    elif kind == "moons":
        x, y = make_moons(n_samples, noise=noise, random_state=seed)
    elif kind == "circles":
        x, y = make_circles(n_samples, noise=noise, factor=0.5, random_state=seed)
    else:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)


class Toy2DDataModule(ArrayDataModule):
    """Two classes of points in the plane, generated (no files). Inputs (N, 2), targets (N,).

    Args:
        kind: 'blobs' (linearly separable), 'xor', 'moons' or 'circles'.
        n_train, n_test: sizes of the training set (validation is carved from it) and test set.
        noise: spread of the points (for blobs, the clusters' standard deviation).
        data_seed: seed of the generator; the test set uses data_seed + 1.
        **kwargs: see :class:`ArrayDataModule`.
    """

    num_classes = 2
    dims = (2,)

    def __init__(self, kind: str = "blobs", n_train: int = 400, n_test: int = 200, noise: float = 0.1, data_seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        # checked here: scikit-learn and numpy would refuse them only when the data are drawn, inside fit
        for name, value in (("n_train", n_train), ("n_test", n_test)):
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be an int ≥ 1, got {value!r}")
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < float("inf"):
            raise ValueError(f"noise must be a finite number ≥ 0 (the standard deviation of the noise added), got {noise!r}")
        if not is_int(data_seed) or not 0 <= data_seed < 2**32 - 1:
            raise ValueError(f"data_seed must be an int in [0, 2**32 − 1) (the test set is drawn with data_seed + 1), got {data_seed!r}")
        self.kind, self.n_train, self.n_test, self.noise, self.data_seed = kind, n_train, n_test, noise, data_seed

    def load(self):
        return make_toy(self.kind, self.n_train, self.noise, self.data_seed), make_toy(self.kind, self.n_test, self.noise, self.data_seed + 1)
