"""The classic networks, each built from refnets.nn layers (``ops='custom'``) or torch.nn's (``ops='builtin'``)."""

from .lenet import LeNet5
from .mlp import MLP
from .perceptron import Perceptron

__all__ = ["Perceptron", "MLP", "LeNet5"]
