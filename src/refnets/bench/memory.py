"""Peak memory of one training step: the most bytes of tensor storage the step has allocated and still holds.

On CUDA, the caching allocator keeps the statistic itself (``torch.cuda.max_memory_allocated``).
On the CPU nothing does: tracemalloc sees Python objects, not tensor storage, and the process's RSS
moves with glibc's decisions to keep or return freed pages. So the step runs under torch.profiler
with ``profile_memory=True``, which records each allocation and free of torch's CPU allocator
(``[memory]`` events with a signed byte count). Their running sum in time order is the storage the
step has made and still holds — activations, what the backward saves, gradients, temporaries — and
its maximum is the peak: the quantity that saving vs recomputing im2col's columns trades. The
profiler does not record frees of blocks allocated before it started (the previous step's gradients,
released by ``zero_grad``), so they do not lower the figure; on CUDA they do. Memory that a library
allocates by itself, outside torch's allocator (a BLAS or oneDNN workspace), is not seen on either.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

MEASURES = {
    "cpu": "most bytes of tensor storage allocated during one step and still held (torch.profiler profile_memory [memory] "
           "events summed in time order; frees of tensors made before the step are not recorded, nor memory a library allocates "
           "outside torch's allocator); after one unmeasured step",
    "cuda": "torch.cuda.max_memory_allocated during one step minus memory_allocated at its start; after one unmeasured step",
}


def peak_step_bytes(step: Callable[[], None], device: str) -> int:
    """The most bytes of tensor storage ``step`` has allocated and still holds at once (see the module docstring).

    One unmeasured step comes first, so that the optimiser's state and lazily made buffers exist, as
    they do in every step of a training run but the first.
    """
    step()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    # kineto_results is the profiler's raw record; FunctionEvents attribute memory to ops, not to time.
    events = sorted(
        (e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]" and e.device_type() == DeviceType.CPU
    )
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak
