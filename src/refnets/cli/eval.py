"""refnets-eval: test a checkpoint written by refnets-train, from the checkpoint alone.

    refnets-eval ckpt_path=logs/mlp_moons/runs/<run>/checkpoints/epoch_007.ckpt
    refnets-eval ckpt_path=… split=val
    refnets-eval ckpt_path=… paths.data_dir=/other/copy/of/the/data

Every refnets checkpoint holds the overrides of the run that wrote it (``checkpoint["refnets"]``).
refnets-eval composes conf/eval.yaml with those first and its own command line after them, so the
model and data are the run's, and an override given here wins (and is reported when it changes the
model or the data). It prints the metrics and writes metrics.json in a run folder of its own.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from ..config import config_dir
from ..training.checks import DATA_READING_ONLY, ConfigError, read_checkpoint
from .train import (
    build,
    check_one_hydra_mode,
    help_text,
    hydra_help_argv,
    hydra_modes,
    is_multirun,
    quiet_lightning,
    quote_ckpt_path,
    run_reporting_errors,
    split_command_line,
    wants_help,
    write_metrics,
)

EVAL_HELP = """refnets-eval: test a checkpoint written by refnets-train, from the checkpoint alone

usage: refnets-eval ckpt_path=PATH [split=test|val] [KEY=VALUE ...]

  ckpt_path=PATH     required: a checkpoint written by refnets-train (…/checkpoints/epoch_NNN.ckpt or last.ckpt)
  split=test         the split to evaluate: test or val

The checkpoint holds the run's overrides (experiment=…, model.…): the model and data are rebuilt from
them. Any override given here wins, and the summary names what it changed from training, e.g.
  refnets-eval ckpt_path=… ops=builtin                the same weights through PyTorch's built-in ops
  refnets-eval ckpt_path=… paths.data_dir=/data       another copy of the data

It prints the metrics and writes metrics.json in a run folder of its own (logs/<task>/evals/<time>), and with
logger=tensorboard (or csv) logs them there too.

