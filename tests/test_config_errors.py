"""Bad configs stop before anything runs: exit status 2, one message naming the key, the value and what
is allowed, no traceback — through the real entry points (refnets-train's and refnets-eval's main)."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

import pytest
import torch

from cli_helpers import run_cli
from helpers import compose_train, write_idx
from refnets.cli.train import train

QUIET = ["callbacks.progress_bar=null", "callbacks.model_summary=null"]


@pytest.fixture
def cli(monkeypatch, tmp_path):
    """The entry point's main(), started in tmp_path: cli("train", [...]) → exit status and output."""
    return lambda module, args: run_cli(module, args, tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def mlp_checkpoint(tmp_path_factory) -> Path:
    """A real checkpoint of a one-epoch mlp_xor run."""
    folder = tmp_path_factory.mktemp("mlp_xor")
    summary = train(compose_train(["experiment=mlp_xor", "trainer.max_epochs=1", "test=false", *QUIET], folder))
    return Path(summary["last_checkpoint"])


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, mlp_checkpoint) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    files = {name: folder / f"{name}.ckpt" for name in ("garbage", "random", "code", "truncated", "foreign")}
    files["garbage"].write_bytes(b"this is not a checkpoint\n" * 10)
    files["random"].write_bytes(torch.randint(0, 256, (3000,), generator=torch.Generator().manual_seed(0), dtype=torch.uint8).numpy().tobytes())
    torch.save({"state_dict": {}, "path": PurePosixPath("x")}, files["code"])  # a global weights_only refuses
    files["truncated"].write_bytes(mlp_checkpoint.read_bytes()[:1000])
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 0}, files["foreign"])  # Lightning-shaped, not refnets'
    return files


