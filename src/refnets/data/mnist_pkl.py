"""Nielsen's ``mnist.pkl.gz``: MNIST as the book's code (``mnist_loader.py``) reads it.

The file is a gzipped Python-2 pickle of three ``(images, labels)`` pairs — training (MNIST's first
50 000 training images), validation (its last 10 000) and test (its 10 000 test images); images are
float32 (n, 784) holding pixel/256, labels int64 (n,). It is decoded once here into MNIST's four IDX
files (pixel = value × 256, exact: 256 is a power of two), which every later run reads like any other
copy of MNIST.

A pickle can run any code it names, so the file is read by an unpickler that resolves only the few
globals a numpy array needs, and refuses all but plain numeric arrays (bool, int, float) of a bounded size,
checked again once loaded: a tampered file raises instead of executing.
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import struct
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

IMAGE_SIDE = 28

# What a pickled numpy array names: its reconstructor (numpy.core.multiarray._reconstruct before numpy 2,
# numpy._core.multiarray._reconstruct since), the ndarray class, the dtype class and, in protocol-2
# pickles written by Python 3, _codecs.encode (the array's bytes travel as a latin-1 str).
_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]


# The numeric kinds an array of the file may have: bool, signed and unsigned integers, floats. Others are
# refused by kind, not by dtype.hasobject alone: a void dtype ('V8') given a BUILD state whose flags say
# "holds objects" has hasobject set only after the check ran.
_KINDS = "biuf"
# At most all of MNIST (70 000 images of 784 pixels) in one array: _reconstruct allocates the shape it is
# given before any data is read, and an 87-byte file asking for 2**44 elements raised numpy's MemoryError.
_MAX_ELEMENTS = 70_000 * IMAGE_SIDE**2


def _is_plain(dtype: np.dtype) -> bool:
    return dtype.kind in _KINDS and not dtype.hasobject


def _plain_dtype(*args) -> np.dtype:
    """numpy.dtype, refusing all but plain numeric dtypes: unpickling an object array would unpickle arbitrary objects."""
    dtype = np.dtype(*args)
    if not _is_plain(dtype):
        raise pickle.UnpicklingError(f"refused dtype {dtype} (kind {dtype.kind!r}): only plain numeric arrays (kinds {_KINDS}) are expected")
    return dtype


def _reconstruct(cls, shape, dtype):
    """numpy's array reconstructor, for plain ndarrays of a numeric dtype and a bounded size only: it
    takes its dtype as a type code (b'O' made an object array without going through numpy.dtype)."""
    if cls is not np.ndarray:
        raise pickle.UnpicklingError(f"refused _reconstruct of {cls!r}: only numpy.ndarray is expected")
    dims = shape if isinstance(shape, tuple) else (shape,)
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims):
        raise pickle.UnpicklingError(f"refused _reconstruct with shape {shape!r}: expected non-negative ints")
    if math.prod(dims) > _MAX_ELEMENTS:
        raise pickle.UnpicklingError(f"refused an array of shape {shape} ({math.prod(dims)} elements): at most {_MAX_ELEMENTS} are expected")
    return _RECONSTRUCT(cls, shape, _plain_dtype(dtype))


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """codecs.encode as protocol-2 pickles written by Python 3 use it: an array's bytes stored as a latin-1 str."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}: only 'latin1' carries array bytes")
    return text.encode("latin1")


_ALLOWED = {
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _plain_dtype,
}


