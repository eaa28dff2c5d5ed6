"""Hydra callbacks (registered in conf/train.yaml and conf/eval.yaml) that check what Hydra acts on before
refnets' own code runs.

- :class:`CheckOutputFolder`: Hydra makes the run folder (``hydra.run.dir``, or ``hydra.sweep.dir`` in a
  multirun) first, so a ``paths.log_dir`` that cannot hold it (``/proc/nope``, a path through a file, a
  read-only disk) ended in a traceback from inside Hydra.
- :class:`CheckSweep`: a multirun's jobs each get refnets' config checks before the first job starts, so a
  bad value in the sweep's last job is not found after hours of the others.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from ..training.checks import ConfigError, check_config

log = logging.getLogger(__name__)


def check_folder_can_be_made(config: DictConfig, key: str) -> None:
    """Create the parent of the folder at ``key`` (Hydra would create it a moment later); exit with status 2 and a
    one-line message naming ``paths.log_dir`` when that fails. Only the parent: the folder itself is named by the
    time and left to Hydra."""
    folder = Path(str(OmegaConf.select(config, key)))
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        log_dir = OmegaConf.select(config, "paths.log_dir", default=None)
        print(
            f"{key}={folder}: cannot create this run's folder ({type(err).__name__}: {err.strerror or err}: "
            f"{err.filename or folder.parent}); paths.log_dir={log_dir!r} (or $REFNETS_LOG_DIR) must name a folder "
            f"that can be written, e.g. paths.log_dir=logs",
            file=sys.stderr, flush=True,
        )
        sys.exit(2)


class CheckOutputFolder(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_folder_can_be_made(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_folder_can_be_made(config, "hydra.sweep.dir")


def sweep_jobs(config: DictConfig) -> list[list[str]]:
    """The overrides of each job of this multirun, as Hydra's basic sweeper will launch them: the experiment's
    ``hydra.sweeper.params`` and then the command line's, expanded to every combination."""
    loader = GlobalHydra.instance().config_loader()
    params = [f"{key}={value}" for key, value in (OmegaConf.select(config, "hydra.sweeper.params") or {}).items()]
    parsed = OverridesParser.create(config_loader=loader).parse_overrides([*params, *config.hydra.overrides.task])
    return [list(job) for job in BasicSweeper.split_arguments(parsed, None)[0]]


class CheckSweep(Callback):
    """Compose every job of a multirun and run refnets' config checks on it before the first job starts; if any
    fails, print each failing job's message and exit with status 2, nothing run. (Failures that only a run can
    find, missing data or a loss that becomes NaN, stop that job alone: see refnets.cli.train.JobFailed.)
    Only for Hydra's basic sweeper, whose jobs are known up front."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not str(OmegaConf.select(config, "hydra.sweeper._target_", default="")).endswith("BasicSweeper"):
            return
        loader = GlobalHydra.instance().config_loader()
        jobs = sweep_jobs(config)
        failures = []
        for num, overrides in enumerate(jobs):
            job = loader.load_sweep_config(master_config=config, sweep_overrides=overrides)
            with open_dict(job):
                del job["hydra"]  # as the job's own config: refnets' checks read the task's keys
            try:
                check_config(job)
            except ConfigError as err:
                failures.append(f"multirun job #{num} ({' '.join(overrides) or 'no overrides'}): {err}")
        if failures:
            print("\n".join([*failures, f"{len(failures)} of the multirun's {len(jobs)} jobs have a bad value: none was run"]),
                  file=sys.stderr, flush=True)
            sys.exit(2)