TRAIN_CASES = [
    (["optimizer.lr=-1"], r"optimizer.lr=-1 is not allowed: expected a finite number > 0"),
    (["optimizer.lr=abc"], r"optimizer.lr='abc' is not allowed: expected a finite number > 0"),
    (["optimizer.lr=0"], r"optimizer.lr=0 is not allowed"),
    (["data.batch_size=0"], r"data.batch_size=0 is not allowed: expected an integer ≥ 1"),
    (["data.batch_size=2.5"], r"data.batch_size=2.5 is not allowed: expected an integer ≥ 1"),
    (["trainer.max_epochs=0"], r"trainer.max_epochs=0 is not allowed: expected an integer ≥ 1"),
    (["seed=-1"], r"seed=-1 is not allowed: expected null or an integer in \[0, 2\*\*32\)"),
    (["ops=fast"], r"ops='fast' is not allowed: expected one of custom, builtin"),
    (["threads=0"], r"threads=0 is not allowed: expected null \(torch's default: one per core this process may use\) or an integer ≥ 1"),
    (["threads=two"], r"threads='two' is not allowed"),
    (["data.val_size=0"], r"data.val_size=0 is not allowed: expected an integer ≥ 1"),
    (["experiment=mlp_xor", "data.val_size=400"], r"data.val_size=400 is not allowed: it must be smaller than the training set \(data.n_train = 400\)"),
    (["model.net.activation=swish"], r"model: ValueError: activation must be one of \('sigmoid', 'tanh', 'relu'\), got 'swish'"),
    (["ckpt_path=nope.ckpt"], r"ckpt_path='nope.ckpt' is not a file"),
    # the 2-D sets' and the digits' own arguments: scikit-learn, numpy or torch refused them only inside fit
    (["experiment=mlp_moons", "data.noise=-1"], r"data: ValueError: noise must be a finite number ≥ 0 .*got -1"),
    (["experiment=mlp_xor", "data.noise=null"], r"data: ValueError: noise must be a finite number ≥ 0 .*got None"),
    (["experiment=mlp_xor", "data.data_seed=-1"], r"data: ValueError: data_seed must be an int in \[0, 2\*\*32 − 1\) .*got -1"),
    (["experiment=mlp_moons", "data.data_seed=1.5"], r"data: ValueError: data_seed must be an int .*got 1.5"),
    (["data.size=28.0"], r"data: ValueError: size must be an int of at least 8 .*got 28.0"),
    (["experiment=mlp_moons", "callbacks.gradient_parity.threshold=abc"], r"callbacks.gradient_parity.threshold='abc' is not allowed: expected a finite number > 0"),
    # a mode that does not fit the metric keeps the worst model / stops while the metric improves
    (["callbacks.model_checkpoint.monitor=val/loss"], r"callbacks.model_checkpoint.mode='max' does not fit callbacks.model_checkpoint.monitor='val/loss': a loss is minimised, so it would keep the worst model: add callbacks.model_checkpoint.mode=min"),
    (["callbacks=early_stopping", "callbacks.early_stopping.monitor=val/acc"], r"callbacks.early_stopping.mode='min' does not fit callbacks.early_stopping.monitor='val/acc': an accuracy is maximised.*add callbacks.early_stopping.mode=max"),
    (["callbacks=early_stopping", "callbacks.early_stopping.patience=-1", "trainer.max_epochs=1"],
     r"callbacks.early_stopping.patience=-1 is not allowed: expected an integer ≥ 0: the validation checks without improvement"),
    (["callbacks=early_stopping", "callbacks.early_stopping.patience=2.5", "trainer.max_epochs=1"], r"callbacks.early_stopping.patience=2.5 is not allowed"),
    # validation off: Lightning's EarlyStopping raised a RuntimeError after the first epoch, before its checkpoints were written
    (["callbacks=early_stopping", "+trainer.limit_val_batches=0", "trainer.max_epochs=1"],
     r"callbacks.early_stopping.monitor='val/loss' watches a validation metric, but trainer.limit_val_batches=0 switches validation "
     r"off: .*callbacks.early_stopping.monitor=train/loss"),
    (["callbacks=early_stopping", "+trainer.limit_val_batches=0.0", "callbacks.early_stopping.monitor=val/acc",
      "callbacks.early_stopping.mode=max", "trainer.max_epochs=1"], r"callbacks.early_stopping.monitor='val/acc' watches a validation metric"),
    (["callbacks.model_checkpoint.mode=maximum"], r"callbacks.model_checkpoint.mode='maximum' is not allowed: expected min or max"),
    # values that Lightning or torch would only trip over inside the run (after an epoch, or in configure_optimizers)
    (["experiment=mlp_xor", "+optimizer.lrr=0.1"], r"optimizer \(torch.optim.SGD\): TypeError: .*unexpected keyword argument 'lrr'"),
    # the optimizers' own keys, named with the value received (torch's "'<' not supported between instances of 'str'
    # and 'float'" named none)
    (["experiment=mlp_xor", "optimizer.momentum=-1"], r"optimizer.momentum=-1 is not allowed: expected a finite number ≥ 0"),
    (["experiment=mlp_xor", "optimizer.momentum=abc"], r"optimizer.momentum='abc' is not allowed: expected a finite number ≥ 0 \(SGD's momentum factor"),
    (["experiment=mlp_xor", "optimizer.weight_decay=abc"], r"optimizer.weight_decay='abc' is not allowed: expected a finite number ≥ 0"),
    (["optimizer.weight_decay=-1"], r"optimizer.weight_decay=-1 is not allowed: expected a finite number ≥ 0"),
    (["+optimizer.betas=[0.9,abc]"], r"optimizer.betas=\[0.9, 'abc'\] is not allowed: expected two numbers in \[0, 1\) \(Adam's decay rates"),
    (["+optimizer.betas=0.9"], r"optimizer.betas=0.9 is not allowed: expected two numbers in \[0, 1\)"),
    (["+optimizer.eps=abc"], r"optimizer.eps='abc' is not allowed: expected a finite number ≥ 0"),
    (["experiment=mlp_xor", "+optimizer.nesterov=abc"], r"optimizer.nesterov='abc' is not allowed: expected true or false"),
    (["experiment=mlp_xor", "scheduler=step", "scheduler.step_size=0"], r"scheduler \(torch.optim.lr_scheduler.StepLR\): ZeroDivisionError"),
    (["experiment=mlp_xor", "trainer.max_epochs=3", "scheduler=step", "scheduler.step_size=1", "scheduler.gamma=abc"],
     r"scheduler \(torch.optim.lr_scheduler.StepLR\): TypeError: .* \(stepping it through trainer.max_epochs=3 epochs"),
    (["callbacks.model_checkpoint.monitor=val/accuracy"], r"callbacks.model_checkpoint.monitor='val/accuracy' is not allowed: expected one of val/acc, val/loss"),
    (["callbacks.histograms.every_n_steps=0"], r"callbacks.histograms.every_n_steps=0 is not allowed: expected an integer ≥ 1"),
    (["callbacks.images.num_images=0"], r"callbacks.images.num_images=0 is not allowed"),
    (["trainer.check_val_every_n_epoch=0"], r"trainer.check_val_every_n_epoch=0 is not allowed: expected null or an integer ≥ 1"),
    (["experiment=mlp_xor", "data.n_train=abc"], r"data.n_train='abc' is not allowed: expected an integer ≥ 1"),
    (["experiment=mlp_xor", "data.n_test=-3"], r"data.n_test=-3 is not allowed: expected an integer ≥ 1"),
    (["data.test_size=-1000"], r"data.test_size=-1000 is not allowed: expected an integer in \[1, 1797\)"),
    (["data.test_size=0"], r"data.test_size=0 is not allowed"),
    (["experiment=perceptron_blobs", "model.lr=-1"], r"model.lr=-1 is not allowed: expected a finite number > 0"),
    # the perceptron learns by its rule with η = optimizer.lr: another optimiser, an SGD option or a scheduler would be ignored
    (["model=perceptron", "data=blobs", "optimizer=adam", "trainer.max_epochs=1"],
     r"optimizer \(torch.optim.Adam\) cannot be used with model=perceptron: the perceptron learns by the perceptron rule .* so it "
     r"would be ignored\. Use optimizer=sgd \(model=perceptron's default\) and set η with optimizer.lr"),
    (["experiment=perceptron_blobs", "optimizer=adam", "trainer.max_epochs=1"], r"optimizer \(torch.optim.Adam\) cannot be used with model=perceptron"),
    (["model=perceptron", "data=blobs", "scheduler=cosine", "trainer.max_epochs=1"],
     r"scheduler \(torch.optim.lr_scheduler.CosineAnnealingLR\) cannot be used with model=perceptron: .* so the scheduler would be "
     r"ignored\. Leave it out \(scheduler=none\)"),
    (["experiment=perceptron_blobs", "optimizer.momentum=0.9", "trainer.max_epochs=1"],
     r"optimizer.momentum=0.9 cannot be used with model=perceptron: .*it reads optimizer.lr alone, so optimizer.momentum would be ignored"),
    # Lightning refuses these with manual optimisation only inside fit, with a traceback (MisconfigurationException)
    (["experiment=perceptron_blobs", "+trainer.accumulate_grad_batches=4", "trainer.max_epochs=1"],
     r"trainer.accumulate_grad_batches=4 cannot be used with model=perceptron: .* so there are none to accumulate .*Leave trainer.accumulate_grad_batches out"),
    (["model=perceptron", "data=blobs", "+trainer.gradient_clip_val=0.5", "trainer.max_epochs=1"],
     r"trainer.gradient_clip_val=0.5 cannot be used with model=perceptron: .* so there are none to clip"),
    (["data.std=abc"], r"data.std='abc' is not allowed: expected a finite number > 0"),
    (["data.mean=abc"], r"data.mean='abc' is not allowed: expected a finite number"),
    (["data.on_device=maybe"], r"data.on_device='maybe' is not allowed: expected true or false"),
    (["+trainer.limit_train_batches=0"], r"trainer.limit_train_batches=0 is not allowed: expected an integer ≥ 1 \(batches\) or a float in \(0, 1\]"),
    (["+trainer.limit_test_batches=1.5"], r"trainer.limit_test_batches=1.5 is not allowed"),
    # a top-level key nothing reads: Hydra's + adds it without a word
    (["+seeed=1"], r"seeed: no such key; nothing in refnets reads it \(added with \+seeed=…\?\)\. Did you mean seed\? The top-level keys are: task_name, ops, seed"),
    (["+epochs=3"], r"epochs: no such key; nothing in refnets reads it \(added with \+epochs=…\?\)\. The top-level keys are"),
    (["+split=val"], r"test and split: test is refnets-train's; split is refnets-eval's \(one of them was added with \+…=…\)"),
    # a key deleted that another value interpolates
    (["~seed"], r"data.seed: Interpolation key 'seed' not found"),
    # a group deleted: every run needs it
    (["~data"], r"data: deleted \(~data\?\), but every run needs it: choose one of its options instead"),
    (["experiment=mlp_xor", "~trainer"], r"trainer: deleted \(~trainer\?\), but every run needs it"),
    (["~optimizer"], r"optimizer: deleted \(~optimizer\?\), but every run needs it"),
]


