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


def test_model_from_distributions_equals_the_builtin():
    # the same 1-D LGSSM from numpyro distributions: equal log-densities and, since numpyro's
    # Normal draws loc + scale * normal(key), bit-equal simulations and PaRIS runs
    import numpyro.distributions as dist

    from bayeskit.smc.paris import paris

    with jax.enable_x64(True):
        builtin = models.linear_gaussian(1)
        theta = {"A": jnp.array([[0.9]]), "log_q": jnp.zeros(1), "log_r": jnp.zeros(1)}
        custom = models.state_space_model(
            1,
            1,
            initial=lambda th: dist.Normal(jnp.zeros(1), 1.0).to_event(1),
            transition=lambda x, th: dist.Normal(th["A"] @ x, jnp.exp(0.5 * th["log_q"])).to_event(
                1
            ),
            observation=lambda x, th: dist.Normal(x, jnp.exp(0.5 * th["log_r"])).to_event(1),
            trans_log_bound=builtin.trans_log_bound,
        )
        x_prev, x, y = jnp.array([0.3]), jnp.array([-0.2]), jnp.array([0.5])
        for name, args in (
            ("trans_logpdf", (x_prev, x)),
            ("obs_logpdf", (x, y)),
            ("init_logpdf", (x,)),
        ):
            np.testing.assert_allclose(
                getattr(custom, name)(*args, theta),
                getattr(builtin, name)(*args, theta),
                rtol=1e-12,
            )
        xs_a, ys_a = models.simulate(3, builtin, theta, 20)
        xs_b, ys_b = models.simulate(3, custom, theta, 20)
        np.testing.assert_array_equal(ys_a, ys_b)
        h = lambda t, xp, x, y, th: x  # noqa: E731
        a = paris(4, builtin, theta, ys_a, h, n_particles=8, sampler="exact")
        b = paris(4, custom, theta, ys_a, h, n_particles=8, sampler="exact")
        np.testing.assert_allclose(a.estimate, b.estimate, rtol=1e-12)
    with pytest.raises(TypeError, match="transition: expected a callable"):
        models.state_space_model(
            1, 1, initial=lambda th: None, transition=1, observation=lambda x, th: None
        )


def test_theta_is_checked_against_the_model():
    model = models.linear_gaussian(2)
    ys = jnp.zeros((5, 2))
    with pytest.raises(
        ValueError, match=r"theta: expected fields \['A', 'log_q', 'log_r'\].*missing \['log_r'\]"
    ):
        models.simulate(0, model, {"A": jnp.eye(2), "log_q": jnp.zeros(2)}, 5)
    with pytest.raises(ValueError, match=r"theta\['A'\]: expected shape \(2, 2\)"):
        models.simulate(
            0, model, {"A": jnp.eye(3), "log_q": jnp.zeros(2), "log_r": jnp.zeros(2)}, 5
        )
    with pytest.raises(TypeError, match="theta: expected a dict"):
        models.simulate(0, model, [[1.0, 0.0], [0.0, 1.0]], 5)
    sv = models.stochastic_volatility()
    bad_phi = {"phi": jnp.array(1.5), "log_sigma": jnp.array(0.0), "log_beta": jnp.array(0.0)}
    with pytest.raises(ValueError, match=r"theta\['phi'\]: expected a value in \(-1.0, 1.0\)"):
        models.simulate(0, sv, bad_phi, 5)
    from bayeskit.smc.paris import paris

    with pytest.raises(ValueError, match="theta"):
        paris(0, model, {"A": jnp.eye(2)}, ys, lambda t, xp, x, y, th: x, n_particles=4)
    full = models.linear_gaussian(2, covariance="full")
    singular = {"A": jnp.eye(2), "chol_q": jnp.zeros((2, 2)), "chol_r": jnp.eye(2)}
    with pytest.raises(ValueError, match=r"theta\['chol_q'\]: expected a Cholesky factor"):
        models.simulate(0, full, singular, 5)
