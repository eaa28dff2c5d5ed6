"""refnets-bench: how fast are the hand-written ops against PyTorch's own kernels?

Each case times the same work on refnets' ops (custom) and on PyTorch's built-ins, interleaved
(custom, builtin, builtin, custom, …) so that drift in machine load hits both alike, after warm-up
rounds; a row reports the medians, each side's min–max, the ratio custom / builtin of the medians,
and the target of the performance issue with pass/fail. ``--device cuda`` synchronises around every
timing.

    refnets-bench --json bench.json               # everything, CPU, all cores
    refnets-bench --only lenet5.step mlp.step     # a subset, by id
    refnets-bench --quick                         # test mode: tiny batches, 3 repeats, a few epoch steps
    refnets-bench --only lenet5.step --compile    # also under torch.compile
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import lightning
import torch

from ..bench.cases import CASES
from ..bench.suite import IDS, QUICK_OPTIONS, Options, cpu_name, run
from ..bench.suite import options as make_options


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def cores() -> int:
    """The CPU cores this process may run on (its affinity mask; os.cpu_count() where there is none)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="refnets-bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=f"ids: {', '.join(IDS)}")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to measure (default cpu)")
    p.add_argument("--threads", type=_positive_int,
                   help=f"torch.set_num_threads (default: the cores this process may use, {cores()} here)")
    p.add_argument("--repeats", type=_positive_int,
                   help=f"timed samples per side of an op or step case (default {Options.repeats}; --quick {QUICK_OPTIONS['repeats']})")
    p.add_argument("--epoch-repeats", type=_positive_int,
                   help=f"timed epochs per side of epoch.lenet5 and overhead.lightning (default {Options.epoch_repeats}; --quick {QUICK_OPTIONS['epoch_repeats']})")
    p.add_argument("--only", nargs="+", metavar="ID", help="measure only these ids (default: all)")
    p.add_argument("--quick", action="store_true", help="test mode: batch 4, few repeats, epochs of a few steps on synthetic data")
    p.add_argument("--compile", action="store_true", help="also time the step cases under torch.compile (rows <id>.compiled, <id>.compiled_vs_eager)")
    p.add_argument("--json", metavar="PATH", help="also write the report to this JSON file")
    p.epilog += ("\n\nepoch rows read Fashion-MNIST as refnets-train does (paths.data_dir: ./data or $REFNETS_DATA_DIR, then "
                 "/usr/share/datasets/fashion-mnist) and run on random images of its size when it is not found; the JSON says which.")
    return p


def _format(row: dict) -> str:
    if "error" in row and "ratio" not in row:
        return f"{row['id']:<34} {row['batch']:>5}  error: {row['error']}"
    if row["kind"] == "memory":
        return (f"{row['id']:<34} {row['batch']:>5} {row['custom_mib']:>10.2f} MiB {row['builtin_mib']:>10.2f} MiB "
                f"{row['ratio']:>7.2f}×")
    c_lo, c_hi = row["custom_range_ms"]
    b_lo, b_hi = row["builtin_range_ms"]
    verdict = "" if row["target"] is None else f"≤ {row['target']:.2f} {'pass' if row['pass'] else 'FAIL'}"
    if row["kind"] == "epoch":
        verdict += f"  ({row['custom_ms_per_step']:.2f} vs {row['builtin_ms_per_step']:.2f} ms/step, {row['steps']['custom']} steps)"
    return (f"{row['id']:<34} {row['batch']:>5} {row['custom_ms']:>10.3f} ({c_lo:.3f}–{c_hi:.3f}) "
            f"{row['builtin_ms']:>10.3f} ({b_lo:.3f}–{b_hi:.3f}) {row['ratio']:>7.3f}×  {verdict}")


def _check_json(p: argparse.ArgumentParser, text: str) -> None:
    """Refuse a --json file that cannot be written now, not after the whole run (whose report would be lost).
    It is opened for appending, so an existing file is left as it is; one made here is removed again."""
    path = Path(text)
    try:
        if not path.resolve().parent.is_dir():
            p.error(f"--json: the folder of {text!r} does not exist")
        if path.is_dir():
            p.error(f"--json: {text!r} is a folder; give a file name, e.g. {str(path / 'bench.json')!r}")
        existed = path.exists()
        with open(path, "a"):
            pass
        if not existed:
            path.unlink()
    except OSError as err:  # no permission, a read-only file system, a name too long, …
        p.error(f"--json: cannot write {text!r}: {err.strerror or err}")


def main(argv: list[str] | None = None) -> None:
    args_list = sys.argv[1:] if argv is None else list(argv)
    p = parser()
    args = p.parse_args(args_list)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error(f"--device cuda: torch.cuda.is_available() is False on this machine (torch {torch.__version__}, "
                f"built with {torch.version.cuda or 'no CUDA'}); measure on the CPU (--device cpu) or on a machine with a GPU")
    unknown = [i for i in args.only or () if i not in IDS]
    if unknown:
        p.error(f"--only: unknown id(s) {', '.join(unknown)}; known ids: {', '.join(IDS)}")
    steps = [c.id for c in CASES if c.kind == "step"]
    if args.compile and args.only and not set(args.only) & set(steps):
        p.error(f"--compile times only the step cases ({', '.join(steps)}), and --only {' '.join(args.only)} selects none; "
                "add one of them or drop --compile")
    if args.json:
        _check_json(p, args.json)
    options = make_options(args.quick, device=args.device, repeats=args.repeats, epoch_repeats=args.epoch_repeats, compile=args.compile)
    torch.set_num_threads(args.threads or cores())
    report = {
        "command": shlex.join(["refnets-bench", *args_list]),
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device == "cuda" else cpu_name(),
        "cpu": cpu_name(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "threads_source": "--threads" if args.threads else "default: the cores this process may use",
        "cores": cores(),
        "quick": options.quick,
        "repeats": options.repeats,
        "epoch_repeats": options.epoch_repeats,
        "warmup": options.warmup,
        "loadavg_start": list(os.getloadavg()),
    }
    print(f"refnets-bench on {report['device_name']} ({args.device}), torch {torch.__version__}, {report['threads']} threads "
          f"({report['threads_source']}), medians of {options.repeats} interleaved samples per side "
          f"({options.epoch_repeats} epochs for epoch rows), load average {report['loadavg_start'][0]:.2f}", flush=True)
    print(f"{'id':<34} {'batch':>5} {'custom ms (min–max)':>27} {'builtin ms (min–max)':>27} {'ratio':>7}  target", flush=True)
    start = time.perf_counter()
    rows = run(args.only or IDS, options, report=lambda row: print(_format(row), flush=True))
    report |= {
        "seconds": time.perf_counter() - start,
        "loadavg_end": list(os.getloadavg()),
        "rows": [r for r in rows if r["kind"] != "memory"],
        "peak_memory": [r for r in rows if r["kind"] == "memory"],
    }
    timed = [r for r in report["rows"] if r.get("target") is not None]
    print(f"{sum(r['pass'] for r in timed)} of {len(timed)} rows within their target", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
