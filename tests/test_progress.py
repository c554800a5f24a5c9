"""Progress bars: the default follows the environment, bars advance inside jitted calls, and a
bar never changes a result."""

import jax
import jax.numpy as jnp
import pytest

from bayeskit import cli, smc
from bayeskit._progress import ENV, show_progress, stage_bar


def test_default_follows_environment(monkeypatch):
    monkeypatch.setenv(ENV, "1")
    assert show_progress(None) is True
    monkeypatch.setenv(ENV, "0")
    assert show_progress(None) is False
    assert show_progress(True) is True  # an explicit choice wins over the environment
    monkeypatch.delenv(ENV)
    assert show_progress(None) is False  # pytest captures stderr: not a terminal, no kernel
    monkeypatch.setenv(ENV, "yes")
    with pytest.raises(ValueError, match="BAYESKIT_PROGRESS: expected 0 or 1, got 'yes'"):
        show_progress(None)
    with pytest.raises(TypeError, match="progress"):
        show_progress("on")


def test_an_imported_ipykernel_is_not_a_running_kernel(monkeypatch):
    # the notebook tests import ipykernel into the same pytest worker; only a kernel's shell counts
    pytest.importorskip("ipykernel")
    monkeypatch.delenv(ENV, raising=False)
    assert show_progress(None) is False


def _x(t, x_prev, x, y, theta):
    return x


def test_paris_and_ppg_bars_reach_the_end_and_change_nothing(capsys):
    model = smc.linear_gaussian(1)
    theta = {"A": jnp.array([[0.9]]), "log_q": jnp.zeros(1), "log_r": jnp.zeros(1)}
    _, ys = smc.simulate(0, model, theta, 120)
    kw = dict(n_particles=16)
    quiet = smc.paris(1, model, theta, ys, _x, **kw, progress=False)
    shown = smc.paris(1, model, theta, ys, _x, **kw, progress=True)
    assert float(shown.estimate[0]) == float(quiet.estimate[0])
    err = capsys.readouterr().err
    assert "paris: 100%" in err and "119/119" in err, err
    kw = dict(n_particles=8, burn_in=1, iterations=3)
    quiet = smc.ppg(2, model, theta, ys[:20], _x, **kw, progress=False)
    shown = smc.ppg(2, model, theta, ys[:20], _x, **kw, progress=True)
    assert float(shown.estimate[0]) == float(quiet.estimate[0])
    assert "4/4" in capsys.readouterr().err


def test_stage_bar_counts_finished_stages_and_names_the_running_one(capsys):
    with stage_bar("bench", ["first", "second", "third"], progress=True) as next_stage:
        next_stage()
        next_stage()
        err = capsys.readouterr().err
        assert "1/3" in err and "second" in err and "third" not in err, err
        next_stage()
    assert "3/3" in capsys.readouterr().err
    with stage_bar("bench", ["only"], progress=False) as next_stage:
        next_stage()
    assert capsys.readouterr().err == ""


def test_reproduce_shows_each_benchmark_stages_inside_its_bar(monkeypatch, tmp_path, capsys):
    def fake_benchmark(name, preset, key):  # a benchmark with two stages, as the real ones
        with stage_bar(name, ["setup", "solve"]) as next_stage:
            next_stage()
            next_stage()
        return {"preset": preset, "seconds": 0.0, "metric": 1.0}

    monkeypatch.setattr(cli, "run_benchmark", fake_benchmark)
    x64 = jax.config.jax_enable_x64
    try:
        monkeypatch.setenv(ENV, "1")
        assert cli.main(["reproduce", "--only", "fbm,rlhf", "--out", str(tmp_path)]) == 0
        err = capsys.readouterr().err
        assert "reproduce" in err and "2/2" in err and "fbm" in err and "rlhf" in err, err
        assert "solve" in err  # the inner bar named its running stage
        assert (tmp_path / "index.md").exists()
        monkeypatch.setenv(ENV, "0")
        assert cli.main(["reproduce", "--only", "fbm", "--out", str(tmp_path)]) == 0
        assert "reproduce" not in capsys.readouterr().err
    finally:  # cli.main turns float64 on for its process
        jax.config.update("jax_enable_x64", x64)
