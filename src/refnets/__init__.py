"""refnets — the classic neural networks on hand-written, tested autograd ops.

- :mod:`refnets.functional`: the ops (forward + backward by hand), twins of ``torch.nn.functional``.
- :mod:`refnets.nn`: ``nn.Module`` layers over those ops, twins of ``torch.nn``.
- :mod:`refnets.models`: perceptron, MLP, LeNet-5.
- :mod:`refnets.data`, :mod:`refnets.training`, :mod:`refnets.cli`: data, Lightning glue, commands.
"""

__version__ = "0.1.0"
