"""Nielsen's mnist.pkl.gz as a source of data=mnist: decoding, both splits, and refusal of bad files.

Every file here is written by the test (a few images, pickled as the book's file is); the real file
is used by tests/test_recipes.py."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import stat

import numpy as np
import pytest
import torch

from helpers import write_idx
from refnets.data import CorruptDatasetError, MNISTDataModule
from refnets.data import mnist as mnist_module
from refnets.data.mnist_pkl import CorruptFileError, atomic_file, read_mnist_pkl

SIZES = {"training": 50, "validation": 10, "test": 20}


def nielsen_sets(seed: int = 0):
    """Three (images, labels) pairs as in the book's file: float32 pixel/256 (n, 784), int64 labels."""
    rng = np.random.default_rng(seed)
    sets = []
    for n in SIZES.values():
        pixels = rng.integers(0, 256, size=(n, 784))
        sets.append(((pixels / 256.0).astype(np.float32), rng.integers(0, 10, size=n).astype(np.int64)))
    return tuple(sets)


def write_pkl(path, obj, protocol: int = 2) -> None:
    with gzip.open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


def datamodule(data_dir, **kwargs) -> MNISTDataModule:
    dm = MNISTDataModule("mnist", data_dir=str(data_dir), download=False, **{"val_size": 10, "batch_size": 8, **kwargs})
    dm.prepare_data()
    dm.setup()
    return dm


@pytest.fixture(autouse=True)
def no_system_mnist(monkeypatch):
    monkeypatch.setitem(mnist_module.SYSTEM_DIRS, "mnist", ())


@pytest.mark.parametrize("folder", ["data", "data/MNIST"])
def test_pickle_decodes_to_the_exact_pixels_and_nielsen_split(tmp_path, folder):
    """value × 256 gives back every pixel exactly; the Nielsen split is the file's own three sets."""
    sets = nielsen_sets()
    (tmp_path / folder).mkdir(parents=True)
    write_pkl(tmp_path / folder / "mnist.pkl.gz", sets)
    dm = datamodule(tmp_path / "data", split="nielsen")
    for split, (images, labels) in zip(("train", "val", "test"), sets):
        served = dm.splits[split]
        assert served.inputs.dtype == torch.uint8 and served.inputs.shape == (len(labels), 1, 28, 28)
        assert torch.equal(served.inputs.reshape(len(labels), 784).long(), torch.from_numpy(images * 256).long())
        assert torch.equal(served.targets, torch.from_numpy(labels))
    # decoded once into MNIST's IDX files, which later runs read without the pickle
    (tmp_path / folder / "mnist.pkl.gz").unlink()
    again = datamodule(tmp_path / "data", split="nielsen")
    assert torch.equal(again.splits["train"].inputs, dm.splits["train"].inputs)


def test_standard_split_draws_validation_from_all_training_images(tmp_path):
    """split=standard: the 60 (here) training images, val_size of them held out under the seed; same test set."""
    sets = nielsen_sets()
    (tmp_path / "data").mkdir()
    write_pkl(tmp_path / "data" / "mnist.pkl.gz", sets)
    nielsen, standard = datamodule(tmp_path / "data", split="nielsen"), datamodule(tmp_path / "data", split="standard", seed=3)
    all_train = torch.cat([nielsen.splits["train"].inputs, nielsen.splits["val"].inputs])
    order = torch.randperm(60, generator=torch.Generator().manual_seed(3))
    assert torch.equal(standard.splits["val"].inputs, all_train[order[:10]])
    assert torch.equal(standard.splits["train"].inputs, all_train[order[10:]])
    assert torch.equal(standard.splits["test"].inputs, nielsen.splits["test"].inputs)