@pytest.mark.parametrize("args, message", TRAIN_CASES, ids=[" ".join(a) for a, _ in TRAIN_CASES])
def test_train_refuses_a_bad_value(cli, args, message, tmp_path):
    result = cli("train", args)
    out = result.output
    assert result.returncode == 2, out[-2000:]
    assert re.search(message, out), out[-2000:]
    assert "Traceback" not in out and "HYDRA_FULL_ERROR" not in out
    assert not list(tmp_path.glob("logs/**/checkpoints/*.ckpt"))  # nothing ran


@pytest.mark.parametrize("kind, message", [
    ("garbage", r"is not a readable checkpoint \(.*\); the file is truncated, corrupt or not a PyTorch checkpoint"),
    ("truncated", r"is not a readable checkpoint .*truncated, corrupt or not a PyTorch checkpoint"),
    ("random", r"is not a readable checkpoint \(UnpicklingError: torch.load\(weights_only=True\) could not read it: Unsupported operand"),
    ("code", r"is not a readable checkpoint \(UnpicklingError: torch.load\(weights_only=True\) could not read it: Unsupported global"),
    ("foreign", r"is a Lightning checkpoint but not one written by refnets-train"),
])
@pytest.mark.parametrize("module", ["train", "eval"])
def test_unreadable_checkpoints_are_refused(cli, module, kind, message, bad_files, tmp_path):
    result = cli(module, [f"ckpt_path={bad_files[kind]}"])
    out = result.output
    assert result.returncode == 2 and re.search(message, out), out[-2000:]
    # never torch's advice to load it again with weights_only=False (which would run the code a file holds)
    assert "weights_only=False" not in out and "set to `False`" not in out and "Re-running" not in out and "Traceback" not in out


