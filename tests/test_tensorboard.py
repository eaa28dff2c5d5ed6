"""The TensorBoard views a run writes (hparams, histograms, images, live gradient parity), read back from
the event files, and served by the real `tensorboard`."""

from __future__ import annotations

import importlib
import json
import logging
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import plugin_data_pb2

from helpers import compose_train
from refnets.cli.train import train
from refnets.training.callbacks import GradientParity

# the module: the name refnets.functional.linear is the function
linear_module = importlib.import_module("refnets.functional.linear")

QUIET = ["callbacks.progress_bar=null", "callbacks.model_summary=null"]
# every view often enough to appear in a short run
OFTEN = ["callbacks.histograms.every_n_steps=5", "callbacks.gradient_parity.every_n_steps=5", "trainer.log_every_n_steps=5"]


def _events(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"images": 0, "histograms": 0, "scalars": 0, "tensors": 0})
    events.Reload()
    return events


def _hparams(events: EventAccumulator) -> tuple[set[str], set[str]]:
    """(hyperparameter names, metric names) of the run's HPARAMS session."""
    content = events.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content[hparams_metadata.EXPERIMENT_TAG]).experiment
    return {h.name for h in experiment.hparam_infos}, {m.name.tag for m in experiment.metric_infos}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two short runs: an MLP on 2-D points (decision boundary) and LeNet-5 on digits (filters, feature maps)."""
    folders = {}
    for name, overrides in {
        "mlp_xor": ["experiment=mlp_xor", "trainer.max_epochs=2"],
        "lenet5": ["model=lenet5", "data=digits", "trainer.max_epochs=1", "+trainer.limit_train_batches=10"],
    }.items():
        folders[name] = tmp_path_factory.mktemp(name)
        train(compose_train([*overrides, *OFTEN, *QUIET], folders[name]))
    return folders


def test_every_view_is_in_the_event_files(runs):
    mlp, lenet = _events(runs["mlp_xor"] / "tensorboard"), _events(runs["lenet5"] / "tensorboard")
    # IMAGES: the decision boundary after each epoch (2-D data); filters, feature maps, predictions, confusion matrix
    assert len(mlp.Images("images/decision_boundary")) == 2
    assert {"images/filters", "images/feature_maps", "images/test_predictions", "images/confusion_matrix"} <= set(lenet.Tags()["images"])
    assert "images/confusion_matrix" in mlp.Tags()["images"] and "images/filters" not in mlp.Tags()["images"]
    # HISTOGRAMS: every weight and its gradient
    for events, net in ((mlp, ["layers.1.weight", "layers.1.bias"]), (lenet, ["features.0.weight", "classifier.5.bias"])):
        tags = set(events.Tags()["histograms"])
        for parameter in net:
            assert {f"weights/{parameter}", f"gradients/{parameter}"} <= tags, sorted(tags)
    # HPARAMS: the run's hyperparameters beside its final metrics
    names, metrics = _hparams(lenet)
    assert {"optimizer.lr", "model.net.activation", "ops", "seed"} <= names
    assert {"hp/val/acc", "hp/val/loss", "hp/test/acc", "hp/test/loss"} <= metrics
    assert "hp/test/acc" in lenet.Tags()["scalars"]


def test_live_gradient_parity_is_logged_and_within_float32(runs):
    """parity/<parameter> every 5 steps: the hand-written gradients of each batch equal the built-in twin's."""
    scalars = _events(runs["lenet5"] / "tensorboard").Tags()["scalars"]
    parity = [t for t in scalars if t.startswith("parity/")]
    assert {"parity/features.0.weight", "parity/features.0.bias", "parity/classifier.5.weight"} <= set(parity), parity
    events = _events(runs["lenet5"] / "tensorboard")
    values = [e.value for tag in parity for e in events.Scalars(tag)]
    assert len(values) >= 2 * len(parity)  # steps 0 and 5 (10 batches)
    assert max(values) < 1e-4, max(values)