@pytest.mark.parametrize("split", ["nielsen", "standard"])
def test_idx_files_serve_both_splits(tmp_path, split):
    images, labels = write_idx(tmp_path / "data" / "MNIST" / "raw", n_train=60, n_test=20)
    dm = datamodule(tmp_path / "data", split=split, seed=0)
    if split == "nielsen":
        assert torch.equal(dm.splits["val"].inputs[:, 0], images[50:]) and torch.equal(dm.splits["train"].targets, labels[:50])
    else:
        order = torch.randperm(60, generator=torch.Generator().manual_seed(0))
        assert torch.equal(dm.splits["val"].targets, labels[order[:10]])


def test_unknown_split_is_named():
    with pytest.raises(ValueError, match=r"split must be one of \('nielsen', 'standard'\), got 'lecun'"):
        MNISTDataModule("mnist", split="lecun")


class RunsCode:
    """A pickle payload that calls os.system when loaded by an unrestricted unpickler."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_pickle_naming_any_other_global_is_refused(tmp_path, monkeypatch):
    """The malicious file is refused before anything runs, and the error names the file and the global."""
    monkeypatch.chdir(tmp_path)
    sets = nielsen_sets()
    write_pkl(tmp_path / "mnist.pkl.gz", (sets[0], sets[1], (RunsCode(), sets[2][1])))
    with pytest.raises(CorruptDatasetError, match=r"(?s)mnist\.pkl\.gz.*refused global (posix|os|nt)\.system"):
        datamodule(tmp_path)
    assert not (tmp_path / "pwned").exists()
    # control: the same file does run the code through plain pickle, so the refusal is what prevented it
    with gzip.open(tmp_path / "mnist.pkl.gz", "rb") as f:
        pickle.load(f)
    assert (tmp_path / "pwned").exists()


def test_an_object_array_is_refused(tmp_path):
    """An object array would unpickle arbitrary objects from inside the array: refused by its dtype."""
    sets = nielsen_sets()
    write_pkl(tmp_path / "mnist.pkl.gz", (sets[0], sets[1], (sets[2][0].astype(object), sets[2][1])))
    with pytest.raises(CorruptFileError, match=r"refused dtype object \(kind 'O'\)"):
        read_mnist_pkl(tmp_path / "mnist.pkl.gz")


def test_a_truncated_file_is_named(tmp_path):
    write_pkl(tmp_path / "mnist.pkl.gz", nielsen_sets())
    whole = (tmp_path / "mnist.pkl.gz").read_bytes()
    (tmp_path / "mnist.pkl.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CorruptDatasetError, match=rf"{tmp_path / 'mnist.pkl.gz'} is not a readable mnist.pkl.gz \(EOFError"):
        datamodule(tmp_path)
    assert not (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()  # nothing half-decoded is cached


@pytest.mark.parametrize(
    "content, pattern",
    [
        (b"not a gzip file at all", r"is not a readable mnist.pkl.gz \(BadGzipFile"),
        ("pickle", r"does not hold three \(images, labels\) pairs"),
        ("pixels", r"the test set's images must hold pixel/256"),
        ("shape", r"the training set's images must be a float array \(n, 784\), got float32 \(50, 783\)"),
        ("labels", r"the validation set's labels must be digits 0…9, got \d…10"),
    ],
    ids=["not-gzip", "wrong-structure", "not-pixel-over-256", "wrong-shape", "bad-label"],
)
def test_a_wrong_file_is_named_with_what_is_wrong(tmp_path, content, pattern):
    path = tmp_path / "mnist.pkl.gz"
    (train, val, test) = nielsen_sets()
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        obj = {
            "pickle": {"train": train},
            "pixels": (train, val, (test[0] + np.float32(0.001), test[1])),
            "shape": ((train[0][:, :783], train[1]), val, test),
            "labels": (train, (val[0], np.where(np.arange(10) == 3, 10, val[1])), test),
        }[content]
        write_pkl(path, obj)
    with pytest.raises(CorruptDatasetError, match=pattern) as err:
        datamodule(tmp_path)
    assert str(path) in str(err.value)


def test_missing_mnist_lists_the_pickle_among_the_sources(tmp_path):
    with pytest.raises(mnist_module.DatasetNotFoundError, match=r"(?s)mnist\.pkl\.gz \(Nielsen's file\).*put Nielsen's mnist\.pkl\.gz in"):
        datamodule(tmp_path / "empty")


def test_two_runs_caching_the_same_file_at_once_both_succeed(tmp_path):
    """Two runs that decode mnist.pkl.gz (or copy IDX files) at the same time — a multirun's jobs, two
    terminals — each write the cache through a temporary file: the second's write must not move the first's
    away (measured before the fix: one of two concurrent refnets-train runs failed with FileNotFoundError)."""
    target = tmp_path / "train-labels-idx1-ubyte"
    with atomic_file(target) as first:
        first.write(b"from the first run")
        with atomic_file(target) as second:  # the second run starts and finishes while the first is writing
            second.write(b"from the second run")
        assert target.read_bytes() == b"from the second run"
    assert target.read_bytes() == b"from the first run"  # identical in practice: both decode the same file
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary left behind


def test_an_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "t10k-images-idx3-ubyte"
    with pytest.raises(KeyboardInterrupt):
        with atomic_file(target) as f:
            f.write(b"half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_a_cached_file_gets_the_mode_of_any_new_file(umask, tmp_path):
    """A cached IDX file is 0666 less the umask, as open() would create it — not mkstemp's 0600, which left a
    shared data folder unreadable to the other users."""
    old = os.umask(umask)
    try:
        with atomic_file(tmp_path / "cached") as f:
            f.write(b"data")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "cached").stat().st_mode) == 0o666 & ~umask


_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]


class Reduced:
    """A pickle payload that calls ``func(*args)`` (then BUILDs ``state``), as a hostile file would."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


