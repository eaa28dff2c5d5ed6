"""Nielsen's network.py (ch. 1) in numpy, outside refnets: how often does the recipe itself stall?

refnets' ``nielsen_ch1`` and ``nielsen_ch1_100`` stall on some seeds with either op set. To tell the
recipe's behaviour from refnets', this file runs the book's own algorithm with no torch, no
Lightning and no refnets code: sigmoid neurons, N(0, 1) weights and biases, the quadratic cost,
SGD on mini-batches of 10 with η = 3.0, 30 epochs, float64 (as network.py, whose np.random.randn
weights make every product float64), Nielsen's 50 000 training images of ``mnist.pkl.gz``, tested
on its 10 000 test images after each epoch.

It is network.py's ``update_mini_batch`` with the mini-batch as a matrix (the book's "fully
matrix-based approach", ch. 2): the same sums, in a different order. ``tests/test_nielsen_port.py``
holds three of its updates equal to refnets-train's step of the recipe (both op sets, to 1e-12).

Usage (23–31 s a seed for 100 hidden neurons, 13–18 s for 30, on one core)::

    python docs/nielsen_network.py --hidden 100 --seeds 0-19 [--data data/mnist.pkl.gz]

Each seed seeds numpy's legacy RandomState, which draws the weights (in network.py's order) and the
epochs' shuffles; it prints the test accuracy after the first, fifth and last epoch and the best.
"""

from __future__ import annotations

import argparse
import gzip
import pickle
import statistics
import time

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    """network.py's Network: ``weights[l]`` is (n_{l+1}, n_l), ``biases[l]`` is (n_{l+1},)."""

    def __init__(self, sizes: list[int], rng: np.random.RandomState) -> None:
        self.sizes = sizes
        # network.py draws the biases first, then the weights, each layer in order
        self.biases = [rng.randn(y) for y in sizes[1:]]
        self.weights = [rng.randn(y, x) for x, y in zip(sizes[:-1], sizes[1:])]

    def activations(self, a: np.ndarray) -> list[np.ndarray]:
        """Every layer's activation for a: (n, sizes[0]), input first."""
        layers = [a]
        for b, w in zip(self.biases, self.weights):
            layers.append(sigmoid(layers[-1] @ w.T + b))
        return layers

    def feedforward(self, a: np.ndarray) -> np.ndarray:
        """a: (n, sizes[0]) → (n, sizes[-1])."""
        return self.activations(a)[-1]

    def update_mini_batch(self, x: np.ndarray, y: np.ndarray, eta: float) -> None:
        """w ← w − (η/m) Σ_x ∂C_x/∂w for the quadratic cost C_x = ½‖y − a‖², over the m rows of (x, y)."""
        activations = self.activations(x)
        a = activations[-1]
        delta = (a - y) * a * (1 - a)  # BP1: (a − y) ⊙ σ'(z)
        m = len(x)
        for layer in range(len(self.weights) - 1, -1, -1):
            nabla_w = delta.T @ activations[layer]  # BP4, summed over the mini-batch
            nabla_b = delta.sum(axis=0)  # BP3
            if layer:  # BP2, with the weights before this step's update
                a_prev = activations[layer]
                delta = (delta @ self.weights[layer]) * a_prev * (1 - a_prev)
            self.weights[layer] -= (eta / m) * nabla_w
            self.biases[layer] -= (eta / m) * nabla_b

    def accuracy(self, x: np.ndarray, labels: np.ndarray) -> float:
        return float((self.feedforward(x).argmax(axis=1) == labels).mean())

    def sgd(self, x, labels, epochs, mini_batch_size, eta, rng, test=None) -> list[float]:
        """network.py's SGD: shuffle, cut into mini-batches, update on each; the test accuracy after each epoch."""
        y = np.eye(self.sizes[-1])[labels]
        history = []
        for _ in range(epochs):
            order = rng.permutation(len(x))
            for k in range(0, len(x), mini_batch_size):
                batch = order[k : k + mini_batch_size]
                self.update_mini_batch(x[batch], y[batch], eta)
            if test is not None:
                history.append(self.accuracy(*test))
        return history


def load(path: str):
    """Nielsen's mnist.pkl.gz: (training, validation, test), each (images (n, 784) float32, labels (n,) int64)."""
    with gzip.open(path) as f:
        return pickle.load(f, encoding="latin1")


def seeds(spec: str) -> list[int]:
    """'0-19' or '1,2,5' → the list of seeds."""
    if "-" in spec:
        lo, hi = spec.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in spec.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=30)
    parser.add_argument("--seeds", type=seeds, default=seeds("0-4"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--eta", type=float, default=3.0)
    parser.add_argument("--data", default="data/mnist.pkl.gz")
    args = parser.parse_args()
    (x, labels), _, (x_test, labels_test) = load(args.data)
    x, x_test = x.astype(np.float64), x_test.astype(np.float64)
    finals = []
    for seed in args.seeds:
        rng = np.random.RandomState(seed)
        start = time.perf_counter()
        net = Network([784, args.hidden, 10], rng)
        acc = [100 * a for a in net.sgd(x, labels, args.epochs, 10, args.eta, rng, test=(x_test, labels_test))]
        finals.append(acc[-1])
        print(f"hidden={args.hidden} seed={seed}: test accuracy after epoch 1 {acc[0]:.2f} %, epoch 5 {acc[min(4, len(acc) - 1)]:.2f} %, "
              f"final {acc[-1]:.2f} %, best {max(acc):.2f} % ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"final: min {min(finals):.2f} %, median {statistics.median(finals):.2f} %, max {max(finals):.2f} % over {len(finals)} seeds")


if __name__ == "__main__":
    main()
