"""Whole models on refnets' ops under PyTorch's transforms: second derivatives (Hessian–vector
products), torch.func.vmap per-sample gradients, torch.compile(fullgraph=True), and bf16 autocast."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call, grad, vmap

from refnets.models import MLP, LeNet5
from refnets.nn import loss_function

MODELS = {
    "mlp": (lambda ops: MLP([784, 30, 10], activation="sigmoid", output="sigmoid", ops=ops), (784,), "quadratic"),
    "mlp-ce": (lambda ops: MLP([784, 20, 10], activation="tanh", ops=ops), (1, 28, 28), "cross_entropy"),
    "lenet5": (lambda ops: LeNet5(activation="relu", pooling="max", ops=ops), (1, 28, 28), "cross_entropy"),
    "lenet5-classic": (lambda ops: LeNet5(activation="tanh", pooling="avg", ops=ops), (1, 28, 28), "cross_entropy"),
}


def _pair(key: str, dtype=torch.float64):
    """The same network on custom and on builtin ops, with identical weights."""
    make, shape, loss = MODELS[key]
    torch.manual_seed(0)
    custom = make("custom").to(dtype)
    builtin = make("builtin").to(dtype)
    builtin.load_state_dict(custom.state_dict())
    x = torch.randn(4, *shape, dtype=dtype)
    y = torch.randint(0, 10, (4,))
    return custom, builtin, x, y, loss


def _hvp(model, x, y, loss_name, v):
    params = list(model.parameters())
    loss = loss_function(loss_name, model.ops)(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    dot = sum((g * vi).sum() for g, vi in zip(grads, v))
    return torch.autograd.grad(dot, params)


@pytest.mark.parametrize("key", list(MODELS))
def test_hessian_vector_product_equals_the_builtin_models(key):
    """H·v of the whole network (double backward through every layer) on custom ops equals the
    built-in model's, float64 to 1e-8 — conv's weight gradient included, whose dependence on the
    input a backward that saved only the columns would drop."""
    custom, builtin, x, y, loss = _pair(key)
    v = [torch.randn_like(p) for p in custom.parameters()]
    for got, want in zip(_hvp(custom, x, y, loss, v), _hvp(builtin, x, y, loss, v)):
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-8)


def test_the_hvp_comparison_can_fail(monkeypatch):
    """Control: a conv backward whose weight gradient treats the columns as constants (the old bug)
    gives a different H·v, and the comparison above catches it."""
    from refnets.functional import conv

    custom, builtin, x, y, loss = _pair("lenet5")
    v = [torch.randn_like(p) for p in custom.parameters()]
    original = conv.Im2col.call  # what Conv2d's backward calls to rebuild the columns under create_graph
    monkeypatch.setattr(conv.Im2col, "call", classmethod(lambda cls, x, *a: original(x.detach(), *a)))  # columns without their graph
    got = _hvp(custom, x, y, loss, v)
    monkeypatch.undo()
    want = _hvp(builtin, x, y, loss, v)
    assert any(not torch.allclose(a, b, rtol=1e-8, atol=1e-8) for a, b in zip(got, want))


@pytest.mark.parametrize("key", ["mlp", "lenet5", "lenet5-classic"])
def test_per_sample_gradients_by_vmap_equal_a_loop(key):
    """The functorch recipe behind DP-SGD — vmap(grad(loss)) over the batch — works on refnets'
    ops and equals one backward per sample, and the built-in model's per-sample gradients."""
    custom, builtin, x, y, loss_name = _pair(key)

    def per_sample(model):
        params = {k: v.detach() for k, v in model.named_parameters()}
        loss_fn = loss_function(loss_name, model.ops)

        def loss(p, xi, yi):
            return loss_fn(functional_call(model, p, (xi.unsqueeze(0),)), yi.unsqueeze(0))

        return vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y), loss, params

    batched, loss, params = per_sample(custom)
    builtin_batched, _, _ = per_sample(builtin)
    for i in range(x.shape[0]):
        single = grad(loss)(params, x[i], y[i])
        for k in params:
            torch.testing.assert_close(batched[k][i], single[k], rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(batched[k][i], builtin_batched[k][i], rtol=1e-10, atol=1e-12)


def _compiled_step_matches_eager(key):
    custom, _, x, y, loss_name = _pair(key, torch.float32)
    eager = custom
    compiled_model = MODELS[key][0]("custom")
    compiled_model.load_state_dict(eager.state_dict())
    loss_fn = loss_function(loss_name, "custom")

    def step(model, x, y):
        return loss_fn(model(x), y)

    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True)  # inductor; fullgraph: any graph break is an error
    results = []
    for model, fn in ((eager, step), (compiled_model, compiled)):
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(2):
            opt.zero_grad()
            loss = fn(model, x, y)
            loss.backward()
            opt.step()
        results.append((loss.detach(), [p.detach().clone() for p in model.parameters()]))
    torch._dynamo.reset()
    (l1, p1), (l2, p2) = results
    torch.testing.assert_close(l2, l1, rtol=1e-5, atol=1e-5)
    for a, b in zip(p2, p1):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_compiled_mlp_training_step_matches_eager():
    """torch.compile(fullgraph=True, inductor) of an MLP step on custom ops: no graph break, and two
    SGD steps end where eager does (float32 reassociation tolerance)."""
    _compiled_step_matches_eager("mlp")


@pytest.mark.slow
def test_compiled_lenet5_training_step_matches_eager():
    """The same for LeNet-5 (slow: inductor compiles the im2col/col2im graphs to C++, minutes on 2 cores)."""
    _compiled_step_matches_eager("lenet5")


def test_bf16_mixed_precision_trains_lenet5_on_custom_ops(tmp_path):
    """trainer.precision=bf16-mixed on the CPU: autocast reaches refnets' GEMM ops (they run in
    bfloat16, the losses in float32) and LeNet-5 on custom ops learns."""
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    from refnets.training import Classifier

    torch.manual_seed(0)
    # two classes that differ by a bright square: learnable in a few steps
    x = torch.randn(256, 1, 28, 28) * 0.3
    y = torch.randint(0, 2, (256,))
    x[y == 1, :, 8:20, 8:20] += 2.0
    model = Classifier(LeNet5(activation="relu", pooling="max", num_classes=2, ops="custom"),
                       optimizer=lambda params: torch.optim.Adam(params, lr=1e-3))
    seen = []
    model.net.features[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    trainer = L.Trainer(precision="bf16-mixed", max_epochs=3, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tmp_path)
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True))
    assert seen and all(d == torch.bfloat16 for d in seen)
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean()
    assert acc > 0.95
