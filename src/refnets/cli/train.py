"""refnets-train: train a model from the Hydra configs in conf/.

    refnets-train                                   # LeNet-5 on the bundled digits, ~2 min on CPU
    refnets-train experiment=nielsen_ch1            # Nielsen ch. 1 on MNIST
    refnets-train model=lenet5 data=mnist trainer=cuda ops=builtin
    refnets-train -m experiment=lr_sweep            # a multirun: one job per learning rate
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor
from omegaconf import DictConfig, OmegaConf

from ..config import config_dir
from ..data import DatasetNotFoundError

log = logging.getLogger("refnets.train")


class ConfigError(ValueError):
    """A configuration that cannot run on this machine, with what to change."""


def check_accelerator(trainer_cfg: DictConfig) -> None:
    """trainer=cuda/ddp without CUDA stops here, clearly, rather than falling back to the CPU."""
    accelerator = str(trainer_cfg.get("accelerator", "auto"))
    if accelerator in ("cuda", "gpu") and not torch.cuda.is_available():
        built = torch.version.cuda or "no CUDA"
        raise ConfigError(
            f"trainer.accelerator={accelerator} asks for a CUDA GPU, but torch.cuda.is_available() is False on this machine "
            f"(torch {torch.__version__}, built with {built}). Use trainer=cpu (or trainer=ddp_cpu), or run on a machine with a GPU."
        )


def check_model_fits_data(model: L.LightningModule, datamodule: L.LightningDataModule) -> None:
    """Catch a model/data mismatch before training starts, naming both sides and what to override."""
    net = model.net
    dims = tuple(datamodule.dims)
    try:
        with torch.no_grad():
            net(torch.zeros(2, *dims))
    except (ValueError, RuntimeError) as err:
        raise ConfigError(
            f"the model ({type(net).__name__}) does not take this data's inputs, shaped {dims} per sample: {err}. "
            f"For an MLP set model.net.sizes so that its first entry is {math.prod(dims)}; for a perceptron set "
            f"model.net.in_features={math.prod(dims)}; LeNet5 needs 1×28×28 images (e.g. data=digits data.size=28)."
        ) from err
    if getattr(net, "num_classes", None) != datamodule.num_classes:
        raise ConfigError(
            f"the model has {net.num_classes} output classes but the data ({type(datamodule).__name__}) has "
            f"{datamodule.num_classes}: set model.net.num_classes (perceptron, lenet5) or the last of model.net.sizes (mlp)"
        )


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    return [instantiate(node) for node in (group or {}).values() if node is not None and "_target_" in node]


def _build(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer, list[Any]]:
    """Check and instantiate what a run needs: the datamodule, the model, the trainer and its loggers."""
    check_accelerator(cfg.trainer)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    check_model_fits_data(model, datamodule)
    loggers = _instantiate_all(cfg.get("logger"))
    callbacks = _instantiate_all(cfg.get("callbacks"))
    if not loggers:  # LearningRateMonitor refuses to run without a logger; with logger=none there is nothing to log to
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    return datamodule, model, trainer, loggers


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit (and test) the configured model; return the summary that is written to metrics.json."""
    datamodule, model, trainer, loggers = _build(cfg)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    # The best checkpoint comes from the callback that monitors a metric, the last from the one that
    # does not (see conf/callbacks/default.yaml). Read before testing: loading a checkpoint restores
    # the callbacks' state as it was when that file was saved.
    best = next((c.best_model_path for c in trainer.checkpoint_callbacks if c.monitor), "") or None
    last = next((c.best_model_path for c in trainer.checkpoint_callbacks if c.monitor is None), "") or None
    if cfg.get("test"):
        trainer.test(model, datamodule=datamodule, ckpt_path=best)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})

    output_dir = Path(cfg.paths.output_dir)
    summary = {
        "metrics": dict(sorted(metrics.items())),
        "epochs": trainer.current_epoch,
        "ops": cfg.get("ops"),
        "output_dir": str(output_dir),
        "best_checkpoint": best,
        "last_checkpoint": last,
        "log_dirs": [lg.log_dir for lg in loggers],
    }
    if trainer.is_global_zero:
        _write_metrics(output_dir, summary)
        _report(summary, output_dir)
    return summary


def _write_metrics(output_dir: Path, summary: dict[str, Any]) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")


def _report(summary: dict[str, Any], output_dir: Path) -> None:
    shown = {k: v for k, v in summary["metrics"].items() if not k.endswith(("_step", "_epoch"))}
    lines = ["", "refnets-train finished", *(f"  {k:<22} {v:.4f}" for k, v in shown.items())]
    lines += [
        f"  run folder             {output_dir}",
        f"  metrics                {output_dir / 'metrics.json'}",
        f"  best checkpoint        {summary['best_checkpoint']}",
        f"  last checkpoint        {summary['last_checkpoint']}",
    ]
    lines += [f"  TensorBoard / logs     {d}" for d in summary["log_dirs"]]
    if summary["log_dirs"]:
        lines.append(f"  view with: tensorboard --logdir {output_dir}")
    print("\n".join(lines), flush=True)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Test the checkpoint ``cfg.ckpt_path`` on the configured data; return and write the metrics."""
    if not Path(cfg.ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={cfg.ckpt_path!r} is not a file: pass a checkpoint written by refnets-train (checkpoints/last.ckpt)")
    datamodule, model, trainer, _ = _build(cfg)
    trainer.test(model, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    summary = {"metrics": {k: float(v) for k, v in sorted(trainer.callback_metrics.items())}, "checkpoint": str(cfg.ckpt_path)}
    if trainer.is_global_zero:
        _write_metrics(Path(cfg.paths.output_dir), summary)
    return summary


def _run(task, cfg: DictConfig) -> dict[str, Any]:
    """Run ``task``; a configuration or data problem ends in its message and exit status 2, no traceback."""
    try:
        return task(cfg)
    except (ConfigError, DatasetNotFoundError) as err:
        log.error("%s", err)
        sys.exit(2)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def _train_main(cfg: DictConfig) -> float | None:
    # the return value is what a Hydra sweeper optimises, where one is used
    return _run(train, cfg)["metrics"].get("val/acc")


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="eval")
def _eval_main(cfg: DictConfig) -> None:
    _run(evaluate, cfg)


def main() -> None:
    _train_main()


def eval_main() -> None:
    _eval_main()


if __name__ == "__main__":
    main()
