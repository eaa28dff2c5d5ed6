"""scikit-learn's bundled 8×8 handwritten digits (1 797 images): real data that needs no download."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from .base import ArrayDataModule, is_int

N_DIGITS = 1797  # images in scikit-learn's load_digits()


class DigitsDataModule(ArrayDataModule):
    """The UCI optical digits as uint8 images (N, 1, size, size), 10 classes.

    Args:
        size: side of the served images; 8 is the original, 28 (bilinear upsampling) lets LeNet-5
            and the MNIST-sized MLPs take them.
        test_size: images held out as the test set, chosen by a fixed permutation (seed 0) so the
            test set never changes with the training seed.
        **kwargs: see :class:`ArrayDataModule` (val_size is carved from the remaining images).
    """

    num_classes = 10

    def __init__(self, size: int = 28, test_size: int = 360, **kwargs) -> None:
        super().__init__(**kwargs)
        if not is_int(size) or size < 8:
            raise ValueError(f"size must be an int of at least 8 (the images are 8×8), got {size!r}")
        # a negative test_size sliced from the end (test_size=-100 gave a test set of 1 697 images)
        if not is_int(test_size) or not 1 <= test_size < N_DIGITS:
            raise ValueError(f"test_size must be an int in [1, {N_DIGITS}) (the set has {N_DIGITS} images), got {test_size!r}")
        self.size, self.test_size = size, test_size
        self.dims = (1, size, size)

    def load(self):
        digits = load_digits()
        pixels = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8) in [0, 1]
        if self.size != 8:
            pixels = F.interpolate(pixels, size=(self.size, self.size), mode="bilinear", align_corners=False)
        images = (pixels.clamp(0, 1) * 255).round().to(torch.uint8)
        targets = torch.as_tensor(digits.target, dtype=torch.long)
        order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(0))
        test, train = order[: self.test_size], order[self.test_size :]
        return (images[train], targets[train]), (images[test], targets[test])
