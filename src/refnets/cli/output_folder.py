"""A Hydra callback that checks, before Hydra creates it, that the run's folder can be created.

Hydra makes the run folder (``hydra.run.dir``, or ``hydra.sweep.dir`` in a multirun) before refnets' own
code runs, so a ``paths.log_dir`` that cannot hold it (``/proc/nope``, a path through a file, a read-only
disk) ended in a traceback from inside Hydra. Registered in conf/train.yaml and conf/eval.yaml.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

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
