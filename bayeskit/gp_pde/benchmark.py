"""Benchmark of ``bayeskit.gp_pde`` (``bayeskit bench gp_pde --json``), issue 7.

Quick preset: the three 1-D cases (300 steps) and the 2-D sin(6x)cos(20x) case on 200 x 200
(300 steps of 50 warm-started CG iterations each) with the fast ``profile`` method, the RBF
(GP-SE) negative control (100 steps), a Chebyshev collocation reference on the same number of
points, the Kronecker-vs-dense timing of one objective-and-gradient evaluation on 60 x 60, and
the time of one step on 400 x 400, the fraction of 2000 test points of sin(100x) whose error
lies within 3 predictive sd (``coverage_3sd``, issue 20), and two problems generated from fixed
random frequencies that no default was tuned on (``_generated``; issue 20), solved with every
default: 1-D Poisson with its highest frequency at 25.1 cycles per unit length on 301 nodes
(``rel_l2_generated1d``), and 2-D Poisson on 40 x 40 (``rel_l2_generated2d``,
``seconds_generated2d``).

Paper preset: the same with 1500 steps in 1-D and 1000 in 2-D, then every other case of
``problems.names()`` on the paper's grid (the extra GP for the two multi-scale 1-D cases;
advection with the paper's joint Adam and jitter, ``_PAPER_ADAM``), each beside the authors'
logged error (``PAPER``). Each case's error is reported at the last step (``rel_l2_<case>``) and at its
best of the 21 checkpoints (``best_rel_l2_<case>``), the authors' selection, which picks a
checkpoint by its test error. It takes about three hours on 2 cores: 114 minutes at commit
b5d7b1c with advection on a coarser grid (the 400 x 400 cases about 21 and 24 minutes, the
900-node mixed-scale case with its extra GP 26), and advection on the paper's grid alone 71
minutes at commit 4a6491d, 28 since the joint-Adam step got faster (2026-12-03); the paper
preset reports each case on stderr as it ends. Results in
docs/gp_pde_measurements.md.
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from bayeskit.gp_pde import baselines, problems, spectral
from bayeskit.gp_pde.model import JITTER, objective, objective_dense
from bayeskit.gp_pde.solver import solve


def _key(name: str) -> str:
    """``poisson_1d_sin100`` -> ``poisson1d_sin100``, the issue's key style (``rel_l2_<key>``)."""
    return name.replace("_1d_", "1d_").replace("_2d_", "2d_")


# The authors' own logged errors (brief section 2.3, best of 21 checkpoints, GP-HM-StM, with the
# extra GP for poisson_1d_mix and poisson_1d_sin500; GP-SE for the RBF control); the paper's
# tables could not be retrieved.
_LOGGED = {
    "poisson_1d_sin100": 6.529e-07,
    "poisson_1d_sin6cos100": 1.082e-06,
    "poisson_1d_xsin200": 8.976e-07,
    "poisson_1d_mix": 5.451e-04,
    "poisson_1d_sin500": 4.218e-04,
    "allencahn_1d_sin100": 1.838e-06,
    "allencahn_1d_sin6cos100": 8.163e-07,
    "poisson_2d_sin100": 6.867e-05,
    "poisson_2d_sin6cos20": 2.222e-04,
    "allencahn_2d_mix": 5.678e-03,
    "advection_beta200": 1.434e-04,
}
PAPER = {f"rel_l2_{_key(k)}": v for k, v in _LOGGED.items()} | {
    "rel_l2_rbf_poisson1d_sin100": 1.534e-03
}
_EXTRA_GP = ("poisson_1d_mix", "poisson_1d_sin500")  # the authors' two-stage cases
# Paper-preset cases run with the paper's own optimiser. Advection: the profile method solves
# first-order operators only up to 2500 nodes (no iterative inner solve tried converges on the
# paper's 200 x 200, docs/gp_pde_measurements.md), so on that grid it runs the paper's joint Adam
# (step size 1e-2) for the authors' 2e5 steps with the authors' jitter (``model.JITTER``, 1e-6;
# the default for that grid, 1.06e-7, left joint Adam at 0.16 after 2e5 steps), about 28 minutes
# here (docs/gp_pde_measurements.md).
_PAPER_ADAM = {"advection_beta200": 200_000}
_QUICK_1D = ("poisson_1d_sin100", "poisson_1d_sin6cos100", "allencahn_1d_sin100")
_QUICK_2D = "poisson_2d_sin6cos20"

_PRESETS = {
    # the RBF control gave 1.02 after 300 quick steps (the authors logged 1.5e-3 after 1e5):
    # 100 keep the quick preset under 6 minutes
    "quick": dict(steps=300, steps_2d=300, grid_2d=200, steps_rbf=100),
    "paper": dict(steps=1500, steps_2d=1000, grid_2d=200, steps_rbf=1500),
}


