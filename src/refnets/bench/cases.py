"""What refnets-bench measures: each case's stable id, what it times, its target, and how to build both sides.

A side is a zero-argument callable doing one unit of work (an op's forward + backward, a training
step, a layout transform) on inputs made once, with the same seed on both sides. The ids and targets
are those of the performance issue (issue 7); the ratio is custom / built-in of the medians.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

import refnets.functional as RF
from refnets.models import MLP, LeNet5
from refnets.nn import loss_function
from refnets.nn.losses import builtin_quadratic_loss

OPS = ("custom", "builtin")

# side(batch, device, ops, compiled) -> one unit of work; ``compiled`` only for kind "step".
Side = Callable[[int, str, str, bool], Callable[[], None]]


@dataclass(frozen=True)
class Case:
    """One row (per batch size) of the benchmark.

    kind: 'op' (forward + backward of one op), 'transform' (im2col/col2im forward only),
        'step' (a model's forward + backward + SGD update; these are the cases --compile compiles).
    """

    id: str
    what: str
    target: float | None
    batches: tuple[int, ...]
    kind: str
    side: Side


def _op(custom: Callable, builtin: Callable, make_inputs: Callable[[int, str], tuple[torch.Tensor, ...]]) -> Side:
    """Forward + backward of one op, with a fixed ∂C/∂output of ones; gradients reset as zero_grad does."""

    def side(n: int, device: str, ops: str, compiled: bool = False) -> Callable[[], None]:
        torch.manual_seed(0)
        args = make_inputs(n, device)
        fn = custom if ops == "custom" else builtin
        leaves = [a for a in args if a.requires_grad]
        grad_output = torch.ones_like(fn(*args))

        def forward_backward() -> None:
            for leaf in leaves:
                leaf.grad = None
            fn(*args).backward(grad_output)

        return forward_backward

    return side


def _transform(custom: Callable, builtin: Callable, make_input: Callable[[int, str], torch.Tensor]) -> Side:
    """A layout transform alone (no autograd): refnets' im2col/col2im against aten's unfold/fold."""

    def side(n: int, device: str, ops: str, compiled: bool = False) -> Callable[[], None]:
        x = make_input(n, device)
        fn = custom if ops == "custom" else builtin
        return lambda: fn(x)

    return side


def _step(make_model: Callable[[str], torch.nn.Module], loss: str, lr: float, sample_shape: tuple[int, ...]) -> Side:
    """One training step: zero_grad, C = loss(model(x), y), backward, SGD update.

    Compiled: the forward and the loss go through torch.compile (AOTAutograd compiles their backward
    too); the optimiser step stays eager on both paths.
    """

    def side(n: int, device: str, ops: str, compiled: bool = False) -> Callable[[], None]:
        torch.manual_seed(0)  # the same initial weights on both paths: refnets.nn layers subclass torch.nn's
        model = make_model(ops).to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        loss_fn = loss_function(loss, ops)
        x = torch.rand(n, *sample_shape, device=device)
        y = torch.randint(0, 10, (n,), device=device)

        def cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return loss_fn(model(x), y)

        if compiled:
            cost = torch.compile(cost)

        def step() -> None:
            optimizer.zero_grad()
            cost(x, y).backward()
            optimizer.step()

        return step

    return side


def _inputs(*makers: Callable[[int, str], torch.Tensor]) -> Callable[[int, str], tuple[torch.Tensor, ...]]:
    return lambda n, device: tuple(m(n, device) for m in makers)


def _batch(*shape: int, grad: bool = True) -> Callable[[int, str], torch.Tensor]:
    return lambda n, device: torch.randn(n, *shape, device=device, requires_grad=grad)


def _param(*shape: int) -> Callable[[int, str], torch.Tensor]:
    return lambda n, device: torch.randn(*shape, device=device, requires_grad=True)


def _labels(n: int, device: str) -> torch.Tensor:
    return torch.randint(0, 10, (n,), device=device)


def _probabilities(n: int, device: str) -> torch.Tensor:
    return torch.rand(n, 10, device=device, requires_grad=True)


def _columns(n: int, device: str) -> torch.Tensor:
    return RF.im2col(torch.randn(n, 6, 14, 14, device=device), (5, 5), (1, 1), (1, 1))


LENET_BATCH = (64,)

CASES: tuple[Case, ...] = (
    Case("lenet5.step", "LeNet-5 (relu, max-pool) forward + backward + SGD update, cross-entropy", 1.10, (64, 256), "step",
         _step(lambda ops: LeNet5("relu", "max", ops=ops), "cross_entropy", 0.01, (1, 28, 28))),
    Case("lenet5_classic.step", "LeNet-5 as LeCun drew it (tanh, average-pool subsampling), one SGD step", 1.10, (64,), "step",
         _step(lambda ops: LeNet5("tanh", "avg", ops=ops), "cross_entropy", 0.01, (1, 28, 28))),
    Case("mlp.step", "Nielsen's [784, 30, 10] sigmoid network, quadratic cost, one SGD step (η = 3)", 1.10, (10, 64), "step",
         _step(lambda ops: MLP([784, 30, 10], "sigmoid", output="sigmoid", init="normal", ops=ops), "quadratic", 3.0, (784,))),
    Case("conv2d.lenet1", "conv2d 1→6 5×5 pad 2 on 28×28, input needs no grad (as in training)", 1.0, LENET_BATCH, "op",
         _op(lambda x, w, b: RF.conv2d(x, w, b, padding=2), lambda x, w, b: F.conv2d(x, w, b, padding=2),
             _inputs(_batch(1, 28, 28, grad=False), _param(6, 1, 5, 5), _param(6)))),
    Case("conv2d.lenet2", "conv2d 6→16 5×5 on 14×14, input needs grad", 1.3, LENET_BATCH, "op",
         _op(RF.conv2d, F.conv2d, _inputs(_batch(6, 14, 14), _param(16, 6, 5, 5), _param(16)))),
    Case("linear", "linear 400→120 (LeNet-5's first fully connected layer)", 1.2, LENET_BATCH, "op",
         _op(RF.linear, F.linear, _inputs(_batch(400), _param(120, 400), _param(120)))),
    Case("relu", "relu on 6×28×28 (LeNet-5's first activation)", 1.2, LENET_BATCH, "op",
         _op(RF.relu, F.relu, _inputs(_batch(6, 28, 28)))),
    Case("max_pool2d", "max_pool2d 2×2 on 6×28×28", 1.2, LENET_BATCH, "op",
         _op(lambda x: RF.max_pool2d(x, 2), lambda x: F.max_pool2d(x, 2), _inputs(_batch(6, 28, 28)))),
    Case("avg_pool2d", "avg_pool2d 2×2 on 6×28×28", 1.2, LENET_BATCH, "op",
         _op(lambda x: RF.avg_pool2d(x, 2), lambda x: F.avg_pool2d(x, 2), _inputs(_batch(6, 28, 28)))),
    Case("sigmoid", "sigmoid on 6×28×28", 1.5, LENET_BATCH, "op", _op(RF.sigmoid, torch.sigmoid, _inputs(_batch(6, 28, 28)))),
    Case("tanh", "tanh on 6×28×28", 1.5, LENET_BATCH, "op", _op(RF.tanh, torch.tanh, _inputs(_batch(6, 28, 28)))),
    Case("cross_entropy", "cross_entropy, 10 classes", 1.5, LENET_BATCH, "op",
         _op(RF.cross_entropy, F.cross_entropy, _inputs(_batch(10), _labels))),
    Case("quadratic_loss", "quadratic cost 1/(2n) Σ‖y − a‖², 10 classes", 1.5, LENET_BATCH, "op",
         _op(RF.quadratic_loss, builtin_quadratic_loss, _inputs(_probabilities, _labels))),
    Case("im2col", "im2col vs F.unfold (6×14×14, 5×5): the transform alone, no target", None, LENET_BATCH, "transform",
         _transform(lambda x: RF.im2col(x, (5, 5), (1, 1), (1, 1)), lambda x: F.unfold(x, 5), _batch(6, 14, 14, grad=False))),
    Case("col2im", "col2im vs F.fold (6×14×14, 5×5): the transform alone, no target", None, LENET_BATCH, "transform",
         _transform(lambda c: RF.col2im(c, (14, 14), (5, 5), (1, 1), (1, 1)), lambda c: F.fold(c, (14, 14), 5), _columns)),
)
