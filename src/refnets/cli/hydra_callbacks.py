"""Hydra callbacks (registered in conf/train.yaml and conf/eval.yaml) that check what Hydra acts on before
refnets' own code runs.

- :class:`CheckOutputFolder`: Hydra makes the run folder (``hydra.run.dir``, or ``hydra.sweep.dir`` in a
  multirun) first, so a ``paths.log_dir`` that cannot hold it (``/proc/nope``, a path through a file, a
  read-only disk) ended in a traceback from inside Hydra.
- :class:`CheckSweep`: a multirun's jobs each get refnets' config checks before the first job starts, so a
  bad value in the sweep's last job is not found after hours of the others.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from ..training.checks import ConfigError, check_accelerator, check_config

# the longest name one folder may have (NAME_MAX on Linux and macOS)
NAME_MAX = 255


def _refuse(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    sys.exit(2)


@contextmanager
def hydra_config_of(config: DictConfig | None) -> Iterator[None]:
    """HydraConfig set to ``config`` (as Hydra's run_job sets it for a job), so ``${hydra:…}`` resolves; restored after.
    None: not set, as when Hydra's sweeper makes a multirun's folder."""
    hydra_config = HydraConfig.instance()
    previous = hydra_config.cfg
    if config is None:
        hydra_config.cfg = None
    else:
        hydra_config.set_config(config)
    try:
        yield
    finally:
        hydra_config.cfg = previous


def check_folder_can_be_made(config: DictConfig, key: str) -> None:
    """Create the parent of the folder at ``key`` (Hydra would create it a moment later); exit with status 2 and a
    one-line message naming what set it when that fails. Only the parent: the folder itself is named by the
    time and left to Hydra."""
    # A run's folder is made with HydraConfig set, so ${hydra:runtime.choices.model} in task_name resolves; a
    # multirun's is made by the sweeper before any job, with no HydraConfig: there ${hydra:…} cannot resolve.
    sweep = key == "hydra.sweep.dir"
    try:
        with hydra_config_of(None if sweep else config):
            log_dir = OmegaConf.select(config, "paths.log_dir", default=None)
            folder = Path(str(OmegaConf.select(config, key)))
    except Exception as err:  # ~paths, or a value that does not resolve: named here, not as Hydra's traceback
        if sweep and "HydraConfig was not set" in str(err):
            _refuse(f"{key}={OmegaConf.to_container(config.hydra.sweep, resolve=False)['dir']}: uses ${{hydra:…}} (here or through a "
                    f"value it reads, such as task_name), which Hydra cannot resolve there: a multirun's folder is made once, before "
                    f"its jobs. Give it a plain value (e.g. task_name=my_sweep); a value per job belongs in hydra.sweep.subdir")
        _refuse(f"{key}: {str(err).splitlines()[0]}")
    if log_dir is not None and not str(log_dir).strip():
        _refuse(f"paths.log_dir={log_dir!r} is empty ($REFNETS_LOG_DIR set to nothing?): expected a folder, e.g. paths.log_dir=logs "
                f"(an empty one would put the runs at the root of the file system)")
    given = any(str(o).startswith(f"{key}=") for o in OmegaConf.to_container(config.hydra.overrides.hydra, resolve=False))
    source = f"{key} as given" if given else f"made from paths.log_dir={log_dir!r} (or $REFNETS_LOG_DIR)"
    too_long = next((part for part in folder.parts if len(os.fsencode(part)) > NAME_MAX), None)
    if too_long is not None:
        _refuse(f"{key}={folder}: a folder name of {len(os.fsencode(too_long))} bytes, longer than the {NAME_MAX} a file system "
                f"allows ({source})")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        if folder.exists() and not folder.is_dir():
            raise FileExistsError(17, "it exists and is not a folder", str(folder))
    except OSError as err:
        _refuse(f"{key}={folder}: cannot create this run's folder ({type(err).__name__}: {err.strerror or err}: "
                f"{err.filename or folder.parent}); it is {source}, which must name a folder that can be written, e.g. "
                f"paths.log_dir=logs")


class CheckOutputFolder(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_folder_can_be_made(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_folder_can_be_made(config, "hydra.sweep.dir")


def sweep_jobs(config: DictConfig) -> list[list[str]]:
    """The overrides of each job of this multirun, as Hydra's basic sweeper will launch them: the experiment's
    ``hydra.sweeper.params`` and then the command line's, expanded to every combination. Unresolved, as the
    sweeper reads them: ``optimizer.lr=${lr}`` is resolved in each job's own config."""
    loader = GlobalHydra.instance().config_loader()
    params = OmegaConf.to_container(config.hydra.sweeper.params, resolve=False) if OmegaConf.select(config, "hydra.sweeper.params") else {}
    task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    parsed = OverridesParser.create(config_loader=loader).parse_overrides([*(f"{k}={v}" for k, v in params.items()), *task])
    return [list(job) for job in BasicSweeper.split_arguments(parsed, None)[0]]


def _job_problem(loader: Any, config: DictConfig, num: int, overrides: list[str]) -> str | None:
    """What refnets' checks refuse in job ``num`` (its config composed as the launcher will, with HydraConfig set
    to it so that ``${hydra:job.num}`` resolves), or None."""
    try:
        job = loader.load_sweep_config(master_config=config, sweep_overrides=overrides)
    except Exception as err:  # Hydra's own composition errors: a missing option, a key not in the config
        return f"does not compose: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
    with open_dict(job):
        job.hydra.job.id, job.hydra.job.num = num, num
    try:
        with hydra_config_of(job):
            return _task_problem(job)
    except ConfigError as err:
        return str(err)


def _task_problem(job: DictConfig) -> str | None:
    """What refnets refuses in a composed job (HydraConfig set to it), or None; a ConfigError for a bad value."""
    subdir = str(OmegaConf.select(job, "hydra.sweep.subdir"))  # the job's folder, named by its overrides
    longest = max((len(os.fsencode(part)) for part in Path(subdir).parts), default=0)
    if longest > NAME_MAX:
        return (f"its folder name (hydra.sweep.subdir) would be {longest} bytes, longer than the {NAME_MAX} a "
                f"file system allows: shorten the swept values, or name the folders by number: 'hydra.sweep.subdir=${{hydra.job.num}}'")
    task = OmegaConf.masked_copy(job, [k for k in job if k != "hydra"])  # the job's own config, as it will run
    check_config(task)
    check_accelerator(task.trainer)
    return None


class CheckSweep(Callback):
    """Compose every job of a multirun and run refnets' config checks (``check_config``, ``check_accelerator``) on
    it before the first job starts; if any fails, print each failing job's message and exit with status 2, nothing
    run. What needs the data or a checkpoint (the model fits the data, a resume) is checked when the job starts,
    and failures that only a run can find (a loss that becomes NaN) stop that job alone: see
    refnets.cli.train.JobFailed. Only for Hydra's basic sweeper, whose jobs are known up front."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not str(OmegaConf.select(config, "hydra.sweeper._target_", default="")).endswith("BasicSweeper"):
            return
        loader = GlobalHydra.instance().config_loader()
        # Hydra's shuffle() draws from Python's random as the sweep is expanded: expanding it here, then giving the
        # state back, lets the sweeper draw the same order, so job #n here is the job #n it launches
        state = random.getstate()
        try:
            jobs = sweep_jobs(config)
            failures = []
            for num, overrides in enumerate(jobs):
                problem = _job_problem(loader, config, num, overrides)
                if problem is not None:
                    failures.append(f"multirun job #{num} ({' '.join(overrides) or 'no overrides'}): {problem}")
        finally:
            random.setstate(state)
        if failures:
            _refuse("\n".join([*failures, f"{len(failures)} of the multirun's {len(jobs)} jobs would fail: none was run"]))
