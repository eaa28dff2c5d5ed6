"""The central claim: a model on refnets' ops and the same model on PyTorch's ops are the same model.

Same seed → identical initial parameters; one step → the same gradient for every parameter;
50 SGD steps → the same loss trajectory. A sabotaged op (a backward off by 0.1 %) must fail the
comparison, which shows the comparison can fail.
"""

from __future__ import annotations

import copy
import re

import pytest
import torch

from refnets.functional import conv as conv_module
from refnets.models import MLP, LeNet5, Perceptron
from refnets.nn import loss_function

MODELS = {
    "mlp-nielsen": (lambda ops: MLP([784, 30, 10], "sigmoid", "sigmoid", "normal", ops), "quadratic", (1, 28, 28)),
    "mlp-relu-ce": (lambda ops: MLP([784, 64, 32, 10], "relu", "logits", "scaled", ops), "cross_entropy", (1, 28, 28)),
    "mlp-tanh": (lambda ops: MLP([2, 8, 2], "tanh", "logits", "torch", ops), "cross_entropy", (2,)),
    "lenet5-tanh-avg": (lambda ops: LeNet5("tanh", "avg", ops=ops), "cross_entropy", (1, 28, 28)),
    "lenet5-relu-max": (lambda ops: LeNet5("relu", "max", ops=ops), "cross_entropy", (1, 28, 28)),
    "lenet5-sigmoid-quadratic": (lambda ops: LeNet5("sigmoid", "avg", ops=ops), "quadratic", (1, 28, 28)),
}


def build_pair(name: str, dtype: torch.dtype, seed: int = 0):
    make, loss, shape = MODELS[name]
    torch.manual_seed(seed)
    custom = make("custom").to(dtype)
    torch.manual_seed(seed)
    builtin = make("builtin").to(dtype)
    return custom, builtin, loss, shape


def batch(shape, n=16, dtype=torch.float32, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=gen).to(dtype), torch.randint(0, 10 if shape != (2,) else 2, (n,), generator=gen)


def gradients(model, loss_name, x, y):
    model.zero_grad()
    loss = loss_function(loss_name, model.ops)(model(x), y)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_initial_parameters(name):
    custom, builtin, _, _ = build_pair(name, torch.float32)
    sd_c, sd_b = custom.state_dict(), builtin.state_dict()
    assert sd_c.keys() == sd_b.keys()
    for key in sd_c:
        assert torch.equal(sd_c[key], sd_b[key]), key