def _fit_with_a_scaled_linear_backward(monkeypatch, tmp_path, caplog, only_float32: bool, precision: str = "32-true") -> GradientParity:
    """mlp_xor for 3 steps, comparing every step, with the hand-written linear layer's weight gradient 1 % off
    (in float32 only, or in every dtype)."""
    original = linear_module.Linear.backward

    def one_percent_off(ctx, *grads):
        grad_a, grad_w, *rest = original(ctx, *grads)
        if grad_w is not None and (grad_w.dtype != torch.float64 or not only_float32):
            grad_w = grad_w * 1.01
        return (grad_a, grad_w, *rest)

    monkeypatch.setattr(linear_module.Linear, "backward", staticmethod(one_percent_off))
    cfg = compose_train(["experiment=mlp_xor", "trainer.max_epochs=1"], tmp_path)
    model, datamodule = instantiate(cfg.model), instantiate(cfg.data)
    model.run_config = {"config": {"model": {"net": dict(cfg.model.net) | {"sizes": list(cfg.model.net.sizes), "ops": "custom"}}}}
    parity = GradientParity(every_n_steps=1)
    trainer = L.Trainer(max_epochs=1, limit_train_batches=3, limit_val_batches=0, callbacks=[parity], logger=False,
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False, precision=precision)
    with caplog.at_level(logging.INFO, logger="refnets.train"):
        trainer.fit(model, datamodule=datamodule)
    if precision == "32-true":
        assert parity.worst[0] == pytest.approx(0.01, rel=1e-3)
    return parity


def test_parity_catches_a_wrong_gradient(monkeypatch, tmp_path, caplog):
    """The control: a backward 1 % off shows as parity ≈ 1e-2, as wrong in float64, and the run ends with the warning."""
    parity = _fit_with_a_scaled_linear_backward(monkeypatch, tmp_path, caplog, only_float32=False)
    assert len(parity.unexplained) == 3 and not parity.cleared
    assert all(float64 == pytest.approx(0.01, rel=1e-6) for *_, float64 in parity.unexplained)
    assert re.search(r"gradient parity exceeded 1e-04: layers\.\d\.weight differed from the built-in twin by 1\.00e-02 \(relative\) "
                     r"at step \d, and by 1\.00e-02 in float64 — the hand-written backward and PyTorch's disagree", caplog.text), caplog.text


def test_parity_clears_a_float32_difference_that_float64_does_not_show(monkeypatch, tmp_path, caplog):
    """A difference in float32 only (as a max-pool winner chosen differently at a near-tie) is redone in float64,
    where the two agree: reported without a warning, not as a wrong backward."""
    parity = _fit_with_a_scaled_linear_backward(monkeypatch, tmp_path, caplog, only_float32=True)
    assert len(parity.cleared) == 3 and not parity.unexplained
    assert all(float64 <= 1e-12 for *_, float64 in parity.cleared)
    assert "gradient parity exceeded" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert re.search(r"gradient parity: 3 comparison\(s\) exceeded 1e-04 in float32, at most layers\.\d\.weight by 1\.00e-02 at step \d, "
                     r"and agreed to \d\.?\d*e-\d+ in float64: float32 rounding \(a max-pool winner", caplog.text), caplog.text


def test_parity_names_the_precision_it_compared_in(monkeypatch, tmp_path, caplog):
    """Under trainer.precision=bf16-true the weights, the twin and the comparisons are bfloat16: the report says
    so (it said "float32" whatever the run's precision)."""
    parity = _fit_with_a_scaled_linear_backward(monkeypatch, tmp_path, caplog, only_float32=True, precision="bf16-true")
    assert len(parity.cleared) == 3 and not parity.unexplained
    assert re.search(r"gradient parity: 3 comparison\(s\) exceeded 1e-04 in bfloat16, .* in float64: bfloat16 rounding", caplog.text), caplog.text


