"""MNIST, Fashion-MNIST and KMNIST through torchvision's dataset classes, found offline first.

Where the four IDX files come from, in order:
1. ``data_dir`` (config ``data.data_dir``; the environment variable REFNETS_DATA_DIR sets its
   default): torchvision's layout ``<data_dir>/<Class>/raw/``, ``<data_dir>/<Class>/``, or the files
   directly in ``data_dir`` — only when recognised as the dataset asked for (see TEST_LABELS_SHA256);
2. known system folders — Debian's package ``dataset-fashion-mnist`` installs the real
   Fashion-MNIST at /usr/share/datasets/fashion-mnist (as .gz files whose checksums differ from
   torchvision's, so they are decompressed here rather than handed to torchvision's downloader);
3. MNIST only: Nielsen's ``mnist.pkl.gz`` in ``data_dir`` (or ``<data_dir>/MNIST/``), the file
   his book's code reads (see :mod:`refnets.data.mnist_pkl`);
4. torchvision's download, when ``download: true``.
Files found in 1–3 are copied (decompressed, or decoded from the pickle) into ``<data_dir>/<Class>/raw/``
once, where torchvision reads them, after checking each file's IDX header and size, that images and
labels pair up and that labels are 0…9 (a bad file is named, never decoded into silently wrong data).
torchvision decodes each set once into a uint8 tensor (``.data``).

Two splits of the 60 000 training images, whichever file they came from:
- ``nielsen`` — the book's protocol: the first 60 000 − val_size images train, the last val_size
  (10 000) validate, exactly the training and validation sets of ``mnist.pkl.gz``;
- ``standard`` — LeCun's protocol: the 60 000 training images, of which a validation slice of
  val_size images drawn under the seed is held out (5 000 in the lenet5 experiments).
The test set is always MNIST's 10 000 test images.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import warnings
import zlib
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


# The three datasets share their files' names, so files lying directly in data_dir are identified by
# their test labels before being taken as the dataset asked for (MNIST's are taken for Fashion-MNIST
# otherwise, silently). sha256 of the decompressed t10k-labels-idx1-ubyte, measured on the real files:
# MNIST's (labels 980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009 per class) and Debian's
# Fashion-MNIST (1 000 per class). KMNIST's is not known here (no copy was at hand): only torchvision's
# own .gz of it is recognised, by the md5 torchvision checks on download (see _identify).
TEST_LABELS_SHA256 = {
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2": "mnist",
    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34": "fashion_mnist",
}
TEST_LABELS = "t10k-labels-idx1-ubyte"
# IDX headers of the files: magic 0x0000 08 nd (uint8, nd dimensions), then nd big-endian sizes.
IDX_DIMS = {name: (1 if "labels" in name else 3) for name in IDX_FILES}

SPLITS = ("nielsen", "standard")
PKL_NAME = "mnist.pkl.gz"


class DatasetNotFoundError(FileNotFoundError):
    """No source of a dataset's files worked; the message lists each one tried and what to do."""


class UnrecognisedFilesError(DatasetNotFoundError):
    """IDX files lying directly in data_dir are not the dataset asked for (see ``_install``)."""


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


def _read(source: Path) -> bytes:
    """A source file's bytes, decompressed when it is a .gz; a damaged .gz is named, not left to gzip's
    EOFError / 'CRC check failed', which name no file."""
    try:
        return gzip.decompress(source.read_bytes()) if source.suffix == ".gz" else source.read_bytes()
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise CorruptDatasetError(
            f"{source} cannot be decompressed ({type(err).__name__}: {err or 'truncated'}): expected a complete gzip "
            "of an IDX file; fetch it again"
        ) from None


def _idx_count(name: str, where: Path, head: bytes, size: int) -> int:
    """Check an IDX file's header (``head``: at least its first 16 bytes, fewer if the file is shorter) against
    what ``name`` must hold and the file's ``size`` in bytes; return the number of items it declares."""
    nd = IDX_DIMS[name]
    header = 4 + 4 * nd
    expected_magic = 0x0800 + nd
    if len(head) < header:
        raise CorruptDatasetError(f"{where}: {size} bytes, shorter than the {header}-byte header of an IDX file with {nd} dimension(s); expected {name}")
    magic, *dims = struct.unpack(f">I{nd}I", head[:header])
    if magic != expected_magic:
        raise CorruptDatasetError(
            f"{where}: IDX magic {magic:#010x}, expected {expected_magic:#010x} (uint8 {'labels, 1 dimension' if nd == 1 else 'images, 3 dimensions'})"
        )
    if nd == 3 and dims[1:] != [28, 28]:
        raise CorruptDatasetError(f"{where}: images of {dims[1]}×{dims[2]} pixels, expected 28×28")
    expected_size = header + dims[0] * (28 * 28 if nd == 3 else 1)
    if size != expected_size:
        raise CorruptDatasetError(
            f"{where}: {size} bytes, expected {expected_size} for the {dims[0]} items its header declares (truncated, or trailing data)"
        )
    return dims[0]


def _check_pairs(counts: dict[str, int], where: dict[str, Path]) -> None:
    """Each split's images and labels files must declare as many items: torchvision pairs them by index,
    and a longer images file would lose its tail silently (an IndexError the other way round)."""
    for prefix in ("train", "t10k"):
        images, labels = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
        if counts[images] != counts[labels]:
            raise CorruptDatasetError(
                f"{where[images]} holds {counts[images]} images but {where[labels]} holds {counts[labels]} labels; expected as many of each"
            )


def _check_labels(top: int | None, where: Path, num_classes: int = 10) -> None:
    """Labels must be class indices 0…num_classes − 1 (uint8, so only the largest, ``top``, can be wrong)."""
    if top is not None and top >= num_classes:
        raise CorruptDatasetError(f"{where}: a label {top}, expected class indices 0…{num_classes - 1}")


