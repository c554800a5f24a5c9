"""Plotting helpers of gp_pde, fbm, smc, rlhf and thinning: what they draw, and their input checks.

Results are built by hand (they are plain pytrees), so no solve, fit or filter runs here: the
helpers only read a result's fields, and each test checks the drawn data against those fields.
"""

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection, QuadMesh  # noqa: E402

from bayeskit import fbm, gp_pde, rlhf, smc, thinning  # noqa: E402
from bayeskit.fbm.sde import SimResult  # noqa: E402
from bayeskit.gp_pde import spectral  # noqa: E402
from bayeskit.gp_pde.problems import PDEProblem, Term, source_from_exact  # noqa: E402
from bayeskit.gp_pde.solution import GPSolution  # noqa: E402
from bayeskit.gp_pde.state import SolveInfo, Trace  # noqa: E402
from bayeskit.smc.paris import ParisResult  # noqa: E402
from bayeskit.smc.ppg import PPGResult  # noqa: E402

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _labels(ax):
    return [h.get_label() for h in ax.get_legend_handles_labels()[0]]


# ----------------------------------------------------------------------------- gp_pde


def _sin1(x):
    return jnp.sin(2.0 * x[0])


def _sin2(x):
    return jnp.sin(x[0]) * jnp.cos(x[1])


def _problem(d, exact=True):
    if d == 1:
        terms, fn, dom, grid = (Term(1.0, 0, 2),), _sin1, ((0.0, np.pi),), (12,)
    else:
        terms = (Term(1.0, 0, 2), Term(1.0, 1, 2))
        fn, dom, grid = _sin2, ((0.0, 1.0),) * d, (5,) * d
    return PDEProblem(
        f"toy{d}d", dom, grid, terms, source_from_exact(fn, terms), fn, exact=fn if exact else None
    )


def _solution(d=1, exact=True, rel_l2=(0.5, 0.1, 0.02)):
    # The helpers read the grid values, the trace and the spectrum; a hand-built solution spares
    # the ~10 s compile of a real solve.
    prob = _problem(d, exact)
    values = RNG.normal(size=prob.grid)
    log_w = jnp.log(jnp.array([[0.6, 0.4, 1e-5]] * d))  # the last component is pruned
    params = spectral.init_params(d, 3, 2.0)._replace(log_weight=log_w)
    return GPSolution(
        kernel="student_t",
        problem=prob,
        axes=prob.axes(),
        values=jnp.asarray(values),
        alpha=jnp.asarray(RNG.normal(size=prob.grid)),
        params=params,
        log_tau=jnp.zeros(()),
        log_v=jnp.zeros(()),
        trace=Trace(np.array([0, 5, 10]), np.array([3.0, -1.0, -2.5]), np.array(rel_l2)),
        info=SolveInfo(0.0, True),
        jitter=1e-6,
    )


def test_gp_pde_plot_solution_draws_grid_values_and_exact():
    sol = _solution()
    ax = gp_pde.plot_solution(sol)
    (line, exact) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), np.asarray(sol.axes[0]))
    np.testing.assert_array_equal(line.get_ydata(), np.asarray(sol.values))
    np.testing.assert_allclose(exact.get_ydata(), np.sin(2.0 * line.get_xdata()), atol=1e-6)
    assert _labels(ax) == ["student_t", "exact"] and ax.get_ylabel() == "u(x)"


def test_gp_pde_plot_solution_between_nodes_and_error():
    sol = _solution()
    fig, axes = plt.subplots(1, 2)
    out = gp_pde.plot_solution(sol, n_points=40, exact=False, ax=axes[0], label="GP-HM")
    assert out is axes[0]
    (line,) = out.get_lines()
    x = np.linspace(0.0, np.pi, 40)
    np.testing.assert_allclose(line.get_xdata(), x)
    np.testing.assert_allclose(line.get_ydata(), np.asarray(sol.predict_grid((x,))), rtol=1e-12)
    assert line.get_label() == "GP-HM"
    gp_pde.plot_solution(sol, error=True, ax=axes[1])
    (err,) = axes[1].get_lines()
    expected = np.abs(np.asarray(sol.values) - np.sin(2.0 * np.asarray(sol.axes[0], np.float64)))
    np.testing.assert_allclose(err.get_ydata(), expected, atol=1e-6)
    assert axes[1].get_yscale() == "log" and axes[1].get_title() == "pointwise error"


