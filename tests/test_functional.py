"""Specification of refnets.functional: every op equals its PyTorch twin, in value and gradient.

Generic checks run over the op table in op_db.py (one entry per op, many samples each).
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

import refnets.functional as RF
from op_db import LOW_PRECISION, OPS, OPS_BY_NAME, OpInfo, cases, get_sample, sample

# float32 tolerances: the custom ops sum in a different order than PyTorch's kernels (a GEMM over
# im2col columns versus a direct convolution, a log-sum-exp versus log_softmax), so results differ
# by a few ulps times the number of terms summed; 1e-5 relative / 1e-5 absolute covers the largest
# sums here (K = C·k_h·k_w ≤ 75 terms) with margin, and is far below any real error.
F32 = dict(rtol=1e-5, atol=1e-5)


def _upstream(out: torch.Tensor, info: OpInfo, name: str, seed: int = 1) -> torch.Tensor:
    """The gradient arriving from above: the sample's own (inf/NaN) or a fixed random one."""
    own = get_sample(info, name).grad_output
    if own is not None:
        return own(out.detach())
    return torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(out.device, out.dtype)


def _grads(out: torch.Tensor, inputs: list[torch.Tensor], g: torch.Tensor) -> list[torch.Tensor | None]:
    """∂⟨out, g⟩/∂inputs for the upstream gradient g (so every output element matters)."""
    return list(torch.autograd.grad(out, inputs, g, allow_unused=True))


def _diff_inputs(args) -> list[torch.Tensor]:
    return [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]


@pytest.mark.parametrize("info, name", cases(lambda i: i.differentiable))
def test_gradcheck_float64(info, name, device):
    """The hand-written backward equals the numerical Jacobian (finite differences) in float64."""
    args, kwargs = sample(info, name, dtype=torch.float64, device=device)
    assert torch.autograd.gradcheck(lambda *a: info.op(*a, **kwargs), args, fast_mode=False)


@pytest.mark.parametrize("info, name", cases(lambda i: i.supports_gradgrad))
def test_gradgradcheck_float64(info, name, device):
    """Double backward (the backward is itself differentiable, every term of it) matches finite differences.

    fast_mode: the second-order Jacobian is checked along random directions (as PyTorch's OpInfo
    tests do) — a wrong or missing term still fails, and the conv grid runs in seconds, not minutes."""
    args, kwargs = sample(info, name, dtype=torch.float64, device=device)
    assert torch.autograd.gradgradcheck(lambda *a: info.op(*a, **kwargs), args, fast_mode=True)


def _compare_with_twin(info, name, dtype, device, tol):
    args, kwargs = sample(info, name, dtype=dtype, device=device)
    ref_args, _ = sample(info, name, dtype=dtype, device=device)
    out, ref = info.op(*args, **kwargs), info.builtin(*ref_args, **kwargs)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    torch.testing.assert_close(out, ref, equal_nan=True, **tol)
    if not _diff_inputs(args):
        return
    g = _upstream(out, info, name)
    got = _grads(out, _diff_inputs(args), g)
    if not info.differentiable:
        # the step: zero gradient almost everywhere (torch.heaviside has no derivative to compare with)
        assert all(torch.count_nonzero(t) == 0 for t in got)
        return
    for pos, (a, b) in enumerate(zip(got, _grads(ref, _diff_inputs(ref_args), g))):
        torch.testing.assert_close(a, b, equal_nan=True, msg=lambda m: f"gradient of input {pos}: {m}", **tol)


def _outputs_and_grads(info: OpInfo, name: str, create_graph: bool) -> list[torch.Tensor | None]:
    """The op's output, its input gradients and (create_graph) the gradients of their sum — float64, one sample."""
    args, kwargs = sample(info, name, dtype=torch.float64, device="cpu")
    out = info.op(*args, **kwargs)
    inputs = _diff_inputs(args)
    if not inputs:
        return [out]
    grads = torch.autograd.grad(out, inputs, _upstream(out, info, name), allow_unused=True, create_graph=create_graph)
    result = [out, *grads]
    if create_graph:
        total = sum(g.sum() for g in grads if g is not None and g.requires_grad)
        if isinstance(total, torch.Tensor):
            result += torch.autograd.grad(total, inputs, allow_unused=True)
    return result


