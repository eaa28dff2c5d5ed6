"""refnets.nn layers: torch.nn's constructor, initialisation and state_dict; refnets' ops inside."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import refnets.nn as rnn

LAYERS = [
    ("Linear", (5, 3), {}, (4, 5)),
    ("Linear", (5, 3), dict(bias=False), (2, 7, 5)),
    ("Conv2d", (3, 4, 5), {}, (2, 3, 9, 9)),
    ("Conv2d", (4, 6, (3, 2)), dict(stride=2, padding=1, groups=2, dilation=(1, 2)), (2, 4, 9, 8)),
    ("Conv2d", (2, 2, 3), dict(padding=1, padding_mode="reflect"), (1, 2, 6, 6)),
    ("Conv2d", (2, 2, 3), dict(padding="same", bias=False), (1, 2, 6, 6)),
    ("Sigmoid", (), {}, (3, 4)),
    ("Tanh", (), {}, (3, 4)),
    ("ReLU", (), {}, (3, 4)),
    ("MaxPool2d", (2,), {}, (2, 3, 6, 6)),
    ("MaxPool2d", (3, 2, 1, 1, False, False), {}, (2, 3, 7, 7)),  # torch.nn's every argument, at its default, by position
    ("AvgPool2d", (3,), dict(stride=2, padding=1), (2, 3, 7, 7)),
    ("AvgPool2d", (2,), dict(ceil_mode=False, count_include_pad=True, divisor_override=None), (2, 3, 6, 6)),
    ("ReLU", (), dict(inplace=False), (3, 4)),
    ("Flatten", (), {}, (2, 3, 4, 4)),
]


@pytest.mark.parametrize("name, args, kwargs, shape", LAYERS, ids=[f"{l[0]}-{i}" for i, l in enumerate(LAYERS)])
def test_layer_matches_torch_nn(name, args, kwargs, shape):
    """Same seed → identical parameters; same input → same output and parameter gradients."""
    torch.manual_seed(0)
    ours = getattr(rnn, name)(*args, **kwargs)
    torch.manual_seed(0)
    theirs = getattr(nn, name)(*args, **kwargs)
    for (n1, p1), (n2, p2) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        assert n1 == n2 and torch.equal(p1, p2), f"{n1} differs at initialisation"
    x = torch.randn(*shape)
    out, ref = ours(x), theirs(x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)  # float32, see test_functional.F32
    if list(ours.parameters()):
        g = torch.randn_like(out)
        out.backward(g)
        ref.backward(g)
        for p1, p2 in zip(ours.parameters(), theirs.parameters()):
            torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-5, atol=1e-5)


def test_state_dicts_are_interchangeable():
    """A torch.nn checkpoint loads into the refnets layer, strictly, and vice versa."""
    theirs = nn.Conv2d(3, 4, 5)
    ours = rnn.Conv2d(3, 4, 5)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(1, 3, 8, 8)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_layers_use_the_hand_written_ops():
    """A refnets layer's output is made by a refnets Function (not the torch.nn path it inherits from)."""
    from refnets.functional.conv import Conv2d as ConvFunction
    from refnets.functional.linear import Linear as LinearFunction

    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    y = rnn.Conv2d(3, 2, 3)(x)
    assert issubclass(y.grad_fn._forward_cls, ConvFunction)  # the Function or its eager twin (functional/_function.py)
    z = rnn.Linear(4, 2)(torch.randn(3, 4))
    node = z.grad_fn
    while not hasattr(node, "_forward_cls"):  # step through the reshape that restores leading dims
        node = node.next_functions[0][0]
    assert issubclass(node._forward_cls, LinearFunction)


def test_step_layer_and_its_builtin_twin_agree():
    x = torch.tensor([-1.0, 0.0, 2.0])
    assert torch.equal(rnn.Step()(x), torch.tensor([0.0, 0.0, 1.0]))
    assert torch.equal(rnn.op_set("builtin").activation("step")(x), rnn.Step()(x))


