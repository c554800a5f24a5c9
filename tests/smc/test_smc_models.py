"""Built-in models: simulation shapes, normalised densities, transition bounds, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskit.smc import models


def _models():
    sv = models.stochastic_volatility()
    sv_theta = {"phi": jnp.array(0.95), "log_sigma": jnp.log(0.3), "log_beta": jnp.log(0.7)}
    rnn = models.chaotic_rnn(3)
    rnn_theta = {
        "W": jax.random.normal(jax.random.key(0), (3, 3)) / jnp.sqrt(3.0),
        "log_q": jnp.full(3, -2.0),
        "log_r": jnp.full(3, -1.0),
    }
    lg = models.linear_gaussian(2, 1)
    lg_theta = {"A": 0.5 * jnp.eye(2), "log_q": jnp.zeros(2), "log_r": jnp.zeros(1)}
    return [(sv, sv_theta), (rnn, rnn_theta), (lg, lg_theta)]


@pytest.mark.parametrize("idx", [0, 1, 2])
def test_simulate_density_and_bound(idx):
    model, theta = _models()[idx]
    xs, ys = models.simulate(3, model, theta, 20)
    assert xs.shape == (20, model.dim_x) and ys.shape == (20, model.dim_y)
    assert bool(jnp.all(jnp.isfinite(xs))) and bool(jnp.all(jnp.isfinite(ys)))
    # the bound must dominate the transition density at its own mode (the worst case)
    mode = model.trans_sample(jax.random.key(0), xs[3], {**theta, **_zero_noise(theta)})
    lp = model.trans_logpdf(xs[3], mode, theta)
    assert float(lp) <= float(model.trans_log_bound(theta)) + 1e-12
    # along simulated transitions the bound holds too
    lps = jax.vmap(model.trans_logpdf, in_axes=(0, 0, None))(xs[:-1], xs[1:], theta)
    assert bool(jnp.all(lps <= model.trans_log_bound(theta)))


def _zero_noise(theta):
    out = {}
    if "log_q" in theta:
        out["log_q"] = jnp.full_like(theta["log_q"], -200.0)
    if "log_sigma" in theta:
        out["log_sigma"] = jnp.asarray(-200.0)
    return out


def test_one_dimensional_densities_integrate_to_one():
    sv, th = _models()[0]
    grid = jnp.linspace(-30, 30, 60001)[:, None]
    dx = 60 / 60000
    # Riemann sums of smooth densities on a wide grid: error far below 1e-6
    obs = jnp.exp(jax.vmap(sv.obs_logpdf, in_axes=(None, 0, None))(jnp.array([0.3]), grid, th))
    trans = jnp.exp(jax.vmap(sv.trans_logpdf, in_axes=(None, 0, None))(jnp.array([0.3]), grid, th))
    init = jnp.exp(jax.vmap(sv.init_logpdf, in_axes=(0, None))(grid, th))
    for dens in (obs, trans, init):
        np.testing.assert_allclose(float(jnp.sum(dens) * dx), 1.0, atol=1e-6)


def test_models_bad_inputs():
    with pytest.raises(ValueError, match="dim_x: expected an integer >= 1"):
        models.linear_gaussian(0)
    with pytest.raises(ValueError, match=r"B: expected shape \(1, 2\)"):
        models.linear_gaussian(2, 1, B=jnp.eye(2))
    with pytest.raises(ValueError, match="P0 eigenvalues: expected positive"):
        models.linear_gaussian(1, P0=jnp.array([[-1.0]]))
    with pytest.raises(ValueError, match="gamma: expected positive"):
        models.chaotic_rnn(3, gamma=0.0)
    sv, th = _models()[0]
    with pytest.raises(ValueError, match="n_steps: expected an integer >= 1"):
        models.simulate(0, sv, th, 0)
    with pytest.raises(TypeError, match="model: expected a StateSpaceModel"):
        models.simulate(0, "sv", th, 5)
    from dataclasses import replace

    with pytest.raises(ValueError, match="has no obs_sample"):
        models.simulate(0, replace(sv, obs_sample=None), th, 5)