@pytest.mark.parametrize("create_graph", [False, True], ids=["backward", "double-backward"])
@pytest.mark.parametrize("info, name", cases(kinds=("regular", "special", "empty")))
def test_eager_twin_and_recommended_form_agree_to_the_bit(info, name, create_graph, monkeypatch):
    """Function.call runs each Function's eager twin (forward with ctx: no per-call signature binding,
    see functional/_function.py) outside transforms; vmap and compile run the recommended form. Both
    must be the same computation: identical outputs, gradients and second derivatives, bit for bit."""
    from refnets.functional._function import Function

    assert issubclass(info.function._eager, info.function)
    eager = _outputs_and_grads(info, name, create_graph)
    monkeypatch.setattr(Function, "call", classmethod(lambda cls, *inputs: cls.apply(*inputs)))
    recommended = _outputs_and_grads(info, name, create_graph)
    assert len(eager) == len(recommended)
    for a, b in zip(eager, recommended):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())


def test_function_call_uses_the_eager_twin_only_outside_transforms(monkeypatch):
    Sigmoid = RF.activations.Sigmoid
    calls = []
    eager_apply = Sigmoid._eager.apply
    monkeypatch.setattr(Sigmoid._eager, "apply", lambda *inputs: calls.append(len(inputs)) or eager_apply(*inputs))
    x = torch.randn(2, 3, requires_grad=True)
    assert issubclass(type(RF.sigmoid(x).grad_fn)._forward_cls, Sigmoid) and calls == [1]
    torch.testing.assert_close(torch.func.vmap(RF.sigmoid)(x), torch.sigmoid(x))  # the recommended form: functorch needs it
    torch.testing.assert_close(torch.compile(RF.sigmoid, backend="aot_eager", fullgraph=True)(x), torch.sigmoid(x))
    assert calls == [1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("info, name", cases(kinds=("regular", "special", "empty")))
def test_matches_builtin(info, name, dtype, device):
    """Forward values and every input gradient equal the torch.nn.functional twin's — for finite
    samples, ±inf/NaN inputs and upstream gradients, ties, extreme magnitudes, and empty tensors."""
    tol = F32 if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    _compare_with_twin(info, name, dtype, device, tol)


# Reduced precision, OpInfo style: the op and its twin are each compared with the twin run in float64
# on the same (rounded) inputs; the op's error may be at most twice the twin's plus a few units in the
# last place (eps: float16 9.8e-4, bfloat16 7.8e-3) of the result's magnitude — the twin's own error,
# not a blanket tolerance.
ULPS = 4


def _max_err(x: torch.Tensor | None, ref: torch.Tensor | None) -> float:
    if x is None or ref is None or ref.numel() == 0:
        return 0.0
    return float((x.detach().double() - ref.detach()).abs().max())


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=str)
@pytest.mark.parametrize("info, name", cases())
def test_low_precision_error_within_the_twins(info, name, dtype, device):
    if dtype not in info.dtypes:
        pytest.skip(f"{info.name} does not support {dtype}")
    args, kwargs = sample(info, name, dtype=dtype, device=device)
    twin_args, _ = sample(info, name, dtype=dtype, device=device)
    # the reference sees exactly the rounded inputs, in float64
    ref_args = tuple(a.detach().double().requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)
    out, twin, ref = info.op(*args, **kwargs), info.builtin(*twin_args, **kwargs), info.builtin(*ref_args, **kwargs)
    assert out.dtype == dtype
    eps = torch.finfo(dtype).eps
    slack = ULPS * eps * max(1.0, float(ref.detach().abs().max()))
    assert _max_err(out, ref) <= 2 * _max_err(twin, ref) + slack
    if not info.differentiable or not _diff_inputs(args):
        return
    g = _upstream(ref, info, name)
    got = _grads(out, _diff_inputs(args), g.to(dtype))
    want = _grads(twin, _diff_inputs(twin_args), g.to(dtype))
    exact = _grads(ref, _diff_inputs(ref_args), g)
    for pos, (a, b, r) in enumerate(zip(got, want, exact)):
        slack = ULPS * eps * max(1.0, float(r.abs().max()))
        assert a.dtype == dtype
        assert _max_err(a, r) <= 2 * _max_err(b, r) + slack, f"gradient of input {pos}"


