"""refnets.nn — ``nn.Module`` layers over :mod:`refnets.functional`, twins of ``torch.nn``'s.

``op_set("custom")`` and ``op_set("builtin")`` hand a model the same layer names, activations and
costs backed by either refnets' hand-written ops or PyTorch's own, so a model is written once and
built on either (see :mod:`refnets.nn.opsets`).
"""

from .layers import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sigmoid, Step, Tanh
from .opsets import OPS, OpSet, loss_function, op_set

__all__ = ["Linear", "Conv2d", "Sigmoid", "ReLU", "Tanh", "Step", "MaxPool2d", "AvgPool2d", "Flatten", "op_set", "OpSet", "loss_function", "OPS"]