def _identify(source: Path, content: bytes) -> str | None:
    """Which dataset a test-labels file is: by the sha256 of its decompressed content, or, for a .gz,
    by the md5 torchvision checks of its own downloads (the only fingerprint of KMNIST known here)."""
    if source.suffix == ".gz":
        digest = hashlib.md5(source.read_bytes(), usedforsecurity=False).hexdigest()
        for dataset, cls in DATASETS.items():
            if (f"{TEST_LABELS}.gz", digest) in cls.resources:
                return dataset
    return TEST_LABELS_SHA256.get(hashlib.sha256(content).hexdigest())


def _describe(dataset: str | None, content: bytes) -> str:
    if dataset is not None:
        return f"they are {DATASETS[dataset].__name__}'s files (recognised by their test labels)"
    per_class = [content[8:].count(k) for k in range(10)]
    return (
        f"their {len(content) - 8} test labels ({', '.join(map(str, per_class))} per class) are none of the known test sets "
        f"(MNIST's, Fashion-MNIST's, or KMNIST's as torchvision's .gz)"
    )


def _install(files: dict[str, Path], raw: Path, dataset: str | None = None) -> None:
    """Check the four files, then copy them (decompressed) into ``raw``. With ``dataset``, the files lay
    in the bare data folder and must first be identified as that dataset."""
    contents = {name: _read(source) for name, source in files.items()}
    counts = {name: _idx_count(name, files[name], contents[name][:16], len(contents[name])) for name in IDX_FILES}
    _check_pairs(counts, files)
    for name in IDX_FILES:
        if "labels" in name:
            _check_labels(max(contents[name][8:], default=None), files[name])
    if dataset is not None and (found := _identify(files[TEST_LABELS], contents[TEST_LABELS])) != dataset:
        cls_name = DATASETS[dataset].__name__
        raise UnrecognisedFilesError(
            f"the IDX files directly in {files[TEST_LABELS].parent} are not {cls_name}'s ({dataset} was asked for): "
            f"{_describe(found, contents[TEST_LABELS])}. MNIST, Fashion-MNIST and KMNIST share file names, so files "
            f"there are taken only when recognised; put {cls_name}'s files in {raw} instead"
        )
    raw.mkdir(parents=True, exist_ok=True)
    for name, content in contents.items():
        with atomic_file(raw / name) as dst:
            dst.write(content)


def locate(dataset: str, data_dir: str | os.PathLike, download: bool = False) -> Path:
    """Make sure ``<data_dir>/<Class>/raw/`` holds the four IDX files of ``dataset``; return that folder."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {tuple(DATASETS)}, got {dataset!r}")
    cls = DATASETS[dataset]
    root = Path(data_dir).expanduser()
    raw = root / cls.__name__ / "raw"
    if (found := _find_idx(raw)) and all(path.suffix != ".gz" for path in found.values()):
        return raw
    # the bare data folder after the dataset's own folders: its files must be identified (see _install)
    sources = [raw, root / cls.__name__, root, *map(Path, SYSTEM_DIRS[dataset])]
    skipped = ""
    for folder in sources:
        if found := _find_idx(folder):
            try:
                _install(found, raw, dataset if folder == root else None)
            except UnrecognisedFilesError as err:  # another dataset's files (say MNIST's, asked for Fashion-MNIST): the
                skipped = f"\n{err}."  # next sources (Debian's folder) may hold the right ones; said if none does
                warnings.warn(f"{err}; looking in the other sources", stacklevel=2)
                continue
            except DatasetNotFoundError:  # already names the file (an OSError too: not a failed copy)
                raise
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
        f"and {download_note}.{skipped}\n"
        f"Offline options:\n"
        f"  - put the four IDX files in {raw} (or in {root}; set data.data_dir=... or REFNETS_DATA_DIR to choose the folder)"
        f"{hint_debian}{hint_pkl}\n"
        f"  - or train on a bundled set that needs no files: data=digits (or blobs, xor, moons, circles)"
    )


_REDO = "Delete that folder's files to have them copied or decoded again from the other sources (see the README's Data section)"


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
        # the headers first, so that a bad file is named rather than left to torchvision's decoder (a
        # KeyError for an unknown type byte, a TypeError for a float one, short reads for a truncated file)
        try:
            counts = {}
            for name in IDX_FILES:
                with open(raw / name, "rb") as f:
                    counts[name] = _idx_count(name, raw / name, f.read(16), os.fstat(f.fileno()).st_size)
            _check_pairs(counts, {name: raw / name for name in IDX_FILES})
        except CorruptDatasetError as err:
            raise CorruptDatasetError(f"{err}. {_REDO}") from None
        try:
            splits = [cls(root, train=train, download=False) for train in (True, False)]
        except (RuntimeError, AssertionError, ValueError, EOFError, OSError, KeyError, TypeError, IndexError) as err:  # torchvision's decoder on a bad file
            reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise CorruptDatasetError(
                f"the {cls.__name__} IDX files in {raw} could not be decoded ({type(err).__name__}: {reason}): one of "
                f"{', '.join(IDX_FILES)} there is truncated or not an IDX file. {_REDO}"
            ) from None
        for split, prefix in zip(splits, ("train", "t10k")):
            top = int(split.targets.max()) if len(split.targets) else None
            try:
                _check_labels(top, raw / f"{prefix}-labels-idx1-ubyte", self.num_classes)
            except CorruptDatasetError as err:
                raise CorruptDatasetError(f"{err}. {_REDO}") from None
        return tuple((s.data.unsqueeze(1), s.targets.long()) for s in splits)
