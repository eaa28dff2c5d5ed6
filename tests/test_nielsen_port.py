"""docs/nielsen_network.py, the numpy port of Nielsen's network.py that tells the ch. 1 recipe's own
stalls from refnets': its training step is the step refnets-train takes with the nielsen_ch1 recipe."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from refnets.models import MLP
from refnets.nn import loss_function

PORT = Path(__file__).resolve().parents[1] / "docs" / "nielsen_network.py"


@pytest.fixture(scope="module")
def port():
    spec = importlib.util.spec_from_file_location("nielsen_network", PORT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def refnets_step(model: MLP, x: torch.Tensor, labels: torch.Tensor, eta: float, ops: str) -> None:
    """One step of the recipe as refnets-train runs it: the model's ops, the quadratic cost, torch.optim.SGD."""
    optimizer = torch.optim.SGD(model.parameters(), lr=eta)
    optimizer.zero_grad()
    loss_function("quadratic", ops)(model(x), labels).backward()
    optimizer.step()


@pytest.mark.parametrize("ops", ["custom", "builtin"])
def test_port_steps_like_refnets(port, ops):
    sizes, eta = [12, 7, 5], 3.0
    torch.manual_seed(0)
    model = MLP(sizes, activation="sigmoid", output="sigmoid", init="normal", ops=ops).double()
    net = port.Network(sizes, np.random.RandomState(0))
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    net.weights = [m.weight.detach().numpy().copy() for m in linears]
    net.biases = [m.bias.detach().numpy().copy() for m in linears]
    before = [w.copy() for w in net.weights]

    g = torch.Generator().manual_seed(1)
    x = torch.rand(10, sizes[0], dtype=torch.float64, generator=g)
    labels = torch.randint(0, sizes[-1], (10,), generator=g)
    # the same network computes the same outputs
    np.testing.assert_allclose(net.feedforward(x.numpy()), model(x).detach().numpy(), rtol=0, atol=1e-12)
    for _ in range(3):
        net.update_mini_batch(x.numpy(), np.eye(sizes[-1])[labels.numpy()], eta)
        refnets_step(model, x, labels, eta, ops)
    for m, w, b, w0 in zip(linears, net.weights, net.biases, before):
        assert np.abs(w - w0).max() > 1e-3  # the steps moved the weights: the comparison below is not vacuous
        np.testing.assert_allclose(w, m.weight.detach().numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(b, m.bias.detach().numpy(), rtol=0, atol=1e-12)


def test_port_accuracy_and_sgd(port):
    """sgd shuffles with the given RandomState (a seed reproduces a run) and reports one accuracy per epoch."""
    g = np.random.RandomState(3)
    x, labels = g.rand(40, 6), g.randint(0, 3, 40)
    runs = []
    for _ in range(2):
        rng = np.random.RandomState(5)
        net = port.Network([6, 4, 3], rng)
        runs.append(net.sgd(x, labels, epochs=3, mini_batch_size=10, eta=3.0, rng=rng, test=(x, labels)))
    assert runs[0] == runs[1] and len(runs[0]) == 3
    assert net.accuracy(x, labels) == runs[0][-1]
    assert port.seeds("0-3") == [0, 1, 2, 3] and port.seeds("1,5") == [1, 5]
