"""refnets-eval from the checkpoint alone, resume in the same run, interrupts, checkpoints you can trust,
reproducible runs — through the real entry points."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from cli_helpers import run_cli
from refnets.config import config_dir

QUIET = ["callbacks.progress_bar=null", "callbacks.model_summary=null"]


@pytest.fixture
def cli(monkeypatch, tmp_path):
    return lambda module, args: run_cli(module, args, tmp_path, monkeypatch)


def _run_folder(result, tmp_path: Path) -> Path:
    """The run folder refnets-train reported."""
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("run folder"))
    return Path(line.split(None, 2)[2])


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


MODELS = {
    "perceptron": ["experiment=perceptron_blobs", "trainer.max_epochs=2"],
    "mlp": ["experiment=mlp_moons", "trainer.max_epochs=3"],
    "lenet5": ["model=lenet5", "data=digits", "trainer.max_epochs=1", "+trainer.limit_train_batches=5"],
}


@pytest.mark.parametrize("model", MODELS)
def test_eval_with_only_the_checkpoint_reproduces_the_test_accuracy(cli, model, tmp_path):
    """`refnets-eval ckpt_path=…` alone rebuilds the run's model and data (from the overrides saved in the
    checkpoint) and reports exactly the test metrics refnets-train reported for that checkpoint."""
    trained = cli("train", [*MODELS[model], *QUIET])
    assert trained.returncode == 0, trained.output[-3000:]
    run = _run_folder(trained, tmp_path)
    summary = json.loads((run / "metrics.json").read_text())
    best, last = summary["best_checkpoint"], summary["last_checkpoint"]
    assert Path(best).is_file() and Path(last).is_file()  # every model writes both, the perceptron included

    evaluated = cli("eval", [f"ckpt_path={best}"])
    assert evaluated.returncode == 0, evaluated.output[-3000:]
    metrics_line = next(line for line in evaluated.stdout.splitlines() if line.strip().startswith("metrics "))
    written = Path(metrics_line.split(None, 1)[1])
    assert written.is_file() and written.parent != run  # its own run folder, which it names
    result = json.loads(written.read_text())
    assert result["metrics"]["test/acc"] == summary["metrics"]["test/acc"]
    assert result["metrics"]["test/loss"] == pytest.approx(summary["metrics"]["test/loss"], rel=1e-6)
    assert "test/acc" in evaluated.stdout and result["changed_from_training"] == {}


def test_eval_does_not_take_the_training_runs_limits_or_log_folder():
    """An evaluation reads all of its split and logs under its own folder: the training run's trainer.limit_*
    and paths.log_dir/output_dir overrides are not taken (its model, data and ops are)."""
    from refnets.cli.eval import eval_overrides

    trained = ["data=digits", "+trainer.limit_test_batches=1", "trainer.limit_val_batches=2", "paths.log_dir=/elsewhere",
               "data.eval_batch_size=20", "ops=builtin", "trainer.max_epochs=3", "callbacks.images=null"]
    taken = eval_overrides({"refnets": {"overrides": trained}}, ["ckpt_path=x.ckpt", "++trainer.limit_test_batches=0.5"])
    assert taken == ["data=digits", "data.eval_batch_size=20", "ops=builtin", "trainer.max_epochs=3", "ckpt_path=x.ckpt",
                     "++trainer.limit_test_batches=0.5"]


def test_seed_null_draws_a_seed_that_the_checkpoint_keeps_for_eval_and_resume(cli, tmp_path):
    """seed=null draws a seed, logs it and saves it in the run's config: refnets-eval split=val then scores the
    samples the run validated on (the run's own final val metrics, every time), where it drew a new split each
    time before (measured: val/acc 0.78 in training, 0.80 and 0.76 in two evals). A checkpoint of a version that
    did not save the drawn seed is refused for split=val, in one line."""
    trained = cli("train", ["experiment=mlp_moons", "seed=null", "trainer.max_epochs=1", "test=false", *QUIET])
    assert trained.returncode == 0, trained.output[-3000:]
    drawn = re.search(r"seed=null: this run's seed is (\d+) \(saved in its checkpoints; run it again with seed=\1\)", trained.output)
    assert drawn, trained.output[-3000:]
    summary = json.loads((_run_folder(trained, tmp_path) / "metrics.json").read_text())
    checkpoint = torch.load(summary["last_checkpoint"], weights_only=True)
    assert checkpoint["refnets"]["config"]["seed"] == checkpoint["refnets"]["config"]["data"]["seed"] == int(drawn.group(1))
    for _ in range(2):
        val = cli("eval", [f"ckpt_path={summary['last_checkpoint']}", "split=val"])
        assert val.returncode == 0, val.output[-2000:]
        written = json.loads(Path(next(line for line in val.stdout.splitlines() if line.strip().startswith("metrics ")).split(None, 1)[1]).read_text())
        assert written["metrics"]["val/acc"] == summary["final_epoch"]["val/acc"], (written, summary["final_epoch"])
        assert written["changed_from_training"] == {}
    # resumed with seed=null (as the saved overrides say), the run goes on under its own seed, so on its own split
    resumed = cli("train", ["experiment=mlp_moons", "seed=null", "trainer.max_epochs=2", "test=false", f"ckpt_path={summary['last_checkpoint']}", *QUIET])
    assert resumed.returncode == 0 and "this run's seed is" not in resumed.output, resumed.output[-3000:]
    after = json.loads((_run_folder(resumed, tmp_path) / "metrics.json").read_text())["last_checkpoint"]
    assert torch.load(after, weights_only=True)["refnets"]["config"]["seed"] == int(drawn.group(1))
    # a checkpoint whose config says seed None (written before the seed was saved)
    checkpoint["refnets"]["config"]["seed"] = checkpoint["refnets"]["config"]["data"]["seed"] = None
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)
    refused = cli("eval", [f"ckpt_path={old}", "split=val"])
    assert refused.returncode == 2 and "its validation split cannot be drawn again: split=val would score other samples" in refused.output, refused.output[-2000:]
    assert "Traceback" not in refused.output
    tested = cli("eval", [f"ckpt_path={old}"])  # the test split does not depend on the seed
    assert tested.returncode == 0 and "this run's seed is" not in tested.output, tested.output[-2000:]
    # resuming it with seed=N, as the refusal advises, splits anew knowingly: not refused as "other data"
    refused = cli("train", ["experiment=mlp_moons", "seed=null", "trainer.max_epochs=2", "test=false", f"ckpt_path={old}", *QUIET])
    assert refused.returncode == 2 and "resume with seed=N to split anew knowingly" in refused.output, refused.output[-2000:]
    resumed = cli("train", ["experiment=mlp_moons", "seed=5", "trainer.max_epochs=2", "test=false", f"ckpt_path={old}", *QUIET])
    assert resumed.returncode == 0 and "its validation split is unknown, and this run draws a new one with seed=5" in resumed.output, resumed.output[-2000:]


def test_eval_runs_in_one_process_and_writes_no_checkpoint_whatever_the_trainer_and_callbacks(cli, tmp_path):
    """A checkpoint trained with trainer=ddp_cpu (a saved override) or evaluated with it: refnets-eval still runs one
    process, where two padded the last shard with a repeated sample (201 test samples: test/loss 0.4570 against
    0.4575), and says so."""
    trained = cli("train", ["experiment=mlp_xor", "data.n_test=201", "trainer.max_epochs=1", "test=false", *QUIET])
    ckpt = json.loads((_run_folder(trained, tmp_path) / "metrics.json").read_text())["last_checkpoint"]
    one = cli("eval", [f"ckpt_path={ckpt}"])
    two = cli("eval", [f"ckpt_path={ckpt}", "trainer=ddp_cpu"])
    assert one.returncode == 0 and two.returncode == 0, two.output[-2000:]
    assert "evaluating in one process (devices=1, strategy=auto, num_nodes=1) rather than trainer.devices=2, trainer.strategy=ddp:" in two.output
    assert "DistributedSampler" not in two.output and "evaluating in one process" not in one.output
    # callbacks=default, an option `refnets-eval --help` lists: its checkpoint callbacks are dropped (an evaluation
    # writes none), where Lightning refused them beside enable_checkpointing=False
    three = cli("eval", [f"ckpt_path={ckpt}", "callbacks=default"])
    assert three.returncode == 0, three.output[-2000:]
    metrics = [json.loads(Path(next(line for line in r.stdout.splitlines() if line.strip().startswith("metrics ")).split(None, 1)[1]).read_text())["metrics"]
               for r in (one, two, three)]
    assert metrics[0] == metrics[1] == metrics[2]


@pytest.mark.parametrize("callbacks", ["eval", "default"])
def test_eval_logs_its_metrics_to_the_logger_asked_for(cli, callbacks, tmp_path):
    """`refnets-eval ckpt_path=… logger=tensorboard` wrote no event file: the logger was composed and then ignored.
    The metrics are logged under the evaluation's own run folder (the training run's logger is still not taken), and
    with logger=none (eval.yaml's default) nothing is."""
    trained = cli("train", ["experiment=mlp_xor", "trainer.max_epochs=1", "test=false", "logger=csv", *QUIET])
    ckpt = _run_folder(trained, tmp_path) / "checkpoints" / "last.ckpt"
    logged = cli("eval", [f"ckpt_path={ckpt}", "logger=tensorboard", f"callbacks={callbacks}"])
    assert logged.returncode == 0, logged.output[-2000:]
    written = Path(next(line for line in logged.stdout.splitlines() if line.strip().startswith("metrics ")).split(None, 1)[1])
    summary = json.loads(written.read_text())
    scalars = _scalars(written.parent / "tensorboard")
    assert {tag: values[-1][1] for tag, values in scalars.items() if tag.startswith("test/")} == pytest.approx(summary["metrics"])
    assert [Path(d) for d in summary["log_dirs"]] == [written.parent / "tensorboard"]
    assert f"logs                   {written.parent / 'tensorboard'}" in logged.stdout
    plain = cli("eval", [f"ckpt_path={ckpt}"])  # logger=none; and the training run's logger=csv is not taken
    written = Path(next(line for line in plain.stdout.splitlines() if line.strip().startswith("metrics ")).split(None, 1)[1])
    assert plain.returncode == 0 and json.loads(written.read_text())["log_dirs"] == [] and not (written.parent / "tensorboard").exists() and not (written.parent / "csv").exists()


def test_eval_overrides_still_apply_and_are_reported(cli, tmp_path):
    trained = cli("train", ["experiment=mlp_moons", "trainer.max_epochs=2", "test=false", *QUIET])
    ckpt = json.loads((_run_folder(trained, tmp_path) / "metrics.json").read_text())["last_checkpoint"]
    val = cli("eval", [f"ckpt_path={ckpt}", "split=val"])
    assert val.returncode == 0 and "val/acc" in val.stdout, val.output[-2000:]
    # the same weights through the built-in ops: the override applies, and the summary says what changed
    custom = cli("eval", [f"ckpt_path={ckpt}"])
    builtin = cli("eval", [f"ckpt_path={ckpt}", "ops=builtin"])
    assert builtin.returncode == 0, builtin.output[-2000:]
    assert "changed from training  ops: 'custom' → 'builtin'" in builtin.stdout
    # the checkpoint of a custom-ops run loads into the builtin model (same state_dict keys) and scores the
    # same, up to a prediction flipped by float32 rounding (1 of 200 test points)
    accuracy = [float(next(line for line in r.stdout.splitlines() if "test/acc" in line).split()[1]) for r in (custom, builtin)]
    assert abs(accuracy[0] - accuracy[1]) <= 1 / 200


def test_checkpoints_in_multirun_job_folders_evaluate_and_resume(cli, tmp_path):
    """A multirun job's folder is named by its overrides (0_optimizer.lr=0.3,seed=1): refnets-eval and a
    resume take a checkpoint path with '=' and ',' in it, written raw or in Hydra's quotes."""
    job = tmp_path / "multiruns" / "0_optimizer.lr=0.3,seed=1"
    trained = cli("train", ["experiment=mlp_xor", "trainer.max_epochs=1", "test=false", f"hydra.run.dir='{job}'", *QUIET])
    assert trained.returncode == 0, trained.output[-2000:]
    ckpt = job / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    for given in (f"ckpt_path={ckpt}", f"ckpt_path='{ckpt}'", f'ckpt_path="{ckpt}"'):
        evaluated = cli("eval", [given])
        assert evaluated.returncode == 0 and "test/acc" in evaluated.stdout, (given, evaluated.output[-2000:])
    resumed = cli("train", ["experiment=mlp_xor", "trainer.max_epochs=2", "test=false", f"ckpt_path={ckpt}", *QUIET])
    assert resumed.returncode == 0, resumed.output[-2000:]
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1  # the second epoch, written in the job's own folder


def test_eval_multirun_sweeps_a_checkpoint_over_splits(cli, tmp_path):
    """refnets-eval -m ckpt_path=… split=val,test: one job per split, each with the checkpoint's own model and data
    (the saved overrides go after -m, or argparse refuses the sweep's overrides as unrecognised arguments)."""
    trained = cli("train", ["experiment=mlp_xor", "trainer.max_epochs=1", "test=false", *QUIET])
    ckpt = _run_folder(trained, tmp_path) / "checkpoints" / "last.ckpt"
    swept = cli("eval", ["-m", f"ckpt_path={ckpt}", "split=val,test"])
    assert swept.returncode == 0, swept.output[-2000:]
    # under the training run's task_name (its experiment's), as refnets-eval's single runs
    written = sorted(tmp_path.glob("logs/mlp_xor/evals/*/*/metrics.json"))
    # named by the command line's sweep alone: not by the checkpoint's saved overrides (experiment=mlp_xor,
    # trainer.max_epochs=1), which every job shares
    assert [p.parent.name for p in written] == ["0_split=val", "1_split=test"], written
    assert [sorted(json.loads(p.read_text())["metrics"]) for p in written] == [["val/acc", "val/loss"], ["test/acc", "test/loss"]]


@pytest.mark.parametrize("saved, message", [
    (["experiment=mlp_xor_renamed"], r"In 'eval': Could not find 'experiment/mlp_xor_renamed' \(available: lenet5_classic_mnist, .*mlp_xor, .*\)\. "
                                     r"Saved: experiment=mlp_xor_renamed trainer.max_epochs=1\. An override of the same key on the command line replaces the saved one"),
    (["experiment=mlp_xor", "model.net.widths=[3]"], r"Could not override 'model.net.widths'\. Saved: experiment=mlp_xor model.net.widths=\[3\] trainer.max_epochs=1\."),
], ids=["gone-experiment", "gone-key"])
def test_saved_overrides_that_no_longer_compose_are_named_as_the_checkpoints(cli, saved, message, tmp_path):
    """A checkpoint from an older conf/ (an experiment renamed, a key gone): refnets-eval says the saved overrides are
    to blame, lists them, and how to replace one; exit 2, no traceback. Replacing it on the command line works."""
    trained = cli("train", ["experiment=mlp_xor", "trainer.max_epochs=1", "test=false", *QUIET])
    ckpt = _run_folder(trained, tmp_path) / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["refnets"]["overrides"] = [*saved, "trainer.max_epochs=1"]
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)
    result = cli("eval", [f"ckpt_path={old}"])
    out = result.output
    assert result.returncode == 2, out[-2000:]
    assert re.search(rf"refnets-eval: ckpt_path={re.escape(str(old))}: the overrides saved in the checkpoint no longer compose with \S+conf: {message}", out), out[-2000:]
    assert "Traceback" not in out and "HYDRA_FULL_ERROR" not in out
    # the way out the message gives: the same key on the command line replaces the saved override, ~KEY drops it
    way_out = "experiment=mlp_xor" if saved[0] != "experiment=mlp_xor" else "~model.net.widths"
    assert cli("eval", [f"ckpt_path={old}", way_out]).returncode == 0