def test_train_refuses_to_resume_a_checkpoint_of_another_model(cli, mlp_checkpoint, tmp_path):
    result = cli("train", ["model=lenet5", f"ckpt_path={mlp_checkpoint}"])
    out = result.output
    assert result.returncode == 2, out[-2000:]
    assert "holds a MLP that does not fit this model (LeNet5)" in out and "experiment=mlp_xor" in out
    assert "Traceback" not in out and out.count("\n") < 15  # one message, not 38 lines of keys


@pytest.mark.parametrize("args, message", [
    (["trainer.max_epochs=1"], r"has finished 1 epochs and trainer.max_epochs=1 leaves nothing to train: resuming would only test it again"),
    (["trainer.max_epochs=3", "data=moons"], r"was trained with another data \(data.kind: 'xor' → 'moons'.*\): resuming would continue its run on other data"),
    (["trainer.max_epochs=3", "optimizer=adam"], r"was trained with another optimizer \(optimizer._target_: 'torch.optim.SGD' → 'torch.optim.Adam'[,)]"),
    # the saved optimiser/scheduler state would be restored over these: the run would say one thing and do another
    (["trainer.max_epochs=3", "optimizer.lr=0.001"], r"was trained with another optimizer \(optimizer.lr: 0.5 → 0.001\): resuming would continue its run with the saved optimiser state, which Lightning restores over these values"),
    (["trainer.max_epochs=3", "scheduler=cosine"], r"was trained with another scheduler \(scheduler.T_max: None → 3, .*scheduler._target_: None → 'torch.optim.lr_scheduler.CosineAnnealingLR'\): resuming would continue its run with the saved scheduler state"),
], ids=["finished", "other-data", "other-optimizer", "other-lr", "other-scheduler"])
def test_train_refuses_a_resume_that_would_overwrite_or_mix_runs(cli, mlp_checkpoint, args, message):
    """Resuming continues the checkpoint's run in its folder: a finished run (its metrics.json would be overwritten
    by a second test) or other data or another optimiser (its saved state would not fit) stop before anything runs."""
    metrics = mlp_checkpoint.parents[1] / "metrics.json"
    before = metrics.read_bytes()
    result = cli("train", ["experiment=mlp_xor", *args, f"ckpt_path={mlp_checkpoint}", *QUIET])
    out = result.output
    assert result.returncode == 2 and re.search(message, out), out[-2000:]
    assert "Traceback" not in out and metrics.read_bytes() == before
    assert f"ckpt_path={str(mlp_checkpoint)!r}" in out  # names the file


