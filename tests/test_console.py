"""What a user sees in the terminal: refnets' own output and Lightning's progress, no advertising, no
warnings from Lightning's internals, a --help that describes refnets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import run_cli
from helpers import options

GROUPS = ["experiment", "model", "data", "optimizer", "scheduler", "trainer", "logger", "callbacks"]


@pytest.mark.parametrize("module", ["train", "eval"])
def test_help_describes_refnets_options_and_every_choice(module, tmp_path, monkeypatch):
    result = run_cli(module, ["--help"], tmp_path, monkeypatch)
    assert result.returncode == 0 and "powered by Hydra" not in result.stdout
    assert "ckpt_path=" in result.stdout
    for group in GROUPS:
        line = next(line for line in result.stdout.splitlines() if line.strip().startswith(f"{group}:"))
        assert [o.strip() for o in line.split(":", 1)[1].split(",")] == options(group), line
    assert "_array" not in result.stdout  # an internal partial config, not a choice


def _cli(module: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "REFNETS_LOG_DIR": str(cwd / "logs"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", f"from refnets.cli.{module} import main; main()", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_console_of_a_run_and_its_evaluation_is_quiet(tmp_path):
    """A real run in a subprocess (as a user starts it, with the progress bar), then refnets-eval of it."""
    run = tmp_path / "run"
    trained = _cli("train", ["experiment=mlp_xor", "trainer.max_epochs=1", "logger=csv", f"hydra.run.dir={run}"], tmp_path)
    out = trained.stdout + trained.stderr
    assert trained.returncode == 0, out[-3000:]
    assert "refnets-train finished" in out and "Epoch 0/0" in out  # refnets' summary, Lightning's progress
    for noise in ("Tip", "litlogger", "litmodels", "is deprecated", "FLOPs", "Warning", "tensorboard"):
        assert noise not in out, (noise, out[-3000:])
    evaluated = _cli("eval", [f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}"], tmp_path)
    out = evaluated.stdout + evaluated.stderr
    assert evaluated.returncode == 0 and "refnets-eval finished" in out and "metrics.json" in out, out[-3000:]
    for noise in ("Tip", "is deprecated", "callbacks used to create the checkpoint", "dirpath has changed", "Warning"):
        assert noise not in out, (noise, out[-3000:])


def test_lightnings_advice_to_add_dataloader_workers_is_not_shown(monkeypatch, tmp_path):
    """On a machine with more than 2 cores Lightning advises more DataLoader workers, once per loader (4 times a run
    on a 16-core GPU machine). refnets' loaders index tensors already in memory, where workers would only copy
    them: refnets-train filters the advice, as Lightning's docs show."""
    import warnings
    from types import SimpleNamespace

    from lightning.pytorch.trainer.connectors import data_connector
    from torch.utils.data import DataLoader

    monkeypatch.setattr(data_connector, "suggested_max_num_workers", lambda num_devices: 15)  # as on 16 cores
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_cli("train", ["experiment=mlp_xor", "trainer.max_epochs=1", "callbacks.progress_bar=null"], tmp_path, monkeypatch)
    assert result.returncode == 0, result.output[-2000:]
    assert not [w for w in caught if "does not have many workers" in str(w.message)]
    with warnings.catch_warnings(record=True) as caught:  # the patched check does advise it without the filter
        warnings.simplefilter("always")
        data_connector._worker_check(SimpleNamespace(num_devices=1), DataLoader([1, 2]), "train_dataloader")
    assert any("does not have many workers" in str(w.message) for w in caught)
