"""refnets-bench: how fast are the hand-written ops against PyTorch's own kernels?

Each case times forward + backward of the custom op and of its built-in twin on the same inputs,
interleaved (custom, builtin, custom, …) so that drift in machine load hits both alike, and reports
medians and their ratio. ``--device cuda`` synchronises around every timing.

    refnets-bench                 # CPU, LeNet-5-sized shapes
    refnets-bench --device cuda --batch 256 --json bench.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

import refnets.functional as RF
from refnets.models import LeNet5
from refnets.nn import loss_function
from refnets.nn.losses import builtin_quadratic_loss


def _cases(n: int, device: str) -> dict[str, tuple[Callable, Callable, Callable[[], tuple]]]:
    def t(*shape):
        return lambda: torch.randn(*shape, device=device, requires_grad=True)

    def params(*makers):
        return lambda: tuple(m() for m in makers)

    target = lambda: torch.randint(0, 10, (n,), device=device)  # noqa: E731
    return {
        "conv2d 1→6 5×5 pad 2 (28×28)": (lambda x, w, b: RF.conv2d(x, w, b, padding=2), lambda x, w, b: F.conv2d(x, w, b, padding=2),
                                        params(t(n, 1, 28, 28), t(6, 1, 5, 5), t(6))),
        "conv2d 6→16 5×5 (14×14)": (RF.conv2d, F.conv2d, params(t(n, 6, 14, 14), t(16, 6, 5, 5), t(16))),
        "linear 400→120": (RF.linear, F.linear, params(t(n, 400), t(120, 400), t(120))),
        "max_pool2d 2 (6×28×28)": (lambda x: RF.max_pool2d(x, 2), lambda x: F.max_pool2d(x, 2), params(t(n, 6, 28, 28))),
        "avg_pool2d 2 (6×28×28)": (lambda x: RF.avg_pool2d(x, 2), lambda x: F.avg_pool2d(x, 2), params(t(n, 6, 28, 28))),
        "sigmoid (6×28×28)": (RF.sigmoid, torch.sigmoid, params(t(n, 6, 28, 28))),
        "tanh (6×28×28)": (RF.tanh, torch.tanh, params(t(n, 6, 28, 28))),
        "relu (6×28×28)": (RF.relu, F.relu, params(t(n, 6, 28, 28))),
        "cross_entropy (10 classes)": (RF.cross_entropy, F.cross_entropy, params(t(n, 10), target)),
        "quadratic_loss (10 classes)": (RF.quadratic_loss, builtin_quadratic_loss, params(lambda: torch.rand(n, 10, device=device, requires_grad=True), target)),
    }


def _time(fn: Callable[[], None], device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _forward_backward(op: Callable, args: tuple) -> Callable[[], None]:
    def run() -> None:
        out = op(*args)
        out.backward(torch.ones_like(out))

    return run


def _lenet_step(n: int, device: str, ops: str) -> Callable[[], None]:
    torch.manual_seed(0)
    model = LeNet5("relu", "max", ops=ops).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = loss_function("cross_entropy", ops)
    x, y = torch.rand(n, 1, 28, 28, device=device), torch.randint(0, 10, (n,), device=device)

    def step() -> None:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def _layout_cases(n: int, device: str) -> dict[str, tuple[Callable[[], None], Callable[[], None]]]:
    """refnets' im2col/col2im against torch's unfold/fold (aten::im2col/col2im), conv2 of LeNet-5."""
    x = torch.randn(n, 6, 14, 14, device=device)
    cols = RF.im2col(x, (5, 5), (1, 1), (1, 1))
    return {
        "im2col vs F.unfold (6×14×14, 5×5)": (lambda: RF.im2col(x, (5, 5), (1, 1), (1, 1)), lambda: F.unfold(x, 5)),
        "col2im vs F.fold (6×14×14, 5×5)": (lambda: RF.col2im(cols, (14, 14), (5, 5), (1, 1), (1, 1)), lambda: F.fold(cols, (14, 14), 5)),
    }


def benchmark(batch: int = 64, device: str = "cpu", repeats: int = 30, warmup: int = 3) -> list[dict]:
    rows = []
    cases = {name: (_forward_backward(c, args := make()), _forward_backward(b, args)) for name, (c, b, make) in _cases(batch, device).items()}
    cases.update(_layout_cases(batch, device))
    cases["LeNet-5 training step"] = (_lenet_step(batch, device, "custom"), _lenet_step(batch, device, "builtin"))
    for name, (custom, builtin) in cases.items():
        for _ in range(warmup):
            custom(), builtin()
        times_c, times_b = [], []
        for _ in range(repeats):
            times_c.append(_time(custom, device))
            times_b.append(_time(builtin, device))
        c, b = statistics.median(times_c), statistics.median(times_b)
        rows.append({"case": name, "custom_ms": 1e3 * c, "builtin_ms": 1e3 * b, "ratio": c / b})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="refnets-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=64, help="mini-batch size N (default 64)")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per op and path (default 30)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch.cuda.is_available() is False on this machine")
    if args.batch <= 0 or args.repeats <= 0:
        parser.error(f"--batch and --repeats must be positive, got {args.batch} and {args.repeats}")
    rows = benchmark(args.batch, args.device, args.repeats)
    print(f"forward + backward (im2col/col2im: the transform alone), median of {args.repeats} interleaved runs, batch {args.batch}, {args.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'case':<32} {'custom ms':>10} {'builtin ms':>11} {'custom/builtin':>15}")
    for r in rows:
        print(f"{r['case']:<32} {r['custom_ms']:>10.3f} {r['builtin_ms']:>11.3f} {r['ratio']:>14.2f}×")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "batch": args.batch, "torch": torch.__version__, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
