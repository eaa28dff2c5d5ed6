"""Randomised shapes (hypothesis): conv and pooling equal PyTorch's on configurations no table lists."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import refnets.functional as RF

# float64 throughout, so any difference is a bug, not rounding: 1e-10 is ~1e6 ulps of headroom for sums of ≤ 10³ terms.
TOL = dict(rtol=1e-10, atol=1e-10)


def _compare(op, ref, x, *params, **kwargs):
    xs = [x.clone().requires_grad_(True), x.clone().requires_grad_(True)]
    ps = [[p.clone().requires_grad_(True) if p is not None else None for p in params] for _ in range(2)]
    out, want = op(xs[0], *ps[0], **kwargs), ref(xs[1], *ps[1], **kwargs)
    torch.testing.assert_close(out, want, **TOL)
    g = torch.randn_like(out)
    got = torch.autograd.grad(out, [xs[0], *[p for p in ps[0] if p is not None]], g)
    exp = torch.autograd.grad(want, [xs[1], *[p for p in ps[1] if p is not None]], g)
    for a, b in zip(got, exp):
        torch.testing.assert_close(a, b, **TOL)


@st.composite
def conv_configs(draw):
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 10))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 10))
    n = draw(st.integers(1, 3))
    bias = draw(st.booleans())
    return n, c_in, c_out, (h, w), (kh, kw), dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups), bias


@settings(max_examples=60, deadline=None)
@given(conv_configs(), st.integers(0, 2**31 - 1))
def test_conv2d_random_shapes(config, seed):
    n, c_in, c_out, (h, w), (kh, kw), kwargs, bias = config
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c_in, h, w, generator=gen, dtype=torch.float64)
    weight = torch.randn(c_out, c_in // kwargs["groups"], kh, kw, generator=gen, dtype=torch.float64)
    b = torch.randn(c_out, generator=gen, dtype=torch.float64) if bias else None
    _compare(RF.conv2d, F.conv2d, x, weight, b, **kwargs)


@st.composite
def pool_configs(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    h = draw(st.integers(max(1, kh - 2 * ph), 10))
    w = draw(st.integers(max(1, kw - 2 * pw), 10))
    return (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w), (kh, kw), stride, (ph, pw)


@settings(max_examples=60, deadline=None)
@given(pool_configs(), st.sampled_from(["max", "avg"]), st.integers(0, 2**31 - 1))
def test_pool2d_random_shapes(config, kind, seed):
    shape, kernel, stride, padding = config
    # Continuous random values: no ties inside a window, so max pooling's winner is unique.
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    op, ref = (RF.max_pool2d, F.max_pool2d) if kind == "max" else (RF.avg_pool2d, F.avg_pool2d)
    _compare(op, ref, x, kernel_size=kernel, stride=stride, padding=padding)