def test_gp_pde_plot_solution_2d_is_a_colour_map_of_the_grid_values():
    sol = _solution(d=2)
    ax = gp_pde.plot_solution(sol)
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    np.testing.assert_array_equal(
        np.asarray(mesh.get_array()).ravel(), np.asarray(sol.values).T.ravel()
    )
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x0", "x1")
    assert len(ax.figure.axes) == 2  # the colour bar


def test_gp_pde_plot_trace_and_spectrum():
    sol = _solution()
    ax = gp_pde.plot_trace(sol)
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [0, 5, 10])
    np.testing.assert_array_equal(line.get_ydata(), [0.5, 0.1, 0.02])
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "relative L2 error"
    ax = gp_pde.plot_trace(sol, "loss", marker="s")
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [3.0, -1.0, -2.5])
    assert ax.get_yscale() == "linear"

    ax = gp_pde.plot_spectrum(sol, reference=2.0 / np.pi)
    spec = sol.spectrum()
    (stem,) = ax.containers
    np.testing.assert_allclose(stem.markerline.get_xdata(), spec.freqs[0, :2])
    np.testing.assert_allclose(stem.markerline.get_ydata(), spec.weights[0, :2])
    pruned = [ln for ln in ax.get_lines() if ln.get_label() == "pruned"][0]
    np.testing.assert_allclose(pruned.get_ydata(), spec.weights[0, 2:])
    dotted = [ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert dotted == [2.0 / np.pi]


def test_gp_pde_plot_bad_inputs():
    sol = _solution()
    with pytest.raises(TypeError, match="solution: expected a GPSolution .* got dict"):
        gp_pde.plot_solution({})
    with pytest.raises(TypeError, match="solution: expected a GPSolution"):
        gp_pde.plot_trace(sol.trace)
    with pytest.raises(TypeError, match="ax: expected a matplotlib Axes or None, got str"):
        gp_pde.plot_solution(sol, ax="left")
    with pytest.raises(ValueError, match="n_points: expected an integer >= 2, got 1"):
        gp_pde.plot_solution(sol, n_points=1)
    with pytest.raises(ValueError, match="error: problem 'toy1d' has no exact solution"):
        gp_pde.plot_solution(_solution(exact=False), error=True)
    with pytest.raises(ValueError, match="plots support 1-D and 2-D problems, got d = 3"):
        gp_pde.plot_solution(_solution(d=3))
    with pytest.raises(ValueError, match="quantity: expected one of 'rel_l2', 'loss', got 'l2'"):
        gp_pde.plot_trace(sol, "l2")
    with pytest.raises(ValueError, match="rel_l2 trace is NaN; use quantity='loss'"):
        gp_pde.plot_trace(_solution(exact=False, rel_l2=(np.nan,) * 3))
    with pytest.raises(ValueError, match=r"dim: expected an integer in \[0, 0\], got 1"):
        gp_pde.plot_spectrum(sol, dim=1)
    with pytest.raises(ValueError, match="prune_ratio: expected positive values"):
        gp_pde.plot_spectrum(sol, prune_ratio=0.0)


def test_gp_pde_problem_without_exact_solution_plots_the_solution_alone():
    ax = gp_pde.plot_solution(_solution(exact=False))
    assert _labels(ax) == ["student_t"]


def test_gp_pde_plot_band_draws_mean_exact_and_three_sd():
    sol = _solution()
    fig, axes = plt.subplots(1, 2)
    gp_pde.plot_band(sol, n_points=30, ax=axes[0])
    mean_line, exact_line = axes[0].get_lines()
    x = np.linspace(0.0, np.pi, 30)
    mean, sd = (np.asarray(a) for a in sol.predict(x, return_std=True))
    np.testing.assert_allclose(mean_line.get_ydata(), mean, rtol=1e-12)
    np.testing.assert_allclose(exact_line.get_ydata(), np.sin(2.0 * x), atol=1e-12)
    (band,) = axes[0].collections
    ys = band.get_paths()[0].vertices[:, 1]
    # fill_between's outline runs along the lower edge, then back along the upper one
    assert ys.min() == pytest.approx(float(np.min(mean - 3 * sd)))
    assert ys.max() == pytest.approx(float(np.max(mean + 3 * sd)))
    assert _labels(axes[0]) == ["+-3 sd", "mean", "exact"]
    gp_pde.plot_band(sol, n_points=30, n_sd=2.0, error=True, ax=axes[1])
    (err,) = axes[1].get_lines()
    np.testing.assert_allclose(err.get_ydata(), mean - np.sin(2.0 * x), atol=1e-12)
    assert axes[1].collections[0].get_paths()[0].vertices[:, 1].max() == pytest.approx(
        float(np.max(2 * sd))
    )
    with pytest.raises(ValueError, match="n_sd: expected positive"):
        gp_pde.plot_band(sol, n_sd=0.0)
    with pytest.raises(ValueError, match="error: problem 'toy1d' has no exact solution"):
        gp_pde.plot_band(_solution(exact=False), error=True)
    with pytest.raises(ValueError, match="plot_band needs a 1-D problem"):
        gp_pde.plot_band(_solution(d=2))
    with pytest.raises(TypeError, match="solution: expected a GPSolution"):
        gp_pde.plot_band({})


# ----------------------------------------------------------------------------- fbm


def _paths(p=2, n=50, s=30, d=2):
    x = RNG.normal(size=(p, n, s + 1, d)) * np.linspace(0.1, 1.0, s + 1)[:, None]
    return SimResult(times=jnp.linspace(0.0, 1.5, s + 1), x=jnp.asarray(x), y=None, kl=None)


def test_fbm_plot_paths_draws_lines_mean_and_band():
    paths = _paths()
    ax = fbm.plot_paths(paths, sequence=1, latent=1, n_lines=7, n_sd=1.5)
    lines = ax.get_lines()
    assert len(lines) == 7 + 3
    x = np.asarray(paths.x)[1, :, :, 1]
    np.testing.assert_array_equal(lines[3].get_ydata(), x[3])
    np.testing.assert_allclose(lines[0].get_xdata(), np.asarray(paths.times))
    mean, upper, lower = lines[7:]
    np.testing.assert_allclose(mean.get_ydata(), x.mean(0), rtol=1e-6)
    np.testing.assert_allclose(upper.get_ydata(), x.mean(0) + 1.5 * x.std(0), rtol=1e-6)
    np.testing.assert_allclose(lower.get_ydata(), x.mean(0) - 1.5 * x.std(0), rtol=1e-6)
    assert _labels(ax) == ["posterior mean", "posterior ±1.5 sd"]
    # 3-D x (paths of fbm.simulate) is one sequence
    single = SimResult(times=paths.times, x=paths.x[0], y=None, kl=None)
    ax = fbm.plot_paths(single, n_lines=0)
    first = np.asarray(paths.x)[0, :, :, 0]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), first.mean(0), rtol=1e-6)