@pytest.mark.parametrize("name", MODELS)
def test_an_empty_batch_gives_an_empty_output_and_zero_gradients_as_the_builtin_twin(name):
    """N = 0 (the last batch of a filtered dataset, a sampler that yields nothing): (0, classes) out, and a backward
    that gives zero-filled parameter gradients on both op sets, as torch.nn's layers do."""
    custom, builtin, _, shape = build_pair(name, torch.float32)
    for model in (custom, builtin):
        out = model(torch.zeros(0, *shape))
        assert out.shape == (0, builtin(torch.zeros(1, *shape)).shape[1])
        out.sum().backward()
        assert all(p.grad is not None and not p.grad.any() for p in model.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_custom_model_runs_on_custom_ops_only(name):
    """The two models differ in what runs: refnets Functions in one, none in the other."""
    custom, builtin, loss, shape = build_pair(name, torch.float32)
    x, y = batch(shape)

    def functions(model):
        out = loss_function(loss, model.ops)(model(x), y)
        seen, stack, classes = set(), [out.grad_fn], set()
        while stack:
            node = stack.pop()
            if node is None or node in seen:
                continue
            seen.add(node)
            classes.add(getattr(node, "_forward_cls", None))
            stack.extend(f for f, _ in node.next_functions)
        return {c.__module__ for c in classes if c is not None}

    assert any(m.startswith("refnets.functional") for m in functions(custom))
    assert not any(m.startswith("refnets.functional") for m in functions(builtin))


def assert_same_gradients(custom, builtin, loss, x, y, rtol, atol):
    loss_c, grads_c = gradients(custom, loss, x, y)
    loss_b, grads_b = gradients(builtin, loss, x, y)
    torch.testing.assert_close(loss_c, loss_b, rtol=rtol, atol=atol)
    for key in grads_c:
        torch.testing.assert_close(grads_c[key], grads_b[key], rtol=rtol, atol=atol, msg=lambda m: f"{key}: {m}")


# float64: the two paths differ only by summation order, ~1e-16 relative per op, so 1e-9 is a
# tight bound that still leaves room for error growth through 5 layers. float32: eps 1.2e-7 times
# the same growth and sums of up to 784 terms; 1e-4 relative / 1e-5 absolute (on gradients whose
# typical size is 1e-3…1) is loose enough for rounding and ~1000× tighter than a 0.1 % bug.
TOLERANCES = {torch.float64: dict(rtol=1e-9, atol=1e-12), torch.float32: dict(rtol=1e-4, atol=1e-5)}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", MODELS)
def test_one_step_gradients_match(name, dtype):
    custom, builtin, loss, shape = build_pair(name, dtype)
    x, y = batch(shape, dtype=dtype)
    assert_same_gradients(custom, builtin, loss, x, y, **TOLERANCES[dtype])


def test_a_sabotaged_backward_is_caught(monkeypatch):
    """Control: scale conv's weight gradient by 1.001 and the float64 comparison must fail."""
    original = conv_module.Conv2d.backward

    def off_by_a_tenth_of_a_percent(ctx, *grads):
        grad_a, grad_w, *rest = original(ctx, *grads)
        return (grad_a, grad_w * 1.001 if grad_w is not None else None, *rest)

    custom, builtin, loss, shape = build_pair("lenet5-tanh-avg", torch.float64)
    x, y = batch(shape, dtype=torch.float64)
    monkeypatch.setattr(conv_module.Conv2d, "backward", staticmethod(off_by_a_tenth_of_a_percent))
    with pytest.raises(AssertionError, match=r"features\.\d\.weight"):
        assert_same_gradients(custom, builtin, loss, x, y, **TOLERANCES[torch.float64])


def sgd_trajectory(model, loss_name, steps, lr, data):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    for x, y in data[:steps]:
        optimizer.zero_grad()
        loss = loss_function(loss_name, model.ops)(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return torch.tensor(losses)


@pytest.mark.parametrize("name, lr", [("mlp-nielsen", 3.0), ("lenet5-tanh-avg", 0.05), ("lenet5-relu-max", 0.05)])
def test_fifty_sgd_steps_follow_the_same_loss_curve(name, lr):
    """50 steps of SGD with momentum, float32, on the same mini-batches: the loss curves agree to
    1e-3 relative at every step (float32 rounding compounds over 50 updates, but stays ~100× below
    that), and the loss does go down, so the agreement is not that of two stuck models."""
    custom, builtin, loss, shape = build_pair(name, torch.float32)
    data = [batch(shape, n=32, seed=s) for s in range(50)]
    # learnable data: the label is a fixed function of the input, so the loss can fall
    w = torch.randn(int(torch.tensor(shape).prod()), 10, generator=torch.Generator().manual_seed(7))
    data = [(x, (x.flatten(1) @ w).argmax(1)) for x, _ in data]
    curve_c = sgd_trajectory(custom, loss, 50, lr, data)
    curve_b = sgd_trajectory(builtin, loss, 50, lr, data)
    torch.testing.assert_close(curve_c, curve_b, rtol=1e-3, atol=1e-5)
    assert curve_c[-10:].mean() < 0.9 * curve_c[:5].mean()
    for (k, p_c), p_b in zip(custom.state_dict().items(), builtin.state_dict().values()):
        torch.testing.assert_close(p_c, p_b, rtol=1e-3, atol=1e-4, msg=lambda m: f"{k} after 50 steps: {m}")


def test_perceptron_learns_separable_blobs_and_not_xor():
    from refnets.data.toy import make_toy

    def train(kind):
        torch.manual_seed(0)
        x, y = make_toy(kind, 200, 0.5 if kind == "blobs" else 0.2, seed=0)
        model = Perceptron(2)
        for epoch in range(50):
            for i in range(0, 200, 10):
                model.perceptron_update(x[i : i + 10], y[i : i + 10], lr=1.0)
        return (model.predict(x) == y).float().mean().item()

    assert train("blobs") == 1.0
    assert train("xor") < 0.8  # no line separates XOR; 3 of 4 quadrants (0.75) is the best a line can do


def test_models_reject_bad_arguments():
    with pytest.raises(ValueError, match=r"ops must be one of \('custom', 'builtin'\), got 'cuda'"):
        MLP(ops="cuda")
    with pytest.raises(ValueError, match=r"sizes must list at least two layer sizes, each an integer ≥ 1 \(input first\), got \[784\]"):
        MLP([784])
    with pytest.raises(ValueError, match=r"each an integer ≥ 1 \(input first\), got \[784.0, 10\]"):
        MLP([784.0, 10])
    with pytest.raises(ValueError, match=r"got \[True, 2\]"):
        MLP([True, 2])
    MLP([1, 1])  # one output: a regression network (notebook 2), not a classifier
    with pytest.raises(ValueError, match=r"num_classes must be an integer ≥ 2, got 0"):
        LeNet5(num_classes=0)
    with pytest.raises(ValueError, match=r"in_channels must be an integer ≥ 1, got 0"):
        LeNet5(in_channels=0)
    with pytest.raises(ValueError, match=r"in_features must be an integer ≥ 1, got 0"):
        Perceptron(0)
    with pytest.raises(ValueError, match=r"num_classes must be an integer ≥ 2, got 1"):
        Perceptron(2, num_classes=1)
    with pytest.raises(ValueError, match=r"activation must be one of \('sigmoid', 'tanh', 'relu'\), got 'gelu'"):
        LeNet5(activation="gelu")
    with pytest.raises(ValueError, match=r"init must be one of"):
        MLP(init="xavier")
    with pytest.raises(ValueError, match=r"LeNet5 expects input \(N, 1, 28, 28\), got \(2, 1, 8, 8\)"):
        LeNet5()(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"input has 64 features per sample.*sizes\[0\] = 784"):
        MLP([784, 10])(torch.rand(2, 1, 8, 8))


def test_init_schemes_have_the_documented_statistics():
    torch.manual_seed(0)
    normal = MLP([784, 1000, 10], init="normal")
    scaled = MLP([784, 1000, 10], init="scaled")
    w_normal, w_scaled = normal.layers[1].weight, scaled.layers[1].weight
    assert abs(w_normal.std().item() - 1.0) < 0.01
    assert abs(w_scaled.std().item() - 784 ** -0.5) < 0.01 * 784 ** -0.5 * 10
    assert abs(scaled.layers[1].bias.std().item() - 1.0) < 0.1


@pytest.mark.parametrize("ops", ["custom", "builtin"])
@pytest.mark.parametrize("name, make, sample", [("MLP", lambda ops: MLP([784, 10], ops=ops), (784,)),
                                                ("LeNet5", lambda ops: LeNet5(ops=ops), (1, 28, 28)),
                                                ("Perceptron", lambda ops: Perceptron(784, ops=ops), (784,))])
def test_models_name_an_unbatched_or_non_tensor_input(name, make, sample, ops):
    """One sample without its batch dimension, a 0-D tensor or a list: one error naming the model and the
    shape expected, not 'input has 1 features … expects 784', an IndexError from Flatten or an AttributeError."""
    model = make(ops)
    with pytest.raises(ValueError, match=rf"{name} expects a batch \(N, .*got shape {re.escape(str(sample))}.*x\.unsqueeze\(0\)"):
        model(torch.rand(sample))
    with pytest.raises(ValueError, match=rf"{name} expects a batch .*got shape \(\)$"):
        model(torch.tensor(1.0))
    with pytest.raises(TypeError, match=rf"{name} expects a torch.Tensor .*got list"):
        model([0.0] * 784)
    if name == "Perceptron":
        with pytest.raises(ValueError, match=r"Perceptron expects a batch .*got shape \(784,\)"):
            model.predict(torch.rand(784))


@pytest.mark.parametrize("num_classes", [2, 3])
def test_perceptron_update_checks_its_labels_and_rate(num_classes):
    """Labels outside [0, num_classes) once changed the weights silently (two classes: a label 2 was a target of 2)
    or failed inside one_hot; a float, wrongly shaped or mis-sized y, or a string rate, deep inside torch."""
    model = Perceptron(4, num_classes=num_classes)
    before = copy.deepcopy(model.state_dict())
    x = torch.rand(3, 4)
    bad = [(torch.tensor([0, 1, num_classes]), ValueError, rf"y has class indices in \[0, {num_classes}\], expected values in \[0, {num_classes - 1}\]"),
           (torch.tensor([0, -1, 1]), ValueError, r"y has class indices in \[-1, 1\]"),
           (torch.tensor([0.0, 1.0, 1.0]), TypeError, r"y must hold integer class indices, got dtype torch.float32"),
           (torch.tensor([[0], [1], [1]]), ValueError, r"y holds class indices, so it must have shape \(3,\) \(one index per sample\), got \(3, 1\)"),
           (torch.tensor([0, 1]), ValueError, r"must have shape \(3,\).*got \(2,\)"),
           ([0, 1, 1], TypeError, r"y must be a torch.Tensor, got list")]
    for y, error, message in bad:
        with pytest.raises(error, match=message):
            model.perceptron_update(x, y, lr=1.0)
    with pytest.raises(TypeError, match=r"lr must be a real number, got '0.1'"):
        model.perceptron_update(x, torch.tensor([0, 1, 1]), lr="0.1")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing was updated
    model.perceptron_update(x, torch.tensor([0, 1, 1], dtype=torch.int32), lr=1.0)  # any integer dtype is a label


def test_models_take_numpy_integer_sizes_and_name_a_sizes_that_is_no_list():
    """np.prod((1, 28, 28)) is an np.int64: torch.nn.Linear takes it, and so do the models (stored as ints).
    MLP(784) failed with "'int' object is not iterable" and MLP("784,10") listed its characters."""
    np = pytest.importorskip("numpy")
    mlp = MLP([np.prod((1, 28, 28)), np.int64(10)])
    assert mlp.sizes == [784, 10] and all(type(s) is int for s in mlp.sizes)
    assert mlp(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    lenet = LeNet5(num_classes=np.int64(5), in_channels=np.int32(1))
    assert (type(lenet.num_classes), type(lenet.in_channels)) == (int, int) and lenet(torch.rand(2, 1, 28, 28)).shape == (2, 5)
    assert type(Perceptron(np.int64(4), num_classes=np.int64(3)).num_classes) is int
    with pytest.raises(ValueError, match=r"sizes must list at least two layer sizes, each an integer ≥ 1 \(input first\), e.g. \[784, 30, 10\], got 784"):
        MLP(784)
    with pytest.raises(ValueError, match=r"e.g. \[784, 30, 10\], got '784,10'"):
        MLP("784,10")
    with pytest.raises(ValueError, match=r"num_classes must be an integer ≥ 2, got np.float64\(10.0\)"):
        LeNet5(num_classes=np.float64(10))


def test_lenet5_on_the_wrong_channel_count_says_which_argument_to_change():
    """A 3-channel 28×28 batch was told to 'resize the images to 28×28'; it needs in_channels=3."""
    with pytest.raises(ValueError, match=r"LeNet5 expects input \(N, 1, 28, 28\), got \(2, 3, 28, 28\) "
                                         r"\(3-channel images need LeNet5\(in_channels=3\), model.in_channels=3\)$"):
        LeNet5()(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match=r"got \(2, 3, 32, 32\) \(3-channel images need LeNet5\(in_channels=3\), "
                                         r"model.in_channels=3; resize the images to 28×28, e.g. data=digits with data.size=28\)$"):
        LeNet5()(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"got \(2, 3, 32, 32\) \(resize the images to 28×28, e.g. data=digits with data.size=28\)$"):
        LeNet5(in_channels=3)(torch.rand(2, 3, 32, 32))