def test_eval_multirun_over_checkpoints_is_refused_with_the_reason(cli, tmp_path):
    result = cli("eval", ["-m", "ckpt_path=a.ckpt,b.ckpt"])
    assert result.returncode == 2, result.output[-2000:]
    assert "refnets-eval: ckpt_path='a.ckpt,b.ckpt': a multirun cannot sweep ckpt_path (each checkpoint decides its own model and data): run refnets-eval once per checkpoint" in result.output


def test_eval_multirun_checks_every_split_before_the_first_runs(cli, tmp_path):
    trained = cli("train", ["experiment=mlp_xor", "trainer.max_epochs=1", "test=false", *QUIET])
    ckpt = _run_folder(trained, tmp_path) / "checkpoints" / "last.ckpt"
    swept = cli("eval", ["-m", f"ckpt_path={ckpt}", "split=val,tset"])
    assert swept.returncode == 2, swept.output[-2000:]
    assert re.search(r"multirun job #1 \(.*split=tset.*\): split='tset' is not allowed: expected one of test, val", swept.output), swept.output[-2000:]
    assert not list(tmp_path.glob("logs/mlp_xor/evals/*/*/metrics.json"))


def test_a_tilde_on_a_key_eval_does_not_take_from_the_checkpoint_reaches_hydra(cli, tmp_path):
    """The training run overrode callbacks.progress_bar, which refnets-eval does not take from it: ~callbacks.progress_bar
    then deletes eval's own bar (it was swallowed as if it dropped the saved override)."""
    trained = cli("train", ["experiment=mlp_xor", "trainer.max_epochs=1", "test=false", *QUIET])
    ckpt = _run_folder(trained, tmp_path) / "checkpoints" / "last.ckpt"
    shown = cli("eval", ["--cfg", "job", f"ckpt_path={ckpt}", "~callbacks.progress_bar"])
    assert shown.returncode == 0 and "refnets.models.MLP" in shown.stdout and "RichProgressBar" not in shown.stdout, shown.output[-2000:]


