"""Run a shipped experiment with ops=custom and ops=builtin and read back its curves (CSV logger)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from helpers import compose_train
from refnets.cli.train import train

QUIET = ["callbacks.progress_bar=null", "+trainer.enable_model_summary=false", "callbacks.lr_monitor=null"]


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
    """Train (and test) with a CSV logger, logging the training loss at every step when ``every_step``."""
    log_every = ["trainer.log_every_n_steps=1"] if every_step else []
    summary = train(compose_train([*overrides, "logger=csv", *log_every, *QUIET], output_dir))
    columns = read_csv(output_dir / "csv" / "metrics.csv")
    values = {key: [v for _, v in column] for key, column in columns.items()}
    return Curves(values.get("train/loss_step", []), values["train/loss_epoch"], values["val/acc"], summary)


def max_relative_difference(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a, b, strict=True))


def settles(epoch_loss: list[float], rel: float = 0.1, abs_: float = 0.01) -> bool:
    """The last epoch's training loss is below the first and within ``rel`` (or ``abs_``) of the lowest."""
    lowest = min(epoch_loss)
    return epoch_loss[-1] < epoch_loss[0] and epoch_loss[-1] <= max(lowest * (1 + rel), lowest + abs_) and math.isfinite(epoch_loss[-1])