def _fit_result(steps=6):
    losses = jnp.linspace(50.0, 20.0, steps)
    hurst = jnp.linspace(0.5, 0.7, steps)
    return fbm.FitResult(None, losses, hurst, None, 0.1, "exact", None)


def test_fbm_plot_trace_elbo_loss_and_hurst():
    res = _fit_result()
    fig, ax = plt.subplots()
    assert fbm.plot_trace(res, ax=ax, label="H = 0.7") is ax
    fbm.plot_trace(res, "hurst", ax=ax)
    elbo, hurst = ax.get_lines()
    np.testing.assert_array_equal(elbo.get_xdata(), np.arange(6))
    np.testing.assert_allclose(elbo.get_ydata(), -np.asarray(res.losses))
    np.testing.assert_allclose(hurst.get_ydata(), np.asarray(res.hurst))
    assert elbo.get_label() == "H = 0.7" and ax.get_ylabel() == "Hurst index H"
    ax = fbm.plot_trace(res, "loss")
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), np.asarray(res.losses))


def test_fbm_plot_bad_inputs():
    paths = _paths()
    with pytest.raises(TypeError, match="paths: expected a SimResult .* got FitResult"):
        fbm.plot_paths(_fit_result())
    with pytest.raises(ValueError, match=r"sequence: expected an integer in \[0, 1\], got 2"):
        fbm.plot_paths(paths, sequence=2)
    with pytest.raises(ValueError, match=r"latent: expected an integer in \[0, 1\], got 5"):
        fbm.plot_paths(paths, latent=5)
    with pytest.raises(ValueError, match="n_sd: expected positive values, got -1"):
        fbm.plot_paths(paths, n_sd=-1.0)
    with pytest.raises(ValueError, match="n_lines: expected an integer >= 0"):
        fbm.plot_paths(paths, n_lines=-1)
    with pytest.raises(ValueError, match="paths: expected at least 2 paths for a band, got 1"):
        fbm.plot_paths(_paths(n=1))
    with pytest.raises(TypeError, match="result: expected a FitResult .* got SimResult"):
        fbm.plot_trace(paths)
    with pytest.raises(ValueError, match="quantity: expected one of 'elbo', 'loss', 'hurst'"):
        fbm.plot_trace(_fit_result(), "kl")
    with pytest.raises(TypeError, match="ax: expected a matplotlib Axes or None, got ndarray"):
        fbm.plot_trace(_fit_result(), ax=np.zeros(2))


