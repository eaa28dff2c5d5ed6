"""MNIST, Fashion-MNIST and KMNIST through torchvision's dataset classes, found offline first.

Where the four IDX files come from, in order:
1. ``data_dir`` (config ``data.data_dir``; the environment variable REFNETS_DATA_DIR sets its
   default): torchvision's layout ``<data_dir>/<Class>/raw/``, or the files directly in ``data_dir``;
2. known system folders — Debian's package ``dataset-fashion-mnist`` installs the real
   Fashion-MNIST at /usr/share/datasets/fashion-mnist (as .gz files whose checksums differ from
   torchvision's, so they are decompressed here rather than handed to torchvision's downloader);
3. MNIST only: Nielsen's ``mnist.pkl.gz`` in ``data_dir`` (or ``<data_dir>/MNIST/``), the file
   his book's code reads (see :mod:`refnets.data.mnist_pkl`);
4. torchvision's download, when ``download: true``.
Files found in 1–3 are copied (decompressed, or decoded from the pickle) into ``<data_dir>/<Class>/raw/``
once, where torchvision reads them. torchvision decodes each set once into a uint8 tensor (``.data``).

Two splits of the 60 000 training images, whichever file they came from:
- ``nielsen`` — the book's protocol: the first 60 000 − val_size images train, the last val_size
  (10 000) validate, exactly the training and validation sets of ``mnist.pkl.gz``;
- ``standard`` — LeCun's protocol: the 60 000 training images, of which a validation slice of
  val_size images drawn under the seed is held out (5 000 in the lenet5 experiments).
The test set is always MNIST's 10 000 test images.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import torch
from torchvision import datasets

from .base import ArrayDataModule
from .mnist_pkl import CorruptFileError, atomic_file, read_mnist_pkl, write_idx

DATASETS = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST, "kmnist": datasets.KMNIST}
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# Folders where an operating-system package installs a dataset: Debian packages Fashion-MNIST only.
SYSTEM_DIRS: dict[str, tuple[str, ...]] = {
    "mnist": (),
    "fashion_mnist": ("/usr/share/datasets/fashion-mnist",),
    "kmnist": (),
}


SPLITS = ("nielsen", "standard")
PKL_NAME = "mnist.pkl.gz"


class DatasetNotFoundError(FileNotFoundError):
    """No source of a dataset's files worked; the message lists each one tried and what to do."""


class CorruptDatasetError(DatasetNotFoundError, CorruptFileError):
    """A dataset file was found but cannot be read; the message names it. A DatasetNotFoundError too
    (no usable copy was found), so refnets-train reports it as one, without a traceback."""


