"""Checks that run before anything is built: the composed config's values, the machine, the checkpoint.

Each failure is a :class:`ConfigError` whose message names the key, the value received and what is
allowed; the command-line entry points print it and exit with status 2, without a traceback.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

# N_DIGITS: the digits' size, from which their training samples (before the validation split) follow from the
# config (data.test_size); the 2-D sets' is data.n_train, and MNISTDataModule's datasets are checked when loaded
from ..data.digits import N_DIGITS
from ..nn import OPS


# the per-epoch metrics of refnets.training.Classifier that callbacks may monitor
MONITORED = ("val/acc", "val/loss", "train/acc", "train/loss")


# every top-level key of a composed refnets-train / refnets-eval config (conf/train.yaml, conf/eval.yaml and
# their groups; tests/test_configs.py holds this equal to what they compose): anything else was added with
# `+key=value` (or by an experiment) and nothing reads it
TOP_LEVEL_KEYS = (
    "task_name", "ops", "seed", "threads", "test", "ckpt_path", "split", "paths",
    "model", "data", "optimizer", "scheduler", "trainer", "logger", "callbacks",
)
# groups every run reads (a `~data` would end in a traceback from deep inside the run)
REQUIRED_KEYS = ("paths", "model", "data", "optimizer", "trainer")
# refnets-train's `test` (test after fit) and refnets-eval's `split` (which split to evaluate): never both
ONE_COMMANDS_KEYS = {"test": "refnets-train", "split": "refnets-eval"}
# the splits refnets-eval evaluates
SPLITS = ("test", "val")


class ConfigError(ValueError):
    """A configuration that cannot run (on this machine), with what to change."""


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _fraction_or_count(v: Any, zero: bool) -> bool:
    if _is_int(v):
        return v >= (0 if zero else 1)
    return _is_number(v) and (0 <= v <= 1 if zero else 0 < v <= 1)


# key, test, what is allowed; a key absent from the config (e.g. optimizer.lr of the perceptron's
# run without an optimizer) is not checked
RULES: list[tuple[str, Callable[[Any], bool], str]] = [
    ("optimizer.lr", lambda v: _is_number(v) and v > 0, "a finite number > 0 (the learning rate; e.g. optimizer.lr=0.1)"),
    # the optimizers' other numbers (torch.optim.SGD's, Adam's): a wrong type ended in torch's "'<' not supported
    # between instances of 'str' and 'float'", which names no key
    ("optimizer.momentum", lambda v: _is_number(v) and v >= 0, "a finite number ≥ 0 (SGD's momentum factor; e.g. optimizer.momentum=0.9)"),
    ("optimizer.weight_decay", lambda v: _is_number(v) and v >= 0, "a finite number ≥ 0 (the L2 penalty's factor; 0: none)"),
    ("optimizer.dampening", _is_number, "a finite number (SGD's dampening of the momentum)"),
    ("optimizer.nesterov", lambda v: isinstance(v, bool), "true or false"),
    ("optimizer.betas", lambda v: isinstance(v, (list, tuple, ListConfig)) and len(v) == 2 and all(_is_number(b) and 0 <= b < 1 for b in v),
     "two numbers in [0, 1) (Adam's decay rates; e.g. optimizer.betas=[0.9,0.999])"),
    ("optimizer.eps", lambda v: _is_number(v) and v >= 0, "a finite number ≥ 0 (added to Adam's denominator)"),
    ("data.batch_size", lambda v: _is_int(v) and v >= 1, "an integer ≥ 1"),
    ("data.eval_batch_size", lambda v: _is_int(v) and v >= 1, "an integer ≥ 1"),
    ("data.val_size", lambda v: _is_int(v) and v >= 1, "an integer ≥ 1: the number of training samples held out for validation"),
    ("trainer.max_epochs", lambda v: _is_int(v) and v >= 1, "an integer ≥ 1"),
    ("seed", lambda v: v is None or (_is_int(v) and 0 <= v < 2**32), "null or an integer in [0, 2**32)"),
    ("threads", lambda v: v is None or (_is_int(v) and v >= 1), "null (torch's default: one per core this process may use) or an integer ≥ 1"),
    ("ops", lambda v: v in OPS, f"one of {', '.join(OPS)}"),
    ("test", lambda v: isinstance(v, bool), "true or false"),
    ("split", lambda v: v in SPLITS, f"one of {', '.join(SPLITS)}"),
    # the perceptron's η (model.lr is ${optimizer.lr} unless overridden)
    ("model.lr", lambda v: _is_number(v) and v > 0, "a finite number > 0 (the perceptron rule's η)"),
    ("data.n_train", lambda v: _is_int(v) and v >= 1, "an integer ≥ 1: the number of training samples drawn"),
    ("data.n_test", lambda v: _is_int(v) and v >= 1, "an integer ≥ 1: the number of test samples drawn"),
    ("data.test_size", lambda v: _is_int(v) and 1 <= v < N_DIGITS, f"an integer in [1, {N_DIGITS}): the digits held out for testing"),
    ("trainer.check_val_every_n_epoch", lambda v: v is None or (_is_int(v) and v >= 1), "null or an integer ≥ 1"),
    ("trainer.log_every_n_steps", lambda v: _is_int(v) and v >= 1, "an integer ≥ 1"),
    ("callbacks.stop_on_non_finite_loss.every_n_steps", lambda v: _is_int(v) and v >= 1, "an integer ≥ 1"),
    ("callbacks.histograms.every_n_steps", lambda v: _is_int(v) and v >= 1, "an integer ≥ 1"),
    ("callbacks.gradient_parity.every_n_steps", lambda v: _is_int(v) and v >= 1, "an integer ≥ 1"),
    ("callbacks.images.every_n_epochs", lambda v: _is_int(v) and v >= 1, "an integer ≥ 1"),
    ("callbacks.images.num_images", lambda v: _is_int(v) and v >= 1, "an integer ≥ 1"),
    ("callbacks.gradient_parity.threshold", lambda v: _is_number(v) and v > 0, "a finite number > 0 (the largest relative gradient difference tolerated)"),
    ("data.mean", _is_number, "a finite number: the pixel mean subtracted before the network"),
    ("data.std", lambda v: _is_number(v) and v > 0, "a finite number > 0: the pixel standard deviation divided by"),
    ("data.on_device", lambda v: isinstance(v, bool), "true or false"),
    # Lightning's: a count of batches (an integer) or a fraction of them (a float in (0, 1]); 0 switches validation or test off
    ("trainer.limit_train_batches", lambda v: v is None or _fraction_or_count(v, zero=False), "an integer ≥ 1 (batches) or a float in (0, 1] (a fraction of them)"),
    ("trainer.limit_val_batches", lambda v: v is None or _fraction_or_count(v, zero=True), "an integer ≥ 0 (batches) or a float in [0, 1] (a fraction of them)"),
    ("trainer.limit_test_batches", lambda v: v is None or _fraction_or_count(v, zero=True), "an integer ≥ 0 (batches) or a float in [0, 1] (a fraction of them)"),
    # what a checkpoint or early stopping can watch: the metrics refnets-train logs
    ("callbacks.model_checkpoint.monitor", lambda v: v in MONITORED, f"one of {', '.join(MONITORED)}"),
    ("callbacks.early_stopping.monitor", lambda v: v in MONITORED, f"one of {', '.join(MONITORED)}"),
    ("callbacks.model_checkpoint.mode", lambda v: v in ("min", "max"), "min or max"),
    ("callbacks.early_stopping.mode", lambda v: v in ("min", "max"), "min or max"),
    ("callbacks.early_stopping.patience", lambda v: _is_int(v) and v >= 0,
     "an integer ≥ 0: the validation checks without improvement after which training stops"),
]


def _check_monitor_modes(cfg: DictConfig) -> None:
    """A checkpoint or early stopping that watches a loss minimises it and one that watches an accuracy maximises
    it: a mode that does not fit its metric keeps the worst model, or stops while the metric improves."""
    for callback in ("model_checkpoint", "early_stopping"):
        monitor = OmegaConf.select(cfg, f"callbacks.{callback}.monitor", default=None)
        mode = OmegaConf.select(cfg, f"callbacks.{callback}.mode", default=None)
        if monitor in MONITORED and mode in ("min", "max"):
            fits = "min" if monitor.endswith("loss") else "max"
            if mode != fits:
                raise ConfigError(
                    f"callbacks.{callback}.mode={mode!r} does not fit callbacks.{callback}.monitor={monitor!r}: "
                    f"{'a loss is minimised' if fits == 'min' else 'an accuracy is maximised'}, so it would keep the "
                    f"{'worst model' if callback == 'model_checkpoint' else 'run going only while the metric gets worse'}: "
                    f"add callbacks.{callback}.mode={fits}"
                )


def validation_off(cfg: DictConfig) -> bool:
    """trainer.limit_val_batches=0 (or 0.0): the run validates nothing, so no val/* metric is ever logged."""
    limit = OmegaConf.select(cfg, "trainer.limit_val_batches", default=None)
    return _is_number(limit) and limit == 0


def _check_early_stopping_has_validation(cfg: DictConfig) -> None:
    """Early stopping on a validation metric with validation switched off (trainer.limit_val_batches=0): Lightning's
    EarlyStopping finds no val/* at the first epoch's end and raises a RuntimeError, a traceback after an epoch of
    training, before that epoch's checkpoints are written."""
    monitor = OmegaConf.select(cfg, "callbacks.early_stopping.monitor", default=None)
    if isinstance(monitor, str) and monitor.startswith("val/") and validation_off(cfg):
        raise ConfigError(
            f"callbacks.early_stopping.monitor={monitor!r} watches a validation metric, but "
            f"trainer.limit_val_batches={cfg.trainer.limit_val_batches!r} "
            f"switches validation off: early stopping would fail after the first epoch, before its checkpoints are written. "
            f"Monitor a training metric (callbacks.early_stopping.monitor=train/loss), or leave early stopping out (callbacks=default)"
        )


def check_config(cfg: DictConfig) -> None:
    """Check the values of a composed refnets-train/refnets-eval config; raise ConfigError on the first bad one."""
    _check_keys(cfg)
    for key, ok, allowed in RULES:
        try:
            value = OmegaConf.select(cfg, key, default="<absent>", throw_on_missing=True)
        except Exception as err:  # a missing mandatory value (???) or an interpolation that does not resolve
            raise ConfigError(f"{key}: {err}".splitlines()[0]) from None
        if isinstance(value, str) and value == "<absent>":
            continue
        if not ok(value):
            raise ConfigError(f"{key}={value!r} is not allowed: expected {allowed}")
    _check_val_size(cfg)
    _check_monitor_modes(cfg)
    _check_early_stopping_has_validation(cfg)
    check_optimization(cfg)
    if "split" not in cfg:  # refnets-eval builds neither optimiser nor scheduler
        _check_perceptron_optimization(cfg)


def _check_keys(cfg: DictConfig) -> None:
    """The config's keys: the groups every run needs are there (a `~data` is refused); a top-level key that nothing
    reads (`+seeed=1`, a typo of seed) would be ignored without a word, so it is refused, unless some value reads it
    through an interpolation (`+lr=0.3 optimizer.lr=${lr}`); `test` and `split` are not both there; and every value
    resolves (a `~seed` leaves data.seed's ${seed} dangling)."""
    missing = [key for key in REQUIRED_KEYS if key not in cfg or (key != "paths" and "_target_" not in (cfg[key] or {}))]
    if missing:
        raise ConfigError(f"{missing[0]}: deleted (~{missing[0]}?), but every run needs it: choose one of its options instead, "
                          f"e.g. {missing[0]}=… (refnets-train --help lists them)")
    unknown = [str(key) for key in cfg if key not in TOP_LEVEL_KEYS]
    if unknown:
        raw = [OmegaConf.to_container(cfg, resolve=False)]
        if HydraConfig.initialized():  # hydra.run.dir=logs/${name} reads a top-level key too
            raw.append(OmegaConf.to_container(HydraConfig.get(), resolve=False))
        texts = [v for v in _leaves(raw) if isinstance(v, str) and "${" in v]
        for key in unknown:
            if any(re.search(r"\$\{[^}]*\b" + re.escape(key) + r"\b", text) for text in texts):
                continue
            close = difflib.get_close_matches(key, TOP_LEVEL_KEYS, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise ConfigError(
                f"{key}: no such key; nothing in refnets reads it (added with +{key}=…?).{hint} "
                f"The top-level keys are: {', '.join(TOP_LEVEL_KEYS)}"
            )
    both = [key for key in ONE_COMMANDS_KEYS if key in cfg]
    if len(both) == 2:
        raise ConfigError(
            "test and split: " + "; ".join(f"{key} is {command}'s" for key, command in ONE_COMMANDS_KEYS.items())
            + " (one of them was added with +…=…)"
        )
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except Exception as err:  # omegaconf's InterpolationKeyError and kin: name the key whose value does not resolve
        where = getattr(err, "full_key", None)
        raise ConfigError(f"{where or 'config'}: {str(err).splitlines()[0]}") from None


def _leaves(node: Any):
    if isinstance(node, dict):
        for value in node.values():
            yield from _leaves(value)
    elif isinstance(node, list):
        for value in node:
            yield from _leaves(value)
    else:
        yield node


def check_optimization(cfg: DictConfig) -> None:
    """Build the optimiser and the scheduler on a stand-in parameter and step them through every epoch, so a
    bad key or value (optimizer.momentum=-1, an unknown optimizer.* key, scheduler.gamma=abc,
    scheduler.step_size=0) stops here rather than in Lightning's configure_optimizers or after an epoch."""
    optimizer_cfg, scheduler_cfg = cfg.get("optimizer"), cfg.get("scheduler")
    if optimizer_cfg is None or "_target_" not in optimizer_cfg:
        return
    try:  # a partial (``_partial_: true``), as Classifier.configure_optimizers calls it
        optimizer = instantiate(optimizer_cfg)(params=[torch.nn.Parameter(torch.zeros(1))])
    except Exception as err:
        raise ConfigError(f"optimizer ({optimizer_cfg._target_}): {describe(err)}") from None
    if scheduler_cfg is None or "_target_" not in scheduler_cfg:
        return
    epochs = cfg.trainer.get("max_epochs") or 1
    try:
        scheduler = instantiate(scheduler_cfg)(optimizer=optimizer)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(min(epochs, 10_000)):
                optimizer.step()
                scheduler.step(0.0) if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) else scheduler.step()
    except Exception as err:
        raise ConfigError(
            f"scheduler ({scheduler_cfg._target_}): {describe(err)} (stepping it through trainer.max_epochs={epochs} epochs "
            f"on a stand-in parameter)"
        ) from None


# the optimizer keys the perceptron rule reads (lr is its η, through model.lr) or that say what the optimizer is
PERCEPTRON_OPTIMIZER_KEYS = ("_target_", "_partial_", "lr")


def _check_perceptron_optimization(cfg: DictConfig) -> None:
    """The perceptron (refnets.training.PerceptronClassifier) learns by the perceptron rule with η = model.lr
    (optimizer.lr), not by an optimiser: another optimizer than SGD, an SGD option such as momentum, or a
    scheduler would be ignored without a word, so they are refused (model=perceptron chooses optimizer=sgd)."""
    if not str(OmegaConf.select(cfg, "model._target_", default="")).endswith("PerceptronClassifier"):
        return
    rule = "the perceptron learns by the perceptron rule w ← w + η(y − ŷ)x with a constant η = model.lr (optimizer.lr), not by an optimiser"
    scheduler = cfg.get("scheduler")
    if scheduler is not None and "_target_" in scheduler:
        raise ConfigError(f"scheduler ({scheduler._target_}) cannot be used with model=perceptron: {rule}, so the scheduler "
                          f"would be ignored. Leave it out (scheduler=none)")
    optimizer = cfg.optimizer
    if optimizer._target_ != "torch.optim.SGD":
        raise ConfigError(f"optimizer ({optimizer._target_}) cannot be used with model=perceptron: {rule}, so it would be "
                          f"ignored. Use optimizer=sgd (model=perceptron's default) and set η with optimizer.lr")
    # Lightning refuses these under manual optimisation, but only inside fit, after the data and the model are built
    # (MisconfigurationException, with a traceback): the rule has no gradients to accumulate or clip
    trainer = cfg.get("trainer") or {}
    for key, is_on in (("accumulate_grad_batches", lambda v: v != 1), ("gradient_clip_val", lambda v: v is not None and v != 0)):
        if key in trainer and is_on(trainer[key]):
            raise ConfigError(f"trainer.{key}={trainer[key]!r} cannot be used with model=perceptron: {rule}, and the rule "
                              f"updates the weights at every batch without gradients, so there are none to "
                              f"{'accumulate' if key.startswith('accumulate') else 'clip'} (Lightning refuses it with manual "
                              f"optimisation). Leave trainer.{key} out")
    ignored = [key for key in optimizer if key not in PERCEPTRON_OPTIMIZER_KEYS and optimizer[key]]
    if ignored:
        raise ConfigError(f"optimizer.{ignored[0]}={optimizer[ignored[0]]!r} cannot be used with model=perceptron: {rule}; "
                          f"of the optimizer it reads optimizer.lr alone, so optimizer.{ignored[0]} would be ignored. Leave it "
                          f"at optimizer=sgd's default")


def describe(err: BaseException) -> str:
    """'Type: message' of what went wrong, the class's own error rather than Hydra's wrapper, without Hydra's full_key lines."""
    cause = err.__cause__ if isinstance(err, InstantiationException) and err.__cause__ is not None else err
    return f"{type(cause).__name__}: {cause}".split("\nfull_key")[0]


def check_resume(config: dict[str, Any], checkpoint: dict[str, Any], path: Any) -> None:
    """Resuming continues the checkpoint's own run: refuse what would only overwrite it or mix two runs.
    ``config``: this run's composed config, resolved (as every checkpoint saves it)."""
    progress = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
    # "processed": epochs whose batches all ran (at a checkpoint saved at an epoch's end "completed" is one behind)
    completed, max_epochs = progress.get("processed"), config["trainer"].get("max_epochs")
    if isinstance(completed, int) and _is_int(max_epochs) and completed >= max_epochs:
        raise ConfigError(
            f"ckpt_path={str(path)!r} has finished {completed} epochs and trainer.max_epochs={max_epochs} leaves nothing to "
            f"train: resuming would only test it again and overwrite its run's metrics.json. Raise trainer.max_epochs to "
            f"train on (unless its schedule is set by max_epochs, as scheduler=cosine's is: then start a new run), or "
            f"evaluate it with `refnets-eval ckpt_path=…`"
        )
    trained = checkpoint["refnets"].get("config", {})
    # The optimiser's and the scheduler's saved states (learning rate, momenta, the schedule's T_max and step) are
    # restored over the config, so a changed value would be saved in the run's config but never used: the run would
    # say lr 0.001 and train at 0.1, or, with cosine's T_max = max_epochs raised, train an epoch at lr 0 and start over.
    why = {"data": "on other data",
           "optimizer": "with the saved optimiser state, which Lightning restores over these values (they would not be used)",
           "scheduler": "with the saved scheduler state, which Lightning restores over these values (they would not be used)"}
    # A run trained with seed=null by a version that did not save the seed it drew: its split is unknown, and
    # resuming with seed=N (run_seed's advice) splits anew knowingly, so data.seed is not compared.
    unknown_split = trained.get("seed", 0) is None and (trained.get("data") or {}).get("seed", 0) is None
    if unknown_split and (config.get("data") or {}).get("seed") is not None:
        logging.getLogger("refnets.train").warning(
            "ckpt_path=%r was trained with seed=null by a version that did not save the seed it drew: its validation split "
            "is unknown, and this run draws a new one with seed=%s (some of its samples may have been trained on)",
            str(path), config["data"]["seed"])
    for group in ("optimizer", "scheduler", "data"):
        saved, given = trained.get(group) or {}, config.get(group) or {}
        differ = sorted(k for k in saved.keys() | given.keys() if k not in DATA_READING_ONLY and saved.get(k) != given.get(k)
                        and not (group == "data" and k == "seed" and unknown_split))
        if differ:
            changes = ", ".join(f"{group}.{k}: {saved.get(k)!r} → {given.get(k)!r}" for k in differ)
            overrides = " ".join(checkpoint["refnets"].get("overrides", [])) or "(none)"
            raise ConfigError(
                f"ckpt_path={str(path)!r} was trained with another {group} ({changes}): resuming would continue its run "
                f"{why[group]}. It was trained with the overrides {overrides}; resume with those, or start a new run "
                f"(without ckpt_path)"
            )


# data options that change how the data are read, not which data: they may change when a run resumes, and
# refnets-eval does not report them as changed from training
DATA_READING_ONLY = ("data_dir", "download", "num_workers", "on_device", "eval_batch_size", "batch_size")


def _check_val_size(cfg: DictConfig) -> None:
    """The validation split must leave training data, where the data's size is known from the config."""
    data = cfg.get("data") or {}
    if "n_train" in data:
        n, source = data.n_train, "data.n_train"
    elif str(data.get("_target_", "")).endswith("DigitsDataModule") and "test_size" in data:
        n, source = N_DIGITS - data.test_size, f"the {N_DIGITS} digits less data.test_size"
    else:
        return
    if data.val_size >= n:
        raise ConfigError(f"data.val_size={data.val_size} is not allowed: it must be smaller than the training set ({source} = {n})")


def check_accelerator(trainer_cfg: DictConfig) -> None:
    """trainer=cuda/ddp without CUDA stops here, clearly, rather than falling back to the CPU."""
    accelerator = str(trainer_cfg.get("accelerator", "auto"))
    if accelerator in ("cuda", "gpu") and not torch.cuda.is_available():
        built = torch.version.cuda or "no CUDA"
        raise ConfigError(
            f"trainer.accelerator={accelerator} asks for a CUDA GPU, but torch.cuda.is_available() is False on this machine "
            f"(torch {torch.__version__}, built with {built}). Use trainer=cpu (or trainer=ddp_cpu), or run on a machine with a GPU."
        )


def check_map_location(map_location: Any) -> None:
    """A ``map_location`` (of ``Classifier.load_from_checkpoint``) that puts the weights on a CUDA device this machine
    does not have stops here, naming it and what to pass, rather than in torch's RuntimeError from inside its unpickler.
    A function, or a value torch.device does not take, is left to torch."""
    for target in map_location.values() if isinstance(map_location, dict) else [map_location]:
        if target is None or callable(target):
            continue
        try:
            device = torch.device(target)
        except (RuntimeError, TypeError, ValueError):
            continue
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if device.type != "cuda" or (count and (device.index or 0) < count):
            continue
        there = (f"this machine has {count} CUDA device{'s' if count != 1 else ''}" if count else
                 f"torch.cuda.is_available() is False on this machine (torch {torch.__version__}, built with {torch.version.cuda or 'no CUDA'})")
        raise ConfigError(f"map_location={map_location!r} puts the checkpoint's weights on {device}, but {there}: pass "
                          f"map_location='cpu' (or leave it out: the weights load on the CPU), and move the model with .to(…) where a GPU is")


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


def read_checkpoint(path: Any, key: str = "ckpt_path") -> dict[str, Any]:
    """Load a checkpoint written by refnets-train (plain data only: ``weights_only=True``), or say what it is not."""
    is_file_object = hasattr(path, "read")  # Lightning's load_from_checkpoint takes an open file too
    if not is_file_object and (path is None or not Path(str(path)).is_file()):
        raise ConfigError(f"{key}={path!r} is not a file: pass a checkpoint written by refnets-train (…/checkpoints/last.ckpt)")
    try:
        checkpoint = torch.load(path if is_file_object else str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, garbage, or a pickle that holds code: all unreadable here
        reason = _load_error_reason(err)
        raise ConfigError(
            f"{key}={str(path)!r} is not a readable checkpoint ({type(err).__name__}: {reason}); the file is truncated, "
            f"corrupt or not a PyTorch checkpoint: pass a .ckpt written by refnets-train"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ConfigError(f"{key}={str(path)!r} is a PyTorch file but not a Lightning checkpoint (it has no state_dict)")
    if "refnets" not in checkpoint:
        raise ConfigError(
            f"{key}={str(path)!r} is a Lightning checkpoint but not one written by refnets-train (it holds no 'refnets' run config)"
        )
    return checkpoint


def checked_net_from_checkpoint(path: Any, net: torch.nn.Module | None = None) -> torch.nn.Module:
    """The net of a checkpoint written by refnets-train, for ``Classifier.load_from_checkpoint``: ``net`` when given,
    else rebuilt from the run's config the checkpoint saved (``model.net``); either way checked to fit its weights."""
    checkpoint = read_checkpoint(path, key="checkpoint_path")
    if net is None:
        saved = checkpoint["refnets"].get("config", {}).get("model", {}).get("net")
        if not saved:
            raise ConfigError(f"checkpoint_path={str(path)!r} saves no model.net config to rebuild the net from: pass net=…")
        net = instantiate(saved)
    holder = torch.nn.Module()  # the Classifier's weights are its net's, under "net."
    holder.net = net
    check_checkpoint_fits(holder, checkpoint, path, key="checkpoint_path")
    return net


def _load_error_reason(err: BaseException) -> str:
    """torch.load's error in one line. Its weights-only refusal opens with advice to load again with
    weights_only=False, which would run whatever code the file holds: only the unpickler's own reason is kept."""
    text = str(err).strip()
    if "weights_only" in text or "WeightsUnpickler error:" in text:
        # torch 2.6–2.14 word it as paragraphs: the advice, the unpickler's reason ("Trying to load unsupported
        # GLOBAL posix.system …", older: after "WeightsUnpickler error:"), a pointer to the docs. Keep the reason.
        paragraphs = [p.strip() for p in text.replace("WeightsUnpickler error:", "\n\n").split("\n\n")]
        detail = next((p for p in paragraphs if p and "weights_only" not in p and not p.startswith("Check the documentation")), "")
        return f"torch.load(weights_only=True) could not read it: {' '.join(detail.split())[:200] or 'not plain tensor data'}"
    return text.splitlines()[0][:200] if text else type(err).__name__


def check_checkpoint_fits(model: L.LightningModule, checkpoint: dict[str, Any], path: Any, key: str = "ckpt_path") -> None:
    """The checkpoint's weights have the names and shapes of ``model``'s, or say which run it came from."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in checkpoint["state_dict"].items()}
    if expected == found:
        return
    missing, unexpected = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    shaped = sorted(k for k in expected.keys() & found.keys() if expected[k] != found[k])
    details = [f"{len(missing)} weights missing (e.g. {missing[0]})" if missing else "",
               f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else "",
               f"{len(shaped)} of another shape (e.g. {shaped[0]}: {found[shaped[0]]} in the file, {expected[shaped[0]]} here)" if shaped else ""]
    saved = checkpoint["refnets"].get("config", {}).get("model", {}).get("net", {})
    overrides = " ".join(checkpoint["refnets"].get("overrides", [])) or "(none)"
    raise ConfigError(
        f"{key}={str(path)!r} holds a {str(saved.get('_target_', '?')).rsplit('.', 1)[-1]} that does not fit this model "
        f"({type(model.net).__name__}): {', '.join(d for d in details if d)}. It was trained with the overrides {overrides}; "
        f"resume with the same overrides, or evaluate it with `refnets-eval ckpt_path=…` alone"
    )