@pytest.mark.parametrize("options", [["--cfg", "job"], ["-cn", "eval"]], ids=["cfg-job", "config-name"])
def test_hydras_options_with_values_keep_the_checkpoints_overrides(cli, options, tmp_path):
    """--cfg job prints the checkpoint's config (its MLP, not eval.yaml's LeNet-5); -cn eval runs it: options with
    a value go before the saved overrides (argparse refused the overrides after them as unrecognised)."""
    trained = cli("train", ["experiment=mlp_xor", "trainer.max_epochs=1", "test=false", *QUIET])
    ckpt = _run_folder(trained, tmp_path) / "checkpoints" / "last.ckpt"
    result = cli("eval", [*options, f"ckpt_path={ckpt}"])
    assert result.returncode == 0, result.output[-2000:]
    assert ("refnets.models.MLP" in result.stdout) if options[0] == "--cfg" else ("refnets-eval finished" in result.stdout), result.output[-2000:]


def test_ties_in_the_best_checkpoint_go_to_the_later_epoch(cli, tmp_path):
    """mlp_xor reaches val/acc 1.0 early; the tested checkpoint is the latest epoch with the best accuracy."""
    trained = cli("train", ["experiment=mlp_xor", "trainer.max_epochs=4", *QUIET])
    run = _run_folder(trained, tmp_path)
    accs = [v for _, v in _scalars(run / "tensorboard")["val/acc"]]
    assert len(accs) == 4
    latest_best = max(i for i, a in enumerate(accs) if a == max(accs))
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["tested_checkpoint"]["epoch"] == latest_best
    assert accs.count(max(accs)) > 1, "the control: this run must have a tie for the test to mean anything"
    # metrics.json holds the final epoch's metrics beside the tested checkpoint's
    assert summary["final_epoch"]["epoch"] == 3 and {"val/acc", "val/loss", "train/loss"} <= summary["final_epoch"].keys()
    assert {"val/acc", "val/loss", "test/acc", "test/loss"} <= summary["tested_checkpoint"].keys()
    assert {"test/acc", "test/loss"} <= summary["final_epoch"].keys()


