"""Where the Hydra configs live: conf/ at the repository top (editable installs, a checkout) or
refnets/conf inside an installed wheel."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf


def config_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parents[1] / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"refnets' Hydra configs (train.yaml) are neither in {here / 'conf'} nor in {here.parents[1] / 'conf'}")


def expanduser(path: object) -> str:
    """``~`` or ``~user`` at the start of a path as that home folder (os.path.expanduser): Hydra takes it for a folder name."""
    return os.path.expanduser(str(path))


# ${refnets.expanduser:${paths.log_dir}} in conf/train.yaml's and conf/eval.yaml's run folders: paths.log_dir='~/x'
# (or REFNETS_LOG_DIR='~/x') made a folder named '~' in the current one. Registered wherever refnets' configs are
# found (config_dir, above), so that anything that composes them resolves it.
if not OmegaConf.has_resolver("refnets.expanduser"):
    OmegaConf.register_new_resolver("refnets.expanduser", expanduser)
