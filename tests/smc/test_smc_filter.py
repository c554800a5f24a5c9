"""Bootstrap particle filter: unbiased likelihood, resampling laws, fault reporting."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import nan_model
from scipy import stats
from statkeys import seed

from bayeskit.smc import filter as pf
from bayeskit.smc import kalman


@pytest.mark.statistical
def test_loglik_unbiased_on_lgssm(lg1):
    method = "multinomial"
    model, theta, ys = lg1
    ys = ys[:10]
    exact = float(kalman.kalman_log_likelihood(ys, model.matrices(theta)))
    R = 4000
    run = jax.jit(
        jax.vmap(lambda k: pf._bootstrap_filter(k, model, theta, ys, 10, method)[0].log_likelihood)
    )
    ll = np.asarray(run(jax.random.split(jax.random.key(seed(3)), R)))
    m = ll.max()
    w = np.exp(ll - m)
    est = m + math.log(w.mean())
    # Z-hat is unbiased, so by the delta method log(mean Z-hat) has sd sd(Z) / (mean(Z) sqrt(R))
    # (and bias -SE^2 / 2, under 0.05 SE on every key): within 4 SE is a 6.3e-5 two-sided level
    se = w.std(ddof=1) / w.mean() / math.sqrt(R)
    assert abs(est - exact) < 4 * se, (est, exact, se)
    # and the filter does not just return the truth: log Z-hat has visible spread (a floor far
    # below the sd seen on every key; its own sampling error at R = 4000 is about 1%)
    assert ll.std() > 0.05, ll.std()
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed, worst |z| 1.3, least sd 1.37


@pytest.mark.statistical
@pytest.mark.parametrize("method", ["multinomial", "systematic"])
def test_resample_frequencies(method):
    lw = jnp.log(jnp.array([0.1, 0.0, 0.3, 0.6]))
    idx = np.asarray(pf.resample(seed(0), lw, 20000, method))
    counts = np.bincount(idx, minlength=4)
    assert counts[1] == 0  # zero weight is never drawn
    expect = 20000 * np.array([0.1, 0.3, 0.6])
    chi2 = np.sum((counts[[0, 2, 3]] - expect) ** 2 / expect)
    # multinomial: Pearson chi-square with 2 dof (expected counts >= 2000), false failure 1e-3;
    # systematic is far tighter than that
    assert stats.chi2.sf(chi2, 2) > 1e-3, chi2
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed, least p 0.067 (multinomial)
    if method == "systematic":
        # systematic resampling puts floor(n w) or ceil(n w) copies of each particle
        assert np.all(np.abs(counts[[0, 2, 3]] - expect) <= 1)


def test_filter_result_and_ess(lg1):
    model, theta, ys = lg1
    res = pf.bootstrap_filter(1, model, theta, ys, n_particles=16)
    assert res.ess.shape == (50,) and res.particles.shape == (16, 1)
    assert bool(jnp.all((res.ess >= 1.0 - 1e-9) & (res.ess <= 16.0 + 1e-9)))
    np.testing.assert_allclose(pf.ess(jnp.zeros(7)), 7.0)
    # documented to lie in [1, N]: inputs without a weight distribution raise instead of NaN
    for bad, msg in [
        (jnp.array([0.0, jnp.nan]), "expected no NaN"),
        (jnp.zeros(0), "expected at least one weight"),
        (jnp.full(3, -jnp.inf), "every weight is zero"),
        (jnp.array([0.0, jnp.inf]), r"expected no \+inf"),
    ]:
        with pytest.raises(ValueError, match="log_weights: " + msg):
            pf.ess(bad)
    again = pf.bootstrap_filter(1, model, theta, ys, n_particles=16)
    assert float(again.log_likelihood) == float(res.log_likelihood)  # same key, same result


def test_filter_bad_inputs(lg1):
    model, theta, ys = lg1
    with pytest.raises(ValueError, match=r"ys: expected shape \(T, 1\)"):
        pf.bootstrap_filter(0, model, theta, jnp.zeros((10, 2)), n_particles=8)
    with pytest.raises(ValueError, match="n_particles: expected an integer >= 2"):
        pf.bootstrap_filter(0, model, theta, ys, n_particles=1)
    with pytest.raises(ValueError, match="ys: expected finite"):
        pf.bootstrap_filter(0, model, theta, ys.at[3, 0].set(jnp.inf), n_particles=8)
    with pytest.raises(ValueError, match=r"theta\['A'\]: expected finite"):
        pf.bootstrap_filter(0, model, {**theta, "A": theta["A"] * jnp.nan}, ys, n_particles=8)
    with pytest.raises(ValueError, match="resampling: expected one of"):
        pf.bootstrap_filter(0, model, theta, ys, n_particles=8, resampling="stratified")
    with pytest.raises(TypeError, match="model: expected a StateSpaceModel"):
        pf.bootstrap_filter(0, "lgssm", theta, ys, n_particles=8)
    nan_m, dead_m = nan_model()
    with pytest.raises(ValueError, match="returned NaN at time step 7"):
        pf.bootstrap_filter(0, nan_m, theta, ys.at[7, 0].set(200.0), n_particles=8)
    with pytest.raises(ValueError, match=r"every log-weight is -inf\) at time step 4"):
        pf.bootstrap_filter(0, dead_m, theta, ys.at[4, 0].set(-200.0), n_particles=8)
    with pytest.raises(ValueError, match="method: expected one of"):
        pf.resample(0, jnp.zeros(3), 3, "residual")
    with pytest.raises(ValueError, match="log_weights: every weight is zero"):
        pf.resample(0, jnp.full(3, -jnp.inf), 3)
    with pytest.raises(ValueError, match="log_weights: expected an array of rank 1"):
        pf.ess(jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="log_weights: expected no NaN"):
        pf.resample(0, jnp.array([0.0, jnp.nan]), 3)
