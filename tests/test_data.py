"""Datamodules: MNIST-family loading from IDX files (written here), the offline error, the bundled sets."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import pytest
import torch

from helpers import write_idx
from recipes import DATA_DIR
from refnets.data import CorruptDatasetError, DatasetNotFoundError, DigitsDataModule, MNISTDataModule, Toy2DDataModule
from refnets.data import mnist as mnist_module


def register_test_labels(folder: Path, dataset: str, monkeypatch) -> None:
    """Make the crafted test labels in ``folder`` known as ``dataset``'s, as the real files' fingerprints are."""
    labels = folder / "t10k-labels-idx1-ubyte"
    content = labels.read_bytes() if labels.is_file() else gzip.decompress((folder / f"{labels.name}.gz").read_bytes())
    monkeypatch.setitem(mnist_module.TEST_LABELS_SHA256, hashlib.sha256(content).hexdigest(), dataset)


@pytest.mark.parametrize("layout", ["torchvision", "flat", "flat-gz", "system-gz"])
@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist", "kmnist"])
def test_mnist_family_reads_idx_files(dataset, layout, tmp_path, monkeypatch):
    """The IDX files are found in each place the docs list, decoded once, and served unchanged."""
    cls_name = mnist_module.DATASETS[dataset].__name__
    data_dir = tmp_path / "data"
    folder = {
        "torchvision": data_dir / cls_name / "raw",
        "flat": data_dir,
        "flat-gz": data_dir,
        "system-gz": tmp_path / "system",
    }[layout]
    images, labels = write_idx(folder, gz=layout.endswith("gz"))
    if layout.startswith("flat"):  # files directly in data_dir are taken only when recognised
        register_test_labels(folder, dataset, monkeypatch)
    monkeypatch.setitem(mnist_module.SYSTEM_DIRS, dataset, (str(tmp_path / "system"),))
    dm = MNISTDataModule(dataset, data_dir=str(data_dir), val_size=10, batch_size=8, seed=0, split="standard")
    dm.prepare_data()
    dm.setup()
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 50, "val": 10, "test": 20}
    train = dm.splits["train"]
    assert train.inputs.dtype == torch.uint8 and train.inputs.shape[1:] == (1, 28, 28)
    # every served image is one of the written ones, with its own label
    order = torch.randperm(60, generator=torch.Generator().manual_seed(0))[10:]
    assert torch.equal(train.inputs[:, 0], images[order]) and torch.equal(train.targets, labels[order])
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 1, 28, 28) and x.dtype == torch.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert y.dtype == torch.long


def test_missing_dataset_error_names_every_source(tmp_path, monkeypatch):
    monkeypatch.setitem(mnist_module.SYSTEM_DIRS, "fashion_mnist", (str(tmp_path / "nowhere"),))
    dm = MNISTDataModule("fashion_mnist", data_dir=str(tmp_path / "data"), download=False)
    with pytest.raises(DatasetNotFoundError) as err:
        dm.prepare_data()
    message = str(err.value)
    for expected in (
        "FashionMNIST", str(tmp_path / "data" / "FashionMNIST" / "raw"), str(tmp_path / "nowhere"),
        "download was not attempted", "apt-get install dataset-fashion-mnist", "data=digits", "REFNETS_DATA_DIR",
    ):
        assert expected in message


def test_failed_download_is_reported_not_raised_raw(tmp_path, monkeypatch):
    """With download=true and no network, the error still lists the folders and quotes the download failure."""

    def no_network(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: <urlopen error [Errno -3] no network>")

    monkeypatch.setattr(mnist_module.datasets.MNIST, "download", no_network)
    monkeypatch.setitem(mnist_module.SYSTEM_DIRS, "mnist", ())
    with pytest.raises(DatasetNotFoundError, match=r"(?s)MNIST/raw.*torchvision's download failed: RuntimeError: Error downloading"):
        MNISTDataModule("mnist", data_dir=str(tmp_path), download=True).prepare_data()


def test_split_is_deterministic_under_the_seed():
    def val_targets(seed):
        dm = DigitsDataModule(size=8, val_size=100, seed=seed)
        dm.setup()
        return dm.splits["val"].targets

    assert torch.equal(val_targets(1), val_targets(1))
    assert not torch.equal(val_targets(1), val_targets(2))


def test_digits_upsampled_for_lenet():
    dm = DigitsDataModule(size=28, test_size=360, val_size=180)
    dm.setup()
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 1257, "val": 180, "test": 360}
    x, y = next(iter(dm.test_dataloader()))
    assert x.shape == (360, 1, 28, 28) and set(y.tolist()) == set(range(10))


@pytest.mark.parametrize("kind", ["blobs", "xor", "moons", "circles"])
def test_toy_sets(kind):
    dm = Toy2DDataModule(kind, n_train=100, n_test=50, noise=0.1, val_size=20)
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape[1:] == (2,) and set(dm.splits["train"].targets.tolist()) == {0, 1}


def test_xor_labels_are_xor_of_the_quadrant():
    dm = Toy2DDataModule("xor", n_train=200, n_test=10, noise=0.1, val_size=0)
    dm.setup()
    x, y = dm.splits["train"].inputs, dm.splits["train"].targets
    assert torch.equal(y, ((x[:, 0] > 0) ^ (x[:, 1] > 0)).long())


def test_augmentation_uses_the_per_sample_path():
    """A train_transform sees one uint8 image at a time through a standard DataLoader."""
    seen = []

    def flip(img):
        seen.append(tuple(img.shape))
        return img.flip(-1)

    dm = DigitsDataModule(size=8, val_size=10, batch_size=4, train_transform=flip)
    dm.setup()
    x, _ = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 1, 8, 8) and seen[:4] == [(1, 8, 8)] * 4


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(batch_size=0), r"batch_size must be a positive int, got 0"),
        (dict(val_size=-1), r"val_size must be a non-negative int, got -1"),
        (dict(std=0.0), r"std must be positive, got 0.0"),
        (dict(val_size=True), r"val_size must be a non-negative int, got True"),
        (dict(batch_size=True), r"batch_size must be a positive int, got True"),
        (dict(test_size=-100), r"test_size must be an int in \[1, 1797\) \(the set has 1797 images\), got -100"),
        (dict(test_size=0), r"test_size must be an int in \[1, 1797\)"),
        (dict(test_size=1797), r"test_size must be an int in \[1, 1797\).*got 1797"),
        (dict(test_size=360.5), r"test_size must be an int in \[1, 1797\).*got 360.5"),
        (dict(size=8.5), r"size must be an int of at least 8 \(the images are 8×8\), got 8.5"),
        (dict(size=7), r"size must be an int of at least 8 .*got 7"),
    ],
)
def test_bad_datamodule_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        DigitsDataModule(**kwargs)


def test_val_size_too_large_is_named():
    dm = DigitsDataModule(val_size=5000)
    with pytest.raises(ValueError, match=r"val_size=5000 leaves no training data: the training set has 1437 samples"):
        dm.setup()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine (torch.cuda.is_available() is False)")
def test_data_lives_on_the_training_gpu():
    """With a CUDA trainer the tensors move to the GPU once, and batches come out already there."""
    from types import SimpleNamespace

    dm = DigitsDataModule(size=28, val_size=100)
    dm.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cuda", 0)))
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert x.is_cuda and y.is_cuda and dm.splits["test"].inputs.is_cuda


def test_data_stays_on_the_cpu_for_a_cpu_trainer():
    from types import SimpleNamespace

    dm = DigitsDataModule(size=8, val_size=100)
    dm.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cpu")))
    dm.setup()
    assert dm.splits["train"].inputs.device.type == "cpu"


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_an_idx_file_that_cannot_be_decoded_is_named(damage, tmp_path, monkeypatch):
    """A truncated or garbage IDX file in <data_dir>/MNIST/raw gets one error naming the folder and the files,
    not torchvision's RuntimeError/AssertionError from its decoder."""
    from refnets.data import CorruptDatasetError

    raw = tmp_path / "data" / "MNIST" / "raw"
    write_idx(raw)
    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000] if damage == "truncated" else b"\x07" * 4000)
    monkeypatch.setitem(mnist_module.SYSTEM_DIRS, "mnist", (str(tmp_path / "nowhere"),))
    dm = MNISTDataModule("mnist", data_dir=str(tmp_path / "data"), val_size=10, batch_size=8, seed=0, split="standard")
    with pytest.raises(CorruptDatasetError, match=r"MNIST/raw/train-images-idx3-ubyte: .*expected.*Delete that folder's files"):
        dm.prepare_data()
        dm.setup()