def test_parity_compares_one_batchs_gradient_when_the_run_accumulates(tmp_path, caplog):
    """With trainer.accumulate_grad_batches=2 the run's .grad sums two batches; the twin computes one. The check
    recomputes the batch's own float32 gradient, so the two agree (before: parity 24, then wrongly cleared)."""
    cfg = compose_train(["experiment=mlp_xor", "trainer.max_epochs=1"], tmp_path)
    model, datamodule = instantiate(cfg.model), instantiate(cfg.data)
    model.run_config = {"config": {"model": {"net": dict(cfg.model.net) | {"sizes": list(cfg.model.net.sizes), "ops": "custom"}}}}
    parity = GradientParity(every_n_steps=1)
    trainer = L.Trainer(max_epochs=1, limit_train_batches=6, limit_val_batches=0, accumulate_grad_batches=2, callbacks=[parity],
                        logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    with caplog.at_level(logging.INFO, logger="refnets.train"):
        trainer.fit(model, datamodule=datamodule)
    assert parity.worst[0] < 1e-5 and not parity.cleared and not parity.unexplained, parity.worst
    assert "gradient parity" not in caplog.text


@pytest.mark.parametrize("overrides", [["experiment=mlp_xor", "ops=builtin"], ["experiment=perceptron_blobs"]], ids=["builtin", "perceptron"])
def test_parity_is_off_where_there_is_nothing_to_compare(overrides, tmp_path):
    train(compose_train([*overrides, "trainer.max_epochs=1", "test=false", *OFTEN, *QUIET], tmp_path))
    assert not [t for t in _events(tmp_path / "tensorboard").Tags()["scalars"] if t.startswith("parity/")]


def test_csv_logger_run_does_not_advertise_tensorboard(tmp_path, capsys):
    train(compose_train(["experiment=mlp_xor", "trainer.max_epochs=1", "logger=csv", *QUIET], tmp_path))
    out = capsys.readouterr().out
    assert "refnets-train finished" in out and "tensorboard" not in out.lower()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _get(url: str, data: bytes | None = None) -> object:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_the_tensorboard_server_shows_scalars_images_and_hparams(runs):
    """`tensorboard --logdir` on a finished run, on localhost: its HTTP API lists the views."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(runs["lenet5"]), "--host", "localhost",
                               "--port", str(port), "--load_fast", "false"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://localhost:{port}/data"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                scalars = _get(f"{base}/plugin/scalars/tags")
                if scalars:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "tensorboard did not start"
            time.sleep(1)
        run = next(iter(scalars))
        assert {"val/acc", "test/acc", "parity/features.0.weight"} <= set(scalars[run]), scalars
        images = _get(f"{base}/plugin/images/tags")
        assert {"images/filters", "images/confusion_matrix"} <= set(images[run]), images
        experiment = _get(f"{base}/plugin/hparams/experiment", json.dumps({"experimentName": ""}).encode())
        assert "optimizer.lr" in {h["name"] for h in experiment["hparamInfos"]}
        assert "hp/test/acc" in {m["name"]["tag"] for m in experiment["metricInfos"]}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_histograms_count_every_finite_value_and_survive_nan(tmp_path):
    """Equal-width bins hold every finite element once, with its exact min, max, sum and sum of squares; a NaN
    or inf (a diverging run) is left out instead of crashing the run, a constant tensor gets bins around its
    value, and a tensor with no finite value is skipped."""
    from lightning.pytorch.loggers import TensorBoardLogger

    from refnets.training.callbacks import Histograms

    logger = TensorBoardLogger(str(tmp_path), name="", version="")
    net = torch.nn.Linear(3, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[float("nan"), 1.0, 2.0], [3.0, float("inf"), 4.0]]))
        net.bias.zero_()
    net.weight.grad = torch.tensor([[0.5, -0.5, 0.25], [0.0, 0.0, 0.0]])
    net.bias.grad = torch.full((2,), float("nan"))
    trainer = SimpleNamespace(global_step=0, loggers=[logger], is_global_zero=True)
    Histograms(every_n_steps=1, bins=8).on_before_optimizer_step(trainer, SimpleNamespace(net=net), None)
    logger.experiment.flush()
    events = _events(tmp_path)
    weights = events.Histograms("weights/weight")[0].histogram_value
    assert (weights.num, weights.min, weights.max, weights.sum, weights.sum_squares) == (4, 1.0, 4.0, 10.0, 30.0)
    assert list(weights.bucket) == [1, 0, 1, 0, 0, 1, 0, 1] and weights.bucket_limit[-1] == 4.0
    gradients = events.Histograms("gradients/weight")[0].histogram_value
    assert gradients.num == 6 and sum(gradients.bucket) == 6 and (gradients.min, gradients.max) == (-0.5, 0.5)
    bias = events.Histograms("weights/bias")[0].histogram_value  # constant: bins around 0
    assert (bias.num, bias.min, bias.max, sum(bias.bucket)) == (2, 0.0, 0.0, 2)
    assert "gradients/bias" not in events.Tags()["histograms"]
    with pytest.raises(ValueError, match="bins must be a positive int, got 0"):
        Histograms(bins=0)
