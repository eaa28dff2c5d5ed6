"""Interleaved A/B on one device: col2im by the gather (new, CUDA's way) vs the strided adds (before)."""
import json, statistics, sys
import torch
from refnets.bench.cases import CASES
from refnets.bench.timing import calls_per_sample, interleaved, stopwatch
from refnets.functional import conv

device = sys.argv[1] if len(sys.argv) > 1 else "cuda"
gather = conv._col2im_gather
def with_way(fn, way):
    def run():
        conv._col2im_gather = way
        try:
            fn()
        finally:
            conv._col2im_gather = gather
    return run
out = {}
for cid in ("conv2d.lenet2", "avg_pool2d", "lenet5.step", "lenet5_classic.step"):
    case = next(c for c in CASES if c.id == cid)
    n = case.batches[0]
    custom, builtin = case.side(n, device, "custom", False), case.side(n, device, "builtin", False)
    fns = {"gather": with_way(custom, gather), "adds": with_way(custom, conv._col2im_adds), "builtin": builtin}
    calls = calls_per_sample(fns.values(), device)
    samples = interleaved({k: stopwatch(f, device, calls) for k, f in fns.items()}, repeats=30, warmup=3)
    med = {k: statistics.median(v) * 1e3 for k, v in samples.items()}
    out[cid] = med
    print(f"{cid:20s} batch {n}: adds {med['adds']:.3f} ms  gather {med['gather']:.3f} ms  builtin {med['builtin']:.3f} ms  "
          f"ratio to builtin {med['adds']/med['builtin']:.2f}x -> {med['gather']/med['builtin']:.2f}x", flush=True)
if len(sys.argv) > 2:
    json.dump(out, open(sys.argv[2], "w"), indent=1)
