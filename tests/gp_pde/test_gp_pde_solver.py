"""GP-HM solver: Kronecker vs dense objective, convergence on low-frequency problems, API."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskit import gp_pde
from bayeskit.gp_pde import spectral as sp
from bayeskit.gp_pde.problems import PDEProblem, Term, source_from_exact


def _lowfreq(d, n):
    def ex(x):
        return jnp.prod(jnp.sin(2 * jnp.pi * x))

    terms = [Term(1.0, j, 2) for j in range(d)]
    return PDEProblem(
        "lowfreq",
        ((0.0, 1.0),) * d,
        (n,) * d,
        terms,
        source_from_exact(ex, terms),
        ex,
        exact=ex,
        freq_scale=3.0,
    )


@pytest.fixture(scope="module")
def sol1d():
    return gp_pde.solve(0, _lowfreq(1, 30), n_components=5, steps=20)


@pytest.fixture(scope="module")
def sol2d():
    return gp_pde.solve(0, _lowfreq(2, 20), n_components=5, steps=10)


@pytest.mark.filterwarnings("ignore::bayeskit.gp_pde.problems.ResolutionWarning")
def test_kronecker_objective_equals_dense_on_20x20():
    prob = gp_pde.problems.get("poisson_2d_sin6cos20", grid=20)
    with jax.enable_x64(True):
        params = sp.init_params(2, 4, 5.0)
        u = jnp.asarray(np.random.default_rng(0).normal(size=(20, 20)))
        args = (jnp.asarray(0.3), jnp.asarray(-0.2))
        for fn_name in ("objective", "objective_dense"):
            assert callable(getattr(gp_pde.solver, fn_name))
        fk = lambda p, u: gp_pde.solver.objective(prob, u, p, *args, kernel="student_t")  # noqa: E731
        fd = lambda p, u: gp_pde.solver.objective_dense(prob, u, p, *args, kernel="student_t")  # noqa: E731
        vk, gk = jax.value_and_grad(fk, argnums=(0, 1))(params, u)
        vd, gd = jax.value_and_grad(fd, argnums=(0, 1))(params, u)
        # the same float64 quantity by two algebraic routes: agreement to ~1e-8 relative
        np.testing.assert_allclose(vk, vd, rtol=1e-8)
        for a, b in zip(jax.tree.leaves(gk), jax.tree.leaves(gd), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6 * float(jnp.abs(b).max()))


@pytest.fixture(scope="module")
def sol_sin25():
    # u = sin(25x) on [0, 2 pi] with 100 nodes: 4 nodes per period, as sin(100x) on the paper's
    # 400-node grid, at a size that solves in seconds
    def ex(x):
        return jnp.sin(25.0 * x[0])

    terms = [Term(1.0, 0, 2)]
    prob = PDEProblem(
        "sin25",
        ((0.0, 2 * np.pi),),
        (100,),
        terms,
        source_from_exact(ex, terms),
        ex,
        exact=ex,
        freq_scale=5.0,
    )
    return gp_pde.solve(0, prob, steps=300)


def test_high_frequency_1d_converges_and_finds_the_frequency(sol_sin25):
    # measured 1.3e-5 (the 2nd-order FD error on this grid is ~0.2); 1e-4 is the issue's
    # quick-preset bound for the 1-D benchmark cases
    assert sol_sin25.rel_l2() <= 1e-4
    errs = sol_sin25.trace.rel_l2
    assert errs[-1] < 1e-2 * errs[1]
    spec = sol_sin25.spectrum()
    top = int(np.argmax(spec.weights[0]))
    assert abs(float(spec.freqs[0, top]) - 25.0 / (2 * np.pi)) < 0.01
    assert sol_sin25.info.finite


def test_low_frequency_converges(sol1d, sol2d):
    # from rel L2 1.0 at U = 0 to below 1% in 20 (1-D) and 10 (2-D) steps
    assert sol1d.trace.rel_l2[0] == pytest.approx(1.0)
    assert sol1d.rel_l2() <= 1e-2
    assert sol2d.rel_l2() <= 1e-1


@pytest.fixture(scope="module")
def accurate_1d():
    return gp_pde.solve(0, _lowfreq(1, 30), n_components=5, steps=2000, jitter=1e-10)


@pytest.fixture(scope="module")
def accurate_2d():
    return gp_pde.solve(0, _lowfreq(2, 16), n_components=5, steps=500, jitter=1e-10)


def test_low_frequency_reaches_issue_accuracy(accurate_1d, accurate_2d):
    # the issue's bounds. Measured 2.4e-7 (1-D, 2000 steps, ~20 s with compilation) and 4.9e-6
    # (2-D 16 x 16, 500 steps, ~30 s). The jitter is lowered from the paper's 1e-6, which floors
    # this smooth solution near 1e-5 (measured 2.7e-6 in 1-D after 2000 steps)
    assert accurate_1d.rel_l2() <= 1e-6
    assert accurate_2d.rel_l2() <= 1e-4
    assert accurate_1d.jitter == 1e-10


def test_predict_interpolates_grid_values(sol2d):
    with jax.enable_x64(True):
        pts = sol2d.problem.points()
    # with K = kron(A_j), A_j = K_j + jitter I, the mean at the nodes is
    # kron(K_j) K^{-1} U = kron(I - jitter A_j^{-1}) U, exactly
    jit = sol2d.jitter
    with jax.enable_x64(True):
        mats = []
        for j, (n, h) in enumerate(zip(sol2d.problem.grid, sol2d.problem.spacing(), strict=True)):
            pj = jax.tree.map(lambda a, j=j: a[j], sol2d.params)
            a_j = sp.toeplitz_gram(sol2d.kernel, pj, n, h) + jit * jnp.eye(n)
            mats.append(jnp.eye(n) - jit * jnp.linalg.inv(a_j))
        want = gp_pde.kronecker.kron_mvp(mats, sol2d.values).ravel()
    # inv() of a factor with condition ~1e7 costs ~1e-9 absolute; 1e-7 leaves margin
    np.testing.assert_allclose(sol2d.predict(pts), want, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(sol2d.predict(pts), sol2d.values.ravel(), atol=1e-3)
    # the reported jitter misfit is that gap, relative (the same float64 quantity)
    gap = np.linalg.norm(sol2d.predict(pts) - sol2d.values.ravel())
    assert sol2d.info.jitter_misfit == pytest.approx(gap / np.linalg.norm(sol2d.values), rel=1e-6)


def test_jitter_misfit_above_threshold_warns(monkeypatch):
    # the threshold lowered to 0 for the test: any jitter leaves a nonzero misfit
    monkeypatch.setattr(gp_pde.solver, "JITTER_WARN", 0.0)
    with pytest.warns(gp_pde.JitterWarning, match="interpolant misses the grid values"):
        sol = gp_pde.solve(0, _lowfreq(1, 30), n_components=5, steps=2, jitter=1e-6)
    assert sol.info.jitter_misfit > 0.0


def test_derivative_matches_exact(sol1d):
    x = np.linspace(0.1, 0.9, 7)
    d2 = np.asarray(sol1d.derivative(x, 2))
    truth = -4 * np.pi**2 * np.sin(2 * np.pi * x)
    # the PDE is enforced with residual ~1e-4 relative, so u'' matches to about that
    np.testing.assert_allclose(d2, truth, atol=1e-2 * np.abs(truth).max())


def test_spectrum_and_trace(sol1d):
    spec = sol1d.spectrum()
    assert spec.weights.shape == (1, 5)
    assert sol1d.trace.step[-1] == 20 and len(sol1d.trace.loss) == 21


def test_solve_leaves_x64_off():
    assert not jax.config.jax_enable_x64


@pytest.mark.parametrize(
    "kw,err,match",
    [
        (dict(kernel="cauchy"), ValueError, "kernel: expected one of"),
        (dict(method="lbfgs"), ValueError, "method: expected one of"),
        (dict(steps=0), ValueError, "steps: expected an integer >= 1"),
        (dict(n_components=0), ValueError, "n_components: expected an integer >= 1"),
        (dict(jitter=0.0), ValueError, "jitter: expected positive"),
        (dict(jitter=float("inf")), ValueError, "jitter: expected positive values, got inf"),
    ],
)
def test_bad_input(kw, err, match):
    with pytest.raises(err, match=match):
        gp_pde.solve(0, _lowfreq(1, 10), **kw)


def test_bad_problem_and_extra_gp():
    with pytest.raises(TypeError, match="problem: expected a PDEProblem"):
        gp_pde.solve(0, "poisson")
    ac = gp_pde.problems.get("allencahn_1d_sin100")
    with pytest.raises(ValueError, match="extra_gp: the extra GP needs a linear"):
        gp_pde.solve(0, ac, extra_gp=True)


def test_first_order_operator_above_dense_limit_is_refused_by_profile_only():
    adv = gp_pde.problems.get("advection_beta200", grid=(30, 90))  # 2700 nodes
    with pytest.raises(ValueError, match=r"first-order terms .* up to 2500 nodes .* got 2700"):
        gp_pde.solve(0, adv)
    # the paper's joint Adam has no inner solve and takes the grid
    sol = gp_pde.solve(0, adv, method="adam", n_components=2, steps=1, log_every=1)
    assert sol.values.shape == (30, 90) and sol.info.finite
    # below the limit the exact dense solve takes first-order terms, without the warning (on
    # 1024 nodes: its cost grows as the cube of the nodes)
    small = gp_pde.problems.get("advection_beta200", grid=(16, 64))
    info = gp_pde.solve(0, small, n_components=2, steps=1).info
    assert info.finite and info.inner_residual < gp_pde.solver.INNER_WARN


def test_bad_predict_input(sol2d):
    with pytest.raises(ValueError, match=r"x: expected shape \(n, 2\)"):
        sol2d.predict(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="order: expected a tuple of 2"):
        sol2d.derivative(np.zeros((3, 2)), 2)
    with pytest.raises(ValueError, match="x: expected finite"):
        sol2d.predict(np.full((2, 2), np.nan))


def test_extra_gp_adds_second_interpolant():
    prob = _lowfreq(1, 16)
    sol = gp_pde.solve(0, prob, n_components=3, steps=2, extra_gp=True, extra_steps=2)
    assert sol.extra is not None and sol.extra.kernel == "matern52"
    x = np.linspace(0.05, 0.95, 5)
    first = gp_pde.solution._predict_points  # the first stage alone, for the decomposition
    with jax.enable_x64(True):
        base = first(sol.kernel, sol.params, sol.axes, sol.alpha, jnp.asarray(x)[:, None], (0,))
    np.testing.assert_allclose(sol.predict(x), base + sol.extra.predict(x), rtol=1e-12)
    # two steps of the second stage refit the leftover exactly for its kernel: the sum stays
    # within a factor 2 of the first stage's error (it must not blow up)
    assert sol.rel_l2() <= 2 * sol.trace.rel_l2[-1]