@pytest.mark.parametrize("asked, registered", [("fashion_mnist", "mnist"), ("mnist", "fashion_mnist"), ("kmnist", "mnist")])
def test_files_in_the_bare_data_dir_of_another_dataset_are_refused(asked, registered, tmp_path, monkeypatch):
    """The three datasets share file names: MNIST's files lying in data_dir were served as Fashion-MNIST
    (and cached as its copy). Now they are identified by their test labels first, and nothing is cached."""
    data_dir = tmp_path / "data"
    write_idx(data_dir)
    register_test_labels(data_dir, registered, monkeypatch)
    monkeypatch.setitem(mnist_module.SYSTEM_DIRS, asked, ())
    asked_cls, found_cls = (mnist_module.DATASETS[d].__name__ for d in (asked, registered))
    dm = MNISTDataModule(asked, data_dir=str(data_dir), val_size=10)
    with pytest.raises(DatasetNotFoundError) as err, pytest.warns(UserWarning, match="looking in the other sources"):
        dm.setup()
    message = str(err.value)
    for expected in (f"directly in {data_dir} are not {asked_cls}'s ({asked} was asked for)", f"they are {found_cls}'s files (recognised by their test labels)", str(data_dir / asked_cls / "raw")):
        assert expected in message
    assert not (data_dir / asked_cls).exists()