# ----------------------------------------------------------------------------- smc


def _ppg(burn_in=2, iters=40, t=25, dx=2, shift=0.0):
    paths = RNG.normal(size=(burn_in + iters, t, dx)) + shift + np.linspace(0.0, 3.0, t)[:, None]
    return PPGResult(
        estimate=jnp.zeros(2),
        estimates=jnp.zeros((burn_in + iters, 2)),
        paths=jnp.asarray(paths),
        log_likelihoods=jnp.zeros(burn_in + iters),
        burn_in=burn_in,
    )


def test_smc_plot_smoothed_pools_chains_after_burn_in():
    chains = [_ppg(), _ppg(burn_in=3, iters=30, shift=0.5)]
    truth = np.linspace(0.0, 3.0, 25)
    ax = smc.plot_smoothed(chains, dim=1, prob=0.8, interval="eti", truth=truth)
    draws = np.concatenate([np.asarray(c.paths)[c.burn_in :, :, 1] for c in chains])
    assert draws.shape == (70, 25)
    truth_line, mean = ax.get_lines()[:2]
    np.testing.assert_array_equal(truth_line.get_ydata(), truth)
    np.testing.assert_allclose(mean.get_ydata(), draws.mean(0), rtol=1e-6)
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    verts = band.get_paths()[0].vertices
    lo, hi = np.quantile(draws, [0.1, 0.9], axis=0)
    # fill_between's polygon: the lower edge forward, then the upper edge backward
    for t in (0, 12, 24):
        ys = verts[np.isclose(verts[:, 0], t), 1]
        np.testing.assert_allclose([ys.min(), ys.max()], [lo[t], hi[t]], rtol=1e-6)
    assert _labels(ax) == ["truth", "PPG smoothed mean", "0.8 ETI"]


def test_smc_plot_smoothed_hdi_band_is_arviz_hdi():
    import arviz as az

    res = _ppg()
    ax = smc.plot_smoothed(res)
    draws = np.asarray(res.paths)[res.burn_in :, :, 0]
    hdi = np.asarray(az.hdi(draws[None], hdi_prob=0.9))
    verts = [c for c in ax.collections if isinstance(c, PolyCollection)][0].get_paths()[0].vertices
    for t in (0, 10, 24):
        ys = verts[np.isclose(verts[:, 0], t), 1]
        np.testing.assert_allclose([ys.min(), ys.max()], hdi[t], rtol=1e-6)
    assert "0.9 HDI" in _labels(ax)


def test_smc_plot_ess():
    ess = jnp.array([50.0, 31.0, 44.5, 12.0])
    zero = jnp.zeros(())
    res = ParisResult(jnp.zeros(2), zero, ess, zero, zero, zero, zero)
    ax = smc.plot_ess(res, n_particles=50, label="PaRIS")
    line, ref = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), np.arange(4))
    np.testing.assert_array_equal(line.get_ydata(), np.asarray(ess))
    assert list(ref.get_ydata()) == [50, 50] and ax.get_ylabel() == "ESS"
    assert _labels(ax) == ["PaRIS", "N = 50"]


def test_smc_plot_bad_inputs():
    res = _ppg()
    with pytest.raises(TypeError, match="results: expected a PPGResult or a non-empty sequence"):
        smc.plot_smoothed([])
    zero = jnp.zeros(())
    paris = ParisResult(zero, zero, jnp.ones(3), zero, zero, zero, zero)
    with pytest.raises(TypeError, match="sequence of them, got ParisResult"):
        smc.plot_smoothed(paris)
    with pytest.raises(TypeError, match=r"results\[1\]: expected a PPGResult, got dict"):
        smc.plot_smoothed([res, {}])
    with pytest.raises(ValueError, match="chains have paths of different shapes"):
        smc.plot_smoothed([res, _ppg(t=10)])
    with pytest.raises(ValueError, match=r"dim: expected an integer in \[0, 1\], got 2"):
        smc.plot_smoothed(res, dim=2)
    with pytest.raises(ValueError, match=r"prob: expected a value in \(0.0, 1.0\), got 1.5"):
        smc.plot_smoothed(res, prob=1.5)
    with pytest.raises(ValueError, match="interval: expected one of 'hdi', 'eti', got 'sd'"):
        smc.plot_smoothed(res, interval="sd")
    with pytest.raises(ValueError, match=r"truth: expected 25 time steps, got shape \(24,\)"):
        smc.plot_smoothed(res, truth=np.zeros(24))
    with pytest.raises(ValueError, match="expected at least 2 draws after burn-in, got 1"):
        smc.plot_smoothed(_ppg(iters=1))
    with pytest.raises(TypeError, match="result: expected a ParisResult .* got PPGResult"):
        smc.plot_ess(res)
    with pytest.raises(ValueError, match="n_particles: expected an integer >= 1, got 0"):
        smc.plot_ess(paris, n_particles=0)


