r"""Cost functions C(a, y), averaged over the n samples of a mini-batch.

Each accepts its target either as integer class indices or as a float tensor shaped like the
output. Each backward receives ``grad_output`` = ∂L/∂C (1 when C is the loss itself) and returns
∂C/∂(its input) scaled by it: for the cross-entropy of logits that is δ^L = ∂C/∂z^L directly; for
the quadratic and binary cross-entropy costs of sigmoid outputs it is ∇ₐC, which the sigmoid's
backward turns into δ^L = ∇ₐC ⊙ σ'(z^L) (Nielsen's BP1).

Under autocast the losses run in float32, as autocast runs PyTorch's; float16/bfloat16 inputs are
computed in float32 and the result rounded once (see ``_dtypes``).
"""

from __future__ import annotations

import torch

from ._dtypes import autocast_dtype, autocast_off, opmath
from ._function import Function
from ._validation import check_floating, check_rank, check_tensor, class_targets, concrete

__all__ = ["cross_entropy", "quadratic_loss", "binary_cross_entropy", "CrossEntropy", "QuadraticLoss", "BinaryCrossEntropy"]


def _log_softmax(z: torch.Tensor) -> torch.Tensor:
    """Row-wise log softmax(z) = (z − m) − log Σ_j e^{z_j − m}, m = max_j z_j.

    Subtracting m keeps every exponent ≤ 0, so nothing overflows; taking (z − m) first keeps the
    digits of large logits (the form lse(z) − z_y subtracts two numbers near 10⁴ and loses them).
    m is detached: softmax is shift-invariant, so m carries no gradient.

    The normaliser is subtracted from (z − m) in place: one fresh (n, C) tensor less, the same bits, and
    differentiable (exp saves its output, not z − m), so the double backward uses this function too.
    """
    shifted = z - z.amax(dim=1, keepdim=True).detach()
    return shifted.sub_(torch.log(torch.exp(shifted).sum(dim=1, keepdim=True)))


