"""Shared test helpers: compose refnets' Hydra configs, write small IDX files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from refnets.config import config_dir

CONF = config_dir()


def options(group: str) -> list[str]:
    """The option names of a config group (files in conf/<group>/), partials (_*.yaml) excluded."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


def compose_train(overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose conf/train.yaml as refnets-train would, with the run folder at ``output_dir``.
    Which option each group chose (``hydra.runtime.choices``) is left in ``HydraConfig.get()``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        del cfg["hydra"]  # as in a real run: the job's config holds no hydra node
    return cfg


def write_idx(folder: Path, n_train: int = 60, n_test: int = 20, gz: bool = False, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Write the four MNIST IDX files (big-endian headers, uint8 payload) with random images;
    return the training images and labels written."""
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    written = None
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=gen)
        labels = torch.randint(0, 10, (n,), dtype=torch.uint8, generator=gen)
        payloads = {
            f"{prefix}-images-idx3-ubyte": struct.pack(">IIII", 0x0803, n, 28, 28) + images.numpy().tobytes(),
            f"{prefix}-labels-idx1-ubyte": struct.pack(">II", 0x0801, n) + labels.numpy().tobytes(),
        }
        for name, payload in payloads.items():
            if gz:
                with gzip.open(folder / f"{name}.gz", "wb") as f:
                    f.write(payload)
            else:
                (folder / name).write_bytes(payload)
        if prefix == "train":
            written = (images, labels.long())
    return written