# ----------------------------------------------------------------------------- rlhf


def _runlog(seeds=3, episodes=20, queries_per_episode=1.0, scale=1.0):
    regret = scale * RNG.uniform(0.0, 1.0, size=(seeds, episodes)) / np.arange(1, episodes + 1)
    asked = RNG.uniform(size=(seeds, episodes)) < queries_per_episode
    field = lambda: jnp.asarray(RNG.normal(size=(seeds, episodes)))
    queries = jnp.asarray(np.cumsum(asked, axis=1))
    # the helpers read only the per-episode arrays: no preferences or state needed
    return rlhf.RunLog(jnp.asarray(regret), field(), queries, field(), field(), None, None)


def test_rlhf_plot_run_mean_with_standard_error_band():
    log = _runlog()
    ax = rlhf.plot_run(log, label="active", color="C2")
    (line,) = ax.get_lines()
    cum = np.cumsum(np.asarray(log.regret), axis=1)
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 21))
    np.testing.assert_allclose(line.get_ydata(), cum.mean(0), rtol=1e-6)
    assert line.get_label() == "active" and ax.get_ylabel() == "cumulative regret"
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    verts = band.get_paths()[0].vertices
    se = cum.std(0, ddof=1) / np.sqrt(3)
    for t in (1, 10, 20):
        ys = verts[np.isclose(verts[:, 0], t), 1]
        np.testing.assert_allclose(
            [ys.min(), ys.max()],
            [cum.mean(0)[t - 1] - se[t - 1], cum.mean(0)[t - 1] + se[t - 1]],
            rtol=1e-6,
        )


def test_rlhf_plot_run_each_seed_and_one_seed_without_band():
    log = _runlog(seeds=4)
    ax = rlhf.plot_run(log, "queries", show="each")
    lines = ax.get_lines()
    assert len(lines) == 4 and ax.get_ylabel() == "cumulative queries"
    np.testing.assert_array_equal(lines[2].get_ydata(), np.asarray(log.queries)[2])
    one = jax.tree.map(lambda x: x[0], log)  # None fields are empty subtrees
    ax = rlhf.plot_run(one, "regret")
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), np.asarray(one.regret), rtol=1e-6)
    assert not ax.collections and ax.get_ylabel() == "regret per episode"


def test_rlhf_plot_regret_vs_queries_is_log_log_with_slope():
    # total regret proportional to queries^-1/2 exactly: the fitted slope is -0.5
    logs = {}
    for eps, q in ((0.05, 16), (0.1, 4), (0.2, 1)):
        regret = jnp.full((2, 16), 1.0 / np.sqrt(q) / 16)
        queries = jnp.tile(jnp.arange(1, 17) * q // 16, (2, 1))
        logs[eps] = rlhf.RunLog(regret, regret, queries, regret, regret, None, None)
    ax = rlhf.plot_regret_vs_queries(logs, label="PR-LSVI")
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_xdata(), [16, 4, 1])
    np.testing.assert_allclose(line.get_ydata(), [0.25, 0.5, 1.0], rtol=1e-6)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert _labels(ax) == ["PR-LSVI (slope -0.50)"]
    assert [t.get_text() for t in ax.texts] == ["0.05", "0.1", "0.2"]


