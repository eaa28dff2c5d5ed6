r"""The base of refnets' autograd Functions: PyTorch's recommended form, with a fast eager call.

Every op is written in the form PyTorch recommends since 2.0 — ``forward(*inputs)`` without a ctx,
``setup_context(ctx, inputs, output)`` and ``backward(ctx, *grads)`` — because only that form works
under torch.func transforms (vmap, grad, jacrev): with ``generate_vmap_rule = True`` functorch
batches the Function through its own forward and backward.

That form has a price on every call. ``Function.apply`` then binds the call's arguments to the
forward's signature with ``inspect.signature`` (to give ``setup_context`` the defaults) and routes
the call through functorch's dispatch (pytorch/pytorch#189573, "high overhead for
autograd.Function"). Measured here (torch 2.14, CPU): 20 µs for a forward of one multiply in that
form against 6 µs in the older form whose ``forward(ctx, *inputs)`` does the ctx work itself, and
36 µs against 63 µs for forward + backward. A LeNet-5 step calls a dozen Functions, an MLP step of
batch 10 five, each a few µs of arithmetic: there that overhead is most of the time.

So each Function here also gets an eager twin, ``_eager``: a subclass with the same forward and
backward whose forward calls ``setup_context`` itself. :meth:`Function.call` uses it whenever no
functorch transform is active and torch.compile is not tracing, and the Function itself otherwise.
The two differ only in how ``apply`` reaches the same code: values, gradients and double backward
are identical, and the tests hold both paths (eager, vmap, compile) to the twins.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch.autograd.function import _SingleLevelFunction
from torch.utils._python_dispatch import _get_current_dispatch_mode


def tracing_or_transformed() -> bool:
    """torch.compile is tracing, or a functorch transform (vmap, grad, jacrev) is active: the code paths that
    need PyTorch's recommended form and ops every transform knows."""
    return torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active()


def shape_cache(make: Callable[..., object]) -> Callable[..., object]:
    """``functools.lru_cache`` for an op's per-shape constant tensors (index tables), made on the CPU by ``make``.

    Cached tensors outlive the call that made them, so they are made as normal tensors whatever the caller's
    mode (an inference tensor could not be saved for a backward later), and the cache is bypassed — the
    tables made afresh — while torch.compile traces (Dynamo does not trace a cache) and under a Python
    dispatch mode such as FakeTensorMode, whose tensors must not reach a later eager call.
    ``make`` must create its tensors with an explicit device (``torch.arange(n, device="cpu")``): under
    ``with torch.device(...)`` the default device is not the CPU.
    """
    cached = functools.lru_cache(maxsize=64)(make)

    @functools.wraps(make)
    def get(*args):
        if torch.compiler.is_compiling() or _get_current_dispatch_mode() is not None:
            return make(*args)
        with torch.inference_mode(False):
            return cached(*args)

    get.cache_clear = cached.cache_clear
    return get


class Function(torch.autograd.Function):
    """A refnets op: forward(*inputs) / setup_context / backward; call it with :meth:`call`."""

    generate_vmap_rule = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_eager_of" in cls.__dict__:  # the twin being made below
            return
        forward, setup_context = cls.forward, cls.setup_context

        def forward_with_ctx(ctx, *inputs):
            output = forward(*inputs)
            setup_context(ctx, inputs, output)
            return output

        namespace = {
            "forward": staticmethod(forward_with_ctx),
            # the base class's: a setup_context "not defined" is what selects the faster path in apply
            "setup_context": _SingleLevelFunction.setup_context,
            "__module__": cls.__module__,
            "__qualname__": f"{cls.__qualname__}._eager",
            "_eager_of": cls,
        }
        cls._eager = type(cls)(cls.__name__, (cls,), namespace)

    @classmethod
    def call(cls, *inputs):
        """``cls.apply(*inputs)``, through the eager twin when no transform or compiler needs the recommended form."""
        if tracing_or_transformed():
            return cls.apply(*inputs)
        return cls._eager.apply(*inputs)
