"""Run the selected cases and return their rows: ops and steps, compiled steps, epochs, peak memory."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from .cases import CASES, OPS, Case
from .epoch import epoch_sides, quiet
from .memory import MEASURES, peak_step_bytes
from .timing import calls_per_sample, interleaved, stopwatch, summary, synchronize

# id → (target, what) of the epoch cases, measured by .epoch
EPOCHS = {
    "epoch.lenet5": (1.10, "one Fashion-MNIST-sized epoch of the lenet5_fashion recipe (LeNet-5 relu/max-pool, batch 32, Adam) "
                           "through refnets-train's path (Lightning, datamodule, logging): ops=custom vs ops=builtin"),
    "overhead.lightning": (1.10, "the same epoch with ops=builtin: refnets-train's path vs a plain PyTorch loop doing the same work "
                                 "(same data in memory, same logging frequency)"),
}
MEMORY = "memory.lenet5.step"
IDS: tuple[str, ...] = (*(c.id for c in CASES), *EPOCHS, MEMORY)

QUICK_BATCH = 4  # --quick: every case at this batch size
EPOCH_WARMUP_STEPS = {False: 20, True: 0}  # untimed steps of each epoch side first (by --quick; none in the test mode)


@dataclass(frozen=True)
class Options:
    device: str = "cpu"
    repeats: int = 30  # timed samples per side of an op or step case
    epoch_repeats: int = 3  # timed epochs per side
    warmup: int = 3  # untimed rounds before an op or step case's samples
    quick: bool = False
    compile: bool = False


QUICK_OPTIONS = {"repeats": 3, "epoch_repeats": 1, "warmup": 1}  # --quick's defaults, the test mode


def options(quick: bool = False, **given) -> Options:
    """Options from what was given (None: not given), the rest from --quick's defaults or Options'."""
    chosen = {name: value for name, value in given.items() if value is not None}
    return Options(quick=quick, **({**QUICK_OPTIONS, **chosen} if quick else chosen))


def run(ids: Iterable[str], options: Options, report: Callable[[dict], None] = lambda row: None) -> list[dict]:
    """Measure each id in ``ids`` (in the order of IDS); hand each row to ``report`` as it is done."""
    unknown = sorted(set(ids) - set(IDS))
    if unknown:
        raise ValueError(f"unknown benchmark id(s) {unknown}; known ids: {', '.join(IDS)}")
    wanted = set(ids)
    rows: list[dict] = []
    for id in (i for i in IDS if i in wanted):
        if id in EPOCHS:
            new = [measure_epoch(id, options)]
        elif id == MEMORY:
            new = measure_memory(options)
        else:
            case = next(c for c in CASES if c.id == id)
            new = [row for n in _batches(case.batches, options) for row in measure_case(case, n, options)]
        for row in new:
            report(row)
        rows += new
    return rows


def _batches(batches: tuple[int, ...], options: Options) -> tuple[int, ...]:
    return (QUICK_BATCH,) if options.quick else batches


def _error(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}"


def measure_case(case: Case, n: int, options: Options) -> list[dict]:
    """One op or step case at batch ``n``; with --compile, a step case also yields its two compiled rows."""
    device = options.device
    work = {ops: case.side(n, device, ops, False) for ops in OPS}
    compile_s, graph_breaks, errors = {}, {}, {}
    if options.compile and case.kind == "step":
        from torch._dynamo.utils import counters  # dynamo's own tally of graph breaks

        # Every compiled side is a new closure of the same function, which dynamo counts as a recompilation
        # of it, up to torch._dynamo.config.recompile_limit, beyond which it silently runs eagerly: a fresh
        # start per case keeps each case's two compiled sides within the limit.
        torch.compiler.reset()
        for ops in OPS:
            try:
                step = case.side(n, device, ops, True)
                breaks = sum(counters["graph_break"].values())
                synchronize(device)
                start = time.perf_counter()
                step()  # compiles
                synchronize(device)
                compile_s[ops] = time.perf_counter() - start
                graph_breaks[ops] = sum(counters["graph_break"].values()) - breaks
                work[f"{ops}_compiled"] = step
            except Exception as err:  # noqa: BLE001 — any compile failure is reported in its row
                errors[ops] = _error(err)
    calls = calls_per_sample(work.values(), device)
    samples = interleaved({name: stopwatch(fn, device, calls) for name, fn in work.items()}, options.repeats, options.warmup)

    def row(id: str, what: str, custom: str, builtin: str, target: float | None, **extra) -> dict:
        head = {"id": id, "batch": n, "kind": case.kind, "what": what, "custom": custom, "builtin": builtin}
        if custom in samples and builtin in samples:
            head |= summary(samples[custom], samples[builtin], target) | {"calls_per_sample": calls}
        return head | extra

    rows = [row(case.id, case.what, "custom", "builtin", case.target)]
    if options.compile and case.kind == "step":
        error = "; ".join(f"ops={ops}: {e}" for ops, e in errors.items()) or None
        # compile_s and graph_breaks: of the first, compiling call; recompilations later show in the sample ranges
        extra = {"compile_s": compile_s, "graph_breaks": graph_breaks, **({"error": error} if error else {})}
        compiled = f"{case.what}; torch.compile of the forward and the cost (and so of their backward), the SGD update eager"
        rows.append(row(f"{case.id}.compiled", f"{compiled}: both paths compiled", "custom_compiled", "builtin_compiled", None, **extra))
        rows.append(row(f"{case.id}.compiled_vs_eager", f"{compiled}: custom compiled vs builtin eager", "custom_compiled", "builtin", None, **extra))
        if "custom_compiled" in samples:  # what compilation buys the hand-written ops
            rows[-1]["custom_eager_over_compiled"] = summary(samples["custom"], samples["custom_compiled"], None)["ratio"]
    return rows


def measure_epoch(id: str, options: Options) -> dict:
    """epoch.lenet5 or overhead.lightning: whole epochs, interleaved, after a few untimed steps of each side."""
    target, what = EPOCHS[id]
    with tempfile.TemporaryDirectory(prefix="refnets-bench-") as tmp, quiet():
        sides, labels = epoch_sides(id, options.quick, Path(tmp), options.device)
        if EPOCH_WARMUP_STEPS[options.quick]:
            for side in sides.values():
                side(EPOCH_WARMUP_STEPS[options.quick])
        steps: dict[str, int] = {}

        def timed(name: str) -> Callable[[], float]:
            def epoch() -> float:
                seconds, steps[name] = sides[name]()
                return seconds

            return epoch

        samples = interleaved({name: timed(name) for name in sides}, options.epoch_repeats)
    result = summary(samples["custom"], samples["builtin"], target)
    return {
        "id": id, "batch": labels["batch"], "kind": "epoch", "what": what, "custom": labels["custom"], "builtin": labels["builtin"],
        **result,
        "steps": steps,
        "custom_ms_per_step": result["custom_ms"] / steps["custom"],
        "builtin_ms_per_step": result["builtin_ms"] / steps["builtin"],
        "data": labels["data"],
    }


def measure_memory(options: Options) -> list[dict]:
    """Peak memory of one LeNet-5 training step (lenet5.step's work) on each path."""
    case = next(c for c in CASES if c.id == "lenet5.step")
    rows = []
    for n in _batches(case.batches, options):
        peak = {ops: peak_step_bytes(case.side(n, options.device, ops, False), options.device) for ops in OPS}
        rows.append({
            "id": MEMORY, "batch": n, "kind": "memory", "what": f"peak memory of one {case.id} step ({case.what})",
            "custom_mib": peak["custom"] / 2**20, "builtin_mib": peak["builtin"] / 2**20,
            "ratio": peak["custom"] / peak["builtin"], "measures": MEASURES[options.device],
        })
    return rows


def torch_device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return cpu_name()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
