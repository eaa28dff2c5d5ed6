"""refnets-train end to end: short runs of every model, learning with fixed seeds, the CLI itself."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from helpers import compose_train, write_idx
from refnets.cli.train import build, train

QUIET = ["callbacks.progress_bar=null", "callbacks.model_summary=null"]


def run(overrides: list[str], tmp_path: Path) -> dict:
    return train(compose_train(overrides + QUIET, tmp_path))


@pytest.mark.parametrize(
    "overrides",
    [
        ["model=lenet5", "data=digits"],
        ["model=mlp", "data=digits"],
        ["model=mlp", "data=digits", "model.net.sizes=[64,30,10]", "data.size=8", "model.loss=quadratic", "model.net.output=sigmoid"],
        ["model=perceptron", "data=blobs"],
        ["model=perceptron", "data=digits", "model.net.in_features=64", "model.net.num_classes=10", "data.size=8"],
        ["experiment=mlp_moons", "scheduler=step", "logger=csv"],
        ["model=lenet5", "data=digits", "ops=builtin", "logger=none"],
    ],
    ids=["lenet5", "mlp", "mlp-quadratic", "perceptron", "perceptron-10-class", "mlp-moons-csv", "builtin-nologger"],
)
def test_short_run_of_every_model(overrides, tmp_path):
    """A few batches through fit and test; the summary and metrics.json describe the run."""
    summary = run(overrides + ["+trainer.fast_dev_run=2"], tmp_path)
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written == json.loads(json.dumps(summary))
    for key in ("train/loss", "train/acc", "val/loss", "val/acc", "test/loss", "test/acc"):
        assert 0.0 <= written["metrics"][key] < float("inf"), key


def test_fast_dev_run_tests_the_final_weights_once_and_names_no_empty_log_folder(tmp_path, monkeypatch):
    """trainer.fast_dev_run writes no checkpoint and no logs (Lightning's DummyLogger): the summary named the TensorBoard
    folder, which was never made, with a `tensorboard --logdir` line, and tested the same final weights twice, the
    second time reported as "tested (epoch ?)"."""
    from lightning.pytorch import Trainer

    tests = []
    original = Trainer.test
    monkeypatch.setattr(Trainer, "test", lambda self, *a, **k: tests.append(k.get("ckpt_path")) or original(self, *a, **k))
    summary = run(["experiment=mlp_xor", "+trainer.fast_dev_run=true"], tmp_path)
    assert tests == [None]
    assert summary["log_dirs"] == [] and not (tmp_path / "tensorboard").exists()
    assert summary["tested_checkpoint"]["epoch"] == summary["final_epoch"]["epoch"] == 0
    assert summary["tested_checkpoint"]["test/acc"] == summary["final_epoch"]["test/acc"]


def test_no_validation_keeps_no_best_checkpoint_and_tests_the_last(tmp_path, caplog):
    """trainer.limit_val_batches=0: the checkpoint kept by val/acc would never be written (Lightning warned every epoch
    that it could not find val/acc); it is left out, said once, and last.ckpt is tested."""
    import warnings

    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO, logger="refnets.train"):
        warnings.simplefilter("always")
        summary = run(["experiment=mlp_xor", "trainer.max_epochs=2", "+trainer.limit_val_batches=0"], tmp_path)
    assert not [w for w in caught if "could not find the monitored key" in str(w.message)]
    assert "no validation, so no best checkpoint by val/acc is kept" in caplog.text
    assert summary["best_checkpoint"] is None and summary["tested_checkpoint"]["epoch"] == 1
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file() and 0.0 <= summary["metrics"]["test/acc"] <= 1.0


def test_a_test_shorter_than_the_predictions_grid_still_finishes(tmp_path):
    """callbacks.images draws num_images (32) test predictions; a test cut to 20 images (trainer.limit_test_batches)
    draws those 20, and the run writes its metrics (it crashed after training, with IndexError)."""
    summary = run(["data=digits", "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
                   "+trainer.limit_test_batches=1", "data.eval_batch_size=20"], tmp_path)
    assert 0.0 <= summary["metrics"]["test/acc"] <= 1.0 and (tmp_path / "metrics.json").is_file()


def test_threads_sets_torch_threads_and_the_summary_says_so(tmp_path):
    """threads=1 is torch.set_num_threads(1) for the run, recorded in metrics.json (null leaves torch's default)."""
    before = torch.get_num_threads()
    try:
        summary = run(["experiment=mlp_xor", "trainer.max_epochs=1", "threads=1"], tmp_path)
        assert torch.get_num_threads() == 1 and summary["threads"] == 1
    finally:
        torch.set_num_threads(before)
    assert run(["experiment=mlp_xor", "trainer.max_epochs=1"], tmp_path / "default")["threads"] == before


@pytest.mark.parametrize(
    ("overrides", "bar"),
    [
        ([], RichProgressBar),  # conf/callbacks/default.yaml's bar
        (["callbacks.progress_bar=null"], None),  # switched off like any other callback (Lightning would add its own)
        (["callbacks.progress_bar=null", "++trainer.enable_progress_bar=true"], ProgressBar),  # asked for: Lightning's default
    ],
)
def test_progress_bar_is_the_callbacks_one_and_null_switches_it_off(overrides, bar, tmp_path):
    _, _, trainer, _ = build(compose_train(["experiment=mlp_xor", *overrides], tmp_path))
    if bar is None:
        assert trainer.progress_bar_callback is None and not any(isinstance(c, ProgressBar) for c in trainer.callbacks)
    else:
        assert isinstance(trainer.progress_bar_callback, bar)


def test_mnist_run_from_idx_files(tmp_path):
    """data=mnist end to end, offline, on small IDX files this test writes."""
    write_idx(tmp_path / "data" / "MNIST" / "raw", n_train=120, n_test=40)
    summary = run(["model=mlp", "data=mnist", f"paths.data_dir={tmp_path / 'data'}", "data.val_size=20",
                   "data.download=false", "trainer.max_epochs=1"], tmp_path)
    assert summary["metrics"]["test/acc"] >= 0.0 and Path(summary["last_checkpoint"]).is_file()


def test_checkpoints_logs_and_lr_are_written(tmp_path):
    summary = run(["experiment=mlp_xor", "trainer.max_epochs=2"], tmp_path)
    assert Path(summary["best_checkpoint"]).is_file() and Path(summary["last_checkpoint"]).is_file()
    assert summary["best_checkpoint"].startswith(str(tmp_path / "checkpoints"))
    # last.ckpt is the final state (epoch index 1 of 2), whether or not that epoch was the best
    assert torch.load(summary["last_checkpoint"], weights_only=True)["epoch"] == 1
    tags = set(_scalars(tmp_path / "tensorboard"))
    assert {"train/loss_step", "train/loss_epoch", "train/acc_epoch", "val/loss", "val/acc", "lr-SGD"} <= tags


def _scalars(folder: Path) -> dict[str, list[float]]:
    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def _loss_curves(tmp_path: Path, extra: list[str]) -> dict[str, torch.Tensor]:
    curves = {}
    for ops in ("custom", "builtin"):
        run(["model=lenet5", "data=digits", f"ops={ops}", "trainer.max_epochs=2", "trainer.log_every_n_steps=1",
             "test=false", *extra], tmp_path / ops)
        curves[ops] = torch.tensor(_scalars(tmp_path / ops / "tensorboard")["train/loss_step"])
    assert len(curves["custom"]) == 80  # 2 epochs × 40 batches, logged every step
    assert curves["custom"][-10:].mean() < 0.5 * curves["custom"][:5].mean()  # it learned: not two stuck runs
    return curves


def test_custom_and_builtin_runs_log_matching_loss_curves_float64(tmp_path):
    """The product's promise, through the whole stack (Hydra, Lightning, data, logging): the same
    experiment and seed with ops=custom and ops=builtin log the same training-loss curve. In float64
    the two paths differ by ~1e-16 per op; 80 Adam steps amplify that, but not to 1e-6 relative
    (TensorBoard stores float32, so anything below ~1e-7 reads as equal)."""
    curves = _loss_curves(tmp_path, ["+trainer.precision=64-true"])
    torch.testing.assert_close(curves["custom"], curves["builtin"], rtol=1e-6, atol=1e-7)


def test_custom_and_builtin_runs_log_matching_loss_curves_float32(tmp_path):
    """In float32 the curves start equal to rounding and drift apart slowly: training with ReLU,
    max-pooling and Adam amplifies a difference of one ulp by ~10× every 8 steps (measured: 1e-7 at
    step 1, 1e-5 by step 40, ~1 % by step 80), as it would between two GPUs. The first 30 steps agree
    to 1e-5 relative; the whole curve to 5 %."""
    curves = _loss_curves(tmp_path, [])
    torch.testing.assert_close(curves["custom"][:30], curves["builtin"][:30], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(curves["custom"], curves["builtin"], rtol=5e-2, atol=1e-3)


def test_perceptron_separates_blobs_and_fails_on_xor(tmp_path):
    blobs = run(["experiment=perceptron_blobs"], tmp_path / "blobs")["metrics"]
    assert blobs["train/acc_epoch"] == 1.0 and blobs["test/acc"] == 1.0
    xor = run(["experiment=perceptron_xor"], tmp_path / "xor")["metrics"]
    assert xor["train/acc_epoch"] < 0.8 and xor["test/acc"] < 0.8


def test_model_perceptron_chooses_sgd_whose_lr_is_its_eta(tmp_path):
    """model=perceptron selects optimizer=sgd (train.yaml's default, adam, would be ignored by the rule): η is
    optimizer=sgd's lr unless set; the perceptron experiments keep theirs; a model that uses an optimiser keeps adam."""
    cfg = compose_train(["model=perceptron", "data=blobs"], tmp_path)
    assert cfg.optimizer._target_ == "torch.optim.SGD" and cfg.model.lr == cfg.optimizer.lr == 0.1
    assert compose_train(["model=perceptron", "data=blobs", "optimizer.lr=0.5"], tmp_path).model.lr == 0.5
    for experiment in ("perceptron_blobs", "perceptron_xor"):
        cfg = compose_train([f"experiment={experiment}"], tmp_path)
        assert cfg.optimizer._target_ == "torch.optim.SGD" and cfg.model.lr == 1.0 and cfg.scheduler is None
    assert compose_train(["model=mlp"], tmp_path).optimizer._target_ == "torch.optim.Adam"


def test_mlp_solves_xor(tmp_path):
    assert run(["experiment=mlp_xor"], tmp_path)["metrics"]["test/acc"] >= 0.97


def test_default_run_lenet5_on_digits_reaches_97_percent(tmp_path):
    """What `refnets-train` does with no overrides (seed 42): LeNet-5 on the bundled digits."""
    assert run([], tmp_path)["metrics"]["test/acc"] >= 0.97


FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.exists(), reason="needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")
def test_lenet5_fashion_mnist_in_three_epochs(tmp_path):
    metrics = run(["experiment=lenet5_fashion", "trainer.max_epochs=3", f"paths.data_dir={tmp_path / 'data'}"], tmp_path)["metrics"]
    assert metrics["test/acc"] >= 0.89


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.exists(), reason="needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")
def test_lenet5_fashion_experiment_reaches_90_percent(tmp_path):
    """The experiment as a user runs it (`refnets-train experiment=lenet5_fashion`, 10 epochs on the CPU)."""
    metrics = run(["experiment=lenet5_fashion", f"paths.data_dir={tmp_path / 'data'}"], tmp_path)["metrics"]
    assert metrics["test/acc"] >= 0.90


def _cli(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    tests = str(Path(__file__).parent)  # so that a config can name a test helper (cli_helpers.SaveWeightsPerRank)
    env = {**os.environ, "REFNETS_LOG_DIR": str(cwd / "logs"), "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "refnets.cli.train", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown on machines without CUDA")
def test_cli_cuda_without_gpu_fails_clearly(tmp_path):
    result = _cli(["trainer=cuda"], tmp_path)
    assert result.returncode == 2
    assert "asks for a CUDA GPU, but torch.cuda.is_available() is False" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_cli_missing_dataset_fails_clearly(tmp_path):
    result = _cli(["data=kmnist", "model=mlp", "data.download=false", f"paths.data_dir={tmp_path}"], tmp_path)
    assert result.returncode == 2
    assert "Could not find the KMNIST dataset" in result.stderr + result.stdout and "Traceback" not in result.stderr


def test_cli_multirun_sweeps_learning_rates(tmp_path):
    result = _cli(["-m", "experiment=perceptron_blobs", "optimizer.lr=0.1,1.0", "trainer.max_epochs=1", *QUIET], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = sorted((tmp_path / "logs" / "perceptron_blobs" / "multiruns").glob("*/*"))
    names = [j.name for j in jobs if j.is_dir()]
    # each job's folder is named by its number and overrides, which TensorBoard shows as the run name
    assert len(names) == 2 and names[0].startswith("0_") and names[1].startswith("1_"), names
    assert "optimizer.lr=0.1" in names[0] and "optimizer.lr=1.0" in names[1], names
    for job in jobs:
        if job.is_dir():
            assert json.loads((job / "metrics.json").read_text())["metrics"]["test/acc"] > 0.5


def test_cli_multirun_checks_every_job_before_the_first_runs(tmp_path):
    """Bad values anywhere in a sweep are found before any job runs: each failing job is named with its overrides
    and message, one line each, and the sweep exits with status 2, nothing trained."""
    result = _cli(["-m", "experiment=perceptron_blobs", "optimizer.lr=0.1,-1,1.0,abc", "trainer.max_epochs=1", *QUIET], tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out[-2000:]
    assert re.search(r"multirun job #1 \(experiment=perceptron_blobs optimizer.lr=-1 trainer.max_epochs=1 .*\): optimizer.lr=-1 is not allowed", out), out[-2000:]
    assert re.search(r"multirun job #3 \(experiment=perceptron_blobs optimizer.lr=abc .*\): optimizer.lr='abc' is not allowed", out), out[-2000:]
    assert "2 of the multirun's 4 jobs would fail: none was run" in out and "Traceback" not in out
    assert not list(tmp_path.glob("logs/**/metrics.json")) and not list(tmp_path.glob("logs/**/*.ckpt"))


def test_cli_multirun_checks_the_experiments_own_sweep(tmp_path):
    """nielsen_ch1 sweeps its seeds (hydra.sweeper.params): those jobs are checked too."""
    result = _cli(["-m", "experiment=nielsen_ch1", "optimizer.lr=-3"], tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out[-2000:]
    assert all(f"multirun job #{n} (seed={n + 1} experiment=nielsen_ch1 optimizer.lr=-3)" in out for n in range(5)), out[-2000:]
    assert "5 of the multirun's 5 jobs would fail" in out


def test_cli_multirun_resolves_each_jobs_interpolations_as_the_job_will(tmp_path):
    """The sweep's values are checked in each job's own config: trainer.max_epochs=${threads} is 1 and 2 there (the
    sweep runs), and seed=${hydra:job.num} resolves to the job's number (the bad learning rate is still found)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ran = _cli(["-m", "experiment=mlp_xor", "threads=1,2", "trainer.max_epochs=${threads}", "test=false", *QUIET], tmp_path / "a")
    assert ran.returncode == 0, ran.stderr[-2000:]
    epochs = sorted(json.loads(p.read_text())["epochs"] for p in (tmp_path / "a").glob("logs/mlp_xor/multiruns/*/*/metrics.json"))
    assert epochs == [1, 2]
    refused = _cli(["-m", "experiment=mlp_xor", "seed=${hydra:job.num}", "optimizer.lr=-1,0.2", *QUIET], tmp_path / "b")
    out = refused.stdout + refused.stderr
    assert refused.returncode == 2 and "multirun job #0 (" in out and "1 of the multirun's 2 jobs would fail: none was run" in out, out[-2000:]
    assert "UserWarning" not in out and "Traceback" not in out


def test_cli_multirun_lists_a_job_that_does_not_compose(tmp_path):
    """optimizer=sgd,nonexistent in batches of one (Hydra validates a batch only when it launches it): the missing
    option is listed before any job runs."""
    result = _cli(["-m", "experiment=mlp_xor", "optimizer=sgd,nonexistent", "hydra.sweeper.max_batch_size=1", "trainer.max_epochs=1", *QUIET], tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out[-2000:]
    assert re.search(r"multirun job #1 \(.*optimizer=nonexistent.*\): does not compose: In 'train': Could not find 'optimizer/nonexistent'", out), out[-2000:]
    assert not list(tmp_path.glob("logs/**/metrics.json"))


def test_cli_multirun_refuses_job_folder_names_too_long_for_the_file_system(tmp_path):
    """A job's folder is named by its overrides: a long swept value would end in OSError 36 when Hydra makes it."""
    sizes = "model.net.sizes=[2," + ",".join(["8"] * 130) + ",2]"
    result = _cli(["-m", "experiment=mlp_xor", sizes, "seed=1,2", "trainer.max_epochs=1"], tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out[-2000:]
    assert re.search(r"multirun job #1 \(.*seed=2.*\): its folder name \(hydra.sweep.subdir\) would be \d+ bytes, longer than the 255 "
                     r"a file system allows: .* 'hydra.sweep.subdir=\$\{hydra.job.num\}'", out), out[-2000:]
    assert "Traceback" not in out


def test_cli_multirun_job_folders_nested_under_the_limit_run(tmp_path):
    """A hydra.sweep.subdir of two 150-byte folders is fine: the 255-byte limit is per folder name."""
    nested = "hydra.sweep.subdir=" + "a" * 150 + "/" + "b" * 150 + "_${hydra.job.num}"
    result = _cli(["-m", "experiment=mlp_xor", nested, "seed=1", "trainer.max_epochs=1", "test=false", *QUIET], tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]
    assert len(list(tmp_path.glob("logs/mlp_xor/multiruns/*/" + "a" * 150 + "/*/metrics.json"))) == 1


def test_seed_null_trains_with_a_fresh_split(tmp_path):
    """seed=null (documented: torch left unseeded) runs; it crashed in the datamodule's split (manual_seed(None))."""
    result = _cli(["experiment=mlp_xor", "seed=null", "trainer.max_epochs=1", "test=false", *QUIET], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]


def test_cli_multirun_runs_every_job_when_one_fails(tmp_path):
    """A job that fails only once it runs (here a learning rate of 1e30, whose loss becomes NaN) stops that job
    only: the jobs after it run, the failure is logged where it happened and reported once more at the end (one
    line, no traceback), and the sweep exits with status 1."""
    result = _cli(["-m", "experiment=mlp_moons", "optimizer.lr=0.1,1e30,0.05", "trainer.max_epochs=1", "test=false", *QUIET], tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out[-2000:]
    assert re.search(r"multirun job #1 \(experiment=mlp_moons optimizer.lr=1e\+30 .*\) failed \(every job of the sweep ran; each failure is logged where it happened\): the training loss became nan", out), out[-2000:]
    assert "Traceback" not in out
    jobs = {j.name.split("_", 1)[0]: j for j in (tmp_path / "logs" / "mlp_moons" / "multiruns").glob("*/*") if j.is_dir()}
    assert sorted(jobs) == ["0", "1", "2"]
    assert (jobs["0"] / "metrics.json").is_file() and (jobs["2"] / "metrics.json").is_file()
    assert not (jobs["1"] / "metrics.json").exists()


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path):
    """trainer=ddp_cpu: two processes (gloo) train one model; both end with identical weights."""
    weights = tmp_path / "weights"
    result = _cli(["trainer=ddp_cpu", "model=mlp", "data=digits", "+trainer.fast_dev_run=2", *QUIET,
                   f"+callbacks.save_weights._target_=cli_helpers.SaveWeightsPerRank", f"+callbacks.save_weights.folder={weights}",
                   "hydra.run.dir=" + str(tmp_path / "run")], tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]["test/acc"] >= 0.0
    ranks = [torch.load(weights / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys() and all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_with_tensorboards_images(tmp_path):
    """trainer=ddp_cpu with the default callbacks and TensorBoard: the test's confusion matrix is computed by both
    processes (each tested its share) and drawn by rank 0 with the predictions grid. It crashed: only rank 0
    called the metric's compute(), which waits for the other process ("Connection closed by peer")."""
    result = _cli(["trainer=ddp_cpu", "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
                   "callbacks.progress_bar=null", "hydra.run.dir=" + str(tmp_path / "run")], tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "run" / "metrics.json").is_file()
    (events,) = {p.parent for p in (tmp_path / "run" / "tensorboard").rglob("events.out.tfevents.*")}
    accumulator = EventAccumulator(str(events), size_guidance={"images": 0})
    accumulator.Reload()
    assert {"images/confusion_matrix", "images/test_predictions"} <= set(accumulator.Tags()["images"])


def test_resume_from_the_last_checkpoint(tmp_path):
    """ckpt_path=…/last.ckpt continues the run where it stopped (epoch counter, weights, optimiser)."""
    first = run(["experiment=mlp_xor", "trainer.max_epochs=2"], tmp_path / "first")
    resumed = run(["experiment=mlp_xor", "trainer.max_epochs=3", f"ckpt_path={first['last_checkpoint']}"], tmp_path / "resumed")
    assert first["epochs"] == 2 and resumed["epochs"] == 3
    state = torch.load(resumed["last_checkpoint"], weights_only=True)  # plain data only: safe to load
    assert state["epoch"] == 2 and state["optimizer_states"]  # 0-based: the third epoch, with SGD's state


@pytest.mark.parametrize(
    "overrides, pattern",
    [
        (["model=mlp", "data=blobs"], r"does not take this data's inputs, shaped \(2,\).*first entry is 2"),
        (["model=perceptron", "data=digits", "data.size=8", "model.net.in_features=64"], r"model has 2 output classes but the data \(DigitsDataModule\) has 10"),
        (["model=lenet5", "data=digits", "data.size=8"], r"LeNet5 expects input \(N, 1, 28, 28\).*LeNet5 needs 1×28×28"),
        (["model=lenet5", "data=digits", "data.size=8", "ops=builtin"], r"does not take this data's inputs, shaped \(1, 8, 8\)"),
    ],
)
def test_model_data_mismatch_is_caught_before_training(overrides, pattern, tmp_path):
    from refnets.cli.train import ConfigError

    with pytest.raises(ConfigError, match=pattern):
        run(overrides, tmp_path)
    assert not (tmp_path / "checkpoints").exists()  # nothing ran


def test_cli_mismatch_exits_with_the_message(tmp_path):
    result = _cli(["model=mlp", "data=moons"], tmp_path)
    assert result.returncode == 2 and "does not take this data's inputs" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_last_checkpoint_is_the_final_epoch_when_validation_skips_epochs(tmp_path):
    """With trainer.check_val_every_n_epoch > 1 Lightning saves after validation by default: last.ckpt was an
    older epoch (epoch 2's weights lost), or no checkpoint at all when no epoch validated. It is saved at every
    training epoch's end, and the final epoch's column holds no val/* of an older epoch."""
    summary = train(compose_train(["experiment=mlp_moons", "trainer.max_epochs=3", "trainer.check_val_every_n_epoch=2", *QUIET], tmp_path / "a"))
    assert torch.load(summary["last_checkpoint"], weights_only=True)["epoch"] == 2 == summary["final_epoch"]["epoch"]
    assert not any(k.startswith("val/") for k in summary["final_epoch"]) and "val/acc" in summary["tested_checkpoint"]
    summary = train(compose_train(["experiment=mlp_moons", "trainer.max_epochs=2", "trainer.check_val_every_n_epoch=5", "test=false", *QUIET], tmp_path / "b"))
    assert summary["last_checkpoint"] and torch.load(summary["last_checkpoint"], weights_only=True)["epoch"] == 1


def test_a_relative_data_dir_is_the_start_folders_also_with_hydra_job_chdir(tmp_path):
    """paths.data_dir is relative to where refnets-train is started (conf/paths/default.yaml); with
    hydra.job.chdir=true the job runs in its output folder, where ./data was not found ("no folder tried
    holds all four IDX files: - data/MNIST/raw", although the start folder's did)."""
    write_idx(tmp_path / "data" / "MNIST" / "raw", n_train=60, n_test=20)
    env_free = {k: v for k, v in os.environ.items() if k != "REFNETS_DATA_DIR"}
    result = subprocess.run(
        [sys.executable, "-m", "refnets.cli.train", "model=mlp", "data=mnist", "data.download=false", "data.val_size=10",
         "trainer.max_epochs=1", "test=false", "hydra.job.chdir=true", "logger=none", *QUIET],
        cwd=tmp_path, env={**env_free, "REFNETS_LOG_DIR": str(tmp_path / "logs")}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]
    assert (tmp_path / "data" / "MNIST" / "raw").is_dir() and not list((tmp_path / "logs").glob("**/data/MNIST"))


def test_the_printed_tensorboard_command_works_for_a_folder_with_a_space(tmp_path, capsys):
    """The "view with:" line is a command to paste: a run folder with a space is quoted (it was split in two)."""
    import shlex

    folder = tmp_path / "my runs"
    run(["experiment=mlp_xor", "trainer.max_epochs=1", "test=false"], folder)
    line = next(line for line in capsys.readouterr().out.splitlines() if "view with:" in line)
    assert shlex.split(line.split("view with:", 1)[1]) == ["tensorboard", "--logdir", str(folder)]
