"""refnets-train: train a model from the Hydra configs in conf/.

    refnets-train                                   # LeNet-5 on the bundled digits, ~2 min on CPU
    refnets-train experiment=nielsen_ch1            # Nielsen ch. 1 on MNIST
    refnets-train model=lenet5 data=mnist trainer=cuda ops=builtin
    refnets-train -m experiment=lr_sweep            # a multirun: one job per learning rate
    refnets-train experiment=mlp_xor ckpt_path=logs/mlp_xor/runs/<run>/checkpoints/last.ckpt   # resume

Every value is checked before data or model are built (refnets.training.checks); a bad one ends in
one message naming the key, the value and what is allowed, with exit status 2.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shlex
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException, InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate, to_absolute_path
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerStatus
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from ..config import config_dir
from ..data import DatasetNotFoundError
from ..training.callbacks import InterruptCheckpoint, NonFiniteLossError
from ..training.checks import (
    ConfigError,
    check_accelerator,
    check_checkpoint_fits,
    check_config,
    check_model_fits_data,
    check_resume,
    describe,
    read_checkpoint,
    validation_off,
)

__all__ = ["ConfigError", "check_accelerator", "check_model_fits_data", "train", "main"]

log = logging.getLogger("refnets.train")


class RunStopped(RuntimeError):
    """Training stopped before its end (a non-finite loss); the message says why and what was kept."""


def quiet_lightning() -> None:
    """refnets' own output and Lightning's progress, not advertising or warnings from Lightning's internals."""
    not_tips = logging.Filter()
    # litlogger / litmodels advertising; the note that refnets' own ModelSummary replaces Lightning's
    not_tips.filter = lambda record: not str(record.msg).startswith(("💡 Tip", "Trainer already configured with model summary"))
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(not_tips)
    # raised inside Lightning (lightning/pytorch/utilities/_pytree.py) on torch ≥ 2.10; nothing a user can change
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    # Lightning's advice to raise DataLoader workers, once per loader on any machine with more than 2 cores (seen 4
    # times a run on a 16-core GPU machine). refnets' datamodules serve each batch by indexing tensors already in
    # memory (or on the GPU), so worker processes would only copy them; the filter is the one Lightning's docs give
    # (advanced/warnings). With data.train_transform, data.num_workers is there to choose.
    warnings.filterwarnings("ignore", message=r".*does not have many workers")


def _overrides() -> list[str]:
    """The command line's overrides of this run (as Hydra recorded them), [] outside a Hydra run."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _instantiate(node: DictConfig, key: str, **kwargs: Any) -> Any:
    """instantiate(), with a bad value inside the node (a ValueError of the class it builds) as a ConfigError."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        raise ConfigError(f"{key}: {describe(err)}") from None


def _instantiate_all(group: DictConfig | None, key: str) -> list[Any]:
    return [_instantiate(node, f"{key}.{name}") for name, node in (group or {}).items() if node is not None and "_target_" in node]


def run_seed(checkpoint: dict[str, Any] | None, path: Any, *, resume: bool, split: str | None) -> int:
    """The seed of a run given ``seed=null``: a fresh one, drawn here and logged, or, when the run continues or
    evaluates a checkpoint, the one its training run drew (saved in its config). So the run's validation split
    (drawn under the seed) is known afterwards: refnets-eval split=val scores the samples the run validated on,
    and a resumed run does not train on them. (Before, seed=null left everything unseeded and the split was
    drawn anew by every run, eval and resume.)"""
    saved = checkpoint["refnets"].get("config", {}).get("seed") if checkpoint is not None else None
    if isinstance(saved, int):
        return saved
    if checkpoint is not None and (resume or split == "val"):  # a checkpoint of a version that did not save the drawn seed
        raise ConfigError(
            f"ckpt_path={str(path)!r} was trained with seed=null by a version of refnets that did not save the seed it drew, "
            f"so its validation split cannot be drawn again: "
            + ("resuming would train on samples it validated on; start a new run, or resume with seed=N to split anew knowingly"
               if resume else "split=val would score other samples, some of them trained on; evaluate split=test")
        )
    seed = random.SystemRandom().randrange(2**32)
    if checkpoint is None:
        log.info("seed=null: this run's seed is %d (saved in its checkpoints; run it again with seed=%d)", seed, seed)
    return seed  # an evaluation of the test split, of an old checkpoint that saved no seed: the seed decides nothing


