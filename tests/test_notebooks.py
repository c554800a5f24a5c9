"""Execute every notebook (jupytext percent source in notebooks/) on its small preset, once, and
check that it re-runs to the key numbers recorded beside it in notebooks/<name>.numbers.json.

Each run also writes the executed notebook to build/notebooks/ (tools/nbrun.py), which the docs
build then renders without executing it again."""

import json
import os

import nbrun
import numpy as np
import pytest

NOTEBOOKS = nbrun.sources()
# Set to 1 to write the numbers a run gives as the new record (after a deliberate change).
RECORD = os.environ.get("BAYESKIT_RECORD_NOTEBOOK_NUMBERS") == "1"
# Same lock, same keys, same machine kind: two runs here gave bit-identical numbers. On another
# CPU kind (other SIMD widths) the rounding order changes, and float32 training amplifies it:
# 100 Adam steps moved the fbm notebook's VI Hurst estimate by 1.2e-6 relative (2026-12-02), so
# 1e-5 (about 80 float32 ulps); a new key, a new dependency version or a changed algorithm moves
# every recorded number by far more (1e-3 and up).
RTOL = 1e-5
# Appended to the executed notebook: prints its `key_numbers` dict at full precision.
_DUMP = "import json as _json\nprint(_json.dumps({k: float(v) for k, v in key_numbers.items()}))"


def _record_path(path):
    return path.with_name(f"{path.stem}.numbers.json")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_to_its_recorded_numbers(path):
    # The kernel runs with nbrun.ENV: notebooks read BAYESKIT_SMALL to pick small sizes.
    nb = nbrun.execute(path, extra_code=_DUMP)
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, errors
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    numbers = json.loads(text)
    assert len(numbers) >= 3, f"{path.name}: key_numbers should state at least 3 numbers"
    record = _record_path(path)
    if RECORD:
        record.write_text(json.dumps(numbers, indent=1) + "\n")
    expected = json.loads(record.read_text())
    assert sorted(numbers) == sorted(expected), f"{path.name}: key_numbers names changed"
    for name, value in expected.items():
        np.testing.assert_allclose(numbers[name], value, rtol=RTOL, err_msg=f"{path.name}: {name}")


def test_every_method_has_a_notebook_with_recorded_numbers():
    assert len(NOTEBOOKS) >= 5 and all(p.read_text().startswith("# ---") for p in NOTEBOOKS)
    assert all(_record_path(p).exists() for p in NOTEBOOKS)
    assert os.environ.get("BAYESKIT_SMALL") is None  # only set inside the notebook runs


def test_the_executed_copy_is_current_only_while_its_source_is_unchanged(tmp_path, monkeypatch):
    # a one-cell notebook: execute() writes the copy, executed() reuses it until the source moves
    src = tmp_path / "tiny.py"
    src.write_text('# %%\nimport os\nprint(os.environ["BAYESKIT_SMALL"])\n')
    monkeypatch.setattr(nbrun, "BUILD", tmp_path / "build")
    assert nbrun.current(src) is None
    nb = nbrun.execute(src, extra_code="print('dump')")
    assert nb.cells[-1].outputs[0]["text"] == "dump\n"
    kept = nbrun.current(src)
    assert len(kept.cells) == 1 and kept.cells[0].outputs[0]["text"] == "1\n"
    assert kept.metadata["bayeskit"]["source_sha256"] == nbrun.source_hash(src)
    src.write_text(src.read_text() + "print(2)\n")
    assert nbrun.current(src) is None
