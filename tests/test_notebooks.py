"""Execute every notebook (jupytext percent source in notebooks/) on its small preset."""

import os
from pathlib import Path

import jupytext
import nbclient
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    # The kernel inherits this environment: notebooks read BAYESKIT_SMALL to pick small sizes.
    monkeypatch.setenv("BAYESKIT_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, errors


def test_every_method_has_a_notebook():
    assert len(NOTEBOOKS) >= 1 and all(p.read_text().startswith("# ---") for p in NOTEBOOKS)
    assert os.environ.get("BAYESKIT_SMALL") is None  # only set inside the notebook runs
