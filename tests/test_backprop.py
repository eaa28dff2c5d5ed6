"""refnets.backprop: BP1–BP4 by hand give autograd's gradients, and Nielsen's SGD trains on them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import refnets.backprop as bp
from refnets.backprop import backprop, sgd
from refnets.models import MLP
from refnets.nn import loss_function

# float64 gradients of the same sums in a different order agree to ~1e-16 relative; 1e-10 leaves room
# for the ~10 roundings along the deepest network here and nothing else: a wrong factor anywhere
# (the control below) is off by ~1e-2.
TOLERANCE = dict(rtol=0.0, atol=1e-10)

# (sizes, activation, output, input shape per sample): depths 1 to 4, every hidden activation,
# both output layers; one case feeds images (1, 2, 3) that the MLP flattens.
NETWORKS = [
    ([5, 3], "sigmoid", "sigmoid", (5,)),
    ([6, 5, 4], "sigmoid", "sigmoid", (6,)),
    ([6, 5, 4], "tanh", "logits", (6,)),
    ([6, 5, 4], "relu", "logits", (6,)),
    ([6, 8, 7, 3], "relu", "sigmoid", (1, 2, 3)),
    ([6, 8, 7, 5, 3], "tanh", "sigmoid", (6,)),
    ([6, 8, 7, 5, 3], "sigmoid", "logits", (6,)),
]
COSTS = ["quadratic", "cross_entropy"]
OPS = ["custom", "builtin"]


def network_id(case) -> str:
    sizes, activation, output, shape = case
    return f"{'-'.join(map(str, sizes))}-{activation}-{output}" + ("-images" if len(shape) > 1 else "")


def make(sizes, activation, output, ops, seed=0) -> MLP:
    torch.manual_seed(seed)
    return MLP(sizes, activation=activation, output=output, init="normal", ops=ops).double()


def autograd_grads(model: MLP, x, y, cost: str, ops: str) -> dict[str, torch.Tensor]:
    """The reference: autograd through the model's own layers and refnets' loss on the same ops path
    (ops='custom': refnets' autograd.Functions; ops='builtin': torch.nn and torch.nn.functional)."""
    loss = loss_function(cost, ops)(model(x), y)
    names, params = zip(*model.named_parameters())
    return dict(zip(names, torch.autograd.grad(loss, params)))


def batch(shape, n_out, n=7, seed=1, float_targets=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, dtype=torch.float64, generator=g)
    if float_targets:
        return x, torch.rand(n, n_out, dtype=torch.float64, generator=g)
    return x, torch.randint(0, n_out, (n,), generator=g)


@pytest.mark.parametrize("ops", OPS)
@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("case", NETWORKS, ids=network_id)
def test_backprop_equals_autograd(case, cost, ops):
    sizes, activation, output, shape = case
    model = make(sizes, activation, output, ops)
    x, y = batch(shape, sizes[-1])
    expected = autograd_grads(model, x, y, cost, ops)
    got = backprop(model, x, y, cost)
    assert list(got) == list(expected)  # keyed and ordered like named_parameters()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], **TOLERANCE, msg=lambda m: f"{name}: {m}")
    # the cost it reports is the cost autograd differentiated
    torch.testing.assert_close(got.cost, loss_function(cost, ops)(model(x), y).detach(), **TOLERANCE)


@pytest.mark.parametrize("cost", COSTS)
def test_float_target_rows_equal_autograd(cost):
    """Targets given as rows of floats (not one-hot, not summing to 1) take the general formulas."""
    model = make([6, 5, 4], "sigmoid", "sigmoid", "custom")
    x, y = batch((6,), 4, float_targets=True)
    expected = autograd_grads(model, x, y, cost, "custom")
    got = backprop(model, x, y, cost)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], **TOLERANCE)