@pytest.mark.parametrize(
    "payload, pattern",
    [
        # _reconstruct takes a type code: b'O' made array([None, None, None], dtype=object) past numpy.dtype's check
        (Reduced(_RECONSTRUCT, (np.ndarray, (3,), b"O")), r"refused dtype object \(kind 'O'\)"),
        # a void dtype whose BUILD state sets the "holds objects" flag: hasobject was False when checked
        (Reduced(np.dtype, ("V8", False, True), (3, "|", None, None, None, 8, 1, 0x3F)), r"refused dtype \|?V8 \(kind 'V'\)"),
        (Reduced(np.dtype, ("U4", False, True)), r"refused dtype <U4 \(kind 'U'\)"),
        # 87 bytes asking for 2**44 elements: numpy's MemoryError, raw
        (Reduced(_RECONSTRUCT, (np.ndarray, (2**44,), b"B")), r"refused an array of shape \(17592186044416,\)"),
    ],
    ids=["typecode-O", "V8-built-with-objects", "unicode", "2**44-elements"],
)
def test_a_non_numeric_or_huge_array_is_refused(payload, pattern, tmp_path):
    """Only plain numeric arrays of a bounded size come out of the restricted unpickler, named as the file's fault."""
    write_pkl(tmp_path / "mnist.pkl.gz", payload)
    with pytest.raises(CorruptFileError, match=pattern) as err:
        read_mnist_pkl(tmp_path / "mnist.pkl.gz")
    assert str(tmp_path / "mnist.pkl.gz") in str(err.value)


def test_every_array_is_checked_after_loading(monkeypatch):
    """The check after loading holds by itself: with the dtype checks made blind, an object array is still refused."""
    from refnets.data import mnist_pkl

    monkeypatch.setattr(mnist_pkl, "_plain_dtype", np.dtype)
    monkeypatch.setitem(mnist_pkl._ALLOWED, ("numpy", "dtype"), np.dtype)
    with pytest.raises(pickle.UnpicklingError, match=r"refused an array of dtype object"):
        mnist_pkl.NumpyArraysUnpickler(io.BytesIO(pickle.dumps((np.array([None]),), protocol=2))).load()