config groups (GROUP=OPTION, as for refnets-train):
{groups}
"""

# overrides of the training run that do not describe the model or its data, so refnets-eval does not take them
NOT_TAKEN = ("ckpt_path", "test", "logger", "callbacks", "hydra")
# … nor these: how much of each split the training run's trainer read (an evaluation reads all of its split)
# and where it logged (an evaluation writes to logs/<task>/evals/ under the current folder, or paths.log_dir given here)
NOT_TAKEN_KEYS = ("trainer.limit_", "paths.log_dir", "paths.output_dir")


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def eval_overrides(checkpoint: dict[str, Any], command_line: list[str]) -> list[str]:
    """The command line's options (-m, --cfg job, …), the training run's overrides that describe its model and
    data, then the command line's overrides (which win). Options first: after an override, argparse takes the
    overrides that follow an option for unrecognised arguments."""
    flags, overrides = split_command_line(command_line)
    given = {_key(o) for o in overrides}
    taken = [o for o in checkpoint["refnets"].get("overrides", [])
             if _key(o).split(".")[0] not in NOT_TAKEN and not _key(o).startswith(NOT_TAKEN_KEYS)]
    # `~KEY` (or `~KEY=VALUE` with the saved value) of a saved override that eval takes drops it and goes no further:
    # the key may no longer exist in conf/ (then Hydra could not delete it), and deleting the default too is not
    # what it asks. Any other `~` reaches Hydra.
    drops = {o for o in overrides if o.startswith("~") and any(_key(t) == _key(o) and ("=" not in o or t.lstrip("+") == o[1:]) for t in taken)}
    saved = [o for o in taken if _key(o) not in given]
    return [*flags, *saved, *(o for o in overrides if o not in drops)]


def check_saved_overrides_compose(saved: list[str], path: str) -> None:
    """The checkpoint's own overrides compose with this version's conf/: else a ConfigError that says so (Hydra's
    message alone would blame the command line, which does not hold them) and how to replace one."""
    if not saved:
        return
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            compose("eval", overrides=saved)
    except Exception as err:  # Hydra's MissingConfigException, ConfigCompositionException, OverrideParseException
        lines = str(err).splitlines()
        reason = (lines[0] if lines else type(err).__name__).rstrip(".")
        heading = next((i for i, line in enumerate(lines) if line.startswith("Available options")), None)
        if heading is not None:  # a group option that no longer exists: the ones that do (tab-indented, up to the search path)
            options = []
            for line in lines[heading + 1:]:
                if not line.startswith("\t"):
                    break
                options.append(line.strip())
            reason += f" (available: {', '.join(options)})"
        raise ConfigError(
            f"ckpt_path={path}: the overrides saved in the checkpoint no longer compose with {config_dir()}: {reason}. "
            f"Saved: {' '.join(saved)}. An override of the same key on the command line replaces the saved one "
            f"(e.g. experiment=…), and ~KEY drops it (e.g. ~model.net.width for a key that is gone)"
        ) from None
    finally:
        GlobalHydra.instance().clear()


EXCLUDE_KEYS = "hydra.job.config.override_dirname.exclude_keys"


def sweep_folder_names_without(saved: list[str], argv: list[str]) -> list[str]:
    """In a multirun, the override that keeps the checkpoint's saved overrides out of the job folders' names
    (they were ``0_experiment=mlp_xor,split=val,trainer.max_epochs=1``: the same in every job, and long);
    none where the command line sets those names itself."""
    if not saved or not is_multirun(argv) or any(_key(a) == EXCLUDE_KEYS for a in argv):
        return []
    excluded = list(OmegaConf.select(OmegaConf.load(Path(config_dir()) / "eval.yaml"), EXCLUDE_KEYS))
    # Hydra matches exclude_keys against an override's key or group alone: no +/~ prefix, no @package
    excluded += [k for k in dict.fromkeys(_key(o).split("@", 1)[0] for o in saved) if k not in excluded]
    return [f"{EXCLUDE_KEYS}=[{','.join(excluded)}]"]


def _differences(trained: Any, now: Any, prefix: str) -> dict[str, tuple[Any, Any]]:
    """Leaves of two config trees that differ: {key: (trained, now)}."""
    if isinstance(trained, dict) and isinstance(now, dict):
        found = {}
        for k in trained.keys() | now.keys():
            found.update(_differences(trained.get(k), now.get(k), f"{prefix}.{k}" if prefix else k))
        return found
    return {} if trained == now else {prefix: (trained, now)}


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Test (or validate) the checkpoint ``cfg.ckpt_path`` on ``cfg.split``; return and write the metrics."""
    if OmegaConf.is_missing(cfg, "ckpt_path") or cfg.ckpt_path is None:
        raise ConfigError("ckpt_path is required: refnets-eval ckpt_path=<a checkpoint written by refnets-train, e.g. …/checkpoints/last.ckpt>")
    checkpoint = read_checkpoint(cfg.ckpt_path)
    # One process, whatever trainer the run trained with (trainer=ddp_cpu is a saved override like any other): over
    # several, Lightning's DistributedSampler pads the last shard with repeated samples, which the metrics then
    # count twice (measured: test/loss 0.4570 under ddp_cpu against 0.4575, on 201 test samples).
    one = {"devices": 1, "strategy": "auto", "num_nodes": 1}
    given = {k: cfg.trainer[k] for k, v in one.items() if k in cfg.trainer and cfg.trainer[k] not in (v, "auto")}
    if given:
        logging.getLogger("refnets.eval").info(
            "evaluating in one process (devices=1, strategy=auto, num_nodes=1) rather than %s: a split sharded over "
            "processes is padded with repeated samples", ", ".join(f"trainer.{k}={v}" for k, v in given.items()))
    # no checkpointing: an evaluation writes metrics.json, and its metrics to the loggers asked for here (logger=…, in
    # its own run folder; none by default, and the training run's are not taken: see NOT_TAKEN)
    datamodule, model, trainer, loggers = build(cfg, resume=False, enable_checkpointing=False, **one)
    # The weights alone, not the trainer state: the training run's callbacks (checkpoints, views) are not
    # part of an evaluation, and restoring their state would only warn that they are missing.
    model.load_state_dict(checkpoint["state_dict"])
    trained = checkpoint["refnets"].get("config", {})
    now = model.run_config["config"]
    changed = {
        k: v for group in ("ops", "model", "data") for k, v in _differences(trained.get(group), now.get(group), group).items()
        if k.rsplit(".", 1)[-1] not in DATA_READING_ONLY
    }
    run = trainer.test if cfg.split == "test" else trainer.validate
    run(model, datamodule=datamodule, verbose=False)
    metrics = {k: float(v) for k, v in sorted(trainer.callback_metrics.items()) if k.startswith(f"{cfg.split}/")}
    output_dir = Path(cfg.paths.output_dir)
    summary = {
        "metrics": metrics,
        "split": cfg.split,
        "checkpoint": str(cfg.ckpt_path),
        "checkpoint_epoch": checkpoint.get("epoch"),
        "trained_with": checkpoint["refnets"].get("overrides", []),
        "changed_from_training": {k: {"trained": a, "now": b} for k, (a, b) in sorted(changed.items())},
        "output_dir": str(output_dir),
        "log_dirs": [lg.log_dir for lg in loggers],
    }
    if trainer.is_global_zero:
        path = write_metrics(output_dir, summary)
        _report(summary, path)
    return summary