def build(cfg: DictConfig, *, callbacks: bool = True, loggers: bool = True, resume: bool = True, **trainer_kwargs: Any) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer, list[Any]]:
    """Check the config, then instantiate what a run needs: the datamodule, the model, the trainer and its loggers.

    The model carries the run's config (``model.run_config``), which every checkpoint saves. With ``resume``,
    ``cfg.ckpt_path`` is a run to continue (refnets-train), checked by ``check_resume``; refnets-eval only reads its weights."""
    check_config(cfg)
    check_accelerator(cfg.trainer)
    if isinstance(cfg.data.get("data_dir"), str):
        # relative to where the command was started, as conf/paths/default.yaml says, also with hydra.job.chdir=true
        # (Hydra's to_absolute_path; "~" first, which it would take for a folder name)
        cfg.data.data_dir = to_absolute_path(os.path.expanduser(cfg.data.data_dir))
    if cfg.get("threads") is not None:  # torch's intra-op threads: see conf/train.yaml
        torch.set_num_threads(cfg.threads)
    checkpoint = read_checkpoint(cfg.ckpt_path) if cfg.get("ckpt_path") is not None else None
    if "seed" in cfg and cfg.seed is None:
        cfg.seed = run_seed(checkpoint, cfg.get("ckpt_path"), resume=resume, split=cfg.get("split"))
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = _instantiate(cfg.data, "data")
    model = _instantiate(cfg.model, "model")
    check_model_fits_data(model, datamodule)
    config = OmegaConf.to_container(cfg, resolve=True)
    if checkpoint is not None:
        check_checkpoint_fits(model, checkpoint, cfg.ckpt_path)
        if resume:
            check_resume(config, checkpoint, cfg.ckpt_path)
    model.run_config = {"overrides": _overrides(), "config": config, "run_dir": str(cfg.paths.output_dir)}
    run_loggers = _instantiate_all(cfg.get("logger"), "logger") if loggers else []
    run_callbacks = _instantiate_all(cfg.get("callbacks"), "callbacks") if callbacks else []
    if not run_loggers:  # LearningRateMonitor refuses to run without a logger; with logger=none there is nothing to log to
        run_callbacks = [c for c in run_callbacks if not isinstance(c, LearningRateMonitor)]
    if trainer_kwargs.get("enable_checkpointing") is False:  # refnets-eval writes no checkpoint, even with callbacks=default
        run_callbacks = [c for c in run_callbacks if not isinstance(c, ModelCheckpoint)]
    if validation_off(cfg):
        # no validation: a checkpoint kept by a val/* metric would never be written, with Lightning's "could not find the
        # monitored key" warning every epoch; last.ckpt is the one tested then
        by_val = [c for c in run_callbacks if isinstance(c, ModelCheckpoint) and str(c.monitor or "").startswith("val/")]
        if by_val:
            run_callbacks = [c for c in run_callbacks if c not in by_val]
            log.info("trainer.limit_val_batches=%s: no validation, so no best checkpoint by %s is kept; the final "
                     "epoch's (last.ckpt) is tested", cfg.trainer.limit_val_batches, ", ".join(sorted({c.monitor for c in by_val})))
    if not any(isinstance(c, ProgressBar) for c in run_callbacks) and "enable_progress_bar" not in cfg.trainer:
        # callbacks.progress_bar=null switches the bar off: without this, Lightning adds a default bar of its own
        # (redrawn after every step: 3 000 nielsen_ch3 steps took 16.3 s with it, 13.8 s without)
        trainer_kwargs.setdefault("enable_progress_bar", False)
    trainer: L.Trainer = _instantiate(cfg.trainer, "trainer", callbacks=run_callbacks, logger=run_loggers or False, **trainer_kwargs)
    return datamodule, model, trainer, run_loggers


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit (and test) the configured model; return the summary that is written to metrics.json."""
    datamodule, model, trainer, loggers = build(cfg)
    resuming = cfg.get("ckpt_path") is not None
    with warnings.catch_warnings():
        if resuming:  # it continues in its own run folder, whose checkpoints/ holds the file it resumes from
            warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
        _fit(trainer, model, datamodule, cfg)

    final = {k: float(v) for k, v in trainer.callback_metrics.items()}
    final_epoch = trainer.current_epoch - 1
    every = trainer.check_val_every_n_epoch
    if every is not None and (final_epoch + 1) % every:  # no validation at the final epoch: its val/* are an older epoch's
        final = {k: v for k, v in final.items() if not k.startswith("val/")}
    # The best checkpoint comes from the callback that monitors a metric, the last from the one that
    # does not (see conf/callbacks/default.yaml). Read before testing: loading a checkpoint restores
    # the callbacks' state as it was when that file was saved.
    best = next((c.best_model_path for c in trainer.checkpoint_callbacks if getattr(c, "monitor", None)), "") or None
    last = next((c.best_model_path for c in trainer.checkpoint_callbacks
                 if hasattr(c, "monitor") and c.monitor is None), "") or None
    tested: dict[str, float] = {}
    if cfg.get("test"):
        ckpt = best or last
        # no checkpoint (trainer.fast_dev_run writes none): the final epoch's weights are the ones tested, once
        tested_epoch = torch.load(ckpt, map_location="cpu", weights_only=True)["epoch"] if ckpt is not None else final_epoch
        run_loggers, trainer.loggers = trainer.loggers, []  # neither is a point of the curves: they end at the final epoch
        # the final epoch's weights on the test split too, so that both columns hold test metrics — unless the
        # tested checkpoint is the final epoch's, whose test below gives them
        if 0 <= final_epoch != tested_epoch:
            trainer.test(model, datamodule=datamodule, verbose=False)
            final.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
        if ckpt is not None:  # the tested checkpoint's own validation metrics, beside the final epoch's
            trainer.validate(model, datamodule=datamodule, ckpt_path=ckpt, verbose=False)
            tested = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        tested["epoch"] = tested_epoch
        trainer.loggers = run_loggers
        trainer.test(model, datamodule=datamodule, ckpt_path=ckpt)
        tested.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
        if final_epoch == tested_epoch:
            final.update({k: v for k, v in tested.items() if k.startswith("test/")})

    if trainer.fast_dev_run:  # Lightning replaced the loggers with a DummyLogger: their folders hold nothing to view
        loggers = []
    output_dir = Path(cfg.paths.output_dir)
    metrics = {**{k: v for k, v in final.items() if not k.endswith("_step") and not k.startswith("test/")},
               **{k: v for k, v in tested.items() if k.startswith("test/")}}
    summary = {
        # final-epoch train/val metrics and the test metrics of the tested (best) checkpoint
        "metrics": dict(sorted(metrics.items())),
        # the final epoch's weights: train/val metrics, and test metrics with test=true
        # (train/acc_epoch is train/acc, under the name Lightning also logs it)
        "final_epoch": {"epoch": final_epoch, **{k: v for k, v in sorted(final.items())
                                                 if k.startswith(("train/", "val/", "test/")) and not k.endswith(("_step", "_epoch"))}},
        "tested_checkpoint": dict(sorted(tested.items())),
        "epochs": trainer.current_epoch,
        "ops": cfg.get("ops"),
        "threads": torch.get_num_threads(),
        "output_dir": str(output_dir),
        "best_checkpoint": best,
        "last_checkpoint": last,
        "log_dirs": [lg.log_dir for lg in loggers],
    }
    if trainer.is_global_zero:
        write_metrics(output_dir, summary)
        _report(summary, output_dir, loggers)
    return summary


def _fit(trainer: L.Trainer, model: L.LightningModule, datamodule: L.LightningDataModule, cfg: DictConfig) -> None:
    """trainer.fit, with an interrupted run's checkpoint and how to resume from it, and a non-finite loss's last good state."""
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    except ValueError as err:  # the datamodule's own check of its split, when the data's size is known only after loading
        if str(err).startswith("val_size="):
            raise ConfigError(f"data.{err}") from None
        raise
    except NonFiniteLossError as err:
        last = next((c.best_model_path for c in trainer.checkpoint_callbacks if getattr(c, "monitor", 1) is None and c.best_model_path), None)
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written before it (it failed in the first epoch)"
        raise RunStopped(f"{err}; {kept}") from None
    except (SystemExit, KeyboardInterrupt) as err:
        if trainer.state.status != TrainerStatus.INTERRUPTED:
            raise
        saved = next((c.ckpt_path for c in trainer.callbacks if isinstance(c, InterruptCheckpoint)), None)
        if trainer.is_global_zero:
            overrides = " ".join(o for o in model.run_config["overrides"] if not o.startswith("ckpt_path="))
            if saved and Path(saved).is_file():
                print(f"\nrefnets-train interrupted at epoch {trainer.current_epoch}, step {trainer.global_step}; its state is in\n"
                      f"  {saved}\nresume with:\n  refnets-train {overrides} {override('ckpt_path', saved)}", file=sys.stderr, flush=True)
            else:
                print(f"\nrefnets-train interrupted at epoch {trainer.current_epoch}; no checkpoint was saved "
                      f"(callbacks.interrupt_checkpoint is off)", file=sys.stderr, flush=True)
        # the shell's convention: 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM)
        raise SystemExit(128 + (signal.SIGTERM if isinstance(err, SIGTERMException) else signal.SIGINT)) from None


def write_metrics(output_dir: Path, summary: dict[str, Any]) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "metrics.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path


def _report(summary: dict[str, Any], output_dir: Path, loggers: list[Any]) -> None:
    final, tested = summary["final_epoch"], summary["tested_checkpoint"]
    lines = ["", "refnets-train finished"]
    if tested:
        lines.append(f"  {'':<22} {'final epoch ' + str(final['epoch']):>16} {'tested (epoch ' + str(tested.get('epoch', '?')) + ')':>18}")
        for key in sorted({*final, *tested} - {"epoch"}):
            if key.startswith("lr-"):
                continue
            cells = [f"{d[key]:>16.4f}" if key in d else f"{'':>16}" for d in (final, tested)]
            lines.append(f"  {key:<22} {cells[0]} {cells[1]:>18}")
    else:
        lines += [f"  {k:<22} {v:.4f}" for k, v in final.items() if k != "epoch"]
    lines += [
        f"  run folder             {output_dir}",
        f"  metrics                {output_dir / 'metrics.json'}",
        f"  best checkpoint        {summary['best_checkpoint']}",
        f"  last checkpoint        {summary['last_checkpoint']}",
    ]
    lines += [f"  logs                   {d}" for d in summary["log_dirs"]]
    if any(isinstance(lg, TensorBoardLogger) for lg in loggers):
        lines.append(f"  view with: tensorboard --logdir {shlex.quote(str(output_dir))}")
    print("\n".join(lines), flush=True)


class JobFailed(CompactHydraException):
    """A multirun job that stopped (a bad value, missing data, a non-finite loss). Hydra records it and runs the
    sweep's other jobs; at the end it prints the first such message, one line, and exits with status 1."""