def test_eval_refuses_a_checkpoint_that_does_not_fit_the_overridden_model(cli, mlp_checkpoint, tmp_path):
    result = cli("eval", [f"ckpt_path={mlp_checkpoint}", "model.net.sizes=[2,4,2]"])
    out = result.output
    assert result.returncode == 2 and "of another shape (e.g. net." in out and "Traceback" not in out, out[-2000:]


@pytest.mark.parametrize("args, message", [
    ([], r"ckpt_path is required: refnets-eval ckpt_path="),
    (["ckpt_path=nope.ckpt"], r"ckpt_path='nope.ckpt' is not a file"),
])
def test_eval_without_a_usable_checkpoint_path(cli, args, message, tmp_path):
    result = cli("eval", args)
    out = result.output
    assert result.returncode == 2 and re.search(message, out) and "Traceback" not in out, out[-2000:]


def test_eval_refuses_an_unknown_split(cli, mlp_checkpoint, tmp_path):
    result = cli("eval", [f"ckpt_path={mlp_checkpoint}", "split=train"])
    out = result.output
    assert result.returncode == 2 and "split='train' is not allowed: expected one of test, val" in out, out[-2000:]


@pytest.mark.parametrize("epochs_before", [0, 1])
def test_a_loss_that_becomes_nan_stops_training_and_keeps_the_last_good_checkpoint(cli, epochs_before, tmp_path):
    """A learning rate of 1e30 sends mlp_moons' ReLU network to inf, then NaN, within a few steps. With a
    StepLR that multiplies the rate by 1e30 after each epoch, the first epoch trains well and the second
    blows up: its last.ckpt (epoch 0) is kept and named, and no checkpoint of the broken state is written."""
    lr = ["optimizer.lr=1e30"] if epochs_before == 0 else ["scheduler=step", "scheduler.step_size=1", "scheduler.gamma=1e30"]
    result = cli("train", ["experiment=mlp_moons", *lr, "trainer.max_epochs=3", *QUIET, f"hydra.run.dir={tmp_path / 'run'}"])
    out = result.output
    assert result.returncode == 1, out[-3000:]
    assert f"the training loss became nan at epoch {epochs_before}, batch" in out and "lower optimizer.lr" in out, out[-3000:]
    assert "Traceback" not in out
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    if epochs_before == 0:
        assert "no checkpoint was written before it" in out and not last.exists()
    else:
        assert f"the last good checkpoint is {last}" in out
        state = torch.load(last, weights_only=True)
        assert state["epoch"] == 0 and all(torch.isfinite(w).all() for w in state["state_dict"].values())


def test_a_validation_split_larger_than_files_on_disk_is_refused(cli, tmp_path):
    """MNIST's size is known only once its files are read: the datamodule's check ends in the same kind of message."""
    write_idx(tmp_path / "data" / "MNIST" / "raw", n_train=120, n_test=40)
    result = cli("train", ["model=mlp", "data=mnist", f"paths.data_dir={tmp_path / 'data'}", "data.download=false",
                           "data.val_size=500", *QUIET])
    assert result.returncode == 2, result.output[-2000:]
    assert "data.val_size=500 leaves no training data: the training set has 120 samples" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("module", ["train", "eval"])
@pytest.mark.parametrize("multirun", [False, True], ids=["run", "multirun"])
def test_a_log_dir_that_cannot_be_made_is_named(cli, module, multirun, mlp_checkpoint, tmp_path):
    """Hydra makes the run folder before refnets' code runs; a paths.log_dir under a file (or /proc) is reported
    in one line naming paths.log_dir, exit status 2, rather than with a traceback from inside Hydra."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder\n")
    args = [*(["-m", "seed=1,2"] if multirun else []), f"paths.log_dir={blocker / 'logs'}"]
    if module == "eval":
        args.append(f"ckpt_path={mlp_checkpoint}")
    result = cli(module, args)
    out = result.output
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    assert result.returncode == 2, out[-2000:]
    assert re.search(rf"{key}={re.escape(str(blocker))}/logs/\S+: cannot create this run's folder \(NotADirectoryError: .*\); "
                     rf"it is made from paths.log_dir='{re.escape(str(blocker))}/logs' \(or \$REFNETS_LOG_DIR\), which must name a folder that can be written", out), out[-2000:]
    assert "Traceback" not in out and "HYDRA_FULL_ERROR" not in out
    assert blocker.read_text() == "not a folder\n"


@pytest.mark.parametrize("module", ["train", "eval"])
@pytest.mark.parametrize("multirun", [False, True], ids=["run", "multirun"])
def test_a_log_dir_under_the_home_folder_is_expanded(cli, module, multirun, mlp_checkpoint, tmp_path, monkeypatch):
    """paths.log_dir='~/x' (quoted, as Hydra's grammar needs a ~ to be; or REFNETS_LOG_DIR=~/x) is under the home folder,
    as paths.data_dir's ~ is: the run folder was made in a folder literally named '~' in the current one."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    args = [*(["-m", "seed=1"] if multirun else []), "paths.log_dir='~/x'"]
    args += [f"ckpt_path={mlp_checkpoint}"] if module == "eval" else ["experiment=mlp_xor", "trainer.max_epochs=1", "test=false", *QUIET]
    result = cli(module, args)
    assert result.returncode == 0, result.output[-2000:]
    assert not (tmp_path / "~").exists()
    folders = {"train": "runs", "eval": "evals"} if not multirun else {"train": "multiruns", "eval": "evals"}
    written = list((home / "x" / "mlp_xor" / folders[module]).glob("**/metrics.json"))
    assert len(written) == 1, sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("**/metrics.json"))


