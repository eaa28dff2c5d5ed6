"""Bad input fails early with a ValueError/TypeError that names the argument and what was received."""

from __future__ import annotations

import pytest
import torch

import refnets.functional as RF
from op_db import OPS, x4


@pytest.mark.parametrize("error_input", [pytest.param(e, id=f"{info.name}-{e.name}") for info in OPS for e in info.error_inputs()])
def test_bad_input_raises_a_clear_error(error_input):
    """Each op's own error inputs (declared in its op-table entry) raise the expected error and message."""
    with pytest.raises(error_input.error, match=error_input.match):
        error_input.call()


def test_every_op_declares_error_inputs():
    assert all(info.error_inputs() for info in OPS)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to put input and weight on two devices")
def test_device_mismatch_is_named():
    with pytest.raises(ValueError, match=r"weight is on cuda:0 but input is on cpu"):
        RF.conv2d(x4(1, 3, 5, 5), x4(2, 3, 3, 3).cuda())
    with pytest.raises(ValueError, match=r"weight is on cuda:0 but input is on cpu"):
        RF.linear(x4(1, 3), x4(2, 3).cuda())