def _find_idx(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in ``folder``, each plain or gzipped; None unless all four are there."""
    found = {}
    for name in IDX_FILES:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            return None
    return found


def _install(files: dict[str, Path], raw: Path) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        opener = gzip.open if source.suffix == ".gz" else open
        with opener(source, "rb") as src, atomic_file(raw / name) as dst:
            shutil.copyfileobj(src, dst)


def locate(dataset: str, data_dir: str | os.PathLike, download: bool = False) -> Path:
    """Make sure ``<data_dir>/<Class>/raw/`` holds the four IDX files of ``dataset``; return that folder."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {tuple(DATASETS)}, got {dataset!r}")
    cls = DATASETS[dataset]
    root = Path(data_dir).expanduser()
    raw = root / cls.__name__ / "raw"
    if (found := _find_idx(raw)) and all(path.suffix != ".gz" for path in found.values()):
        return raw
    sources = [raw, root, root / cls.__name__, *map(Path, SYSTEM_DIRS[dataset])]
    for folder in sources:
        if found := _find_idx(folder):
            try:
                _install(found, raw)
            except OSError as err:
                raise DatasetNotFoundError(f"found {cls.__name__}'s IDX files in {folder} but could not copy them into {raw}: {err}") from err
            return raw
    pickles = [root / PKL_NAME, root / cls.__name__ / PKL_NAME] if dataset == "mnist" else []
    for pkl in pickles:
        if pkl.is_file():
            try:
                train, test = read_mnist_pkl(pkl)
            except CorruptFileError as err:
                raise CorruptDatasetError(str(err)) from err
            try:
                write_idx(raw, train, test)
            except OSError as err:
                raise DatasetNotFoundError(f"decoded {pkl} but could not write its IDX files into {raw}: {err}") from err
            return raw
    if download:
        try:
            for train in (True, False):
                cls(str(root), train=train, download=True)
            return raw
        except Exception as err:  # noqa: BLE001 — any download failure ends in the one message below
            download_note = f"torchvision's download failed: {type(err).__name__}: {str(err).strip().splitlines()[0]}"
    else:
        download_note = "download was not attempted (data.download=false)"
    tried = "\n".join([*(f"  - {folder}" for folder in sources), *(f"  - {pkl} (Nielsen's file)" for pkl in pickles)])
    hint_debian = (
        "\n  - install Debian's package: apt-get install dataset-fashion-mnist (puts them in /usr/share/datasets/fashion-mnist)"
        if dataset == "fashion_mnist"
        else ""
    )
    hint_pkl = f"\n  - or put Nielsen's {PKL_NAME} in {root} (see the README's Data section)" if pickles else ""
    raise DatasetNotFoundError(
        f"Could not find the {cls.__name__} dataset ({dataset}): no folder tried holds all four IDX files "
        f"({', '.join(IDX_FILES)}, plain or .gz){f' and no {PKL_NAME}' if pickles else ''}:\n{tried}\n"
        f"and {download_note}.\n"
        f"Offline options:\n"
        f"  - put the four IDX files in {raw} (or in {root}; set data.data_dir=... or REFNETS_DATA_DIR to choose the folder)"
        f"{hint_debian}{hint_pkl}\n"
        f"  - or train on a bundled set that needs no files: data=digits (or blobs, xor, moons, circles)"
    )


class MNISTDataModule(ArrayDataModule):
    """MNIST-family images (N, 1, 28, 28) uint8, 10 classes, from torchvision's dataset classes.

    Args:
        dataset: 'mnist', 'fashion_mnist' or 'kmnist'.
        data_dir: folder of the data (see the module docstring for the search order).
        download: let torchvision download the files when no local copy is found.
        split: 'nielsen' (validation = the last val_size training images, in file order) or
            'standard' (validation = val_size training images drawn under the seed); see the module docstring.
        **kwargs: see :class:`ArrayDataModule`.
    """

    num_classes = 10
    dims = (1, 28, 28)

    def __init__(self, dataset: str = "mnist", data_dir: str = "data", download: bool = False, split: str = "nielsen", **kwargs) -> None:
        super().__init__(**kwargs)
        if dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {tuple(DATASETS)}, got {dataset!r}")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.dataset, self.data_dir, self.download, self.split = dataset, str(data_dir), download, split

    def validation_indices(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.split == "nielsen":  # the book's: the last val_size images, in MNIST's order
            order = torch.arange(n)
            return order[n - self.val_size :], order[: n - self.val_size]
        return super().validation_indices(n)

    def prepare_data(self) -> None:
        locate(self.dataset, self.data_dir, self.download)

    def load(self):
        raw = locate(self.dataset, self.data_dir, self.download)
        cls = DATASETS[self.dataset]
        root = str(Path(self.data_dir).expanduser())
        try:
            splits = [cls(root, train=train, download=False) for train in (True, False)]
        except (RuntimeError, AssertionError, ValueError, EOFError, OSError) as err:  # torchvision's decoder on a bad file
            reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise CorruptDatasetError(
                f"the {cls.__name__} IDX files in {raw} could not be decoded ({type(err).__name__}: {reason}): one of "
                f"{', '.join(IDX_FILES)} there is truncated or not an IDX file. Delete that folder's files to have them "
                f"copied or decoded again from the other sources (see the README's Data section)"
            ) from None
        return tuple((s.data.unsqueeze(1), s.targets.long()) for s in splits)