def test_a_top_level_key_read_through_an_interpolation_is_accepted(cli, tmp_path):
    """+lr=0.3 optimizer.lr=${lr}: the new key is read, so it is not refused as one nothing reads; nor is +name=…
    read by hydra.run.dir; and a task_name=${hydra:…} resolves in the folder check as in the run (no warning)."""
    result = cli("train", ["experiment=mlp_xor", "+lr=0.3", "optimizer.lr=${lr}", "+name=foo", "hydra.run.dir=runs/${name}",
                           "task_name=${hydra:runtime.choices.model}", "trainer.max_epochs=1", "test=false", *QUIET])
    assert result.returncode == 0, result.output[-2000:]
    assert "Warning" not in result.output, result.output[-2000:]
    checkpoint = torch.load(tmp_path / "runs" / "foo" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["refnets"]["config"]["optimizer"]["lr"] == 0.3 and checkpoint["refnets"]["config"]["task_name"] == "mlp"


@pytest.mark.parametrize("args, message", [
    (["paths.log_dir="], r"paths.log_dir='' is empty \(\$REFNETS_LOG_DIR set to nothing\?\): expected a folder, e.g. paths.log_dir=logs"),
    (["hydra.run.dir=a_file"], r"hydra.run.dir=a_file: cannot create this run's folder \(FileExistsError: it exists and is not a folder: a_file\); "
                               r"it is hydra.run.dir as given"),
    (["~paths"], r"hydra.run.dir: Interpolation key 'paths.log_dir' not found"),
    ([f"paths.log_dir={'x' * 300}"], r"hydra.run.dir=x{300}/\S+: a folder name of 300 bytes, longer than the 255 a file system allows "
                                     r"\(made from paths.log_dir='x{300}'"),
], ids=["empty", "run-dir-is-a-file", "paths-deleted", "name-too-long"])
def test_a_run_folder_that_cannot_be_made_is_named(cli, args, message, tmp_path):
    (tmp_path / "a_file").write_text("not a folder\n")
    result = cli("train", args)
    assert result.returncode == 2 and re.search(message, result.output), result.output[-2000:]
    assert "Traceback" not in result.output and (tmp_path / "a_file").read_text() == "not a folder\n"


@pytest.mark.parametrize("task_name", ["${hydra:job.num}", "${hydra:runtime.choices.model}"])
def test_a_multirun_folder_made_from_a_jobs_hydra_value_is_refused_clearly(cli, task_name, tmp_path):
    """Hydra's sweeper makes a multirun's folder once, before its jobs, with no HydraConfig to resolve ${hydra:…}
    from: `-m task_name=${hydra:job.num}` ended in its traceback "HydraConfig was not set". Now one line says why and
    what to do; exit 2, no job run. (A single run resolves the same task_name: see the test above.)"""
    result = cli("train", ["-m", f"task_name={task_name}", "seed=1,2", "trainer.max_epochs=1", *QUIET])
    assert result.returncode == 2, result.output[-2000:]
    assert re.search(r"hydra.sweep.dir=\$\{refnets.expanduser:\$\{paths.log_dir\}\}/\$\{task_name\}/multiruns/\S+: uses \$\{hydra:…\} \(here or through a value it reads, "
                     r"such as task_name\), which Hydra cannot resolve there: a multirun's folder is made once, before its jobs\. "
                     r"Give it a plain value \(e.g. task_name=my_sweep\); a value per job belongs in hydra.sweep.subdir", result.output), result.output[-2000:]
    assert "Traceback" not in result.output and not list(tmp_path.glob("logs/**/metrics.json"))


def test_the_sweep_check_leaves_pythons_random_as_it_found_it():
    """Hydra's shuffle() draws from Python's random when the sweep is expanded. The check expands it first; it gives
    the state back, so Hydra's sweeper draws the same order and the check's job #n is the job #n Hydra launches."""
    import random

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from refnets.cli.hydra_callbacks import CheckSweep, sweep_jobs
    from refnets.config import config_dir

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose("train", overrides=["experiment=mlp_xor"], return_hydra_config=True)
            with open_dict(cfg):
                cfg.hydra.overrides.task = ["experiment=mlp_xor", "optimizer.lr=shuffle(0.1,0.2,0.3,0.4,0.5,0.6)", "seed=1,2"]
            random.seed(7)
            state = random.getstate()
            CheckSweep().on_multirun_start(cfg)  # all 12 jobs pass
            assert random.getstate() == state
            launched = sweep_jobs(cfg)  # as Hydra's sweeper expands it next, from the same state
            random.seed(7)
            assert sweep_jobs(cfg) == launched
            random.seed(8)
            assert sweep_jobs(cfg) != launched  # the order does depend on the state (else this test proves nothing)
    finally:
        GlobalHydra.instance().clear()


@pytest.mark.parametrize("module, args, named", [
    ("train", ["-m", "--cfg", "job", "seed=1,2"], "--multirun and --cfg"),
    ("train", ["--cfg=job", "--info", "defaults"], "--cfg and --info"),
    ("eval", ["ckpt_path=a.ckpt", "--multirun", "-c", "job"], "--multirun and --cfg"),
])
def test_two_of_hydras_modes_at_once_are_refused_in_one_line(cli, module, args, named):
    """`-m --cfg job` ended in Hydra's traceback "Only one of --run, --multirun, --cfg, --info and --shell_completion
    can be specified": the same refusal, in one line, exit 2. One mode alone still works (--cfg job, --info)."""
    result = cli(module, args)
    assert result.returncode == 2, result.output[-2000:]
    assert f"refnets-{module}: {named} cannot be combined: Hydra does one of --run, --multirun, --cfg, --info" in result.output
    assert "Traceback" not in result.output
    assert cli("train", ["--cfg", "job", "seed=1"]).returncode == 0 and cli("train", ["--info", "defaults"]).returncode == 0


class _CallsOsGetcwd:
    """Pickles as a call of os.getcwd: a checkpoint that would run code when loaded (harmless code, here)."""

    def __reduce__(self):
        return os.getcwd, ()


def test_a_checkpoint_that_calls_code_is_refused_with_the_unpicklers_reason_and_no_advice(tmp_path):
    """torch 2.14 words a blocked module as paragraphs: the advice to load again with weights_only=False (which
    would run the code), then the reason. Only the reason reaches the user."""
    from refnets.training.checks import ConfigError, read_checkpoint

    path = tmp_path / "calls_code.ckpt"
    torch.save({"state_dict": {}, "refnets": _CallsOsGetcwd()}, path)
    with pytest.raises(ConfigError) as err:
        read_checkpoint(path)
    message = str(err.value)
    assert re.search(r"could not read it: Trying to load unsupported GLOBAL posix\.getcwd whose module posix is blocked", message), message
    assert "weights_only=False" not in message and "set to `False`" not in message and "Re-running" not in message


def test_lightning_load_from_checkpoint_rebuilds_the_net_from_the_saved_config(mlp_checkpoint):
    """``Classifier.load_from_checkpoint(path)``, Lightning's way to load a module, gives the trained model: the net is
    rebuilt from the run config the checkpoint saved. ``net=`` passes another, checked to fit the weights."""
    from hydra.utils import instantiate

    from refnets.models import MLP
    from refnets.training import Classifier
    from refnets.training.checks import ConfigError

    saved = torch.load(mlp_checkpoint, weights_only=True)
    model = Classifier.load_from_checkpoint(mlp_checkpoint)
    assert isinstance(model.net, MLP) and model.net.ops == saved["refnets"]["config"]["ops"]
    assert model.state_dict().keys() == saved["state_dict"].keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved["state_dict"].items())
    # the same architecture on the other op set, given as net=: the same weights, the same outputs
    net_config = saved["refnets"]["config"]["model"]["net"]
    builtin = Classifier.load_from_checkpoint(mlp_checkpoint, net=instantiate({**net_config, "ops": "builtin"}))
    x = torch.randn(8, net_config["sizes"][0])
    assert builtin.net.ops == "builtin"
    torch.testing.assert_close(builtin(x), model(x))
    with pytest.raises(ConfigError, match=r"checkpoint_path='.*' holds a MLP that does not fit this model \(MLP\): .*of another shape"):
        Classifier.load_from_checkpoint(mlp_checkpoint, net=MLP([net_config["sizes"][0], 7, net_config["sizes"][-1]]))
    with pytest.raises(ConfigError, match=r"checkpoint_path='nope.ckpt' is not a file"):
        Classifier.load_from_checkpoint("nope.ckpt")
    # Lightning's other arguments: an open file (read once), and hparams_file (whose DictConfig cannot hold the net)
    with open(mlp_checkpoint, "rb") as f:
        torch.testing.assert_close(Classifier.load_from_checkpoint(f)(x), model(x), rtol=0, atol=0)
    hparams = mlp_checkpoint.parent / "hparams.yaml"
    hparams.write_text("loss: quadratic\n")
    assert Classifier.load_from_checkpoint(mlp_checkpoint, hparams_file=str(hparams)).hparams.loss == "quadratic"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown on machines without CUDA")
