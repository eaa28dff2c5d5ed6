"""LightningDataModules. Every set is held in memory as tensors and served by indexing them."""

from .base import ArrayDataModule, TensorBatches
from .digits import DigitsDataModule
from .mnist import CorruptDatasetError, DatasetNotFoundError, MNISTDataModule
from .toy import Toy2DDataModule

__all__ = [
    "ArrayDataModule",
    "TensorBatches",
    "MNISTDataModule",
    "DatasetNotFoundError",
    "CorruptDatasetError",
    "DigitsDataModule",
    "Toy2DDataModule",
]
