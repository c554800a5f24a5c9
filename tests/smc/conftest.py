"""Shared fixtures for the smc tests: everything runs in float64 (the Kalman truth needs it)."""

import jax
import jax.numpy as jnp
import pytest
from statkeys import seed

from bayeskit.smc import kalman, models
from bayeskit.smc.benchmark import lgssm_3d


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def h_sxx(t, x_prev, x, y, theta):
    """(sum x_t, sum x_t x_{t+1}) for a 1-D state."""
    if x_prev is None:
        return jnp.stack([x[0], jnp.zeros_like(x[0])])
    return jnp.stack([x[0], x_prev[0] * x[0]])


def lgssm_1d():
    rho = 0.9
    with jax.enable_x64(True):
        model = models.linear_gaussian(1, P0=jnp.array([[1.0 / (1.0 - rho**2)]]))
        theta = {"A": jnp.array([[rho]]), "log_q": jnp.zeros(1), "log_r": jnp.zeros(1)}
    return model, theta


def exact_smoothing_paths(key, model, theta, ys, n):
    """``n`` i.i.d. draws ``(n, T, dx)`` from the exact joint smoothing law of a linear Gaussian
    model: forward filtering, backward sampling (x_t | x_{t+1}, y_{0:t} is Gaussian)."""
    mats = model.matrices(theta)
    kf = kalman.kalman_filter(ys, mats)
    chols = jnp.linalg.cholesky(kf.covs)

    def one(k):
        ks = jax.random.split(k, ys.shape[0])
        x_last = kf.means[-1] + chols[-1] @ jax.random.normal(ks[-1], kf.means.shape[1:])

        def back(x_next, inp):
            m, P, m_pred, P_pred, kt = inp
            G = jnp.linalg.solve(P_pred, mats.A @ P).T  # P A^T P_pred^{-1}
            cov = P - G @ P_pred @ G.T
            x = m + G @ (x_next - m_pred)
            x = x + jnp.linalg.cholesky(0.5 * (cov + cov.T)) @ jax.random.normal(kt, m.shape)
            return x, x

        inputs = (kf.means[:-1], kf.covs[:-1], kf.pred_means[1:], kf.pred_covs[1:], ks[:-1])
        _, xs = jax.lax.scan(back, x_last, inputs, reverse=True)
        return jnp.concatenate([xs, x_last[None]])

    return jax.vmap(one)(jax.random.split(key, n))


@pytest.fixture(scope="session")
def lg1():
    """1-D LGSSM (rho = 0.9, unit noises, stationary start) with T = 50 observations; the data
    seed goes through statkeys.seed, so a key sweep redraws the data of the statistical tests."""
    model, theta = lgssm_1d()
    with jax.enable_x64(True):
        _, ys = models.simulate(seed(0), model, theta, 50)
    return model, theta, ys


@pytest.fixture(scope="session")
def lg3():
    """3-D LGSSM with full noise covariances and 2-D observations (the smc benchmark's), T = 20."""
    with jax.enable_x64(True):
        model, theta = lgssm_3d()
        _, ys = models.simulate(seed(30), model, theta, 20)
    return model, theta, ys


def nan_model():
    """A model whose observation log-density is NaN once the state leaves [-50, 50]... and at
    every step with y > 100 (used to trigger the NaN check at a known step)."""
    base, _ = lgssm_1d()

    def obs_logpdf(x, y, theta):
        return jnp.where(y[0] > 100.0, jnp.nan, base.obs_logpdf(x, y, theta))

    def dead_obs(x, y, theta):
        return jnp.where(y[0] < -100.0, -jnp.inf, base.obs_logpdf(x, y, theta))

    from dataclasses import replace

    return replace(base, obs_logpdf=obs_logpdf, name="nan"), replace(
        base, obs_logpdf=dead_obs, name="dead"
    )