@pytest.mark.parametrize("map_location", ["cuda", "cuda:1", torch.device("cuda", 0), {"cpu": "cuda"}], ids=["cuda", "cuda:1", "device", "dict"])
@pytest.mark.parametrize("positional", [False, True], ids=["keyword", "positional"])
def test_load_from_checkpoint_onto_cuda_without_cuda_fails_clearly(mlp_checkpoint, map_location, positional):
    """``Classifier.load_from_checkpoint(path, map_location="cuda")`` on a machine without CUDA ended in torch's
    RuntimeError from inside its unpickler ("Attempting to deserialize object on a CUDA device …"); now a ConfigError
    names map_location, what it asked for and what to pass. map_location="cpu" loads."""
    from refnets.training import Classifier
    from refnets.training.checks import ConfigError

    args, kwargs = ((map_location,), {}) if positional else ((), {"map_location": map_location})
    with pytest.raises(ConfigError, match=rf"map_location={re.escape(repr(map_location))} puts the checkpoint's weights on cuda(:\d)?, "
                                          r"but torch.cuda.is_available\(\) is False on this machine \(torch .*\): pass map_location='cpu'"):
        Classifier.load_from_checkpoint(mlp_checkpoint, *args, **kwargs)
    assert Classifier.load_from_checkpoint(mlp_checkpoint, map_location="cpu").device.type == "cpu"