def _report(summary: dict[str, Any], path: Path) -> None:
    lines = ["", "refnets-eval finished", *(f"  {k:<22} {v:.4f}" for k, v in summary["metrics"].items())]
    lines += [
        f"  checkpoint             {summary['checkpoint']} (epoch {summary['checkpoint_epoch']})",
        f"  trained with           {' '.join(summary['trained_with']) or '(no overrides)'}",
        f"  metrics                {path}",
        *(f"  logs                   {d}" for d in summary["log_dirs"]),
    ]
    lines += [f"  changed from training  {k}: {v['trained']!r} → {v['now']!r}" for k, v in summary["changed_from_training"].items()]
    print("\n".join(lines), flush=True)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="eval")
def _eval_main(cfg: DictConfig) -> None:
    run_reporting_errors(evaluate, cfg, logger=logging.getLogger("refnets.eval"))


def main() -> None:
    sys.argv[1:] = argv = hydra_help_argv(sys.argv[1:])
    if wants_help(argv):
        print(help_text(EVAL_HELP))
        return
    quiet_lightning()
    check_one_hydra_mode(argv, "refnets-eval")
    # Hydra's own output (--hydra-help, --info) needs no checkpoint; --cfg/-c shows the checkpoint's config when the
    # command line names a readable one, and conf/eval.yaml's otherwise
    modes = hydra_modes(argv)
    shows = "cfg" in modes
    if "--hydra-help" not in argv and "info" not in modes:
        argv, path = quote_ckpt_path(argv)  # a path with '=' or ',' (a multirun job's folder), raw or quoted
        try:
            if path is None:
                raise ConfigError("ckpt_path is required: refnets-eval ckpt_path=<a checkpoint written by refnets-train, e.g. …/checkpoints/last.ckpt>")
            if is_multirun(argv) and not Path(path).is_file() and ("," in path or path.endswith(")")):
                raise ConfigError(f"ckpt_path={path!r}: a multirun cannot sweep ckpt_path (each checkpoint decides its own model and "
                                  f"data): run refnets-eval once per checkpoint, e.g. in a shell loop")
            checkpoint = read_checkpoint(path)
            overrides = eval_overrides(checkpoint, argv)
            saved = [o for o in overrides if o not in argv]
            check_saved_overrides_compose(saved, path)
            overrides += sweep_folder_names_without(saved, argv)
        except ConfigError as err:
            if not shows:
                print(f"refnets-eval: {err}", file=sys.stderr)
                sys.exit(2)
            overrides = argv
        sys.argv[1:] = overrides
    _eval_main()


if __name__ == "__main__":
    main()
