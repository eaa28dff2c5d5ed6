"""One Fashion-MNIST-sized epoch, as a user feels it: ``epoch.lenet5`` and ``overhead.lightning``.

Both run the ``lenet5_fashion`` recipe (LeNet-5 relu/max-pool, batch 32, Adam) composed from conf/
exactly as refnets-train composes it. refnets-train's path is the recipe's own objects — the
datamodule, the Classifier, a Lightning Trainer with the recipe's loggers and callbacks — and the
time is that of the training loop (first batch fetched to last batch done: data path, steps,
per-step logging, metrics, progress bar; not the sanity check, validation or checkpoint writing).
The plain loop does the same work by hand: the same model and initial weights, the same optimiser,
the same in-memory batches, the loss and accuracy logged to TensorBoard as often as the trainer does.

When the real Fashion-MNIST files are not found (see refnets.data.mnist.locate) the epoch runs on
random images of the same size and the row says so.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig
from torch.utils.tensorboard import SummaryWriter

from ..config import config_dir
from ..data import DatasetNotFoundError, MNISTDataModule
from ..data.mnist import locate
from ..nn import loss_function

RECIPE = "lenet5_fashion"
FASHION_MNIST = {"train": 60000, "test": 10000}  # the real set's sizes, which synthetic data copies
QUICK = {"train": 6 * 32 + 64, "test": 64, "val": 64}  # --quick: six steps of the recipe's batch of 32


class SyntheticFashionMNIST(MNISTDataModule):
    """The Fashion-MNIST datamodule on random uint8 images and labels: same shapes, sizes and batches."""

    def __init__(self, train_samples: int = FASHION_MNIST["train"], test_samples: int = FASHION_MNIST["test"], **kwargs) -> None:
        super().__init__(**kwargs)
        self.train_samples, self.test_samples = train_samples, test_samples

    def prepare_data(self) -> None:
        pass

    def load(self):
        gen = torch.Generator().manual_seed(0)
        return tuple(
            (torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=gen), torch.randint(0, 10, (n,), generator=gen))
            for n in (self.train_samples, self.test_samples)
        )


class TrainingLoopTimer(Callback):
    """Seconds from the start of the training epoch to the end of its last batch, and the batches run."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.steps, self.start = 0, time.perf_counter()
        self.end = self.start

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.steps += 1
        if pl_module.device.type == "cuda" and batch_idx + 1 == trainer.num_training_batches:
            torch.cuda.synchronize()  # the last step's kernels belong to the epoch
        self.end = time.perf_counter()

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _compose(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose("train", overrides=overrides)


def compose_recipe(ops: str, output_dir: Path, quick: bool, device: str = "cpu") -> tuple[DictConfig, str]:
    """The lenet5_fashion config for one epoch with ``ops`` (on trainer=cuda for ``device='cuda'``);
    and a description of the data it uses: the real files where refnets-train finds them, else
    (and always under --quick) SyntheticFashionMNIST."""
    overrides = [f"experiment={RECIPE}", f"ops={ops}", "trainer.max_epochs=1", f"paths.output_dir={output_dir}"]
    if device == "cuda":
        overrides.append("trainer=cuda")
    cfg = _compose(overrides)
    synthetic = [f"data._target_={SyntheticFashionMNIST.__module__}.{SyntheticFashionMNIST.__name__}"]
    if quick:
        data = f"synthetic (--quick: {QUICK['train']} training images, random uint8 1×28×28)"
        synthetic += [f"+data.train_samples={QUICK['train']}", f"+data.test_samples={QUICK['test']}", f"data.val_size={QUICK['val']}"]
    else:
        try:
            return cfg, f"real Fashion-MNIST ({locate(cfg.data.dataset, cfg.data.data_dir, download=False).resolve()})"
        except DatasetNotFoundError:
            data = f"synthetic (Fashion-MNIST's files not found; {FASHION_MNIST['train']} + {FASHION_MNIST['test']} random uint8 1×28×28 images)"
    return _compose(overrides + synthetic), data


def _instantiate_all(group: DictConfig | None) -> list:
    return [instantiate(node) for node in (group or {}).values() if node is not None and "_target_" in node]


def lightning_epoch(cfg: DictConfig, datamodule: L.LightningDataModule, limit: int | None = None) -> tuple[float, int]:
    """refnets-train's path for one epoch: seconds in the training loop and steps run."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    model = instantiate(cfg.model)
    timer = TrainingLoopTimer()
    trainer: L.Trainer = instantiate(
        cfg.trainer, logger=_instantiate_all(cfg.logger) or False, callbacks=[*_instantiate_all(cfg.callbacks), timer],
        **({"limit_train_batches": limit, "limit_val_batches": 1} if limit else {}),
    )
    trainer.fit(model, datamodule=datamodule)
    return timer.seconds, timer.steps


def plain_epoch(cfg: DictConfig, datamodule: L.LightningDataModule, log_dir: Path, limit: int | None = None) -> tuple[float, int]:
    """The same epoch as a plain PyTorch loop: seconds in the loop and steps run."""
    device = "cuda" if cfg.trainer.accelerator in ("cuda", "gpu") else "cpu"
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    net = instantiate(cfg.model.net).to(device).train()  # the same initial weights as the Classifier's net under this seed
    loss_fn = loss_function(cfg.model.loss, cfg.ops)
    optimizer = instantiate(cfg.optimizer)(params=net.parameters())
    datamodule.setup("fit")
    data = datamodule.splits["train"].to(device)  # the datamodule's in-memory tensors; a batch is one indexing op
    every = cfg.trainer.log_every_n_steps
    writer = SummaryWriter(str(log_dir))
    start = time.perf_counter()
    loss_sum, correct, steps = torch.zeros((), device=device), torch.zeros((), dtype=torch.long, device=device), 0
    for steps, indices in enumerate(torch.randperm(len(data), device=device).split(cfg.data.batch_size)[:limit], start=1):
        x, y = data.__getitems__(indices)
        output = net(x)
        loss = loss_fn(output, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        batch_correct = (output.detach().argmax(1) == y).sum()
        loss_sum += loss.detach() * len(y)
        correct += batch_correct
        if steps % every == 0:
            writer.add_scalar("train/loss_step", loss.item(), steps)
            writer.add_scalar("train/acc_step", batch_correct.item() / len(y), steps)
    seen = min(len(data), steps * cfg.data.batch_size)
    writer.add_scalar("train/loss_epoch", loss_sum.item() / seen, steps)
    writer.add_scalar("train/acc_epoch", correct.item() / seen, steps)  # .item() waits for the GPU, if any
    seconds = time.perf_counter() - start
    writer.close()
    return seconds, steps


def epoch_sides(case_id: str, quick: bool, workdir: Path, device: str = "cpu") -> tuple[dict[str, Callable[..., tuple[float, int]]], dict]:
    """The two sides of ``epoch.lenet5`` (custom vs builtin through refnets-train) or ``overhead.lightning``
    (builtin through refnets-train vs the plain loop), each ``side(limit=None) -> (seconds, steps)``
    running one epoch (or its first ``limit`` steps); and what the row says of them: the sides' labels,
    the batch size and the data. Each side keeps one datamodule, so the data are loaded once."""
    runs = iter(range(1_000_000))  # a fresh output folder per run

    def through_refnets_train(ops: str):
        cfg, data = compose_recipe(ops, workdir / ops, quick, device)
        datamodule = instantiate(cfg.data)

        def side(limit: int | None = None):
            cfg.paths.output_dir = str(workdir / f"refnets-train-{ops}-{next(runs)}")
            return lightning_epoch(cfg, datamodule, limit)

        return side, cfg, data

    if case_id == "epoch.lenet5":
        custom, cfg, data = through_refnets_train("custom")
        builtin, _, _ = through_refnets_train("builtin")
        labels = {"custom": "refnets-train ops=custom", "builtin": "refnets-train ops=builtin"}
    else:
        custom, cfg, data = through_refnets_train("builtin")
        datamodule = instantiate(cfg.data)

        def builtin(limit: int | None = None):
            return plain_epoch(cfg, datamodule, workdir / f"plain-{next(runs)}", limit)

        labels = {"custom": "refnets-train ops=builtin", "builtin": "plain PyTorch loop ops=builtin"}
    return {"custom": custom, "builtin": builtin}, {**labels, "batch": cfg.data.batch_size, "data": data}


@contextmanager
def quiet():
    """Lightning's banners and two warnings that do not apply (DataLoader workers: the data are in memory) kept out of the report."""
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*does not have many workers.*")
            warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")  # --quick's six-step epochs
            yield
    finally:
        logger.setLevel(level)