def test_load_from_checkpoint_takes_lightnings_arguments_by_position_as_by_keyword(mlp_checkpoint, tmp_path):
    """Lightning's signature is load_from_checkpoint(checkpoint_path, map_location=None, hparams_file=None, strict=None,
    …): ``(path, None, hparams_file)`` ended in omegaconf's "Value 'MLP' is not a supported primitive type" (the file's
    DictConfig cannot hold the net), where ``hparams_file=`` loaded. Both forms now load the same model."""
    from refnets.training import Classifier

    hparams = tmp_path / "hparams.yaml"
    hparams.write_text("loss: quadratic\n")
    by_keyword = Classifier.load_from_checkpoint(mlp_checkpoint, map_location="cpu", hparams_file=str(hparams), strict=True)
    for args in ((None, str(hparams)), ("cpu", hparams, True)):
        by_position = Classifier.load_from_checkpoint(mlp_checkpoint, *args)
        assert by_position.hparams.loss == by_keyword.hparams.loss == "quadratic"
        assert by_position.state_dict().keys() == by_keyword.state_dict().keys()
        assert all(torch.equal(by_position.state_dict()[k], v) for k, v in by_keyword.state_dict().items())
    with pytest.raises(TypeError, match=r"got multiple values for argument 'hparams_file'"):
        Classifier.load_from_checkpoint(mlp_checkpoint, None, str(hparams), hparams_file=str(hparams))
