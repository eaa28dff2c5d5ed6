"""Lightning callbacks of refnets runs: checkpoints you can trust, and what TensorBoard shows.

Each is switched on or off in conf/callbacks/*.yaml. The views (histograms, images, gradient
parity) run every N steps or epochs, so that they cost little beside the training step.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichModelSummary
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch import nn

from ..nn import loss_function

log = logging.getLogger("refnets.train")


def _tensorboards(trainer: L.Trainer) -> list[Any]:
    """The SummaryWriters of the run's TensorBoard loggers (none with logger=csv or logger=none)."""
    return [lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)] if trainer.is_global_zero else []


# ---------------------------------------------------------------------------------------------------------------
# checkpoints and stopping


class BestCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose ties go to the later epoch: with val/acc at 1.0 from the first epoch on
    (an easy problem), the tested checkpoint is the trained one, not the first that scored 1.0."""

    def check_monitor_top_k(self, trainer: L.Trainer, current: torch.Tensor | None = None) -> bool:
        if current is None or self.save_top_k == -1 or len(self.best_k_models) < self.save_top_k:
            return super().check_monitor_top_k(trainer, current)
        at_least_as_good = {"min": torch.le, "max": torch.ge}[self.mode]
        decision = bool(at_least_as_good(current, self.best_k_models[self.kth_best_model_path]))
        return trainer.strategy.reduce_boolean_decision(decision)


class InterruptCheckpoint(Callback):
    """Saves ``interrupted.ckpt`` when Ctrl-C (KeyboardInterrupt) or SIGTERM stops training, so the run
    can be resumed; not on other errors (a loss that became NaN must not overwrite a good state).

    Lightning's OnExceptionCheckpoint saves on every exception, deletes its file when the trainer tears
    down, and makes ``fit(ckpt_path=None)`` look for a checkpoint to resume from; this one does none of that.
    """

    def __init__(self, dirpath: str, filename: str = "interrupted") -> None:
        self.ckpt_path = str(Path(dirpath) / f"{filename}.ckpt")

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)) and trainer.state.fn == "fit":
            # the full state, to resume from (said, so that Lightning does not log "`weights_only` was not set" beside the message)
            trainer.save_checkpoint(self.ckpt_path, weights_only=False)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or ±inf."""


