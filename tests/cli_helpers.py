"""Run refnets' command-line entry points (their real main functions) in this process: a subprocess
per case would spend most of its time importing torch and Lightning again."""

from __future__ import annotations

import importlib
import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(module: str, args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    """``refnets-<module> *args`` started in ``cwd`` (logs under cwd/logs): its exit status and output."""
    main = importlib.import_module(f"refnets.cli.{module}").main
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with monkeypatch.context() as m:
        m.chdir(cwd)
        m.setenv("REFNETS_LOG_DIR", str(cwd / "logs"))
        m.setattr(sys, "argv", [f"refnets-{module}", *args])
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main()
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return Result(code, out.getvalue(), err.getvalue())


class SaveWeightsPerRank:
    """A Lightning callback for tests of distributed runs: each process saves its final weights as
    ``rank<N>.pt`` in ``folder``, so a test can compare the processes' models."""

    def __new__(cls, folder: str):
        import lightning as L
        import torch

        class _Save(L.Callback):
            def on_fit_end(self, trainer, pl_module) -> None:
                Path(folder).mkdir(parents=True, exist_ok=True)
                torch.save(pl_module.state_dict(), Path(folder) / f"rank{trainer.global_rank}.pt")

        return _Save()
