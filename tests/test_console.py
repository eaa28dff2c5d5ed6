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