def _multirun_job() -> str | None:
    """'#N (its overrides)' when this is a job of a multirun, else None."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    hydra_cfg = HydraConfig.get()
    return f"#{hydra_cfg.job.num} ({' '.join(hydra_cfg.overrides.task) or 'no overrides'})"


def run_reporting_errors(task, *args: Any, logger: logging.Logger = log) -> Any:
    """Run ``task``; a configuration or data problem ends in its message and exit status 2, no traceback;
    a run stopped by a non-finite loss in its message and exit status 1. In a multirun the job's message is
    logged and the sweep goes on to its next job (a typo or a diverging learning rate in one job does not
    throw away the others); Hydra then ends the sweep with the first failed job's message and status 1.
    The message is logged under ``logger``'s name: the command's (refnets.train, refnets.eval)."""
    try:
        return task(*args)
    except (ConfigError, DatasetNotFoundError, RunStopped) as err:
        logger.error("%s", err)
        if (job := _multirun_job()) is not None:
            raise JobFailed(f"multirun job {job} failed (every job of the sweep ran; each failure is logged where it happened): {err}") from None
        sys.exit(1 if isinstance(err, RunStopped) else 2)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def _train_main(cfg: DictConfig) -> float | None:
    # the return value is what a Hydra sweeper optimises, where one is used
    return run_reporting_errors(train, cfg)["metrics"].get("val/acc")


# a value Hydra's override grammar reads as one plain string; anything else is quoted (see override)
_PLAIN_VALUE = re.compile(r"[\w./\-]*")


def override(key: str, value: str) -> str:
    """``key=value`` as a Hydra override, the value quoted unless it is plain: refnets' own multirun job
    folders are named like ``0_optimizer.lr=0.03,seed=1``, and an unquoted '=' or ',' in a path is a
    syntax error to Hydra's grammar."""
    if _PLAIN_VALUE.fullmatch(value):
        return f"{key}={value}"
    return f"{key}='" + value.replace("'", "\\'") + "'"


