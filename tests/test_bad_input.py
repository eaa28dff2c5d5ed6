"""Bad input fails early with a ValueError/TypeError that names the argument and what was received."""

from __future__ import annotations

import pytest
import torch

import refnets.functional as RF


def x4(*shape):
    return torch.randn(*shape)


CASES = [
    # (id, call, exception, message pattern)
    ("conv rank", lambda: RF.conv2d(x4(3, 5), x4(2, 3, 3, 3)), ValueError, r"input must be 3-D or 4-D.*got shape \(3, 5\)"),
    ("conv weight rank", lambda: RF.conv2d(x4(1, 3, 5, 5), x4(2, 3, 3)), ValueError, r"weight must be 4-D.*\(2, 3, 3\)"),
    ("conv channels", lambda: RF.conv2d(x4(1, 4, 5, 5), x4(2, 3, 3, 3)), ValueError, r"input has 4 channels.*C_in = 3"),
    ("conv groups", lambda: RF.conv2d(x4(1, 4, 5, 5), x4(3, 2, 3, 3), groups=2), ValueError, r"C_out = 3.*not divisible by groups=2"),
    ("conv groups channels", lambda: RF.conv2d(x4(1, 5, 5, 5), x4(4, 2, 3, 3), groups=2), ValueError, r"input has 5 channels.*groups=2"),
    ("conv groups zero", lambda: RF.conv2d(x4(1, 3, 5, 5), x4(2, 3, 3, 3), groups=0), ValueError, r"groups must be a positive int, got 0"),
    ("conv kernel too big", lambda: RF.conv2d(x4(1, 3, 4, 4), x4(2, 3, 5, 5)), ValueError, r"kernel \(5, 5\).*larger than the padded input \(4, 4\)"),
    ("conv dilated too big", lambda: RF.conv2d(x4(1, 3, 5, 5), x4(2, 3, 3, 3), dilation=3), ValueError, r"spans \(7, 7\)"),
    ("conv stride 0", lambda: RF.conv2d(x4(1, 3, 5, 5), x4(2, 3, 3, 3), stride=0), ValueError, r"stride must be positive, got \(0, 0\)"),
    ("conv dilation -1", lambda: RF.conv2d(x4(1, 3, 5, 5), x4(2, 3, 3, 3), dilation=(1, -1)), ValueError, r"dilation must be positive"),
    ("conv padding -1", lambda: RF.conv2d(x4(1, 3, 5, 5), x4(2, 3, 3, 3), padding=-1), ValueError, r"padding must be non-negative, got \(-1, -1\)"),
    ("conv padding word", lambda: RF.conv2d(x4(1, 3, 5, 5), x4(2, 3, 3, 3), padding="full"), ValueError, r"padding must be .*'same'.*got 'full'"),
    ("conv same stride", lambda: RF.conv2d(x4(1, 3, 5, 5), x4(2, 3, 3, 3), padding="same", stride=2), ValueError, r"padding='same' needs stride 1"),
    ("conv stride type", lambda: RF.conv2d(x4(1, 3, 5, 5), x4(2, 3, 3, 3), stride=1.5), TypeError, r"stride must be an int or a pair of ints, got 1.5"),
    ("conv dtype", lambda: RF.conv2d(x4(1, 3, 5, 5), x4(2, 3, 3, 3).double()), TypeError, r"weight has dtype torch.float64 but input has dtype torch.float32"),
    ("conv int input", lambda: RF.conv2d(torch.ones(1, 3, 5, 5, dtype=torch.long), x4(2, 3, 3, 3)), TypeError, r"input must be a floating-point tensor, got dtype torch.int64"),
    ("conv bias shape", lambda: RF.conv2d(x4(1, 3, 5, 5), x4(2, 3, 3, 3), x4(3)), ValueError, r"bias must have shape \(2,\).*got \(3,\)"),
    ("conv not tensor", lambda: RF.conv2d([[1.0]], x4(2, 3, 3, 3)), TypeError, r"input must be a torch.Tensor, got list"),
    ("linear features", lambda: RF.linear(x4(4, 5), x4(3, 6)), ValueError, r"input has 5 features.*in_features = 6"),
    ("linear weight rank", lambda: RF.linear(x4(4, 5), x4(5)), ValueError, r"weight must be 2-D"),
    ("linear bias", lambda: RF.linear(x4(4, 5), x4(3, 5), x4(4)), ValueError, r"bias must have shape \(3,\)"),
    ("linear scalar", lambda: RF.linear(torch.tensor(1.0), x4(3, 1)), ValueError, r"at least 1 dimension"),
    ("linear dtype", lambda: RF.linear(x4(4, 5), x4(3, 5).double()), TypeError, r"weight has dtype torch.float64 but input has dtype torch.float32"),
    ("pool rank", lambda: RF.max_pool2d(x4(5, 5), 2), ValueError, r"input must be 3-D or 4-D.*got shape \(5, 5\)"),
    ("pool kernel 0", lambda: RF.avg_pool2d(x4(1, 1, 5, 5), 0), ValueError, r"kernel_size must be positive, got \(0, 0\)"),
    ("pool stride 0", lambda: RF.max_pool2d(x4(1, 1, 5, 5), 2, stride=0), ValueError, r"stride must be positive"),
    ("pool padding", lambda: RF.max_pool2d(x4(1, 1, 5, 5), 2, padding=2), ValueError, r"padding \(2, 2\) must be at most half of kernel_size \(2, 2\)"),
    ("pool padding neg", lambda: RF.avg_pool2d(x4(1, 1, 5, 5), 2, padding=-1), ValueError, r"padding must be non-negative"),
    ("pool kernel too big", lambda: RF.max_pool2d(x4(1, 1, 3, 3), 4), ValueError, r"kernel_size \(4, 4\) is larger than the padded input \(3, 3\)"),
    ("ce target range", lambda: RF.cross_entropy(x4(3, 4), torch.tensor([0, 4, 1])), ValueError, r"target has class indices in \[0, 4\], expected values in \[0, 3\]"),
    ("ce negative target", lambda: RF.cross_entropy(x4(3, 4), torch.tensor([0, -1, 1])), ValueError, r"class indices in \[-1, 1\]"),
    ("ce target shape", lambda: RF.cross_entropy(x4(3, 4), torch.tensor([0, 1])), ValueError, r"must have shape \(3,\).*got \(2,\)"),
    ("ce prob shape", lambda: RF.cross_entropy(x4(3, 4), torch.rand(3, 5)), ValueError, r"must have the output's shape \(3, 4\), got \(3, 5\)"),
    ("ce rank", lambda: RF.cross_entropy(x4(2, 3, 4), torch.zeros(2, dtype=torch.long)), ValueError, r"input must be 1-D or 2-D logits"),
    ("ce bool target", lambda: RF.cross_entropy(x4(3, 4), torch.ones(3, dtype=torch.bool)), TypeError, r"target must be integer class indices or a float tensor"),
    ("quadratic range", lambda: RF.quadratic_loss(torch.rand(2, 3), torch.tensor([3, 0])), ValueError, r"class indices in \[0, 3\], expected values in \[0, 2\]"),
    ("quadratic shape", lambda: RF.quadratic_loss(torch.rand(2, 3), torch.rand(2, 4)), ValueError, r"output's shape \(2, 3\), got \(2, 4\)"),
    ("quadratic idx rank", lambda: RF.quadratic_loss(torch.rand(2, 3, 1), torch.tensor([1, 0])), ValueError, r"with class-index targets, input must be \(N, C\)"),
    ("quadratic not tensor", lambda: RF.quadratic_loss(torch.rand(2, 3), [1, 0]), TypeError, r"target must be a torch.Tensor, got list"),
    ("sigmoid int", lambda: RF.sigmoid(torch.arange(3)), TypeError, r"input must be a floating-point tensor, got dtype torch.int64"),
    ("relu not tensor", lambda: RF.relu(3.0), TypeError, r"input must be a torch.Tensor, got float"),
]


@pytest.mark.parametrize("call, exc, pattern", [pytest.param(c, e, p, id=i) for i, c, e, p in CASES])
def test_bad_input_raises_a_clear_error(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to put input and weight on two devices")
def test_device_mismatch_is_named():
    with pytest.raises(ValueError, match=r"weight is on cuda:0 but input is on cpu"):
        RF.conv2d(x4(1, 3, 5, 5), x4(2, 3, 3, 3).cuda())
    with pytest.raises(ValueError, match=r"weight is on cuda:0 but input is on cpu"):
        RF.linear(x4(1, 3), x4(2, 3).cuda())


def test_device_mismatch_is_named_on_meta():
    """Without a GPU, the meta device stands in for a second device: the same check names both."""
    with pytest.raises(ValueError, match=r"weight is on meta but input is on cpu"):
        RF.conv2d(x4(1, 3, 5, 5), torch.empty(2, 3, 3, 3, device="meta"))
    with pytest.raises(ValueError, match=r"target is on meta but input is on cpu"):
        RF.cross_entropy(x4(2, 3), torch.empty(2, dtype=torch.long, device="meta"))
