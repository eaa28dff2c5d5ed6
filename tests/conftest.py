from __future__ import annotations

import os

import pytest
import torch

# The machines this runs on have 2 cores; more threads than cores only slows the GEMMs down.
torch.set_num_threads(min(torch.get_num_threads(), os.cpu_count() or 1))

CUDA_REASON = "CUDA is not available on this machine (torch.cuda.is_available() is False)"
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason=CUDA_REASON)

DEVICES = [pytest.param("cpu", id="cpu"), pytest.param("cuda", id="cuda", marks=[requires_cuda, pytest.mark.cuda])]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Run a test on the CPU and, where one exists, on a CUDA device (skipped with a reason otherwise)."""
    return request.param
