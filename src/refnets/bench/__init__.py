"""refnets.bench — the measurements behind ``refnets-bench``: refnets' hand-written ops against PyTorch's own.

    cases.py    what is measured: each case's stable id, target and the work on both paths
    timing.py   interleaved timing, medians, ratio of medians
    epoch.py    a whole training epoch through refnets-train's path, and a plain PyTorch loop
    memory.py   peak memory of a training step
    suite.py    runs the selected ids and returns their rows
"""

from .cases import CASES
from .suite import IDS, Options, run

__all__ = ["CASES", "IDS", "Options", "run"]