def _eval_test_acc(cli, ckpt: Path) -> float:
    evaluated = cli("eval", [f"ckpt_path={ckpt}"])
    assert evaluated.returncode == 0, evaluated.output[-2000:]
    (line,) = [line for line in evaluated.stdout.splitlines() if line.split()[:1] == ["test/acc"]]
    return float(line.split()[-1])


def test_metrics_json_tests_the_final_epoch_and_the_best_checkpoint_each_on_its_own_weights(cli, tmp_path):
    """Both columns of metrics.json hold test metrics: the final epoch's are those of last.ckpt, the tested
    checkpoint's those of the best one, each as refnets-eval measures it alone (the extra test of the final
    weights leaves the tested checkpoint's numbers untouched); neither adds points to the TensorBoard curves."""
    # the best checkpoint chosen among epoch 1 alone (every_n_epochs=2), so that it differs from the final one, epoch 2
    trained = cli("train", ["experiment=mlp_moons", "trainer.max_epochs=3", "+callbacks.model_checkpoint.every_n_epochs=2", *QUIET])
    assert trained.returncode == 0, trained.output[-2000:]
    run = _run_folder(trained, tmp_path)
    summary = json.loads((run / "metrics.json").read_text())
    final, tested = summary["final_epoch"], summary["tested_checkpoint"]
    assert tested["epoch"] < final["epoch"] and tested["test/acc"] != final["test/acc"], "the control: two different weights"
    assert final["test/acc"] == pytest.approx(_eval_test_acc(cli, run / "checkpoints" / "last.ckpt"), abs=1e-4)
    assert tested["test/acc"] == pytest.approx(_eval_test_acc(cli, Path(summary["best_checkpoint"])), abs=1e-4)
    assert summary["metrics"]["test/acc"] == tested["test/acc"]  # the headline stays the tested checkpoint's
    assert len(_scalars(run / "tensorboard")["test/acc"]) == 1  # one test point: the tested checkpoint's


