"""Every notebook runs top to bottom in a real Jupyter kernel (nbclient), and its asserts hold.

The kernel (and any refnets-train it launches) imports refnets from this source tree: src/ is put
first on its PYTHONPATH, so the test checks the code under test, installed or not.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Each notebook is written to finish in about a minute on 2 CPU cores; this is the limit of a hang.
TIMEOUT_S = 300


def test_the_six_notebooks_are_there_in_order():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_", "06_"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MPLBACKEND", "Agg")  # no display; the inline backend still renders the figures
    notebook = nbformat.read(path, as_version=4)
    # committed executed, so they read on a code host: every code cell has run and most draw or print
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), f"{path.name} is committed with unexecuted cells"
    assert any(o.get("output_type") == "display_data" for c in code for o in c.outputs), f"{path.name} has no figure"
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs), f"{path.name} is committed with an error"
    start = time.perf_counter()
    # Run in a scratch copy of the notebooks folder's place, so nothing is written into the repository.
    NotebookClient(notebook, timeout=TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    print(f"{path.name}: {time.perf_counter() - start:.1f} s")
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors  # nbclient raises CellExecutionError first; this states the property