class NumpyArraysUnpickler(pickle.Unpickler):
    """An unpickler that builds numeric numpy arrays, tuples and numbers, and nothing else."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in _ALLOWED)
            raise pickle.UnpicklingError(f"refused global {module}.{name}: only numpy arrays are allowed ({allowed})") from None

    def load(self):
        """Unpickle, then check every array built: a BUILD opcode can change a dtype after the checks above."""
        loaded = super().load()
        _check_arrays(loaded)
        return loaded


def _check_arrays(obj, depth: int = 0) -> None:
    """Refuse any array in ``obj`` (tuples, lists, dicts of them) that is not of a plain numeric dtype."""
    if depth > 10:  # the file holds tuples of tuples of arrays; deeper nesting is no mnist.pkl.gz
        raise pickle.UnpicklingError("refused containers nested more than 10 deep: expected tuples of (images, labels) arrays")
    if isinstance(obj, np.ndarray):
        if type(obj) is not np.ndarray or not _is_plain(obj.dtype):
            raise pickle.UnpicklingError(f"refused an array of dtype {obj.dtype} ({type(obj).__name__}): only plain numeric arrays (kinds {_KINDS}) are expected")
    elif isinstance(obj, (tuple, list, set, frozenset)):
        for item in obj:
            _check_arrays(item, depth + 1)
    elif isinstance(obj, dict):
        for item in (*obj.keys(), *obj.values()):
            _check_arrays(item, depth + 1)


class CorruptFileError(ValueError):
    """A data file that exists but is not what it should be; the message names the file."""


def read_mnist_pkl(path: str | Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Decode ``mnist.pkl.gz`` into MNIST's training set (train + validation, in MNIST's order) and
    test set, as uint8 images (n, 28, 28) and uint8 labels (n,).

    Raises:
        CorruptFileError: the file is not a gzip, is truncated, holds a refused pickle, or does not
            hold three (images, labels) pairs of pixel/256 values and digit labels.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            # encoding='latin1': the file was pickled by Python 2, whose str held the arrays' bytes
            sets = NumpyArraysUnpickler(f, encoding="latin1").load()
    except (OSError, EOFError, zlib.error, pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError, MemoryError, RecursionError) as err:
        raise CorruptFileError(
            f"{path} is not a readable mnist.pkl.gz ({type(err).__name__}: {err}); expected a gzipped pickle of three "
            "(images, labels) numpy pairs, as in Nielsen's neural-networks-and-deep-learning repository. "
            "Delete it and fetch it again (see the README's Data section)."
        ) from err
    if not (isinstance(sets, tuple) and len(sets) == 3 and all(isinstance(s, tuple) and len(s) == 2 for s in sets)):
        raise CorruptFileError(f"{path} does not hold three (images, labels) pairs (training, validation, test); got {type(sets).__name__}")
    decoded = [_decode(path, name, *pair) for name, pair in zip(("training", "validation", "test"), sets)]
    (train_x, train_y), (val_x, val_y), test = decoded
    return (np.concatenate([train_x, val_x]), np.concatenate([train_y, val_y])), test


def _decode(path: Path, name: str, images, labels) -> tuple[np.ndarray, np.ndarray]:
    """One (images, labels) pair: float pixel/256 (n, 784) → uint8 (n, 28, 28); labels → uint8."""
    what = f"{path}: the {name} set"
    if not (isinstance(images, np.ndarray) and images.dtype.kind == "f" and images.ndim == 2 and images.shape[1] == IMAGE_SIDE**2):
        got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise CorruptFileError(f"{what}'s images must be a float array (n, {IMAGE_SIDE**2}), got {got}")
    if not (isinstance(labels, np.ndarray) and labels.dtype.kind in "iu" and labels.shape == (len(images),)):
        got = f"{labels.dtype} {labels.shape}" if isinstance(labels, np.ndarray) else type(labels).__name__
        raise CorruptFileError(f"{what}'s labels must be an integer array ({len(images)},), got {got}")
    pixels = images.astype(np.float64) * 256.0
    if not (np.array_equal(pixels, np.round(pixels)) and pixels.min(initial=0) >= 0 and pixels.max(initial=0) <= 255):
        raise CorruptFileError(f"{what}'s images must hold pixel/256 for pixels 0…255 (as Nielsen's file does)")
    if labels.size and not (labels.min() >= 0 and labels.max() <= 9):
        raise CorruptFileError(f"{what}'s labels must be digits 0…9, got {labels.min()}…{labels.max()}")
    return pixels.astype(np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE), labels.astype(np.uint8)


def write_idx(folder: Path, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> None:
    """Write MNIST's four IDX files (big-endian header, then the uint8 payload) into ``folder``,
    each through a temporary file, so an interrupted write never looks like a complete file."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, (images, labels) in (("train", train), ("t10k", test)):
        n = len(labels)
        payloads = {
            f"{prefix}-images-idx3-ubyte": struct.pack(">IIII", 0x0803, n, IMAGE_SIDE, IMAGE_SIDE) + images.tobytes(),
            f"{prefix}-labels-idx1-ubyte": struct.pack(">II", 0x0801, n) + labels.tobytes(),
        }
        for name, payload in payloads.items():
            with atomic_file(folder / name) as f:
                f.write(payload)


@contextmanager
def atomic_file(target: Path) -> Iterator[BinaryIO]:
    """A file opened for writing in place of ``target``: a temporary file beside it, renamed onto it when
    the block ends without error (atomic), deleted when it raises — so an interrupted write never looks
    like a complete file. Each writer gets a temporary name of its own: two runs caching the same data at
    once (a multirun, two terminals) both succeed, the later rename replacing the earlier identical file;
    with one shared ``.partial`` name one run moved the other's file away and failed (measured)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    try:
        # mkstemp creates the file 0600; a cached dataset must be readable like any file the user creates
        # (a data folder shared by several users), so it gets open()'s mode: 0666 less the umask
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            yield f
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (os.umask can only be read by
    setting it, which another thread creating a file at that moment would see)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