def test_the_two_op_sets_offer_the_same_layers_activations_and_costs():
    """One switch: everything a model or the trainer takes from op_set exists on both sides."""
    custom, builtin = rnn.op_set("custom"), rnn.op_set("builtin")
    assert custom.activations.keys() == builtin.activations.keys()
    assert custom.losses.keys() == builtin.losses.keys()
    for layer in ("Linear", "Conv2d", "MaxPool2d", "AvgPool2d"):
        assert issubclass(getattr(custom, layer), getattr(builtin, layer)) or getattr(custom, layer).__module__.startswith("refnets")
    with pytest.raises(ValueError, match=r"ops must be one of \('custom', 'builtin'\), got 'fast'"):
        rnn.op_set("fast")
    with pytest.raises(ValueError, match=r"loss must be one of .*got 'hinge'"):
        custom.loss("hinge")
    with pytest.raises(ValueError, match=r"activation must be one of .*got 'gelu'"):
        builtin.activation("gelu")


def test_refnets_nn_layers_is_the_submodule():
    """The switch is named op_set, so ``refnets.nn.layers`` stays the module of layer classes."""
    import refnets.nn.layers

    assert refnets.nn.layers.__name__ == "refnets.nn.layers" and hasattr(refnets.nn.layers, "Conv2d")


@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "circular"])
def test_conv2d_with_a_padding_mode_checks_its_input_before_padding(padding_mode):
    """padding_mode='reflect' & co pad before the convolution; a 5-D input failed there with F.pad's
    NotImplementedError ('Padding size 4 is not supported for 5D input tensor'), a list with pad()'s TypeError."""
    conv = rnn.Conv2d(1, 2, 3, padding=1, padding_mode=padding_mode)
    with pytest.raises(ValueError, match=r"input must be 3-D or 4-D \(N, C_in, H, W\) or unbatched \(C_in, H, W\), got shape \(1, 1, 1, 6, 6\)"):
        conv(torch.randn(1, 1, 1, 6, 6))
    with pytest.raises(TypeError, match=r"input must be a torch.Tensor, got list"):
        conv([[0.0]])
    with pytest.raises(TypeError, match=r"input must be a floating-point tensor, got dtype torch.int64"):
        conv(torch.ones(1, 1, 6, 6, dtype=torch.long))


@pytest.mark.parametrize("name, kwargs, message", [
    ("MaxPool2d", dict(ceil_mode=True), r"MaxPool2d\(ceil_mode=True\) is not available in refnets: it rounds H_out and W_out down"),
    ("MaxPool2d", dict(dilation=2), r"MaxPool2d\(dilation=2\) is not available in refnets: its windows are of adjacent pixels"),
    ("MaxPool2d", dict(return_indices=True), r"MaxPool2d\(return_indices=True\) is not available .* pooled values alone"),
    ("AvgPool2d", dict(ceil_mode=True), r"AvgPool2d\(ceil_mode=True\) is not available"),
    ("AvgPool2d", dict(count_include_pad=False), r"AvgPool2d\(count_include_pad=False\) is not available .* zero padding"),
    ("AvgPool2d", dict(divisor_override=3), r"AvgPool2d\(divisor_override=3\) is not available .* k_h·k_w"),
    ("ReLU", dict(inplace=True), r"ReLU\(inplace=True\) is not available .* use torch.nn.ReLU \(ops=builtin\)"),
])
def test_torch_nn_options_the_ops_do_not_compute_are_refused_by_name(name, kwargs, message):
    """torch.nn's constructor arguments are taken (code written for torch.nn runs unchanged at their defaults);
    a value the hand-written op does not compute is refused in one line naming it, not a TypeError for an
    unknown keyword nor a silently different result."""
    args = () if name == "ReLU" else (2,)
    getattr(nn, name)(*args, **kwargs)  # torch.nn takes it
    with pytest.raises(ValueError, match=message):
        getattr(rnn, name)(*args, **kwargs)


@pytest.mark.parametrize("name, args", [("MaxPool2d", (2,)), ("AvgPool2d", (3, 2, 1)), ("ReLU", ())])
def test_repr_is_torch_nns(name, args):
    assert repr(getattr(rnn, name)(*args)) == repr(getattr(nn, name)(*args))