def test_deltas_are_dC_dz():
    """The trace's δ^l is ∂C/∂z^l, the quantity the book names δ: compared with autograd's gradient
    with respect to each Linear layer's output (the z^l of that layer), captured by forward hooks."""
    model = make([6, 8, 7, 3], "tanh", "sigmoid", "builtin")
    x, y = batch((6,), 3)
    zs = []
    hooks = [m.register_forward_hook(lambda m, i, out: zs.append(out)) for m in model.layers if isinstance(m, nn.Linear)]
    loss = loss_function("quadratic", "builtin")(model(x), y)
    for h in hooks:
        h.remove()
    expected = torch.autograd.grad(loss, zs)
    got = backprop(model, x, y, "quadratic")
    assert len(got.deltas) == len(expected) == 3
    for delta, dz in zip(got.deltas, expected):
        assert delta.shape == dz.T.shape  # δ^l is (n_l, n): one column per sample
        torch.testing.assert_close(delta, dz.T, **TOLERANCE)


def test_a_wrong_derivative_is_caught(monkeypatch):
    """The control: σ' replaced by σ (a classic slip) must make the comparison fail by far more than the tolerance."""
    wrong = bp.Activation("sigmoid", torch.sigmoid, torch.sigmoid)
    monkeypatch.setattr(bp, "_ACTIVATION_MODULES", ((bp._ACTIVATION_MODULES[0][0], wrong), *bp._ACTIVATION_MODULES[1:]))
    model = make([6, 5, 4], "sigmoid", "sigmoid", "custom")
    x, y = batch((6,), 4)
    expected = autograd_grads(model, x, y, "quadratic", "custom")
    got = backprop(model, x, y, "quadratic")
    assert max((got[k] - expected[k]).abs().max().item() for k in expected) > 1e-3


def test_no_autograd_anywhere():
    """Inputs that require grad and parameters that do: no graph is built, no .grad is written."""
    model = make([6, 5, 4], "relu", "logits", "custom")
    x, y = batch((6,), 4)
    x.requires_grad_(True)
    got = backprop(model, x, y, "cross_entropy")
    tensors = [*got.values(), *got.zs, *got.activations, *got.deltas, got.cost]
    assert all(t.grad_fn is None and not t.requires_grad for t in tensors)
    assert all(p.grad is None for p in model.parameters())


def test_float32_model_gives_float32_gradients():
    model = MLP([6, 5, 4])
    x, y = batch((6,), 4)
    got = backprop(model, x.float(), y, "cross_entropy")
    expected = autograd_grads(model, x.float(), y, "cross_entropy", "custom")
    for name in expected:
        assert got[name].dtype == torch.float32
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)  # float32 rounding


BAD_INPUTS = [
    (lambda m, x, y: backprop(nn.Linear(6, 4), x, y, "quadratic"), TypeError, "model must be a refnets.models.MLP, got Linear"),
    (lambda m, x, y: backprop(m, x, y, "hinge"), ValueError, r"cost must be one of \('quadratic', 'cross_entropy'\), got 'hinge'"),
    (lambda m, x, y: backprop(m, x[:, :5], y, "quadratic"), ValueError, r"x must be a non-empty batch \(n, \*\) of 6 features per sample, got shape \(7, 5\)"),
    (lambda m, x, y: backprop(m, x, y[:3], "quadratic"), ValueError, r"y holds class indices, so it must have shape \(7,\), got \(3,\)"),
    (lambda m, x, y: backprop(m, x, y + 4, "quadratic"), ValueError, r"y's class indices must lie in \[0, 4\), got values in \[4, 7\]"),
    (lambda m, x, y: backprop(m, x, torch.rand(7, 3, dtype=torch.float64), "quadratic"), ValueError, r"must have shape \(7, 4\), got \(7, 3\)"),
    (lambda m, x, y: sgd(m, (x, y), 0, 10, 3.0), ValueError, "epochs must be a positive int, got 0"),
    (lambda m, x, y: sgd(m, (x, y), 1, 2.5, 3.0), ValueError, "mini_batch_size must be a positive int, got 2.5"),
    (lambda m, x, y: sgd(m, (x, y), 1, 10, -1.0), ValueError, "eta must be a positive learning rate, got -1.0"),
]


@pytest.mark.parametrize("call, error, message", BAD_INPUTS, ids=lambda v: v if isinstance(v, str) else "")
def test_bad_input_is_refused_clearly(call, error, message):
    model = make([6, 5, 4], "sigmoid", "sigmoid", "custom")
    x, y = batch((6,), 4)
    with pytest.raises(error, match=message):
        call(model, x, y)


