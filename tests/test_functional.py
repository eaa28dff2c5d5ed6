"""Specification of refnets.functional: every op equals its PyTorch twin, in value and gradient.

Generic checks run over the op table in op_db.py (one entry per op, many samples each).
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from op_db import OPS, OPS_BY_NAME, cases, sample

# float32 tolerances: the custom ops sum in a different order than PyTorch's kernels (a GEMM over
# im2col columns versus a direct convolution, a log-sum-exp versus log_softmax), so results differ
# by a few ulps times the number of terms summed; 1e-5 relative / 1e-5 absolute covers the largest
# sums here (K = C·k_h·k_w ≤ 75 terms) with margin, and is far below any real error.
F32 = dict(rtol=1e-5, atol=1e-5)


def _grads(out: torch.Tensor, inputs: list[torch.Tensor], seed: int = 1) -> list[torch.Tensor | None]:
    """∂⟨out, g⟩/∂inputs for a fixed random upstream gradient g (so every output element matters)."""
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype).to(out.device)
    return list(torch.autograd.grad(out, inputs, g, allow_unused=True))


def _diff_inputs(args) -> list[torch.Tensor]:
    return [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]


@pytest.mark.parametrize("info, index", cases(lambda i: i.name != "step"))
def test_gradcheck_float64(info, index, device):
    """The hand-written backward equals the numerical Jacobian (finite differences) in float64."""
    args, kwargs = sample(info, index, dtype=torch.float64, device=device)
    assert torch.autograd.gradcheck(lambda *a: info.op(*a, **kwargs), args, fast_mode=False)


@pytest.mark.parametrize("info, index", cases(lambda i: i.double_backward or i.name == "relu"))
def test_gradgradcheck_float64(info, index, device):
    """Double backward (the backward is itself differentiable) matches finite differences."""
    args, kwargs = sample(info, index, dtype=torch.float64, device=device)
    assert torch.autograd.gradgradcheck(lambda *a: info.op(*a, **kwargs), args)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("info, index", cases())
def test_matches_builtin(info, index, dtype, device):
    """Forward values and every input gradient equal the torch.nn.functional twin's."""
    tol = F32 if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    args, kwargs = sample(info, index, dtype=dtype, device=device)
    ref_args, _ = sample(info, index, dtype=dtype, device=device)
    out, ref = info.op(*args, **kwargs), info.builtin(*ref_args, **kwargs)
    torch.testing.assert_close(out, ref, **tol)
    if info.name == "step":
        # torch.heaviside has no derivative; the step's is zero almost everywhere, and so is ours.
        (grad,) = _grads(out, _diff_inputs(args))
        assert torch.count_nonzero(grad) == 0
        return
    for got, want in zip(_grads(out, _diff_inputs(args)), _grads(ref, _diff_inputs(ref_args))):
        torch.testing.assert_close(got, want, **tol)