def test_another_datasets_files_in_the_bare_data_dir_are_skipped_for_a_system_folder(tmp_path, monkeypatch):
    """MNIST's files lying in data_dir and Fashion-MNIST asked for, with Debian's folder holding it: the bare
    files are skipped, with a warning that says what they are, and Debian's copy is used."""
    data_dir = tmp_path / "data"
    write_idx(data_dir, seed=1)
    register_test_labels(data_dir, "mnist", monkeypatch)
    images, _ = write_idx(tmp_path / "debian", gz=True, seed=2)
    monkeypatch.setitem(mnist_module.SYSTEM_DIRS, "fashion_mnist", (str(tmp_path / "debian"),))
    dm = MNISTDataModule("fashion_mnist", data_dir=str(data_dir), val_size=10, split="nielsen")
    with pytest.warns(UserWarning, match=r"are not FashionMNIST's .*they are MNIST's files .*; looking in the other sources"):
        dm.setup()
    assert torch.equal(dm.splits["train"].inputs, images[:-10].unsqueeze(1))


def test_unrecognised_files_in_the_bare_data_dir_are_refused(tmp_path, monkeypatch):
    """Files that match no known test set (KMNIST's decompressed, a subset, crafted ones) are not guessed at."""
    data_dir = tmp_path / "data"
    write_idx(data_dir, n_test=20)
    monkeypatch.setitem(mnist_module.SYSTEM_DIRS, "kmnist", ())
    with pytest.raises(DatasetNotFoundError, match=r"are not KMNIST's \(kmnist was asked for\): their 20 test labels \(.* per class\) are none of the known test sets.*put KMNIST's files in .*KMNIST/raw instead"):
        MNISTDataModule("kmnist", data_dir=str(data_dir), val_size=10).setup()


def test_own_folder_comes_before_the_bare_data_dir(tmp_path, monkeypatch):
    """<data_dir>/<Class>/ is looked in before unrecognised files lying in data_dir itself."""
    data_dir = tmp_path / "data"
    write_idx(data_dir, seed=1)
    images, _ = write_idx(data_dir / "FashionMNIST", seed=2)
    monkeypatch.setitem(mnist_module.SYSTEM_DIRS, "fashion_mnist", ())
    dm = MNISTDataModule("fashion_mnist", data_dir=str(data_dir), val_size=10, split="nielsen")
    dm.setup()
    assert torch.equal(dm.splits["train"].inputs[:, 0], images[:50])


