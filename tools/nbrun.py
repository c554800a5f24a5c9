"""Execute a notebook (jupytext percent source in notebooks/) once, and keep the executed copy.

The test suite (tests/test_notebooks.py) executes every notebook and writes it to
``build/notebooks/<name>.ipynb`` with the SHA-256 of its source in the metadata; the docs build
(tools/nbpages.py) reuses that copy while it is :func:`current` and executes the notebook
itself, in the same environment, only when the copy is missing or stale.
"""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path

import jupytext
import nbclient
import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "notebooks"
BUILD = ROOT / "build" / "notebooks"
# The kernel's environment on top of ours: the small preset, and figures as PNG outputs (the
# inline backend; Agg would draw them nowhere).
ENV = {"BAYESKIT_SMALL": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
TIMEOUT = 600  # seconds per cell


def sources() -> list[Path]:
    """The notebook sources, ``notebooks/*.py``, sorted."""
    return sorted(SOURCES.glob("*.py"))


def source_hash(path: Path) -> str:
    """SHA-256 of the source file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def executed_path(path: Path) -> Path:
    """Where the executed copy of ``path`` is kept."""
    return BUILD / f"{path.stem}.ipynb"


def _stamp(path: Path) -> dict:
    return {"source_sha256": source_hash(path), "env": ENV}


def execute(path: Path, extra_code: str | None = None) -> nbformat.NotebookNode:
    """Execute the source ``path`` with :data:`ENV`, write the executed copy, return it.

    ``extra_code`` runs as one more cell at the end (its outputs are returned, not kept); a cell
    that raises raises ``nbclient.exceptions.CellExecutionError`` and nothing is written.
    """
    nb = jupytext.read(path)
    if extra_code is not None:
        nb.cells.append(nbformat.v4.new_code_cell(extra_code))
    client = nbclient.NotebookClient(
        nb, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(SOURCES)}}
    )
    client.execute(env={**os.environ, **ENV})
    kept = copy.deepcopy(nb)
    if extra_code is not None:
        kept.cells.pop()
    kept.metadata["bayeskit"] = _stamp(path)
    out = executed_path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    nbformat.write(kept, tmp)
    tmp.replace(out)  # whole or nothing: a reader never sees half a file
    return nb


def current(path: Path) -> nbformat.NotebookNode | None:
    """The executed copy of ``path`` if there is one made from this source with :data:`ENV`."""
    out = executed_path(path)
    if not out.exists():
        return None
    nb = nbformat.read(out, as_version=4)
    return nb if nb.metadata.get("bayeskit") == _stamp(path) else None
