"""refnets.functional — the hand-written ops, each the twin of a ``torch.nn.functional`` function.

Every op returns a tensor made by its own ``torch.autograd.Function`` (forward and backward written
out in this package); the built-in it mirrors is named in its docstring and used only by the tests.
"""

from .activations import relu, sigmoid, step, tanh
from .conv import col2im, conv2d, im2col
from .linear import linear
from .losses import binary_cross_entropy, cross_entropy, quadratic_loss
from .pooling import avg_pool2d, max_pool2d

__all__ = [
    "sigmoid",
    "relu",
    "tanh",
    "step",
    "linear",
    "conv2d",
    "im2col",
    "col2im",
    "max_pool2d",
    "avg_pool2d",
    "cross_entropy",
    "quadratic_loss",
    "binary_cross_entropy",
]