def _batch_of(args, k: int = 3):
    """Stack k perturbed copies of the first tensor argument along a new leading dim (for vmap)."""
    first = args[0].detach()
    stacked = torch.stack([first + 0.01 * i for i in range(k)])
    return stacked


@pytest.mark.parametrize("info, name", cases(lambda i: i.supports_vmap))
def test_vmap_matches_a_loop(info, name):
    """torch.func.vmap over the first argument (forward and vjp) equals calling the op per item."""
    args, kwargs = sample(info, name, dtype=torch.float64, device="cpu", requires_grad=False)
    batch = _batch_of(args)
    rest = args[1:]

    def f(x):
        return info.op(x, *rest, **kwargs)

    torch.testing.assert_close(torch.func.vmap(f)(batch), torch.stack([f(x) for x in batch]), equal_nan=True)
    if info.differentiable:
        def vjp(x):
            out, pullback = torch.func.vjp(f, x)
            return pullback(torch.ones_like(out))[0]

        torch.testing.assert_close(torch.func.vmap(vjp)(batch), torch.stack([vjp(x) for x in batch]))


@pytest.mark.parametrize("batched", ["weight", "bias"])
def test_vmap_over_conv2d_weight_or_bias_alone(batched):
    """vmap over a parameter, not the input (per-parameter ensembles): the product W ⋆ a is then unbatched
    when only the bias is, and the bias must not be added into it in place (conv2d's eager path does that)."""
    g = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(*s, dtype=torch.float64, generator=g) for s in ((2, 3, 8, 8), (4, 3, 3, 3), (4,)))
    stack = torch.randn(5, *(w.shape if batched == "weight" else b.shape), dtype=torch.float64, generator=g)

    def f(p):
        return RF.conv2d(x, p, b) if batched == "weight" else RF.conv2d(x, w, p)

    torch.testing.assert_close(torch.func.vmap(f)(stack), torch.stack([f(p) for p in stack]))
    torch.testing.assert_close(f(stack[0]), F.conv2d(x, *((stack[0], b) if batched == "weight" else (w, stack[0]))))


@pytest.mark.parametrize("info", [pytest.param(i, id=i.name) for i in OPS if i.supports_compile])
def test_compiles_without_graph_breaks(info):
    """torch.compile(fullgraph=True) traces forward and backward of every sample shape without a graph
    break (aot_eager: the graphs are traced as inductor would take them, without generating C++)."""
    torch._dynamo.reset()
    for s in info.samples():
        if s.kind != "regular":
            continue
        args, kwargs = sample(info, s.name, dtype=torch.float32, device="cpu")
        ref_args, _ = sample(info, s.name, dtype=torch.float32, device="cpu")
        compiled = torch.compile(lambda *a: info.op(*a, **kwargs), fullgraph=True, backend="aot_eager", dynamic=False)
        out, ref = compiled(*args), info.op(*ref_args, **kwargs)
        torch.testing.assert_close(out, ref, **F32)
        if info.differentiable and _diff_inputs(args):
            g = torch.randn_like(ref)
            for a, b in zip(_grads(out, _diff_inputs(args), g), _grads(ref, _diff_inputs(ref_args), g)):
                torch.testing.assert_close(a, b, **F32)
        torch._dynamo.reset()


@pytest.mark.parametrize("info", [pytest.param(i, id=i.name) for i in OPS if i.saved_args or i.saves_output])
def test_in_place_change_of_a_saved_tensor_raises(info):
    """Modifying, between forward and backward, a tensor the backward reads raises autograd's
    version-counter error, never a silently wrong gradient. (Where the twin's backward reads the same
    tensor — conv's input and weight, linear's, the activations' output — it raises too; refnets'
    cross-entropy also reads z, to rebuild softmax for double backward, where the twin saves log p.)"""
    name = next(s.name for s in info.samples() if s.kind == "regular")
    for fn in (info.op,):
        targets = list(info.saved_args) + (["output"] if info.saves_output else [])
        for target in targets:
            args, kwargs = sample(info, name, dtype=torch.float64, device="cpu")
            args = tuple(a.detach().clone().requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor) and a.requires_grad else a for a in args)
            leaves = _diff_inputs(args)
            # differentiate through a non-leaf copy, so the copy can be modified in place
            inputs = tuple(a * 1 if isinstance(a, torch.Tensor) and a.requires_grad else a for a in args)
            out = fn(*inputs, **kwargs)
            with torch.no_grad():
                (out if target == "output" else inputs[target]).add_(1)
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                torch.autograd.grad(out, leaves, torch.ones_like(out))