def test_resume_continues_in_the_same_run_folder_and_tensorboard_run(cli, tmp_path):
    first = cli("train", ["experiment=mlp_xor", "trainer.max_epochs=2", *QUIET])
    run = _run_folder(first, tmp_path)
    resumed = cli("train", ["experiment=mlp_xor", "trainer.max_epochs=4", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", *QUIET])
    assert resumed.returncode == 0, resumed.output[-3000:]
    assert _run_folder(resumed, tmp_path) == run
    assert len(list((tmp_path / "logs" / "mlp_xor" / "runs").iterdir())) == 1
    assert "exists and is not empty" not in resumed.output  # no callback warning about its own folder
    # one TensorBoard run, one val/acc point per epoch 0..3, steps increasing across the resume
    steps = [s for s, _ in _scalars(run / "tensorboard")["val/acc"]]
    assert len(steps) == 4 and steps == sorted(steps)
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 3
    # the original run's composed config is kept; the resumed run's is beside it
    assert "ckpt_path: null" in (run / ".hydra" / "config.yaml").read_text()
    assert "ckpt_path: " + str(run / "checkpoints" / "last.ckpt") in (run / ".hydra" / "resumed" / "config.yaml").read_text()


def test_run_folders_are_unique_within_a_second(tmp_path):
    folders = set()
    for _ in range(3):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose("train", return_hydra_config=True)
        folders.add(OmegaConf.to_container(cfg.hydra.run, resolve=True)["dir"])
    assert len(folders) == 3, folders


def _state(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def test_deterministic_cpu_runs_are_bit_identical_and_seed_0_seeds(cli, tmp_path):
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        result = cli("train", ["model=lenet5", "data=digits", "trainer.max_epochs=1", "+trainer.limit_train_batches=8",
                               "trainer.deterministic=true", f"seed={seed}", "test=false", *QUIET])
        assert result.returncode == 0, result.output[-3000:]
        runs[name] = _state(_run_folder(result, tmp_path))
    assert all(torch.equal(runs["a"][k], runs["b"][k]) for k in runs["a"])  # bit-identical
    assert not all(torch.equal(runs["a"][k], runs["c"][k]) for k in runs["a"])  # seed 0 is a seed, not "no seed"


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_interrupt_leaves_a_loadable_checkpoint_and_says_how_to_resume(signum, code, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["experiment=mlp_moons", "trainer.max_epochs=100000", *QUIET, f"hydra.run.dir={run}"]
    # SIGINT as a terminal's Ctrl-C delivers it: a shell that runs a script in the background (pytest under
    # `nohup … &`) starts its children with SIGINT ignored, and Python then never raises KeyboardInterrupt
    proc = subprocess.Popen([sys.executable, "-c", "from refnets.cli.train import main; main()", *args],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoints" / "last.ckpt").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(0.5)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:  # a run that ignored the signal must not outlive the test (it trains for 100 000 epochs)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    saved = run / "checkpoints" / "interrupted.ckpt"
    assert proc.returncode == code, (out + err)[-3000:]
    assert f"its state is in\n  {saved}" in err and f"resume with:\n  refnets-train experiment=mlp_moons" in err
    assert f"ckpt_path={saved}" in err and "Traceback" not in err
    assert "weights_only" not in out + err  # Lightning's "`weights_only` was not set, defaulting to `False`." beside it
    state = torch.load(saved, weights_only=True)
    assert state["epoch"] >= 1 and state["refnets"]["overrides"][0] == "experiment=mlp_moons"


def test_resume_with_the_csv_logger_keeps_the_first_part(cli, tmp_path):
    """Lightning's CSVLogger deletes a metrics.csv it finds; each start writes its own file instead."""
    first = cli("train", ["experiment=mlp_xor", "trainer.max_epochs=1", "logger=csv", "test=false", *QUIET])
    run = _run_folder(first, tmp_path)
    resumed = cli("train", ["experiment=mlp_xor", "trainer.max_epochs=2", "logger=csv", "test=false",
                            f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", *QUIET])
    assert resumed.returncode == 0, resumed.output[-2000:]
    files = sorted(run.glob("csv/*/metrics.csv"))
    assert len(files) == 2 and all("val/acc" in f.read_text() for f in files)


@pytest.mark.parametrize("module, args", [("train", ["trainer.max_epochs=3", "seed=1"]), ("eval", ["ckpt_path=some/run/last.ckpt", "split=val"]),
                                          ("train", ["-m", "seed=1,2", "hydra.job.chdir=false"]), ("train", ["--cfg", "job", "seed=1"]),
                                          ("train", ["-cn", "train", "+x=1"]), ("eval", ["ckpt_path=a.ckpt", "--cfg", "job", "-cn", "eval"])])
def test_hydra_help_ignores_the_applications_overrides(cli, module, args):
    """Hydra composes --hydra-help from its own config alone: an override of the application's config ended in
    Hydra's traceback "Could not override 'trainer.max_epochs'"; it now shows Hydra's help (whatever the order)."""
    for argv in ([*args, "--hydra-help"], ["--hydra-help", *args]):
        result = cli(module, argv)
        assert result.returncode == 0, result.output[-2000:]
        assert "Hydra (1." in result.output and "== Flags ==" in result.output and "Traceback" not in result.output


def test_eval_logs_its_errors_under_its_own_name(cli, tmp_path):
    """refnets-eval's refusals are logged as refnets.eval (they read refnets.train, the other command)."""
    trained = cli("train", ["experiment=mlp_xor", "trainer.max_epochs=1", "test=false", *QUIET])
    ckpt = _run_folder(trained, tmp_path) / "checkpoints" / "last.ckpt"
    result = cli("eval", [f"ckpt_path={ckpt}", "data=mnist"])  # XOR's MLP does not take MNIST's images
    assert result.returncode == 2, result.output[-2000:]
    assert "[refnets.eval][ERROR] - the model (MLP) does not take this data's inputs" in result.output
    assert "refnets.train" not in result.output


def test_sweep_folder_names_leave_out_the_saved_overrides_unless_the_command_line_names_them():
    from refnets.cli.eval import EXCLUDE_KEYS, sweep_folder_names_without

    saved = ["experiment=mlp_xor", "+model.net.widths=[3]", "trainer.max_epochs=1"]
    assert sweep_folder_names_without(saved, ["ckpt_path=a.ckpt", "split=val"]) == []  # one run: no job folders
    assert sweep_folder_names_without(saved, ["hydra.mode=MULTIRUN", "split=val,test"]) == sweep_folder_names_without(saved, ["-m", "split=val,test"]) != []
    assert sweep_folder_names_without([], ["-m", "split=val,test"]) == []
    assert sweep_folder_names_without(saved, ["-m", f"{EXCLUDE_KEYS}=[split]", "split=val,test"]) == []  # the user's own choice
    (added,) = sweep_folder_names_without(saved, ["-m", "split=val,test"])
    keys = added.split("=", 1)[1].strip("[]").split(",")
    assert keys[:2] == ["experiment", "trainer"] and keys[-2:] == ["model.net.widths", "trainer.max_epochs"] and "split" not in keys


def test_sweep_folder_names_leave_out_every_kind_of_saved_override_as_hydra_names_folders():
    """Hydra's own naming (get_overrides_dirname, which builds hydra.job.override_dirname) with the exclusion added:
    only the command line's sweep is left, whatever the saved overrides' form (+, ++, ~, group@package)."""
    from hydra._internal.config_loader_impl import get_overrides_dirname
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from refnets.cli.eval import sweep_folder_names_without

    saved = ["experiment=mlp_xor", "+model.net.widths=[3]", "++trainer.max_epochs=1", "~callbacks.early_stopping", "data@data=moons"]
    (added,) = sweep_folder_names_without(saved, ["-m", "split=val,test"])
    exclude = added.split("=", 1)[1].strip("[]").split(",")
    parsed = OverridesParser.create().parse_overrides([*saved, "split=val"])
    assert get_overrides_dirname(parsed, exclude_keys=exclude, item_sep=",", kv_sep="=") == "split=val"
