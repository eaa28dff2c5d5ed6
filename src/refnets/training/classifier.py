"""The LightningModule that trains any refnets model as a classifier."""

from __future__ import annotations

import inspect
import io
import os
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from omegaconf import OmegaConf
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from ..nn import loss_function
from .checks import check_map_location, checked_net_from_checkpoint

STAGES = ("train", "val", "test")
# the arguments Lightning's load_from_checkpoint takes by position after checkpoint_path (map_location, hparams_file,
# strict, and weights_only on Lightning ≥ 2.5), in its order
_LOAD_ARGUMENTS = tuple(
    name for name, p in inspect.signature(L.LightningModule.load_from_checkpoint).parameters.items()
    if p.kind is p.POSITIONAL_OR_KEYWORD and name not in ("cls", "checkpoint_path")
)


class Classifier(L.LightningModule):
    """Trains ``net`` by backprop on ``loss``, logging ``{stage}/loss`` and ``{stage}/acc``.

    Args:
        net: a refnets model with ``ops`` ('custom' | 'builtin') and ``num_classes`` attributes.
        loss: 'cross_entropy' (for logits) or 'quadratic' (for sigmoid outputs, Nielsen's cost);
            taken from refnets.functional when ``net.ops == 'custom'``, from torch when 'builtin',
            so a builtin run swaps every op, the cost included.
        optimizer: a partial optimiser (Hydra ``_partial_: true``), called with the parameters.
        scheduler: an optional partial LR scheduler, called with the optimiser; stepped per epoch.
    """

    def __init__(
        self,
        net: nn.Module,
        loss: str = "cross_entropy",
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
    ) -> None:
        super().__init__()
        # Only plain values go into the checkpoint's hyperparameters, so checkpoints load with
        # torch.load(weights_only=True): the net's weights are in the state_dict already, and the
        # optimiser/scheduler partials are rebuilt from the Hydra config, not unpickled.
        self.save_hyperparameters(logger=False, ignore=["net", "optimizer", "scheduler"])
        self.net = net
        self.optimizer, self.scheduler = optimizer, scheduler
        self.loss_fn = loss_function(loss, getattr(net, "ops", "custom"))
        # one accuracy per stage ("train" itself is taken: nn.Module.train)
        self.accuracy = nn.ModuleDict(
            {f"{stage}_acc": MulticlassAccuracy(num_classes=net.num_classes, average="micro") for stage in STAGES}
        )
        # the training loss averaged over the epoch (the accuracy's twin; torchmetrics states are not saved in checkpoints)
        self.train_loss = MeanMetric()
        # The run that built this module, as refnets-train composed it ({"overrides": [...], "config": {...}});
        # set by the command line and saved in every checkpoint, so that refnets-eval can rebuild the run.
        self.run_config: dict[str, Any] | None = None

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: str | os.PathLike, *args: Any, **kwargs: Any) -> Classifier:
        """Lightning's ``load_from_checkpoint``, with the net rebuilt from the run's config that refnets-train saved
        in the checkpoint (its ``model.net``: class, sizes, activation, ops), so ``Classifier.load_from_checkpoint(path)``
        gives the trained model. The net is not a hyperparameter (only plain values are, see ``__init__``), so
        Lightning alone would call ``Classifier()`` without one. ``net=`` passes another (e.g. the same
        architecture on the other op set); its weights' names and shapes are checked against the checkpoint's first.
        """
        # Lightning's own arguments after checkpoint_path (map_location, hparams_file, strict, …) by name, so that
        # positional ones are handled as the keywords are (hparams_file above all: see below)
        if len(args) > len(_LOAD_ARGUMENTS):
            raise TypeError(f"load_from_checkpoint() takes checkpoint_path and at most {len(_LOAD_ARGUMENTS)} more positional "
                            f"arguments ({', '.join(_LOAD_ARGUMENTS)}), but {len(args)} were given")
        for name, value in zip(_LOAD_ARGUMENTS, args):
            if name in kwargs:
                raise TypeError(f"load_from_checkpoint() got multiple values for argument {name!r}")
            kwargs[name] = value
        check_map_location(kwargs.get("map_location"))
        if hasattr(checkpoint_path, "read"):  # an open file: read once, for the config here and for Lightning
            checkpoint_path = io.BytesIO(checkpoint_path.read())
        kwargs["net"] = checked_net_from_checkpoint(checkpoint_path, kwargs.get("net"))
        if isinstance(checkpoint_path, io.BytesIO):
            checkpoint_path.seek(0)
        hparams_file = kwargs.pop("hparams_file", None)
        if hparams_file is not None:  # Lightning would merge the net into the file's DictConfig, which cannot hold a module
            kwargs = {**(OmegaConf.to_container(OmegaConf.load(hparams_file)) or {}), **kwargs}
        return super().load_from_checkpoint(checkpoint_path, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _log(self, stage: str, loss: torch.Tensor, preds: torch.Tensor, y: torch.Tensor) -> None:
        accuracy = self.accuracy[f"{stage}_acc"]
        if stage == "train":
            self._log_train_step(loss, preds, y, accuracy)
            return
        accuracy(preds, y)
        kwargs = dict(on_step=False, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=y.shape[0])
        self.log(f"{stage}/loss", loss, **kwargs)
        self.log(f"{stage}/acc", accuracy, **kwargs)

    def _log_train_step(self, loss: torch.Tensor, preds: torch.Tensor, y: torch.Tensor, accuracy: MulticlassAccuracy) -> None:
        """Every step feeds the epoch's metrics; only the steps the loggers write (``trainer.log_every_n_steps``)
        call ``self.log``, which costs ~0.3 ms a call in Lightning's bookkeeping — measured: 7.5 → 6.1 ms a
        step of the lenet5_fashion recipe, against 3.6 ms for a plain loop (refnets-bench ``overhead.lightning``).
        The loggers receive what ``self.log(on_step=True, on_epoch=True)`` would give them: train/loss_step and
        train/acc_step every n steps, train/loss_epoch and train/acc_epoch (exact means over the epoch's samples)."""
        accuracy.update(preds, y)
        self.train_loss.update(loss, weight=y.shape[0])
        # the loggers' own test of "this step is written" (Lightning's logger connector); if it ever goes away, every step
        if getattr(self.trainer._logger_connector, "should_update_logs", True):
            step_acc = (preds == y).float().mean()
            self.log_dict({"train/loss_step": loss, "train/acc_step": step_acc}, on_step=True, on_epoch=False, prog_bar=True)

    def on_train_epoch_end(self) -> None:
        accuracy = self.accuracy["train_acc"]
        if self.train_loss.update_count == 0:  # no training step ran (e.g. a resumed run at its end)
            return
        epoch = {"loss": self.train_loss.compute(), "acc": accuracy.compute()}
        self.train_loss.reset()
        accuracy.reset()
        # train/loss_epoch and train/acc_epoch for the loggers; train/loss and train/acc for callbacks, the
        # progress bar and metrics.json, the names Lightning gives the epoch values of an on_step + on_epoch metric
        self.log_dict({f"train/{k}_epoch": v for k, v in epoch.items()}, on_epoch=True, sync_dist=True)
        self.log_dict({f"train/{k}": v for k, v in epoch.items()}, on_epoch=True, sync_dist=True, logger=False, prog_bar=True)

    def _shared_step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        output = self(x)
        loss = self.loss_fn(output, y)
        self._log(stage, loss.detach(), output.detach().argmax(1), y)
        return loss

    def training_step(self, batch, batch_idx):
        return self._shared_step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._shared_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._shared_step(batch, "test")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.run_config is not None:
            checkpoint["refnets"] = self.run_config

    def configure_optimizers(self):
        if self.optimizer is None:
            raise ValueError("Classifier needs an optimizer (a partial such as torch.optim.SGD with lr set), got None")
        optimizer = self.optimizer(params=self.parameters())
        if self.scheduler is None:
            return optimizer
        scheduler = self.scheduler(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch", "monitor": "val/loss"}}


class PerceptronClassifier(Classifier):
    """Trains a :class:`refnets.models.Perceptron` by the perceptron rule (manual optimisation).

    ``{stage}/loss`` is the 0/1 error rate — the quantity the perceptron rule drives to zero on
    separable data. ``lr`` is the rule's η.
    """

    def __init__(self, net: nn.Module, lr: float = 1.0) -> None:
        if not hasattr(net, "perceptron_update"):
            raise TypeError(f"PerceptronClassifier needs a refnets.models.Perceptron net, got {type(net).__name__}")
        super().__init__(net, loss="quadratic")
        self.save_hyperparameters(logger=False, ignore=["net"])
        self.automatic_optimization = False

    def _shared_step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        preds = self.net.predict(x)
        error_rate = (preds != y).float().mean()
        self._log(stage, error_rate, preds, y)
        return error_rate

    def training_step(self, batch, batch_idx):
        self._shared_step(batch, "train")  # logged before the update: the errors the rule corrects
        self.net.perceptron_update(*batch, lr=self.hparams.lr)
        # Lightning counts training steps (global_step, on which checkpoints and logging key) by optimiser
        # steps. The rule above is the update; this step of an optimiser without gradients changes no
        # weight and only advances that count, so perceptron runs write checkpoints like any other.
        self.optimizers().step()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)