class StopOnNonFiniteLoss(Callback):
    """Stops training when the loss becomes NaN or ±inf, with the epoch, batch, step, learning rate and a
    hint; the checkpoints already written (the last good state) are kept, none is written of the broken one.

    The losses stay on the device and are read every ``every_n_steps`` steps and at the end of each
    epoch (before any checkpoint of it is written), one wait for the GPU per read, not per step; the
    report names the first non-finite one.

    Args:
        every_n_steps: read the losses of the last n steps at once.
    """

    def __init__(self, every_n_steps: int = 10) -> None:
        self.every_n_steps = every_n_steps
        self._recent: list[tuple[int, int, int, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        self._recent.append((trainer.current_epoch, batch_idx, self._step(trainer, pl_module), loss.detach()))
        if len(self._recent) >= self.every_n_steps or batch_idx + 1 >= trainer.num_training_batches:
            self._check(trainer)

    def on_validation_start(self, trainer, pl_module) -> None:
        self._check(trainer)  # before validation, and so before any checkpoint its metrics trigger

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._check(trainer)

    def _check(self, trainer: L.Trainer) -> None:
        recent, self._recent = self._recent, []
        if not recent:
            return
        finite = torch.isfinite(torch.stack([value for *_, value in recent])).cpu()
        if bool(finite.all()):
            return
        epoch, batch_index, step, value = recent[int((~finite).nonzero()[0])]
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None
        raise NonFiniteLossError(
            f"the training loss became {float(value)} at epoch {epoch}, batch {batch_index} (step {step}); "
            f"training stopped. The learning rate ({lr}) is likely too large: lower optimizer.lr (e.g. ÷10)"
        )

    @staticmethod
    def _step(trainer: L.Trainer, pl_module: L.LightningModule) -> int:
        """The 0-based step this loss belongs to (automatic optimisation has already counted its optimiser step)."""
        return trainer.global_step - 1 if pl_module.automatic_optimization else trainer.global_step


class ModelSummary(RichModelSummary):
    """Lightning's model summary without its FLOPs column, which reads 0 for every refnets op (the
    FLOP counter does not see inside a custom autograd.Function)."""

    @staticmethod
    def summarize(summary_data, total_parameters, trainable_parameters, model_size, total_training_modes, total_flops, **kwargs):
        from rich import get_console
        from rich.table import Table

        table = Table(header_style="bold magenta")
        columns = [(name, values) for name, values in summary_data if name != "FLOPs"]
        for name, _ in columns:
            table.add_column(name, justify="right" if name == "Params" else "left", style="dim" if name == " " else None)
        for row in zip(*(values for _, values in columns)):
            table.add_row(*row)
        console = get_console()
        console.print(table)
        console.print(f"Trainable params: {trainable_parameters:,}    Total params: {total_parameters:,}")


# ---------------------------------------------------------------------------------------------------------------
# TensorBoard views


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat(value, f"{name}."))
        elif value is not None:
            flat[name] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


class HParams(Callback):
    """The run's hyperparameters beside its final metrics (TensorBoard's HPARAMS tab), so the runs
    of a sweep (``-m experiment=lr_sweep``) compare side by side.

    The session (hyperparameters and metric names) is written once when fit starts; the metrics
    ``hp/<metric>`` are logged when fit ends (validation, last training epoch) and when test ends.
    """

    GROUPS = ("model", "optimizer", "scheduler", "data", "trainer")
    METRICS = ("val/acc", "val/loss", "train/acc_epoch", "train/loss_epoch", "test/acc", "test/loss")

    def on_fit_start(self, trainer, pl_module) -> None:
        from torch.utils.tensorboard.summary import hparams

        run = (pl_module.run_config or {}).get("config") or {}
        params = _flat({k: run.get(k) for k in ("ops", "seed", *self.GROUPS)})
        params = {k: v for k, v in params.items() if not k.startswith(("data._", "trainer._", "trainer.default_root_dir"))}
        summaries = hparams(params, {f"hp/{name}": 0.0 for name in self.METRICS})  # the values are logged later
        for writer in _tensorboards(trainer):
            for summary in summaries:
                writer._get_file_writer().add_summary(summary)

    def _log(self, trainer: L.Trainer) -> None:
        metrics = {f"hp/{name}": float(trainer.callback_metrics[name]) for name in self.METRICS if name in trainer.callback_metrics}
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.log_metrics(metrics, step=trainer.global_step)

    def on_fit_end(self, trainer, pl_module) -> None:
        self._log(trainer)

    def on_test_end(self, trainer, pl_module) -> None:
        self._log(trainer)


class Histograms(Callback):
    """Histograms of every weight and its gradient (``weights/…``, ``gradients/…``) every n-th step.

    Args:
        every_n_steps: write them at every n-th optimiser step.
        bins: equal-width bins between each tensor's min and max (TensorBoard re-buckets every
            histogram for display, so the bins only need to be fine enough).

    Counted with ``torch.histc`` and written with ``add_histogram_raw``. ``add_histogram`` itself hands
    the tensor to numpy, and that cost the lenet5_fashion recipe ~0.35 ms a step (measured): its default
    ~1 500 exponential edges make numpy sort each tensor (33–53 ms per round of LeNet-5's 20 tensors), and
    its sum of squares is an OpenBLAS dot, whose threads then spin on the cores torch's threads need — the
    next torch ops ran up to 10× slower (1.6 ms for an ``isfinite`` of 48 000 values).

    Only finite values are counted (a NaN or inf weight, in a diverging run that StopOnNonFiniteLoss then
    stops, has no bin); a tensor with none is skipped.
    """

    def __init__(self, every_n_steps: int = 100, bins: int = 64) -> None:
        if isinstance(bins, bool) or not isinstance(bins, int) or bins <= 0:
            raise ValueError(f"bins must be a positive int, got {bins!r}")
        self.every_n_steps, self.bins = every_n_steps, bins

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        step = trainer.global_step
        writers = _tensorboards(trainer)
        if step % self.every_n_steps or not writers:
            return
        for name, p in pl_module.net.named_parameters():
            for tag, values in ((f"weights/{name}", p), (f"gradients/{name}", p.grad)):
                histogram = None if values is None else self._histogram(values)
                for writer in writers if histogram else ():
                    writer.add_histogram_raw(tag, **histogram, global_step=step)

    def _histogram(self, values: torch.Tensor) -> dict[str, Any] | None:
        """``add_histogram_raw``'s fields for the finite values of ``values``; None when there are none."""
        values = values.detach().flatten().double()
        values = values[values.isfinite()]
        if not values.numel():
            return None
        smallest, largest = (v.item() for v in values.aminmax())
        low, high = (smallest - 1.0, largest + 1.0) if smallest == largest else (smallest, largest)  # one value: bins around it
        counts = torch.histc(values, bins=self.bins, min=low, max=high)
        limits = torch.linspace(low, high, self.bins + 1, dtype=torch.float64)[1:]
        return dict(min=smallest, max=largest, num=values.numel(), sum=values.sum().item(), sum_squares=values.dot(values).item(),
                    bucket_limits=limits.tolist(), bucket_counts=counts.tolist())


class GradientParity(Callback):
    """The product's claim, live: every n-th step, the same batch's gradients through a built-in twin.

    The twin is the same model class built with ``ops='builtin'`` and given the run's current weights
    (load_state_dict); its gradients of the built-in loss on the batch just trained are compared with
    the hand-written ones, and ``parity/<parameter>`` logs max|g_custom − g_builtin| / max|g_builtin|.
    The hand-written ones are the run's own ``.grad`` when that is this batch's float32 gradient, and are
    recomputed on the batch when it is not (accumulated over batches, averaged over DDP processes, or from a
    mixed-precision forward), so that both sides are the same quantity.
    Off for ops=builtin runs and for the perceptron (no gradients).

    A comparison above ``threshold`` is done again in float64, both models on the same weights and batch.
    A wrong backward is as wrong in float64. A near-tie is not: where a max-pool window's two largest values
    (or a ReLU's input and 0) differ by a few float32 roundings, the two float32 forwards may choose differently
    and send a gradient down another path — measured in lenet5_fashion: a conv2 output pair 1.5798451 /
    1.5798442 in refnets' float32, 1.5798447 / 1.5798450 in PyTorch's, parity 3.6e-4 — while in float64 both
    choose the larger. When the run ends it warns of float32 differences that float64 does not clear (the
    hand-written backward and PyTorch's disagree) and reports, without a warning, those it does clear.

    Args:
        every_n_steps: compare every n-th step (one extra forward and backward of the batch each time).
        threshold: the relative difference above which a comparison is done again in float64.
        float64_threshold: the float64 difference that clears a float32 one (float64 rounding, with room).
    """

    def __init__(self, every_n_steps: int = 50, threshold: float = 1e-4, float64_threshold: float = 1e-9) -> None:
        self.every_n_steps, self.threshold, self.float64_threshold = every_n_steps, threshold, float64_threshold
        self.twin: nn.Module | None = None
        self.worst: tuple[float, str, int] = (0.0, "", -1)
        # comparisons above threshold: (float32 parity, parameter, step, float64 parity)
        self.unexplained: list[tuple[float, str, int, float]] = []
        self.cleared: list[tuple[float, str, int, float]] = []
        self._batch = None
        self._float64: tuple[nn.Module, nn.Module] | None = None

    def on_fit_start(self, trainer, pl_module) -> None:
        run = (pl_module.run_config or {}).get("config") or {}
        net_config = (run.get("model") or {}).get("net")
        if getattr(pl_module.net, "ops", None) != "custom" or not pl_module.automatic_optimization or net_config is None:
            self.twin = None
            return
        self.net_config = net_config
        self.twin = self._build("builtin")
        first = next(pl_module.net.parameters())
        self.twin.to(device=first.device, dtype=first.dtype)
        self.dtype_name = str(first.dtype).removeprefix("torch.")  # the comparisons' precision: the weights' (float32, or bfloat16 under bf16-true)
        self.loss_fns = {ops: loss_function(pl_module.hparams.loss, ops) for ops in ("custom", "builtin")}

    def _build(self, ops: str) -> nn.Module:
        # Building a model draws initial weights; drawing them from a forked generator leaves the run's
        # random stream (shuffling, dropout) as it would be without this callback, so an ops=custom run
        # and its ops=builtin twin still see the same batches in the same order.
        with torch.random.fork_rng(devices=[]):
            return instantiate({**self.net_config, "ops": ops})

    @staticmethod
    def _parity(custom: dict[str, torch.Tensor | None], builtin: dict[str, torch.Tensor]) -> dict[str, float]:
        """max|g_custom − g_builtin| / max|g_builtin| of each parameter that has a gradient."""
        parity = {}
        for name, g_builtin in builtin.items():
            g_custom = custom[name]
            if g_custom is not None:
                scale = g_builtin.abs().max().clamp_min(torch.finfo(g_builtin.dtype).tiny)
                parity[name] = float((g_custom - g_builtin).abs().max() / scale)
        return parity

    def _gradients(self, net: nn.Module, ops: str, state: dict[str, torch.Tensor] | None, x, y) -> dict[str, torch.Tensor]:
        """∂loss/∂parameters of ``net`` on the batch, by autograd.grad (nothing accumulates into .grad)."""
        if state is not None:
            net.load_state_dict(state)
        names, params = zip(*net.named_parameters())
        with torch.enable_grad():
            return dict(zip(names, torch.autograd.grad(self.loss_fns[ops](net(x), y), params)))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._batch = batch if self.twin is not None and trainer.global_step % self.every_n_steps == 0 else None

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self._batch is None:
            return
        x, y = self._batch
        self._batch = None
        state = pl_module.net.state_dict()
        reference = self._gradients(self.twin, "builtin", state, x, y)
        if self._grads_are_this_batchs(trainer):  # the gradients the step is about to apply
            custom = {name: p.grad for name, p in pl_module.net.named_parameters()}
        else:  # accumulated, all-reduced or autocast: the same batch's float32 gradients, recomputed
            custom = self._gradients(pl_module.net, "custom", None, x, y)
        parity = self._parity(custom, reference)
        worst = max(((v, k) for k, v in parity.items()), default=(0.0, ""))
        if worst[0] > self.worst[0]:
            self.worst = (worst[0], worst[1], trainer.global_step)
        if worst[0] > self.threshold:
            float64 = max(self._float64_parity(state, x, y).values(), default=0.0)
            found = (worst[0], worst[1], trainer.global_step, float64)
            (self.cleared if float64 <= self.float64_threshold else self.unexplained).append(found)
        for logger in trainer.loggers:
            logger.log_metrics({f"parity/{k}": v for k, v in parity.items()}, step=trainer.global_step)

    @staticmethod
    def _grads_are_this_batchs(trainer) -> bool:
        """Whether .grad holds this batch's gradient as the twin computes it: not a sum over accumulated batches, not
        averaged over DDP processes, not from a mixed-precision forward."""
        return trainer.accumulate_grad_batches == 1 and trainer.world_size == 1 and str(trainer.precision) in ("32-true", "64-true", "32", "64")

    def _float64_parity(self, state: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """The same comparison with both models, the weights and the batch in float64."""
        if self._float64 is None:
            device = next(self.twin.parameters()).device
            self._float64 = (self._build("custom").to(device, torch.float64), self._build("builtin").to(device, torch.float64))
        custom, builtin = self._float64
        state = {k: v.double() if v.is_floating_point() else v for k, v in state.items()}
        x, y = (t.double() if t.is_floating_point() else t for t in (x, y))
        return self._parity(self._gradients(custom, "custom", state, x, y), self._gradients(builtin, "builtin", state, x, y))

    def on_fit_end(self, trainer, pl_module) -> None:
        if self.unexplained:
            value, name, step, float64 = max(self.unexplained)
            log.warning(
                "gradient parity exceeded %.0e: %s differed from the built-in twin by %.2e (relative) at step %d, and by %.2e "
                "in float64 — the hand-written backward and PyTorch's disagree more than %s rounding explains",
                self.threshold, name, value, step, float64, self.dtype_name,
            )
        if self.cleared:
            value, name, step, float64 = max(self.cleared)
            log.info(
                "gradient parity: %d comparison(s) exceeded %.0e in %s, at most %s by %.2e at step %d, and agreed to %.0e in "
                "float64: %s rounding (a max-pool winner or a ReLU's sign decided differently at a near-tie, or a gradient "
                "that cancels to near zero), not a wrong backward",
                len(self.cleared), self.threshold, self.dtype_name, name, value, step, float64, self.dtype_name,
            )


class Images(Callback):
    """Images in TensorBoard's IMAGES tab.

    Every n-th epoch (after validation): for 2-D data the decision boundary over the training points
    (``images/decision_boundary``: the perceptron's line fails on XOR, the MLP's curve succeeds); for a
    network with convolutions its first layer's filters (``images/filters``) and their feature maps of
    one test image (``images/feature_maps``). After test: a grid of test images with predicted/true
    labels, mistakes in red (``images/test_predictions``), and the confusion matrix (``images/confusion_matrix``).

    Args:
        every_n_epochs: draw the per-epoch images every n-th epoch.
        num_images: test images in the predictions grid.
        resolution: grid points per axis of the decision boundary.
    """

    def __init__(self, every_n_epochs: int = 1, num_images: int = 32, resolution: int = 100) -> None:
        self.every_n_epochs, self.num_images, self.resolution = every_n_epochs, num_images, resolution

    @staticmethod
    def _predict(pl_module: L.LightningModule, x: torch.Tensor) -> torch.Tensor:
        predict = getattr(pl_module.net, "predict", None)
        return predict(x) if predict is not None else pl_module(x).argmax(1)

    @staticmethod
    def _samples(trainer: L.Trainer, split: str, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        data = trainer.datamodule.splits[split]
        return data.__getitems__(list(range(len(data) if n is None else min(n, len(data)))))

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        writers = _tensorboards(trainer)
        if not writers or trainer.sanity_checking or trainer.current_epoch % self.every_n_epochs:
            return
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            images = {}
            if tuple(trainer.datamodule.dims) == (2,):
                images["images/decision_boundary"] = self._decision_boundary(trainer, pl_module)
            conv = next((m for m in pl_module.net.modules() if isinstance(m, nn.Conv2d)), None)
            if conv is not None:
                images["images/filters"] = self._filters(conv.weight)
                images["images/feature_maps"] = self._feature_maps(trainer, pl_module, conv)
        pl_module.train(was_training)
        for writer in writers:
            for tag, image in images.items():
                if isinstance(image, torch.Tensor):
                    writer.add_image(tag, image, trainer.current_epoch)
                else:
                    writer.add_figure(tag, image, trainer.current_epoch, close=False)
        for image in images.values():
            if not isinstance(image, torch.Tensor):
                _close(image)

    def _decision_boundary(self, trainer, pl_module):
        plt = _pyplot()
        x, y = self._samples(trainer, "train")
        lo, hi = x.min(0).values - 0.5, x.max(0).values + 0.5
        u, v = (torch.linspace(lo[i], hi[i], self.resolution, device=x.device) for i in range(2))
        grid = torch.stack(torch.meshgrid(u, v, indexing="xy"), -1).reshape(-1, 2)
        classes = self._predict(pl_module, grid.to(next(pl_module.parameters()).dtype)).reshape(self.resolution, self.resolution)
        fig, ax = plt.subplots(figsize=(4, 4))
        u, v, classes, x, y = (t.cpu().numpy() for t in (u, v, classes, x, y))
        ax.contourf(u, v, classes, alpha=0.3, cmap="coolwarm")
        ax.scatter(x[:, 0], x[:, 1], c=y, s=8, cmap="coolwarm", edgecolors="k", linewidths=0.3)
        ax.set_title(f"epoch {trainer.current_epoch}")
        fig.tight_layout()
        return fig

    @staticmethod
    def _filters(weight: torch.Tensor) -> torch.Tensor:
        from torchvision.utils import make_grid

        w = weight.detach().float().cpu()
        w = w.reshape(-1, 1, *w.shape[2:])  # one grey tile per (output, input) channel pair
        w = torch.nn.functional.interpolate(w, scale_factor=8, mode="nearest")  # 5×5 is too small to see
        return make_grid(w, nrow=min(len(w), 8), normalize=True, scale_each=True, pad_value=1.0)

    def _feature_maps(self, trainer, pl_module, conv: nn.Module) -> torch.Tensor:
        from torchvision.utils import make_grid

        x, _ = self._samples(trainer, "test", 1)
        seen = []
        handle = conv.register_forward_hook(lambda module, inputs, output: seen.append(output))
        try:
            pl_module(x.to(next(pl_module.parameters()).dtype))
        finally:
            handle.remove()
        maps = seen[0][0].detach().float().cpu().unsqueeze(1)  # (C_out, 1, H, W)
        maps = torch.nn.functional.interpolate(maps, scale_factor=4, mode="nearest")
        image = torch.nn.functional.interpolate(x[:1].float().cpu(), size=maps.shape[2:], mode="nearest")
        return make_grid(torch.cat([image, maps]), nrow=len(maps) + 1, normalize=True, scale_each=True, pad_value=1.0)

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self._preds, self._targets = [], []

    @staticmethod
    def _has_tensorboard(trainer) -> bool:
        """Whether the run logs to TensorBoard (on every process; only rank 0 holds the writer)."""
        return any(isinstance(lg, TensorBoardLogger) for lg in trainer.loggers)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not self._has_tensorboard(trainer):
            return
        x, y = batch
        with torch.no_grad():
            self._preds.append(self._predict(pl_module, x).cpu())
        self._targets.append(y.cpu())

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        if not self._has_tensorboard(trainer):
            return
        from torchmetrics.classification import MulticlassConfusionMatrix

        matrix = MulticlassConfusionMatrix(num_classes=pl_module.net.num_classes)
        if self._preds:
            matrix.update(torch.cat(self._preds), torch.cat(self._targets))
        # every process computes (under DDP, compute() sums the processes' counts: each tested its share of the split)
        counts = matrix.compute().cpu().numpy()
        writers = _tensorboards(trainer)
        if not writers:
            return
        figures = {"images/confusion_matrix": self._confusion_matrix(counts)}
        if len(trainer.datamodule.dims) == 3:
            figures["images/test_predictions"] = self._predictions_grid(trainer, pl_module)
        for writer in writers:
            for tag, fig in figures.items():
                writer.add_figure(tag, fig, trainer.global_step, close=False)
        for fig in figures.values():
            _close(fig)

    @staticmethod
    def _confusion_matrix(counts):
        plt = _pyplot()
        n = len(counts)
        fig, ax = plt.subplots(figsize=(1.2 + 0.45 * n, 1 + 0.45 * n))
        ax.imshow(counts, cmap="Blues")
        for true in range(n):
            for pred in range(n):
                ax.text(pred, true, int(counts[true, pred]), ha="center", va="center", fontsize=7,
                        color="white" if counts[true, pred] > counts.max() / 2 else "black")
        ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true", title="confusion matrix (test)")
        fig.tight_layout()
        return fig

    def _predictions_grid(self, trainer, pl_module):
        """The first num_images test images with the model's predictions of them, made here: under DDP the
        predictions collected during test are this process's share of the split, not these images'."""
        plt = _pyplot()
        x, targets = self._samples(trainer, "test", self.num_images)
        first = next(pl_module.parameters())
        with torch.no_grad():  # at the test epoch's end: the module is in eval mode
            preds = self._predict(pl_module, x.to(device=first.device, dtype=first.dtype)).cpu()
        cols = 8
        rows = math.ceil(len(x) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.4))
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < len(x):
                ax.imshow(x[i, 0].float().cpu().numpy(), cmap="gray")
                wrong = bool(preds[i] != targets[i])
                ax.set_title(f"{int(preds[i])}/{int(targets[i])}", color="red" if wrong else "black", fontsize=8)
        fig.suptitle("predicted / true (mistakes in red)", fontsize=9)
        fig.tight_layout()
        return fig


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no window, works on a machine without a display
    import matplotlib.pyplot as plt

    return plt


def _close(fig) -> None:
    _pyplot().close(fig)