def _onehot(target: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Class indices (n,) → one-hot rows shaped and typed like ``like`` (n, C), out of place (vmap-able)."""
    return torch.zeros_like(like).scatter(1, target.unsqueeze(1), 1.0)


class CrossEntropy(Function):
    r"""C = −(1/n) Σ_x Σ_j y_xj log softmax(z_x)_j, the cross-entropy of softmax outputs.

    With class indices t (n,) it is −(1/n) Σ_x log softmax(z_x)_{t_x}: the target entry is taken
    by index, never as 0·z products, so a −∞ logit elsewhere in the row leaves the loss finite
    (as in PyTorch). With probabilities y (n, C) it is the full sum (0·(−∞) is NaN there, as in PyTorch).

    Forward: log p = (z − m) − log Σ_j e^{z_j − m} (see ``_log_softmax``), shapes z: (n, C).

    Backward, with p = softmax(z) (n, C) and g = grad_output:
        δ^L = ∂C/∂z = g (p − onehot(t)) / n                 class indices
                    = g (p Σ_j y_j − y) / n                 probabilities
        ∂C/∂y       = −g log p / n                          probabilities that require a gradient

    Saved: z (for double backward and autograd's in-place check) and log p, an extra output, so
    the backward needs no second exp/log. When the backward itself is differentiated
    (``create_graph=True``), p is recomputed from z with differentiable ops instead, so second
    derivatives see p's dependence on z.
    """

    @staticmethod
    def forward(z: torch.Tensor, target: torch.Tensor, by_index: bool):
        logp = _log_softmax(opmath(z))
        if by_index:
            loss = logp.gather(1, target.unsqueeze(1)).mean().neg_()
        else:
            loss = -(opmath(target) * logp).sum(1).mean()
        return loss.to(z.dtype), logp

    @staticmethod
    def setup_context(ctx, inputs, output):
        z, target, by_index = inputs
        _, logp = output
        ctx.mark_non_differentiable(logp)
        ctx.set_materialize_grads(False)  # no zero-filled ∂C/∂(log p) for the backward to ignore
        ctx.save_for_backward(z, target, logp)
        ctx.by_index = by_index

    @staticmethod
    def backward(ctx, grad_output, _grad_logp):
        if grad_output is None:  # no gradient reached the output (grads are not materialised: see setup_context)
            return None, None, None
        z, target, logp = ctx.saved_tensors
        if torch.is_grad_enabled():  # double backward: rebuild log p as a function of z
            logp = _log_softmax(opmath(z))
        n = z.shape[0]
        g = opmath(grad_output) / n
        grad_z = grad_target = None
        if ctx.needs_input_grad[0]:
            p = torch.exp(logp)
            if ctx.by_index and p.device.type == "cpu" and not torch.is_grad_enabled():
                # p − onehot(t) as p with 1 subtracted at each row's target, in place, then × g in place: 3 ops
                # and 1 fresh tensor where the line below takes 5 and 4, the same bits (x + (−1) is x − 1). Measured
                # (64 × 10, one thread, forward + backward, interleaved medians, with the forward's in-place
                # log-softmax above): 174 → 159 µs, F.cross_entropy's 67. CPU only, whose indexed add is a plain loop:
                # CUDA's scatter kernels accumulate by atomics, so there the out-of-place form below is kept.
                delta = p.scatter_(1, target.unsqueeze(1), -1.0, reduce="add").mul_(g)
            elif ctx.by_index:
                delta = g * (p - _onehot(target, p))
            else:
                y = opmath(target)
                delta = g * (p * y.sum(1, keepdim=True) - y)
            grad_z = delta.to(z.dtype)
        if ctx.needs_input_grad[1]:
            grad_target = (-g * logp).to(target.dtype)
        return grad_z, grad_target, None


class QuadraticLoss(Function):
    r"""C = 1/(2n) Σ_x ‖y(x) − a(x)‖²  (Nielsen's eq. 6, the mean squared error cost).

    Backward (shapes a, y: (n, *)), g = grad_output:
        ∇ₐC = g (a − y) / n,   ∂C/∂y = g (y − a) / n  when asked for.
    Saved: a and y (for autograd's in-place check and double backward), and a − y, returned as a second,
    non-differentiable output, so the backward needs no second subtraction: its g(a − y)/n is then a multiply
    and an in-place divide, the same bits. Measured (64 × 10 with class indices, forward + backward, one
    thread, interleaved medians, on a busy machine): 212 → 190 µs, the twin's 126. When the backward is itself
    differentiated (``create_graph=True``) it recomputes a − y with differentiable ops, so double backward works.
    """

    @staticmethod
    def forward(a: torch.Tensor, y: torch.Tensor):
        diff = opmath(a) - opmath(y)
        return (diff * diff).sum().div_(2 * a.shape[0]).to(a.dtype), diff

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, diff = output
        ctx.mark_non_differentiable(diff)
        ctx.set_materialize_grads(False)  # no zero-filled ∂C/∂(a − y) for the backward to ignore
        ctx.save_for_backward(*inputs, diff)

    @staticmethod
    def backward(ctx, grad_output, _grad_diff):
        if grad_output is None:  # no gradient reached the output (grads are not materialised: see setup_context)
            return None, None
        a, y, diff = ctx.saved_tensors
        if torch.is_grad_enabled():  # double backward: a − y as a function of a and y
            diff = opmath(a) - opmath(y)
        grad = (opmath(grad_output) * diff).div_(a.shape[0])
        return (grad.to(a.dtype) if ctx.needs_input_grad[0] else None), (-grad.to(y.dtype) if ctx.needs_input_grad[1] else None)


# PyTorch clamps log a and log(1 − a) at −100 (so a = 0 or 1 gives a finite cost) and the
# denominator a(1 − a) of the gradient at 1e−12 — a float32 constant in its kernel, so 1e−12 rounded
# to float32 (9.9999999600e−13); the twin does the same, so do we, to the last bit.
_LOG_FLOOR = -100.0
_GRAD_EPS = float(torch.tensor(1e-12, dtype=torch.float32))


class BinaryCrossEntropy(Function):
    r"""C = −(1/n) Σ_x Σ_j [ y_j ln a_j + (1 − y_j) ln(1 − a_j) ]  (Nielsen, ch. 3, eq. 63).

    For sigmoid outputs a = σ(z) this cost cures the quadratic cost's learning slowdown: with
    BP1, δ^L = ∇ₐC ⊙ σ'(z^L) = (a − y)/n — the σ'(z) factor cancels.

    Backward (shapes a, y: (n, *)), g = grad_output:
        ∇ₐC   = g (a − y) / (a (1 − a)) / n      (denominator clamped at 1e−12, as PyTorch's)
        ∂C/∂y = g (ln(1 − a) − ln a) / n         (logs clamped at −100)
    Saved: a and y; differentiable ops on them, so double backward works.
    """

    @staticmethod
    def forward(a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        a_, y_ = opmath(a), opmath(y)
        log_a = torch.log(a_).clamp_min(_LOG_FLOOR)
        log_1ma = torch.log1p(-a_).clamp_min(_LOG_FLOOR)
        return -(y_ * log_a + (1 - y_) * log_1ma).sum().div(a.shape[0]).to(a.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad_output):
        a, y = ctx.saved_tensors
        a_, y_ = opmath(a), opmath(y)
        g = opmath(grad_output) / a.shape[0]
        grad_a = grad_y = None
        if ctx.needs_input_grad[0]:
            grad_a = (g * (a_ - y_) / (a_ * (1 - a_)).clamp_min(_GRAD_EPS)).to(a.dtype)
        if ctx.needs_input_grad[1]:
            grad_y = (g * (torch.log1p(-a_).clamp_min(_LOG_FLOOR) - torch.log(a_).clamp_min(_LOG_FLOOR))).to(y.dtype)
        return grad_a, grad_y


def _index_targets(name: str, target: torch.Tensor, logits: torch.Tensor) -> None:
    """Class indices: int64 (or uint8), as PyTorch's losses take them, shaped (n,), in [0, C)."""
    if target.dtype not in (torch.int64, torch.uint8):
        raise TypeError(
            f"{name} must hold class indices as int64 (torch.long) or uint8, or class probabilities as floats, "
            f"got dtype {target.dtype} (use target.long())"
        )
    class_targets(name, target, logits.shape[-1], tuple(logits.shape[:-1]))


def _float_targets(name: str, target: torch.Tensor, output: torch.Tensor) -> None:
    if target.shape != output.shape:
        raise ValueError(
            f"{name} holds per-class values, so it must have the output's shape {tuple(output.shape)}, got {tuple(target.shape)}"
        )
    if target.dtype != output.dtype:
        raise TypeError(f"{name} has dtype {target.dtype} but input has dtype {output.dtype}; they must match")


def _check_target(name: str, target: object, output: torch.Tensor) -> torch.Tensor:
    """Common checks: a tensor on the output's device, indices or floats; returns it."""
    check_tensor(name, target)
    if target.device != output.device:
        raise ValueError(f"{name} is on {target.device} but input is on {output.device}; they must be on one device")
    if target.dtype == torch.bool or target.is_complex():
        raise TypeError(f"{name} must be integer class indices or a float tensor, got dtype {target.dtype}")
    return target


def _target_rows(name: str, target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """For the costs of outputs a (n, C): float targets as given, class indices as one-hot rows."""
    _check_target(name, target, output)
    if target.is_floating_point():
        _float_targets(name, target, output)
        return target
    if output.dim() != 2:
        raise ValueError(f"with class-index targets, input must be (N, C), got shape {tuple(output.shape)}")
    if _kernel_checks_indices(target, output):
        try:
            return _onehot(target.long(), output)
        except RuntimeError:
            pass  # an index out of range: the check below says which (outside the except: no chained torch error)
    _index_targets(name, target, output)
    return _onehot(target.long(), output)


def _kernel_checks_indices(target: torch.Tensor, output: torch.Tensor) -> bool:
    """Class indices that the CPU kernel using them (scatter, gather) checks itself: there an index out of range
    or negative raises a RuntimeError, so their range is read only when that happens, to say what was wrong —
    one reduction and its wait less a call (3.6 µs; quadratic_loss 101 → 91 µs forward + backward at 64 × 10).
    Their dtype and shape are checked first (a short index would silently one-hot only the first rows). Not on
    CUDA, whose kernels fail by a device-side assert, nor where the values cannot be read (compile, vmap)."""
    return (
        output.device.type == "cpu"
        and target.dtype in (torch.int64, torch.uint8)
        and target.shape == output.shape[:-1]
        and output.shape[-1] > 0  # no classes: every index is out of range, and the forward fails before its gather
        and concrete(target)
    )


def _to_float32_under_autocast(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Autocast runs PyTorch's losses in float32; ours too."""
    if autocast_dtype(tensors[0], lower=False) is None:
        return tensors
    return tuple(t.float() if isinstance(t, torch.Tensor) and t.is_floating_point() else t for t in tensors)


def _outputs_and_target_rows(input: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The checks and casts the costs of outputs a (N, *) share: a floating, at least 1-D input;
    float32 under autocast; the target as float rows shaped like the input (see ``_target_rows``)."""
    check_floating("input", input)
    if input.dim() == 0:
        raise ValueError("input must be at least 1-D (N, *), got a 0-D tensor")
    input, target = _to_float32_under_autocast(input, target)
    return input, _target_rows("target", target, input)


def cross_entropy(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Softmax cross-entropy averaged over the batch, the twin of ``torch.nn.functional.cross_entropy``
    with its defaults (``reduction='mean'``), computed by a hand-written log-softmax (see :class:`CrossEntropy`).

    Args:
        input: logits z, (N, C) or unbatched (C,).
        target: class indices (N,) / () in [0, C), int64 or uint8; or class probabilities shaped like ``input``.

    Returns:
        the scalar mean cost (NaN for N = 0, as PyTorch's mean of nothing).
    """
    check_floating("input", input)
    check_rank("input", input, (1, 2), "logits (N, C) or unbatched (C,)")
    _check_target("target", target, input)
    input, target = _to_float32_under_autocast(input, target)
    by_index = not target.is_floating_point()
    given = target, input
    checked_by_gather = by_index and _kernel_checks_indices(target, input)
    if by_index:
        if not checked_by_gather:
            _index_targets("target", target, input)
        target = target.long()
    else:
        _float_targets("target", target, input)
    if input.dim() == 1:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    with autocast_off(input):
        try:
            loss, _ = CrossEntropy.call(input, target, by_index)
            return loss
        except RuntimeError as err:
            if not checked_by_gather:
                raise
            refused = err
    # the forward's gather refused an index: say which and what was expected (outside the except: no chained torch error)
    try:
        _index_targets("target", *given)
        raise refused  # the indices were in range: another error, as it was
    finally:
        del refused  # the error's traceback holds this frame: no reference cycle keeping the inputs alive


def quadratic_loss(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""The quadratic cost C = 1/(2n) Σ_x ‖y(x) − a(x)‖², n = batch size (Nielsen's cost).

    Twin of ``torch.nn.functional.mse_loss(a, y, reduction='sum') / (2 * n)``.

    Args:
        input: outputs a, (N, *) — typically sigmoid outputs (N, C).
        target: float, shaped like ``input``; or class indices (N,) turned into one-hot rows
            (then ``input`` must be (N, C)).
    """
    input, y = _outputs_and_target_rows(input, target)
    with autocast_off(input):
        loss, _ = QuadraticLoss.call(input, y)
    return loss


def _check_unit_interval(name: str, value: torch.Tensor, what: str) -> None:
    """Values in [0, 1] (when they can be read); NaN is outside."""
    if concrete(value) and value.numel():
        lo, hi = (float(v) for v in value.detach().aminmax())
        if not (0.0 <= lo and hi <= 1.0):  # NaN fails this too
            raise ValueError(f"{name} holds {what}, so its values must lie in [0, 1], got values in [{lo}, {hi}]")


def binary_cross_entropy(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Nielsen's cross-entropy cost for sigmoid outputs, C = −(1/n) Σ_x Σ_j [y ln a + (1 − y) ln(1 − a)].

    Twin of ``torch.nn.functional.binary_cross_entropy(a, y, reduction='sum') / n`` (summed over the
    output neurons, averaged over the n samples, as in the book).

    Args:
        input: outputs a in [0, 1], (N, *) — sigmoid outputs (N, C).
        target: float in [0, 1] shaped like ``input``; or class indices (N,) turned into one-hot rows.
    """
    input, y = _outputs_and_target_rows(input, target)
    _check_unit_interval("input", input, "probabilities a (sigmoid outputs)")
    if target.is_floating_point():  # class indices became one-hot rows, in range by construction
        _check_unit_interval("target", y, "probabilities y")  # F.binary_cross_entropy refuses them too
    with autocast_off(input):
        return BinaryCrossEntropy.call(input, y)