@pytest.mark.parametrize(
    "dataset, folder",
    [("mnist", DATA_DIR / "MNIST" / "raw"), ("fashion_mnist", Path("/usr/share/datasets/fashion-mnist"))],
)
def test_the_real_test_labels_are_recognised(dataset, folder):
    """The fingerprints are those of the real files, where a copy is at hand (MNIST as .ci/run decodes it
    from mnist.pkl.gz; Fashion-MNIST from Debian's package)."""
    labels = [p for p in (folder / "t10k-labels-idx1-ubyte", folder / "t10k-labels-idx1-ubyte.gz") if p.is_file()]
    if not labels:
        pytest.skip(f"no copy of {dataset}'s test labels in {folder}")
    content = mnist_module._read(labels[0])
    assert mnist_module._identify(labels[0], content) == dataset


def _idx(magic: int, *dims: int, payload: bytes | None = None) -> bytes:
    n = 1
    for d in dims:
        n *= d
    return struct.pack(f">I{len(dims)}I", magic, *dims) + (bytes(n) if payload is None else payload)


# Each damage: (file to replace, its new bytes or a function of the old bytes, what the error says about it)
DAMAGES = {
    "truncated gz": ("train-images-idx3-ubyte.gz", lambda b: b[: len(b) // 2], r"cannot be decompressed \(EOFError"),
    "bit-flipped gz": ("t10k-labels-idx1-ubyte.gz", lambda b: b[:-8] + bytes([b[-8] ^ 1]) + b[-7:], r"cannot be decompressed \(BadGzipFile: CRC check failed"),
    "not a gz": ("t10k-labels-idx1-ubyte.gz", lambda b: b"not gzip at all", r"cannot be decompressed \(BadGzipFile"),
    "type byte 0x0A": ("train-labels-idx1-ubyte", lambda b: b[:2] + b"\x0a" + b[3:], r"IDX magic 0x00000a01, expected 0x00000801 \(uint8 labels"),
    "float magic 0x0D03": ("train-images-idx3-ubyte", lambda b: _idx(0x0D03, 60, 28, 28, payload=bytes(60 * 28 * 28 * 4)), r"IDX magic 0x00000d03, expected 0x00000803"),
    "more images than labels": ("train-images-idx3-ubyte", lambda b: _idx(0x0803, 120, 28, 28), r"holds 120 images but .*train-labels-idx1-ubyte(\.gz)? holds 60 labels"),
    "fewer images than labels": ("t10k-images-idx3-ubyte", lambda b: _idx(0x0803, 10, 28, 28), r"holds 10 images but .*t10k-labels-idx1-ubyte(\.gz)? holds 20 labels"),
    "truncated": ("t10k-images-idx3-ubyte", lambda b: b[:-1], r"15695 bytes, expected 15696 for the 20 items"),
    "trailing data": ("t10k-labels-idx1-ubyte", lambda b: b + b"\0", r"29 bytes, expected 28 for the 20 items"),
    "label 10": ("train-labels-idx1-ubyte", lambda b: b[:-1] + b"\x0a", r"a label 10, expected class indices 0…9"),
    "images of 32x32": ("train-images-idx3-ubyte", lambda b: _idx(0x0803, 60, 32, 32), r"images of 32×32 pixels, expected 28×28"),
}


@pytest.mark.parametrize("where", ["copied", "cached"])
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_bad_idx_file_is_named(damage, where, tmp_path, monkeypatch):
    """A bad file ends in one CorruptDatasetError naming it and what is wrong, whether it is a source being
    copied into <Class>/raw (from .gz files) or the copy torchvision reads there — not a raw EOFError,
    KeyError, TypeError or IndexError, nor a pairing that silently drops images."""
    name, change, pattern = DAMAGES[damage]
    gz = name.endswith(".gz")
    if where == "cached" and gz:
        pytest.skip("the cached copy is never a .gz")
    folder = tmp_path / "data" / "MNIST" / ("src" if where == "copied" else "raw")
    write_idx(folder, gz=where == "copied")
    target = folder / (name if gz or where == "cached" else f"{name}.gz")
    old = gzip.decompress(target.read_bytes()) if where == "copied" and not gz else target.read_bytes()
    new = change(old)
    target.write_bytes(gzip.compress(new) if where == "copied" and not gz else new)
    monkeypatch.setitem(mnist_module.SYSTEM_DIRS, "mnist", (str(folder),) if where == "copied" else ())
    dm = MNISTDataModule("mnist", data_dir=str(tmp_path / "data"), val_size=10)
    with pytest.raises(CorruptDatasetError, match=pattern) as err:
        dm.setup()
    assert str(target) in str(err.value)