@pytest.mark.parametrize("info, index", cases())
def test_result_is_made_by_its_own_function(info, index):
    """The autograd graph holds the op's own Function node and none of PyTorch's nodes for the op."""
    args, kwargs = sample(info, index, dtype=torch.float64, device="cpu")
    out = info.op(*args, **kwargs)
    nodes, stack = set(), [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in nodes:
            continue
        nodes.add(node)
        stack.extend(fn for fn, _ in node.next_functions)
    forward_classes = {getattr(n, "_forward_cls", None) for n in nodes}
    assert info.function in forward_classes
    builtin_names = {info.builtin(*sample(info, index, dtype=torch.float64, device="cpu")[0], **kwargs).grad_fn.name()}
    builtin_names -= {"ViewBackward0", "SqueezeBackward1", "DivBackward0"}  # shape glue, not the op
    assert not builtin_names & {n.name() for n in nodes}


class _RecordAten(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops: set[str] = set()
        self.calls: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = f"aten.{func._schema.name.split('::')[-1]}"
        self.ops.add(name)
        self.calls.append(name)
        return func(*args, **(kwargs or {}))


def _record(fn, args, kwargs, backward: bool = True) -> _RecordAten:
    with _RecordAten() as rec:
        out = fn(*args, **kwargs)
        if backward and out.requires_grad:
            _grads(out, _diff_inputs(args))
    return rec


@pytest.mark.parametrize("info", [pytest.param(i, id=i.name) for i in OPS])
def test_custom_path_never_dispatches_the_builtin(info):
    """Recording every aten op of forward + backward: the reimplemented built-in never appears."""
    for index in range(len(info.samples())):
        args, kwargs = sample(info, index, dtype=torch.float32, device="cpu")
        used = _record(info.op, args, kwargs).ops
        assert not used & set(info.forbidden_aten), f"sample {index} dispatched {used & set(info.forbidden_aten)}"


@pytest.mark.parametrize("info", [pytest.param(i, id=i.name) for i in OPS if i.name != "linear"])
def test_the_recorder_sees_the_builtin(info):
    """Control for the test above: the recorder does catch the forbidden ops on the built-in path.

    (linear is absent: F.linear decomposes into addmm/mm before dispatch, so its guard is the
    monkeypatch test below.)
    """
    args, kwargs = sample(info, 0, dtype=torch.float32, device="cpu")
    # torch.heaviside has no backward at all, so only its forward is recorded.
    assert _record(info.builtin, args, kwargs, backward=info.name != "step").ops & set(info.forbidden_aten)


def test_linear_never_calls_torch_linear(monkeypatch):
    """refnets.functional.linear computes its GEMMs itself, never through F.linear / torch.nn.functional."""

    def forbidden(*args, **kwargs):
        raise AssertionError("torch.nn.functional.linear was called")

    monkeypatch.setattr(torch.nn.functional, "linear", forbidden)
    monkeypatch.setattr(torch._C._nn, "linear", forbidden)
    info = OPS_BY_NAME["linear"]
    for index in range(len(info.samples())):
        args, kwargs = sample(info, index, dtype=torch.float32, device="cpu")
        _grads(info.op(*args, **kwargs), _diff_inputs(args))


def _record_backward(fn, args, kwargs) -> _RecordAten:
    out = fn(*args, **kwargs)
    with _RecordAten() as rec:
        _grads(out, _diff_inputs(args))
    return rec


GEMM_OPS = {"aten.mm", "aten.bmm", "aten.addmm", "aten.matmul", "aten._unsafe_view"}


@pytest.mark.parametrize(
    "name, args_fn, kwargs",
    [
        ("linear", lambda: (torch.randn(4, 5), torch.randn(3, 5), torch.randn(3)), {}),
        ("conv2d", lambda: (torch.randn(2, 3, 6, 6), torch.randn(4, 3, 3, 3), torch.randn(4)), dict(padding=1)),
    ],
)
def test_backward_skips_gradients_nobody_needs(name, args_fn, kwargs):
    """With only the weight requiring grad, the backward does strictly less work (needs_input_grad):
    no ∂C/∂input GEMM, and for conv no col2im."""
    info = OPS_BY_NAME[name]
    x, w, b = args_fn()
    w.requires_grad_(True)
    b.requires_grad_(True)
    only_w = [c for c in _record_backward(info.op, (x, w, b), kwargs).calls if c in GEMM_OPS | {"aten.add_"}]
    x.requires_grad_(True)
    all_three = [c for c in _record_backward(info.op, (x, w, b), kwargs).calls if c in GEMM_OPS | {"aten.add_"}]
    assert len(only_w) < len(all_three)
    if name == "conv2d":  # col2im is k_h·k_w in-place adds, absent when ∂C/∂x is not needed
        assert only_w.count("aten.add_") == 0 < all_three.count("aten.add_")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sigmoid_is_stable_for_large_inputs(dtype, device):
    """σ never overflows: no NaN or inf for |z| up to 1e4, saturating to exactly 0 and 1, and the
    gradient there is 0 (not NaN); values equal torch.sigmoid's."""
    import refnets.functional as RF

    z = torch.tensor([-1e4, -1e3, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 1e3, 1e4], dtype=dtype, device=device)
    z.requires_grad_(True)
    a = RF.sigmoid(z)
    assert torch.isfinite(a).all()
    assert a[0].item() == 0.0 and a[-1].item() == 1.0 and a[5].item() == 0.5
    # e/(1+e) and 1/(1+e) round differently from PyTorch's kernel in the last bit or two: a relative
    # tolerance of a few ulps (float64 eps 2.2e-16, float32 eps 1.2e-7); absolute slack only below the
    # smallest normal number (σ(−100) ≈ 3.7e-44 is subnormal in float32, where vector units may flush to 0).
    rtol = 1e-15 if dtype == torch.float64 else 1e-6
    torch.testing.assert_close(a, torch.sigmoid(z), rtol=rtol, atol=torch.finfo(dtype).tiny)
    (grad,) = torch.autograd.grad(a.sum(), z)
    assert torch.isfinite(grad).all() and grad[0] == 0 and grad[-1] == 0


def test_cross_entropy_is_stable_for_large_logits():
    """log-sum-exp with the max subtracted: logits of ±1e4 give the exact finite answer, not inf/NaN."""
    import refnets.functional as RF

    z = torch.tensor([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]], requires_grad=True)
    t = torch.tensor([1, 2])
    loss = RF.cross_entropy(z, t)
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(z, t))
    (grad,) = torch.autograd.grad(loss, z)
    assert torch.isfinite(grad).all()


def test_cross_entropy_gradient_wrt_probability_targets():
    """With class-probability targets that require grad, ∂C/∂y = (lse(z) − z)/n matches finite differences."""
    import refnets.functional as RF

    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.softmax(torch.randn(4, 3, dtype=torch.float64), 1).requires_grad_(True)
    assert torch.autograd.gradcheck(RF.cross_entropy, (z, y))