def _best(sol, last: float) -> float:
    """The smallest relative L2 over the final model's checkpoints (``trace``, 21 by default;
    the extra GP's when there is one), the authors' selection (brief section 2.3). The last
    checkpoint is taken as ``last`` (``sol.rel_l2()``, computed along another path than the
    trace's; they differ in the ninth digit), so the best is never above the last step's error."""
    final = sol if sol.extra is None else sol.extra
    return min(float(np.nanmin(final.trace.rel_l2[:-1])), last)


def _record(out: dict, name: str, sol) -> float:
    """Store ``rel_l2_<key>`` (last step) and ``best_rel_l2_<key>`` (best checkpoint) of a
    solved benchmark case; returns the last step's error."""
    err = sol.rel_l2()
    out[f"rel_l2_{_key(name)}"], out[f"best_rel_l2_{_key(name)}"] = err, _best(sol, err)
    return err


def _generated(d: int) -> problems.PDEProblem:
    """Poisson on the unit box with a solution of fixed random frequencies (drawn once from
    ``numpy.random.default_rng(2020)``, cycles per unit length) and no ``freq_scale``, so
    ``solve`` derives every default from the problem. 1-D: two tones, 5.215 and 25.143, on 301
    nodes, ``max_frequency`` given. 2-D: two products of tones on 40 x 40, ``max_frequency``
    not given (estimated from the source's spectrum)."""
    s = jnp.sin
    tau = 2 * np.pi
    if d == 1:

        def exact(x):
            return 0.932 * s(tau * 5.215 * x[0] + 2.095) + 0.86 * s(tau * 25.143 * x[0] + 5.54)

        grid, max_freq = (301,), 25.143
    else:

        def exact(x):
            a = s(tau * 5.631 * x[0] + 5.343) * s(tau * 5.663 * x[1] + 4.297)
            return a + 0.5 * s(tau * 7.057 * x[0] + 4.184) * s(tau * 5.127 * x[1] + 5.948)

        grid, max_freq = (40, 40), None
    terms = tuple(problems.Term(1.0, j, 2) for j in range(d))
    return problems.PDEProblem(
        name=f"generated{d}d",
        domain=((0.0, 1.0),) * d,
        grid=grid,
        terms=terms,
        source=problems.source_from_exact(exact, terms),
        boundary=exact,
        exact=exact,
        max_frequency=max_freq,
    )


def _coverage_3sd(sol, n: int = 2000) -> float:
    """The fraction of ``n`` uniform test points (fixed seed) whose error lies within 3
    predictive sd (``GPSolution.predict(x, return_std=True)``; issue 20)."""
    lo, hi = sol.problem.domain[0]
    x = np.random.default_rng(0).uniform(lo, hi, size=(n, 1))
    mean, sd = sol.predict(x, return_std=True)
    err = np.abs(np.asarray(mean) - np.asarray(jax.vmap(sol.problem.exact)(jnp.asarray(x))))
    return float(np.mean(err <= 3 * np.asarray(sd)))


def _timed(fn, *args, repeats=3):
    out = fn(*args)
    jax.block_until_ready(out)
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / repeats


def _kron_vs_dense(n: int = 60):
    """Seconds of one objective-and-gradient evaluation, Kronecker and dense, on ``n x n``."""
    prob = problems.get("poisson_2d_sin6cos20", grid=n)
    params = spectral.init_params(2, 30, prob.freq_scale)
    u = jnp.asarray(prob.exact_values(prob.axes()))
    z = jnp.zeros(())
    fk = jax.jit(jax.value_and_grad(lambda p: objective(prob, u, p, z, z, kernel="student_t")))
    fd = jax.jit(
        jax.value_and_grad(lambda p: objective_dense(prob, u, p, z, z, kernel="student_t"))
    )
    return _timed(fk, params), _timed(fd, params, repeats=1)


def _step_time_2d(n: int = 400):
    """Seconds per step of the paper's joint Adam on an ``n x n`` grid (after compilation)."""
    prob = problems.get("poisson_2d_sin100", grid=n)
    solve(0, prob, method="adam", steps=1, log_every=1)  # compile
    start = time.perf_counter()
    solve(0, prob, method="adam", steps=3, log_every=3)
    return (time.perf_counter() - start) / 3


