"""refnets.nn — ``nn.Module`` layers over :mod:`refnets.functional`, twins of ``torch.nn``'s.

``layers("custom")`` and ``layers("builtin")`` hand a model the same layer names backed by either
refnets' hand-written ops or PyTorch's own, so a model is written once and built on either.
"""

from .layers import OPS, AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sigmoid, Step, Tanh, layers
from .losses import loss_function

__all__ = ["Linear", "Conv2d", "Sigmoid", "ReLU", "Tanh", "Step", "MaxPool2d", "AvgPool2d", "Flatten", "layers", "loss_function", "OPS"]
