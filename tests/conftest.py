from __future__ import annotations

import os

import pytest
import torch

# More threads than cores only slows the GEMMs down. Under pytest-xdist (`pytest -n auto`, the README's
# command) the workers share the cores: each gets its share (one each on the 2-core machines this runs
# on), and so do the processes a test starts (OMP_NUM_THREADS, read by torch at import), since two busy
# processes that each run one thread per core slow small ops down many times over.
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
_THREADS = max(1, _CORES // _WORKERS)
torch.set_num_threads(min(torch.get_num_threads(), _THREADS))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(_THREADS))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `pytest -n auto`, the slow tests first, in file order (a stable sort; the longest, the full
    nielsen_ch3 recipe, is the first of them): the longest run starts at once while the other workers share
    out the rest (work stealing). Collected last, it started when the rest was done and left a worker idle
    for 17 of the suite's 35 minutes. A plain `pytest` keeps file order, the quick tests first."""
    if _WORKERS > 1:
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)

CUDA_REASON = "CUDA is not available on this machine (torch.cuda.is_available() is False)"
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason=CUDA_REASON)

DEVICES = [pytest.param("cpu", id="cpu"), pytest.param("cuda", id="cuda", marks=[requires_cuda, pytest.mark.cuda])]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Run a test on the CPU and, where one exists, on a CUDA device (skipped with a reason otherwise)."""
    return request.param