def command_line_value(raw: str) -> str:
    """The value of a ``key=value`` argument as meant: one pair of enclosing quotes (Hydra's) removed."""
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1].replace("\\" + raw[0], raw[0])
    return raw


def quote_ckpt_path(argv: list[str]) -> tuple[list[str], str | None]:
    """The command line with its (last) ``ckpt_path=`` quoted for Hydra, written raw or quoted; and that path."""
    given = [command_line_value(a.split("=", 1)[1]) for a in argv if a.startswith("ckpt_path=")]
    if not given:
        return argv, None
    return [*(a for a in argv if not a.startswith("ckpt_path=")), override("ckpt_path", given[-1])], given[-1]


def resume_in_run_folder(argv: list[str]) -> list[str]:
    """A resumed run (ckpt_path=… on the command line) continues in the run folder that wrote the
    checkpoint, so its TensorBoard curves and best checkpoint continue too: hydra.run.dir is set to
    that folder unless the command line sets it (or it is a multirun). A checkpoint that cannot be read is left for the
    run's own checks to report."""
    argv, path = quote_ckpt_path(argv)
    if path is None or any(a.startswith(("hydra.run.dir=", "-m", "--multirun")) for a in argv):
        return argv
    try:
        run_dir = read_checkpoint(path)["refnets"].get("run_dir")
    except ConfigError:
        return argv
    if not run_dir or not Path(run_dir).is_dir():
        return argv
    # the resumed run's composed config goes beside the original's (.hydra/), not over it
    return [*argv, override("hydra.run.dir", run_dir), "hydra.output_subdir=.hydra/resumed"]


GROUPS = ("experiment", "model", "data", "optimizer", "scheduler", "trainer", "logger", "callbacks")

TRAIN_HELP = """refnets-train: train a model from the Hydra configs in {conf}

usage: refnets-train [-m] [GROUP=OPTION ...] [KEY=VALUE ...]

refnets' own options (conf/train.yaml):
  ops=custom|builtin     refnets' hand-written ops, or the same model on PyTorch's built-in ones
  seed=42                seeds everything (0 is a seed like any other; null leaves torch unseeded)
  test=true              after fit, test the best checkpoint
  ckpt_path=…/last.ckpt  resume that run, in its own run folder (interrupted.ckpt after Ctrl-C works too)
  trainer.deterministic=true   bit-identical runs on the CPU

config groups (GROUP=OPTION):
{groups}

examples:
  refnets-train                                  LeNet-5 on the bundled digits
  refnets-train experiment=mlp_xor               a 2-8-2 MLP learns XOR; watch its decision boundary in TensorBoard
  refnets-train experiment=mlp_moons optimizer.lr=0.1 trainer.max_epochs=10
  refnets-train -m experiment=lr_sweep           one run per learning rate; compare them in TensorBoard's HPARAMS tab
  refnets-eval ckpt_path=logs/…/checkpoints/last.ckpt    test a checkpoint, nothing else needed

Every value is checked before anything is built; a bad one ends in a message and exit status 2.
refnets-train --cfg job prints the composed config; --hydra-help shows Hydra's own options.
"""