def run(preset: str = "quick", key=0) -> dict:
    """Run the benchmark; returns the flat metric dict of issue 7.

    Raises:
        ValueError: on an unknown preset.
    """
    if preset not in _PRESETS:
        raise ValueError(f"preset: expected one of {', '.join(_PRESETS)}, got {preset!r}")
    cfg = _PRESETS[preset]
    out: dict = {"preset": preset}
    start_all = time.perf_counter()
    with jax.enable_x64(True):
        sols = {}
        for name in _QUICK_1D:
            t0 = time.perf_counter()
            sols[name] = solve(key, problems.get(name), steps=cfg["steps"])
            if name == _QUICK_1D[0]:  # the issue times sin(100x) only
                out[f"seconds_{_key(name)}"] = time.perf_counter() - t0
            _record(out, name, sols[name])
        out["coverage_3sd"] = _coverage_3sd(sols["poisson_1d_sin100"])
        p2 = problems.get(_QUICK_2D, grid=cfg["grid_2d"])
        _record(out, _QUICK_2D, solve(key, p2, steps=cfg["steps_2d"]))
        rbf = solve(key, problems.get("poisson_1d_sin100"), kernel="rbf", steps=cfg["steps_rbf"])
        _record(out, "rbf_poisson_1d_sin100", rbf)  # keys rel_l2_rbf_poisson1d_sin100, best_...
        for d in (1, 2):
            t0 = time.perf_counter()
            gen = solve(key, _generated(d), steps=cfg["steps"])
            out[f"rel_l2_generated{d}d"] = gen.rel_l2()
            if d == 2:
                out["seconds_generated2d"] = time.perf_counter() - t0
        ex = lambda x: np.sin(100 * x)  # noqa: E731
        src = lambda x: -1e4 * np.sin(100 * x)  # noqa: E731
        t0 = time.perf_counter()
        _, _, cheb = baselines.chebyshev_poisson_1d(src, ex, 0.0, 2 * np.pi, 400)
        out["chebyshev_seconds"] = time.perf_counter() - t0
        out["rel_l2_chebyshev_poisson1d_sin100"] = cheb
        out["rel_l2_fd_poisson1d_sin100"] = baselines.fd_poisson_1d(src, ex, 0.0, 2 * np.pi, 400)[2]
        t_kron, t_dense = _kron_vs_dense(60)
        out["kron_seconds"] = t_kron
        out["dense_seconds"] = t_dense
        out["kron_speedup_vs_dense"] = t_dense / t_kron
        out["seconds_per_step_2d_400"] = _step_time_2d(400)
        if preset == "paper":
            for name in problems.names():
                if name not in _QUICK_1D and name != _QUICK_2D:
                    _paper_case(out, name, cfg, key)
    out["_figure"] = _figure(sols["poisson_1d_sin100"], rbf)
    out["seconds"] = time.perf_counter() - start_all
    return out


def _paper_case(out: dict, name: str, cfg: dict, key):
    """Solve one paper-preset case on the paper's grid (joint Adam for the cases in
    ``_PAPER_ADAM``, else the profile method), record it in ``out`` (``_record``, seconds, the
    method when it is Adam) and report it on stderr. Returns the ``GPSolution``."""
    adam_steps = _PAPER_ADAM.get(name)
    prob = problems.get(name)
    steps = cfg["steps"] if prob.ndim == 1 else cfg["steps_2d"]
    t0 = time.perf_counter()
    sol = solve(
        key,
        prob,
        steps=steps if adam_steps is None else adam_steps,
        method="profile" if adam_steps is None else "adam",
        jitter=None if adam_steps is None else JITTER,
        extra_gp=name in _EXTRA_GP,
        progress=True,
    )
    if adam_steps is not None:
        out[f"method_{_key(name)}"] = "adam"
    secs, err = time.perf_counter() - t0, _record(out, name, sol)
    out[f"seconds_{_key(name)}"] = secs
    print(  # the paper preset runs for hours: report each case as it ends
        f"gp_pde paper {name}: rel_l2 {err:.3g}, best checkpoint "
        f"{out[f'best_rel_l2_{_key(name)}']:.3g} (authors' best "
        f"{_LOGGED[name]:.3g}) in {secs:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return sol


def _figure(sol, rbf):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with jax.enable_x64(True):
        x = np.linspace(0, 2 * np.pi, 2000)
        truth = np.sin(100 * x)
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
        axes[0].plot(x, np.asarray(sol.predict(x)) - truth, label="GP-HM (StM)")
        axes[0].plot(x, np.asarray(rbf.predict(x)) - truth, label="GP-SE", alpha=0.6)
        axes[0].set_title("pointwise error, Poisson 1-D sin(100x)")
        axes[0].legend()
        axes[1].semilogy(sol.trace.step, sol.trace.rel_l2, "o-")
        axes[1].set_title("relative L2 per checkpoint")
        spec = sol.spectrum()
        w, f, act = (np.asarray(a)[0] for a in (spec.weights, spec.freqs, spec.active))
        axes[2].stem(f[act], w[act], label="active")
        axes[2].plot(f[~act], w[~act], "x", label="pruned")
        axes[2].axvline(100 / (2 * np.pi), color="k", ls=":", label="true 15.9")
        axes[2].set_title("learned spectrum")
        axes[2].legend()
        fig.tight_layout()
    return fig
