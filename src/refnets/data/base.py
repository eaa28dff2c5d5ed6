"""In-memory data: decode once into tensors, split, and serve mini-batches by indexing.

Per-sample PIL transforms cost more than the small networks here take to train, so a batch is
``images[indices]`` converted to float in one vectorised op. An optional ``train_transform``
switches the training split back to the standard per-sample path, for augmentation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

Split = tuple[torch.Tensor, torch.Tensor]


def _to_float(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 pixels → [0, 1] floats; then (x − mean) / std."""
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if mean != 0.0 or std != 1.0:
        x = (x - mean) / std
    return x


class TensorBatches(Dataset):
    """A dataset whose batches are one indexing op: ``__getitems__`` returns (inputs, targets) for a
    whole list of indices, which DataLoader calls instead of fetching samples one at a time."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> None:
        if len(inputs) != len(targets):
            raise ValueError(f"inputs and targets must have the same length, got {len(inputs)} and {len(targets)}")
        self.inputs, self.targets, self.mean, self.std = inputs, targets, mean, std

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        return _to_float(self.inputs[index], self.mean, self.std), self.targets[index]

    def __getitems__(self, indices: Sequence[int]):
        idx = torch.as_tensor(indices, device=self.inputs.device)
        return _to_float(self.inputs[idx], self.mean, self.std), self.targets[idx]

    def to(self, device: torch.device | str) -> TensorBatches:
        return TensorBatches(self.inputs.to(device), self.targets.to(device), self.mean, self.std)


class TransformedSamples(Dataset):
    """The standard per-sample path, for augmentation: ``transform`` sees one uint8 image at a time."""

    def __init__(self, batches: TensorBatches, transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.batches, self.transform = batches, transform

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        b = self.batches
        return _to_float(self.transform(b.inputs[index]), b.mean, b.std), b.targets[index]


def _whole_batch(batch):
    """collate_fn for TensorBatches: __getitems__ already returned a collated batch."""
    return batch


def is_int(value: object) -> bool:
    """An int, and not a bool (which isinstance counts as one: val_size=True, a YAML slip, would hold out 1 sample)."""
    return isinstance(value, int) and not isinstance(value, bool)


class ArrayDataModule(L.LightningDataModule):
    """Base of every refnets datamodule: subclasses implement :meth:`load` and nothing else.

    Args:
        batch_size: training mini-batch size.
        eval_batch_size: batch size for validation and test.
        val_size: samples carved from the training set for validation (deterministic under ``seed``).
        seed: seed of the train/validation split; None draws a fresh split.
        mean, std: normalisation x ← (x − mean)/std, after uint8 pixels are scaled to [0, 1].
        train_transform: optional per-sample transform of uint8 images (augmentation); None serves
            batches by indexing.
        num_workers: DataLoader workers, used only with ``train_transform``.
        on_device: keep the tensors on the training device when it is a GPU (True), or on the CPU.
    """

    num_classes: int = 0
    dims: tuple[int, ...] = ()  # the shape of one input sample, e.g. (1, 28, 28)

    def __init__(
        self,
        batch_size: int = 64,
        eval_batch_size: int = 1000,
        val_size: int = 0,
        seed: int | None = 0,
        mean: float = 0.0,
        std: float = 1.0,
        train_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        num_workers: int = 0,
        on_device: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if not is_int(value) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not is_int(val_size) or val_size < 0:
            raise ValueError(f"val_size must be a non-negative int, got {val_size!r}")
        if std <= 0:
            raise ValueError(f"std must be positive, got {std}")
        self.batch_size, self.eval_batch_size, self.val_size, self.seed = batch_size, eval_batch_size, val_size, seed
        self.mean, self.std = float(mean), float(std)
        self.train_transform, self.num_workers, self.on_device = train_transform, num_workers, on_device
        self.splits: dict[str, TensorBatches] = {}

    def load(self) -> tuple[Split, Split]:
        """Return ((train_inputs, train_targets), (test_inputs, test_targets)) as tensors."""
        raise NotImplementedError

    def validation_indices(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Which of the ``n`` training samples validate and which train: by default val_size drawn under ``seed``."""
        generator = torch.Generator()
        if self.seed is None:  # seed=null: a fresh split each run, as torch is left unseeded
            generator.seed()
        else:
            generator.manual_seed(self.seed)
        order = torch.randperm(n, generator=generator)
        return order[: self.val_size], order[self.val_size :]

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        (x, y), (x_test, y_test) = self.load()
        if self.val_size >= len(y):
            raise ValueError(f"val_size={self.val_size} leaves no training data: the training set has {len(y)} samples")
        val, train = self.validation_indices(len(y))
        self.splits = {
            "train": TensorBatches(x[train], y[train], self.mean, self.std),
            "val": TensorBatches(x[val], y[val], self.mean, self.std),
            "test": TensorBatches(x_test, y_test, self.mean, self.std),
        }
        device = self._device()
        if device is not None and self.train_transform is None:
            self.splits = {k: v.to(device) for k, v in self.splits.items()}

    def _device(self) -> torch.device | None:
        """The GPU to keep the data on: the trainer's, when it is CUDA and the data fit in half its free memory."""
        trainer = getattr(self, "trainer", None)
        if not self.on_device or trainer is None:
            return None
        device = trainer.strategy.root_device
        if device.type != "cuda":
            return None
        size = sum(t.inputs.nbytes + t.targets.nbytes for t in self.splits.values())
        free, _ = torch.cuda.mem_get_info(device)
        return device if size < free // 2 else None

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        if not self.splits:
            self.setup()
        data = self.splits[split]
        if split == "train" and self.train_transform is not None:
            return DataLoader(
                TransformedSamples(data, self.train_transform), batch_size=batch_size, shuffle=shuffle,
                num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
            )
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, collate_fn=_whole_batch)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)
