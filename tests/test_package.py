"""Package-level checks: cheap import, lazy subpackages, CLI behaviour and report writing."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bayeskit import cli

ROOT = Path(__file__).resolve().parents[1]


def _python(code, **env):
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=300,
    )


def test_import_is_cheap_and_lazy():
    code = (
        "import sys, time; t = time.perf_counter(); import bayeskit; "
        "dt = time.perf_counter() - t; "
        "methods = ['gp_pde', 'fbm', 'smc', 'rlhf', 'thinning']; "
        "print(dt, [m for m in methods if 'bayeskit.' + m in sys.modules], 'jax' in sys.modules)"
    )
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.split()[0]) < 3.0
    assert "[]" in out.stdout and out.stdout.strip().endswith("False")


def test_lazy_attribute_access():
    import bayeskit

    assert bayeskit.random.as_key(0) is not None
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        bayeskit.nope  # noqa: B018


def test_info_prints_versions_and_devices():
    out = _python("import sys; from bayeskit.cli import main; sys.exit(main(['info']))")
    assert out.returncode == 0, out.stderr
    for pkg in ("jax", "numpyro", "blackjax", "arviz", "gpjax"):
        assert f"\n{pkg} " in "\n" + out.stdout
    assert "devices ['" in out.stdout and "jax_enable_x64 True" in out.stdout


def test_python_dash_m_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "bayeskit", "bench", "nope"], capture_output=True, text=True
    )
    assert out.returncode == 2 and "invalid choice: 'nope'" in out.stderr


def test_version_flag_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert capsys.readouterr().out == f"bayeskit {version}\n"


def test_bench_help_lists_presets_with_measured_durations(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["bench", "--help"])
    assert exit_.value.code == 0
    table = capsys.readouterr().out.split("measured wall times", 1)[1].splitlines()[1:]
    listed, method = {}, None
    for line in table:
        words = line.split()
        if words[0] in cli.METHODS or words[0] in cli.EXTRA_BENCHMARKS:
            method, words = words[0], words[1:]
        listed[method, words[0]] = " ".join(words[1:])
    extra = [(m, p) for m, (_, presets) in cli.EXTRA_BENCHMARKS.items() for p in presets]
    assert list(listed) == [(m, p) for m in cli.METHODS for p in cli.PRESETS] + extra
    assert listed["gp_pde", "quick"].endswith(" s docs/gp_pde_measurements.md")
    assert listed["thinning", "quick"] == "not measured"
    for (method, preset), (took, source) in cli.MEASURED.items():
        assert listed[method, preset] == f"{took} {source}"
        assert took in (ROOT / source).read_text()  # quoted, not invented


def test_load_benchmark_errors():
    with pytest.raises(ValueError, match="NAME: expected one of gp_pde, fbm"):
        cli.load_benchmark("nope")


def test_report_lists_unavailable_methods_and_metrics(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    class FakeModule:
        PAPER = {"mmd": 0.01}

    monkeypatch.setattr(cli, "load_benchmark", lambda name: FakeModule)
    fig = plt.figure()
    results = {
        "thinning": {"mmd": 0.012, "preset": "quick", "seconds": 1.5, "_figure": fig},
        "smc": "not yet available",
    }
    index = cli.write_report(results, tmp_path)
    text = index.read_text()
    assert "| `mmd` | 0.012 | 0.01 |" in text and "not yet available" in text
    assert (tmp_path / "thinning.png").stat().st_size > 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["thinning"]["mmd"] == 0.012 and "_figure" not in saved["thinning"]


def test_reproduce_rejects_unknown_method(capsys):
    assert cli.main(["reproduce", "--only", "thinning,bogus", "--out", "unused"]) == 2
    assert "unknown method(s) ['bogus']" in capsys.readouterr().err
