"""Where the Hydra configs live: conf/ at the repository top (editable installs, a checkout) or
refnets/conf inside an installed wheel."""

from __future__ import annotations

from pathlib import Path


def config_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parents[1] / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"refnets' Hydra configs (train.yaml) are neither in {here / 'conf'} nor in {here.parents[1] / 'conf'}")