def test_conv2d_twin_also_refuses_an_in_place_input_change():
    """The case from the bug report: F.conv2d raises for a modified input, and so does refnets' conv2d."""
    for fn in (RF.conv2d, torch.nn.functional.conv2d):
        x = torch.randn(1, 2, 5, 5, requires_grad=True)
        w = torch.randn(3, 2, 3, 3, requires_grad=True)
        y = x * 1
        out = fn(y, w)
        with torch.no_grad():
            y.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.sum().backward()


def test_max_pool2d_needs_no_input_in_its_backward():
    """The documented difference: max_pool2d's backward reads only the winners, so an in-place change
    of its input after the forward cannot change its gradient (the twin refuses it anyway)."""
    x = torch.randn(1, 1, 4, 4, requires_grad=True)
    y = x * 1
    out = RF.max_pool2d(y, 2)
    expected = torch.autograd.grad(out, x, torch.ones_like(out), retain_graph=True)[0]
    with torch.no_grad():
        y.add_(100)
    torch.testing.assert_close(torch.autograd.grad(out, x, torch.ones_like(out))[0], expected)


@pytest.mark.parametrize("name", ["signed-zero-ties", "ties-overlapping-padding1", "nan-ties", "wide-ties-nan", "pm-inf"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_max_pool2d_output_is_the_winners_value_to_the_bit(name, dtype):
    """max_pool2d reads its output at the winner (the first maximal pixel, the last NaN): the sign of a
    tied zero and a NaN's bits are the twin's, which assert_close would not see (−0 == +0)."""
    info = OPS_BY_NAME["max_pool2d"]
    args, kwargs = sample(info, name, dtype=dtype, device="cpu", requires_grad=False)
    out, twin = RF.max_pool2d(*args, **kwargs), F.max_pool2d(*args, **kwargs)
    bits = {torch.float16: torch.int16, torch.float32: torch.int32, torch.float64: torch.int64}[dtype]
    assert torch.equal(out.view(bits), twin.view(bits))
    if name == "signed-zero-ties":
        assert out.signbit().any() and not out.signbit().all()  # the sample does hold both signs of zero


def test_max_pool2d_bfloat16_nan_bits_are_the_twins():
    """PyTorch's CPU kernel compares in float and rounds the result back to bfloat16, which makes every NaN the
    canonical 0x7FC0; reading the output at the winner keeps the input's own bits (−NaN from 0·∞ is 0xFFC0)."""
    x = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]], dtype=torch.bfloat16)
    x[0, 0, 0, 0] = x[0, 0, 0, 0] * float("inf")  # −NaN, bits 0xFFC0 on x86
    x = torch.cat([x, torch.tensor([0x7F81], dtype=torch.int16).view(torch.bfloat16).expand(1, 1, 2, 2)], 1)  # a NaN payload
    out, twin = RF.max_pool2d(x, 2), F.max_pool2d(x, 2)
    assert torch.equal(out.view(torch.int16), twin.view(torch.int16)), (out.view(torch.int16), twin.view(torch.int16))