def test_rlhf_plot_bad_inputs():
    log = _runlog()
    with pytest.raises(TypeError, match="log: expected a RunLog .* got dict"):
        rlhf.plot_run({})
    with pytest.raises(
        ValueError, match="quantity: expected one of 'cumulative_regret', .*got 'value'"
    ):
        rlhf.plot_run(log, "value")
    with pytest.raises(ValueError, match="show: expected one of 'mean', 'each', got 'all'"):
        rlhf.plot_run(log, show="all")
    with pytest.raises(TypeError, match="ax: expected a matplotlib Axes or None, got int"):
        rlhf.plot_run(log, ax=1)
    with pytest.raises(TypeError, match="logs: expected a mapping name -> RunLog, got list"):
        rlhf.plot_regret_vs_queries([log])
    with pytest.raises(ValueError, match="logs: expected at least one run"):
        rlhf.plot_regret_vs_queries({})
    with pytest.raises(ValueError, match="slope: a slope needs at least 2 runs in logs, got 1"):
        rlhf.plot_regret_vs_queries({"a": log})
    with pytest.raises(TypeError, match=r"logs\['b'\]: expected a RunLog .* got tuple"):
        rlhf.plot_regret_vs_queries({"a": log, "b": ()})
    with pytest.raises(
        ValueError, match=r"logs\['none'\]: expected positive queries .* got queries 0"
    ):
        rlhf.plot_regret_vs_queries({"a": log, "none": _runlog(queries_per_episode=0.0)})
    with pytest.raises(TypeError, match="slope: expected a bool, got str"):
        rlhf.plot_regret_vs_queries({"a": log}, slope="yes")


# ----------------------------------------------------------------------------- thinning


def test_thinning_plot_coreset_marks_the_coreset():
    x = RNG.normal(size=(64, 3))
    idx = np.array([3, 10, 40, 63])
    ax = thinning.plot_coreset(x, idx, dims=(2, 0))
    pts, core = [c for c in ax.collections if isinstance(c, PathCollection)]
    np.testing.assert_array_equal(pts.get_offsets(), x[:, [2, 0]])
    np.testing.assert_array_equal(core.get_offsets(), x[idx][:, [2, 0]])
    assert _labels(ax) == ["input (64)", "coreset (4)"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x[2]", "x[0]")


def test_thinning_plot_mmd_curves_is_log_log_with_slopes():
    sizes = [8, 16, 32]
    curves = {"kernel thinning": [0.1, 0.05, 0.025], "i.i.d.": [0.2, 0.2 / 2**0.5, 0.1]}
    ax = thinning.plot_mmd_curves(sizes, curves, slopes=True)
    kt, iid = ax.get_lines()
    np.testing.assert_array_equal(kt.get_xdata(), sizes)
    np.testing.assert_array_equal(iid.get_ydata(), curves["i.i.d."])
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert _labels(ax) == ["kernel thinning (slope -1.00)", "i.i.d. (slope -0.50)"]


def test_thinning_plot_bad_inputs():
    x = RNG.normal(size=(10, 2))
    with pytest.raises(ValueError, match=r"x: expected an array of rank 2, got shape \(10,\)"):
        thinning.plot_coreset(x[:, 0], [0])
    with pytest.raises(ValueError, match="x: expected at least 2 columns"):
        thinning.plot_coreset(x[:, :1], [0])
    with pytest.raises(ValueError, match=r"idx: expected indices in \[0, 10\), got \[0, 10\]"):
        thinning.plot_coreset(x, [0, 10])
    with pytest.raises(TypeError, match="idx: expected integer row indices, got dtype float64"):
        thinning.plot_coreset(x, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"dims: expected two distinct coordinates in \[0, 2\)"):
        thinning.plot_coreset(x, [0], dims=(1, 1))
    with pytest.raises(ValueError, match=r"dims: expected two coordinates \(i, j\), got 0"):
        thinning.plot_coreset(x, [0], dims=0)
    with pytest.raises(TypeError, match="curves: expected a mapping name -> MMDs, got list"):
        thinning.plot_mmd_curves([4, 8], [[0.1, 0.05]])
    with pytest.raises(ValueError, match="curves: expected at least one curve"):
        thinning.plot_mmd_curves([4, 8], {})
    with pytest.raises(ValueError, match=r"curves\['kt'\]: expected shape \(2\), got \(3,\)"):
        thinning.plot_mmd_curves([4, 8], {"kt": [0.1, 0.05, 0.01]})
    with pytest.raises(ValueError, match=r"curves\['kt'\]: expected positive MMDs"):
        thinning.plot_mmd_curves([4, 8], {"kt": [0.1, 0.0]})
    with pytest.raises(ValueError, match="sizes: expected positive coreset sizes"):
        thinning.plot_mmd_curves([0, 8], {"kt": [0.1, 0.05]})
    with pytest.raises(ValueError, match="slopes: a slope needs at least 2 sizes, got 1"):
        thinning.plot_mmd_curves([4], {"kt": [0.1]}, slopes=True)