def group_options(group: str) -> list[str]:
    """A config group's options: its files in conf/<group>/, partials (_*.yaml, e.g. data/_array) excluded."""
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml") if not p.stem.startswith("_"))


def help_text(template: str) -> str:
    groups = "\n".join(f"  {g + ':':<12} {', '.join(group_options(g))}" for g in GROUPS)
    return template.format(conf=config_dir(), groups=groups)


def wants_help(argv: list[str]) -> bool:
    return any(a in ("--help", "-h") for a in argv)


# Hydra's options that take a value (the next argument, or after '='), and --info's optional one
VALUE_OPTIONS = ("--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
                 "--experimental-rerun")
INFO_CHOICES = ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath")


def split_command_line(argv: list[str]) -> tuple[list[str], list[str]]:
    """(Hydra's options with their values, the overrides), each in the command line's order."""
    options, overrides = [], []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-") and not arg.startswith("~"):
            takes = (arg in VALUE_OPTIONS) or (arg in ("--info", "-i") and i + 1 < len(argv) and argv[i + 1] in INFO_CHOICES)
            options += argv[i:i + 2] if takes else [arg]
            i += 2 if takes else 1
        else:
            overrides.append(arg)
            i += 1
    return options, overrides


# Hydra's modes, of which one command line may ask for one: its flags, short and long
HYDRA_MODES = {"run": ("-r", "--run"), "multirun": ("-m", "--multirun"), "cfg": ("-c", "--cfg"), "info": ("-i", "--info"),
               "shell-completion": ("-sc", "--shell-completion")}


def hydra_modes(argv: list[str]) -> list[str]:
    """The Hydra modes this command line's options ask for ('multirun', 'cfg', …), in HYDRA_MODES' order."""
    options, _ = split_command_line(argv)
    return [mode for mode, flags in HYDRA_MODES.items() if any(o.split("=", 1)[0] in flags for o in options)]


def is_multirun(argv: list[str]) -> bool:
    """Whether this command line starts a multirun (``-m``, ``--multirun`` or ``hydra.mode=MULTIRUN``)."""
    return "multirun" in hydra_modes(argv) or "hydra.mode=MULTIRUN" in split_command_line(argv)[1]


def check_one_hydra_mode(argv: list[str], prog: str) -> None:
    """Two of Hydra's modes at once (``-m --cfg job``) ended in its traceback "Only one of --run, --multirun, --cfg,
    --info and --shell_completion can be specified": the same refusal, in one line, exit status 2."""
    given = [HYDRA_MODES[mode][1] for mode in hydra_modes(argv)]
    if len(given) > 1:
        print(f"{prog}: {' and '.join(given)} cannot be combined: Hydra does one of --run, --multirun, --cfg, --info and "
              f"--shell-completion at a time (to see one job of a sweep: --cfg job with that job's values)", file=sys.stderr)
        sys.exit(2)


def hydra_help_argv(argv: list[str]) -> list[str]:
    """For ``--hydra-help``: the command line without the application's overrides. Hydra composes its help
    from its own config alone, so an override of the application's config (``trainer.max_epochs=3``,
    ``ckpt_path=…``) ended in its traceback "Could not override …"; what it shows does not depend on them.
    Hydra's options keep their values (``--cfg job``, ``-cn train``), and so do its own overrides (``hydra.*``)."""
    if "--hydra-help" not in argv:
        return argv
    options, overrides = split_command_line(argv)
    return [*options, *(o for o in overrides if o.lstrip("+~").startswith(("hydra.", "hydra/")))]


def main() -> None:
    if wants_help(sys.argv[1:]):
        print(help_text(TRAIN_HELP))
        return
    quiet_lightning()
    check_one_hydra_mode(sys.argv[1:], "refnets-train")
    sys.argv[1:] = resume_in_run_folder(hydra_help_argv(sys.argv[1:]))
    _train_main()


if __name__ == "__main__":
    main()