def test_max_pool2d_winner_tables_cache_is_not_poisoned_by_fake_tensors():
    """A call under FakeTensorMode (shape inference, memory estimation) is not torch.compile tracing, so its
    winner tables were made as FakeTensors and cached: every later eager call of that shape then failed."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from refnets.functional import pooling

    pooling._winner_tables.cache_clear()
    with FakeTensorMode():
        try:
            RF.max_pool2d(torch.empty(1, 1, 6, 6), 2)
        except Exception:
            pass  # whether the fake call itself works is not the point here
    x = torch.randn(1, 1, 6, 6)
    torch.testing.assert_close(RF.max_pool2d(x, 2), F.max_pool2d(x, 2), rtol=0, atol=0)


def test_max_pool2d_under_a_default_device_context():
    """Tables made with the default device (here meta) instead of on the CPU: the first call of a shape inside
    ``with torch.device(...)`` raised "Cannot copy out of meta tensor"; the twin (and the previous version) work."""
    from refnets.functional import pooling

    pooling._winner_tables.cache_clear()
    x = torch.randn(1, 1, 6, 6)
    with torch.device("meta"):
        out = RF.max_pool2d(x, 3, 1, 1)
    torch.testing.assert_close(out, F.max_pool2d(x, 3, 1, 1), rtol=0, atol=0)


def test_conv2d_col2im_index_cache_is_not_poisoned_by_fake_tensors():
    """col2im's per-shape pixel index is cached like max-pool's tables: a backward under FakeTensorMode must not
    leave fake tensors in the cache for a later eager backward of that shape."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from refnets.functional import conv

    conv._pixel_index.cache_clear()
    with FakeTensorMode():
        x, w = torch.empty(2, 3, 9, 9, requires_grad=True), torch.empty(4, 3, 3, 3, requires_grad=True)
        RF.conv2d(x, w).sum().backward()
    x, w = torch.randn(2, 3, 9, 9, requires_grad=True), torch.randn(4, 3, 3, 3)
    RF.conv2d(x, w).sum().backward()
    x2 = x.detach().clone().requires_grad_()
    F.conv2d(x2, w).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_max_pool2d_traces_with_torch_jit_trace():
    """torch.jit.trace (deprecated, still used) has no aten::view(dtype): the mask is cast instead while tracing."""
    x = torch.randn(1, 2, 6, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(lambda t: RF.max_pool2d(t, 2, 1, 1), x)
    y = torch.randn(1, 2, 6, 6)
    assert torch.equal(traced(y), F.max_pool2d(y, 2, 1, 1))


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


def _record(fn, args, kwargs, backward: bool = True, create_graph: bool = False) -> _RecordAten:
    with _RecordAten() as rec:
        out = fn(*args, **kwargs)
        if backward and out.requires_grad:
            grads = torch.autograd.grad(out, _diff_inputs(args), torch.ones_like(out), allow_unused=True, create_graph=create_graph)
            if create_graph:  # and the backward of the backward
                total = sum(g.sum() for g in grads if g is not None and g.requires_grad)
                if isinstance(total, torch.Tensor):
                    torch.autograd.grad(total, _diff_inputs(args), allow_unused=True)
    return rec


@pytest.mark.parametrize("info", [pytest.param(i, id=i.name) for i in OPS])
def test_custom_path_never_dispatches_the_builtin(info):
    """Recording every aten op of forward, backward and double backward, for every sample: the
    reimplemented built-in never appears."""
    for s in info.samples():
        args, kwargs = sample(info, s.name, dtype=torch.float32, device="cpu")
        used = _record(info.op, args, kwargs, create_graph=info.supports_gradgrad).ops
        assert not used & set(info.forbidden_aten), f"sample {s.name} dispatched {used & set(info.forbidden_aten)}"


@pytest.mark.parametrize("info", [pytest.param(i, id=i.name) for i in OPS if i.recorder_sees_builtin])
def test_the_recorder_sees_the_builtin(info):
    """Control for the test above: the recorder does catch the forbidden ops on the built-in path.

    (Ops whose built-in decomposes before dispatch — F.linear into addmm — are guarded by the
    monkeypatch test below instead.)
    """
    args, kwargs = sample(info, info.samples()[0].name, dtype=torch.float32, device="cpu")
    # torch.heaviside has no backward at all, so only its forward is recorded.
    assert _record(info.builtin, args, kwargs, backward=info.differentiable).ops & set(info.forbidden_aten)


def test_linear_never_calls_torch_linear(monkeypatch):
    """refnets.functional.linear computes its GEMMs itself, never through F.linear / torch.nn.functional."""

    def forbidden(*args, **kwargs):
        raise AssertionError("torch.nn.functional.linear was called")

    monkeypatch.setattr(torch.nn.functional, "linear", forbidden)
    monkeypatch.setattr(torch._C._nn, "linear", forbidden)
    info = OPS_BY_NAME["linear"]
    for s in info.samples():
        args, kwargs = sample(info, s.name, dtype=torch.float32, device="cpu")
        out = info.op(*args, **kwargs)
        _grads(out, _diff_inputs(args), torch.ones_like(out))


def _record_backward(fn, args, kwargs) -> _RecordAten:
    out = fn(*args, **kwargs)
    with _RecordAten() as rec:
        _grads(out, _diff_inputs(args), torch.ones_like(out))
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
    counted = GEMM_OPS | {"aten.add_", "aten.scatter_add_"}
    only_w = [c for c in _record_backward(info.op, (x, w, b), kwargs).calls if c in counted]
    x.requires_grad_(True)
    all_three = [c for c in _record_backward(info.op, (x, w, b), kwargs).calls if c in counted]
    assert len(only_w) < len(all_three)
    if name == "conv2d":  # col2im (k_h·k_w in-place adds, or one scatter_add_), absent when ∂C/∂x is not needed
        col2im_calls = lambda calls: calls.count("aten.add_") + calls.count("aten.scatter_add_")  # noqa: E731
        assert col2im_calls(only_w) == 0 < col2im_calls(all_three)


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """a and b hold the same bits, ±inf and −0 included, and NaN in the same places (a NaN's payload is not specified)."""
    nan = a.isnan()
    as_int = {8: torch.int64, 4: torch.int32, 2: torch.int16}[a.dtype.itemsize]
    return torch.equal(nan, b.isnan()) and torch.equal(a.masked_fill(nan, 0).view(as_int), b.masked_fill(nan, 0).view(as_int))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize(
    "shape, kernel, stride, dilation",
    [
        ((2, 3, 9, 9), (3, 3), (1, 1), (1, 1)),  # W_out 7: overlapping patches
        ((2, 2, 12, 11), (3, 2), (2, 1), (1, 2)),  # strided, dilated, not square
        ((3, 1, 20, 40), (5, 5), (1, 1), (1, 1)),  # W_out 36: wide, where col2im adds
        ((2, 4, 8, 8), (2, 2), (2, 2), (1, 1)),  # pooling's windows: no overlap
        ((0, 2, 6, 6), (3, 3), (1, 1), (1, 1)),  # empty batch
    ],
)
def test_col2im_scatter_and_strided_adds_agree(shape, kernel, stride, dilation, dtype):
    """col2im's CPU ways (one scatter_add_ for narrow outputs; k_h·k_w strided adds elsewhere)
    sum each pixel's entries in the same order: in float32 and float64 the same bits, ±inf, NaN and −0
    included. CUDA's way (a gather and a sum) is held to the same values up to rounding, here on the CPU
    and on the GPU by test_col2im_on_cuda_gathers. In float16/bfloat16 they differ (the scatter rounds less: measured 2–3.5× smaller mean
    error); both are held to F.fold's values in float64 at low-precision tolerance. The dispatcher picks
    the scatter below SCATTER_BELOW_WIDTH and the adds from there on."""
    from refnets.functional import conv

    n, c, h, w = shape
    torch.manual_seed(0)
    positions = conv.conv_output_size(h, kernel[0], stride[0], 0, dilation[0]) * conv.conv_output_size(w, kernel[1], stride[1], 0, dilation[1])
    cols = torch.randn(n, c * kernel[0] * kernel[1], positions, dtype=torch.float64).to(dtype)
    if n:
        cols.view(-1)[:5] = torch.tensor([float("inf"), float("-inf"), float("nan"), -0.0, 1e4])
    args = (cols, (h, w), kernel, stride, dilation)
    adds, scatter = conv._col2im_adds(*args), conv._col2im_scatter(*args)
    if dtype in (torch.float32, torch.float64):
        assert _same_bits(adds, scatter)
    finite = cols.nan_to_num(0.0, 0.0, 0.0)
    fold = F.fold(finite.double().reshape(n, -1, positions), (h, w), kernel, dilation=dilation, stride=stride) if n else finite.double().new_zeros(shape)
    # up to 25 roundings of partial sums of ~|5|: bfloat16 keeps 8 bits (eps 2⁻⁸), float16 11 (2⁻¹¹)
    tol = {torch.bfloat16: dict(rtol=3e-2, atol=0.2), torch.float16: dict(rtol=1e-2, atol=3e-2)}.get(dtype, F32)
    for way in (conv._col2im_adds, conv._col2im_scatter, conv._col2im_gather):
        torch.testing.assert_close(way(finite, *args[1:]).double(), fold, **tol)
    # the gather (CUDA's way) sums in its reduction's order: the same values up to rounding, the same
    # special values where they land, and the same bits from run to run
    gather = conv._col2im_gather(*args)
    assert torch.equal(gather.isnan(), adds.isnan()) and torch.equal(gather.isinf(), adds.isinf())
    torch.testing.assert_close(gather.nan_to_num(0.0, 0.0, 0.0).double(), adds.nan_to_num(0.0, 0.0, 0.0).double(), **tol)
    assert _same_bits(gather, conv._col2im_gather(*args))
    with _RecordAten() as rec:
        conv._col2im(*args)
    narrow = conv.conv_output_size(w, kernel[1], stride[1], 0, dilation[1]) < conv.SCATTER_BELOW_WIDTH
    assert ("aten.scatter_add_" in rec.ops) == narrow and ("aten.add_" in rec.ops) == (not narrow and n > 0)
    assert "aten.index_select" not in rec.ops  # the gather is CUDA's way only: on the CPU it took 1.57 ms where the adds took 0.68


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine (torch.cuda.is_available() is False)")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("shape, kernel, stride, dilation", [((64, 6, 14, 14), (5, 5), (1, 1), (1, 1)), ((2, 2, 12, 11), (3, 2), (2, 1), (1, 2)), ((0, 2, 6, 6), (3, 3), (1, 1), (1, 1))])
def test_col2im_on_cuda_gathers(shape, kernel, stride, dilation, dtype):
    """On CUDA col2im is one gather and one sum (no k_h·k_w launches, no atomics): the same bits on every
    run, and the CPU's values up to rounding, special values where they land."""
    from refnets.functional import conv

    n, c, h, w = shape
    torch.manual_seed(0)
    positions = conv.conv_output_size(h, kernel[0], stride[0], 0, dilation[0]) * conv.conv_output_size(w, kernel[1], stride[1], 0, dilation[1])
    cols = torch.randn(n, c * kernel[0] * kernel[1], positions, dtype=torch.float64).to(dtype)
    if n:
        cols.view(-1)[:4] = torch.tensor([float("inf"), float("nan"), -0.0, 1e3])
    size = (h, w)
    with _RecordAten() as rec:
        gpu = conv._col2im(cols.cuda(), size, kernel, stride, dilation)
    assert "aten.index_select" in rec.ops and "aten.add_" not in rec.ops and "aten.scatter_add_" not in rec.ops
    assert _same_bits(gpu, conv._col2im(cols.cuda(), size, kernel, stride, dilation))
    cpu = conv._col2im_adds(cols.double(), size, kernel, stride, dilation)
    assert torch.equal(gpu.isnan().cpu(), cpu.isnan()) and torch.equal(gpu.isinf().cpu(), cpu.isinf())
    tol = {torch.float16: dict(rtol=1e-2, atol=3e-2)}.get(dtype, F32)
    torch.testing.assert_close(gpu.cpu().double().nan_to_num(0.0, 0.0, 0.0), cpu.nan_to_num(0.0, 0.0, 0.0), **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sigmoid_is_stable_for_large_inputs(dtype, device):
    """σ never overflows: no NaN or inf for |z| up to 1e4, saturating to exactly 0 and 1, and the
    gradient there is 0 (not NaN); values equal torch.sigmoid's."""
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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sigmoid_backward_is_the_twins_bit_for_bit(dtype):
    """δ = (grad_output ⊙ (1 − a)) ⊙ a, multiplied in the order of PyTorch's CPU kernel, equals
    aten's sigmoid_backward exactly, on ordinary values and on the special ones (0 · inf = NaN where
    a saturates, NaN passed on). The control: the other grouping, (g ⊙ a) ⊙ (1 − a), is not equal."""
    torch.manual_seed(0)
    # z = −inf, +inf, 0, NaN, −69, 16: a = 0, 1, ½, NaN, ~1e−30, ~1 − 1e−7
    special = torch.tensor([float("-inf"), float("inf"), 0.0, float("nan"), -69.0, 16.0], dtype=dtype)
    z = torch.cat([torch.randn(20_000, dtype=dtype) * 4, special.repeat_interleave(5)]).requires_grad_(True)
    g = torch.cat([torch.randn(20_000, dtype=dtype), torch.tensor([1.0, -1.0, float("inf"), float("-inf"), float("nan")], dtype=dtype).repeat(6)])
    a = RF.sigmoid(z)
    (got,) = torch.autograd.grad(a, z, g)
    a = a.detach()
    expected = torch.ops.aten.sigmoid_backward(g, a)
    torch.testing.assert_close(got, expected, rtol=0, atol=0, equal_nan=True)
    other = (g * a) * (1 - a)
    assert not torch.equal(other[:20_000], expected[:20_000])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_cross_entropy_in_place_cpu_path_gives_the_bits_of_the_written_out_formula(dtype):
    """The CPU forward and backward with class indices work in place (log softmax in z − m, p − onehot(t) by one
    indexed add of −1): the same bits as the formulas written out, log p = (z − m) − log Σ e^{z − m} and
    δ = (g/n)(p − onehot(t)), ±inf and NaN logits included."""
    from refnets.functional.losses import _onehot

    torch.manual_seed(0)
    z = torch.randn(64, 10, dtype=torch.float64).mul_(30).to(dtype)
    z[0, 3], z[1, :], z[2, 4], z[5, 2], z[6, :2] = float("inf"), float("-inf"), float("nan"), float("-inf"), float("inf")
    target = torch.randint(0, 10, (64,))
    z.requires_grad_(True)
    loss = RF.cross_entropy(z, target)
    (got,) = torch.autograd.grad(loss, z, torch.tensor(0.7, dtype=dtype))
    z32 = z.detach().to(torch.promote_types(dtype, torch.float32))
    shifted = z32 - z32.amax(dim=1, keepdim=True)  # the formula out of place, as the op wrote it before
    logp = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    assert _same_bits(loss.detach(), (-logp.gather(1, target.unsqueeze(1)).mean()).to(dtype))
    g = torch.tensor(0.7, dtype=dtype).to(z32.dtype) / 64
    assert _same_bits(got, (g * (torch.exp(logp) - _onehot(target, logp))).to(dtype))


def test_cross_entropy_gradient_wrt_probability_targets():
    """With class-probability targets that require grad, ∂C/∂y = −log softmax(z)/n matches finite differences."""
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.softmax(torch.randn(4, 3, dtype=torch.float64), 1).requires_grad_(True)
    assert torch.autograd.gradcheck(RF.cross_entropy, (z, y))


@pytest.mark.parametrize("name", ["conv2d", "avg_pool2d"])
def test_cuda_col2im_gather_is_differentiable_to_second_order(name, monkeypatch):
    """CUDA's col2im (one gather and one sum) under gradcheck and gradgradcheck, here on the CPU with the gather
    forced, so CI without a GPU holds it too (on a GPU the op tests take it by themselves)."""
    from refnets.functional import conv

    forced = lambda cols, size, kernel, stride, dilation: (  # noqa: E731
        conv._col2im_adds if conv.tracing_or_transformed() else conv._col2im_gather)(cols, size, kernel, stride, dilation)
    monkeypatch.setattr(conv, "_col2im", forced)
    torch.manual_seed(0)
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64, requires_grad=True)
    if name == "conv2d":
        w = torch.randn(4, 3, 3, 2, dtype=torch.float64, requires_grad=True)
        b = torch.randn(4, dtype=torch.float64, requires_grad=True)
        fn, inputs = (lambda x, w, b: RF.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2))), (x, w, b)
    else:
        fn, inputs = (lambda x: RF.avg_pool2d(x, 3, stride=2, padding=1)), (x,)
    with _RecordAten() as rec:
        fn(*inputs).sum().backward()
    assert "aten.index_select" in rec.ops  # the gather did run
    assert torch.autograd.gradcheck(fn, inputs) and torch.autograd.gradgradcheck(fn, inputs)