def test_an_unknown_layer_is_named():
    model = make([6, 5, 4], "sigmoid", "sigmoid", "builtin")
    model.layers[2] = nn.GELU()
    with pytest.raises(ValueError, match=r"layers.2 is a torch.nn.modules.activation.GELU; backprop expects"):
        backprop(model, *batch((6,), 4), "quadratic")


@pytest.mark.parametrize("cost", COSTS)
def test_sgd_follows_torch_optim_sgd_step_for_step(cost):
    """Nielsen's loop on BP1–BP4 and torch.optim.SGD on autograd, fed the same shuffles, end in the same
    weights after 3 epochs of 4 mini-batches (the last one short): float64, to 1e-10."""
    ours, theirs = make([6, 5, 4], "sigmoid", "sigmoid", "custom"), make([6, 5, 4], "sigmoid", "sigmoid", "builtin")
    x, y = batch((6,), 4, n=35)
    sgd(ours, (x, y), epochs=3, mini_batch_size=10, eta=3.0, cost=cost, generator=torch.Generator().manual_seed(5))
    optimizer = torch.optim.SGD(theirs.parameters(), lr=3.0)
    generator = torch.Generator().manual_seed(5)
    for _ in range(3):
        for idx in torch.randperm(len(y), generator=generator).split(10):
            optimizer.zero_grad()
            loss_function(cost, "builtin")(theirs(x[idx]), y[idx]).backward()
            optimizer.step()
    start = make([6, 5, 4], "sigmoid", "sigmoid", "builtin")
    for (name, p), q, p0 in zip(ours.named_parameters(), theirs.parameters(), start.parameters()):
        assert (p - p0).abs().max() > 1e-2, f"{name} did not move"  # it trained: not two untouched models
        torch.testing.assert_close(p, q, **TOLERANCE, msg=lambda m: f"{name}: {m}")


def test_sgd_trains_the_ch1_network_on_digits_as_refnets_train_does(tmp_path):
    """Nielsen's ch. 1 recipe ([784, 30, 10] sigmoid, quadratic cost, N(0, 1) init, η = 3, mini-batches
    of 10, 30 epochs) on the bundled digits upsampled to 28×28, once by `refnets-train
    experiment=nielsen_ch1 data=digits` (Lightning, autograd) and once by `refnets.backprop.sgd` (no
    autograd) on the same training split. Measured over seeds 42, 0, 1: refnets-train 0.944 / 0.967 /
    0.961 (best-validation checkpoint), sgd 0.922 / 0.950 / 0.967 (last epoch); after the nielsen_ch1
    recipe's logging settings changed, seed 42 gave 0.964 vs 0.917. The two runs draw different
    initial weights and shuffles (360 test images: one image is 0.003), so they must both reach 0.9
    and agree to 0.06 — not to the digit."""
    from helpers import compose_train

    from refnets.cli.train import train
    from refnets.data import DigitsDataModule

    overrides = ["experiment=nielsen_ch1", "data=digits", "~data.split", "data.val_size=180", "seed=42", "logger=none",
                 "callbacks.progress_bar=null", "++trainer.enable_model_summary=false"]
    reference = train(compose_train(overrides, tmp_path))["metrics"]["test/acc"]

    data = DigitsDataModule(size=28, test_size=360, val_size=180, seed=42)  # the split refnets-train used
    data.setup()
    train_split, test_split = data.splits["train"], data.splits["test"]
    torch.manual_seed(42)
    model = MLP([784, 30, 10], activation="sigmoid", output="sigmoid", init="normal")
    history = sgd(model, (train_split.inputs.float() / 255, train_split.targets), epochs=30, mini_batch_size=10,
                  eta=3.0, cost="quadratic", test_data=(test_split.inputs.float() / 255, test_split.targets),
                  generator=torch.Generator().manual_seed(42))
    ours = history["test_accuracy"][-1]
    assert history["cost"][-1] < 0.2 * history["cost"][0]
    assert reference >= 0.9 and ours >= 0.9, (reference, ours)
    assert abs(ours - reference) <= 0.06, (reference, ours)
