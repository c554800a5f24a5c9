"""Tests for bayeskit.fbm.kalman: the exact likelihood and posterior of the MA-fBM fOU model."""

import jax
import numpy as np
import pytest
from scipy.stats import multivariate_normal
from statkeys import seed

from bayeskit.fbm.exact import sample_fou
from bayeskit.fbm.kalman import (
    linear_parameters,
    mafbm_log_likelihood,
    mafbm_mle,
    mafbm_smoother,
)
from bayeskit.fbm.mafbm import ma_covariance, optimal_omega, speed_grid
from bayeskit.fbm.models import fractional_ou, neural_sde

GAMMAS = speed_grid(5, 20.0)
HORIZON = 3.0
REGULAR = np.linspace(0.25, 3.0, 12)
IRREGULAR = np.array([0.0, 0.03, 0.1, 0.4, 0.45, 1.2, 1.21, 1.9, 2.6, 2.95])


def _x_covariance(times, hurst, theta, sigma, kind):
    """Dense ``Cov(x(t_a), x(t_b))`` from ``ma_covariance`` (float64).

    For theta = 0, ``x = sigma B_hat``. For theta > 0 (type 2), ``x(t) = sigma int_0^t
    sum_k omega_k (theta e^{-theta (t - v)} - gamma_k e^{-gamma_k (t - v)}) / (theta - gamma_k)
    dW(v)``, again an OU mixture: weights ``c`` on speeds ``(theta, gamma_1..gamma_K)``.
    """
    with jax.enable_x64(True):
        w = np.asarray(
            optimal_omega(np.float64(hurst), GAMMAS, kind=kind, horizon=HORIZON, standardize=True)
        )
        if theta == 0.0:
            cov = ma_covariance(times, times, w, GAMMAS, kind=kind)
        else:
            c = np.concatenate(
                [[np.sum(w * theta / (theta - GAMMAS))], -w * GAMMAS / (theta - GAMMAS)]
            )
            speeds = np.concatenate([[theta], GAMMAS])
            cov = ma_covariance(times, times, c, speeds, kind="type2")
        return sigma**2 * np.asarray(cov)


def _model(hurst, theta, sigma, obs_std, kind):
    return {
        "hurst": hurst,
        "theta": theta,
        "sigma": sigma,
        "obs_std": obs_std,
        "gammas": GAMMAS,
        "kind": kind,
        "horizon": HORIZON,
    }


CASES = [  # (kind, theta): theta > 0 has its dense reference for type 2
    ("type2", 0.0),
    ("type1", 0.0),
    ("type2", 1.3),
]


@pytest.mark.parametrize("times", [REGULAR, IRREGULAR], ids=["regular", "irregular"])
@pytest.mark.parametrize("kind,theta", CASES)
def test_log_likelihood_equals_dense_gaussian(times, kind, theta):
    hurst, sigma, obs_std = 0.3, 0.7, 0.1
    values = np.random.default_rng(0).normal(size=(3, times.size)) * 0.5
    cov = _x_covariance(times, hurst, theta, sigma, kind) + obs_std**2 * np.eye(times.size)
    ref = [multivariate_normal(np.zeros(times.size), cov).logpdf(v) for v in values]
    kw = _model(hurst, theta, sigma, obs_std, kind)
    np.testing.assert_allclose(mafbm_log_likelihood(times, values, **kw), ref, rtol=0, atol=1e-8)


@pytest.mark.parametrize("kind,theta", CASES[1:])
def test_smoother_equals_dense_conditioning(kind, theta):
    hurst, sigma, obs_std = 0.7, 0.5, 0.05
    times = IRREGULAR[1:]
    query = np.linspace(0.0, HORIZON, 9)
    values = np.random.default_rng(1).normal(size=(2, times.size)) * 0.3
    all_t = np.concatenate([times, query])
    cov = _x_covariance(all_t, hurst, theta, sigma, kind)
    n = times.size
    gain = cov[n:, :n] @ np.linalg.inv(cov[:n, :n] + obs_std**2 * np.eye(n))
    mean = values @ gain.T
    sd = np.sqrt(np.clip(np.diag(cov[n:, n:] - gain @ cov[:n, n:]), 0.0, None))
    kw = _model(hurst, theta, sigma, obs_std, kind)
    post = mafbm_smoother(times, values, query_times=query, **kw)
    np.testing.assert_allclose(post.mean, mean, atol=1e-7)
    np.testing.assert_allclose(post.std, np.broadcast_to(sd, post.std.shape), atol=1e-7)
    ll = mafbm_log_likelihood(times, values, **kw)
    np.testing.assert_allclose(post.log_likelihood, ll, atol=1e-9)


def test_mle_is_a_maximum_of_the_likelihood():
    # an optimiser property, for any data: the estimate's log-likelihood is the Kalman one there,
    # beats the truth and every +-0.1 step in (logit H, log theta, log sigma) (the likelihood's
    # curvature here is >= 10 per unit^2, so a step costs >= 0.05 nats, far above L-BFGS-B's
    # tolerance); recovery of H over many settings is the benchmark's job
    g = speed_grid(7, 100.0)
    times, values = sample_fou(seed(40), 0.3, 1.0, 0.5, n_obs=30, obs_dt=0.05, n_paths=4)
    values = np.asarray(values) + 0.05 * np.random.default_rng(seed(41)).normal(size=values.shape)
    fixed = {"obs_std": 0.05, "gammas": g, "horizon": 1.5}
    mle = mafbm_mle(times, values, **fixed)
    assert mle.success

    def loglik(h, th, s):
        return mafbm_log_likelihood(times, values, hurst=h, theta=th, sigma=s, **fixed).sum()

    best = loglik(mle.hurst, mle.theta, mle.sigma)
    np.testing.assert_allclose(mle.log_likelihood, best, rtol=1e-9)
    assert best >= loglik(0.3, 1.0, 0.5)
    u = np.array([np.log(mle.hurst / (1 - mle.hurst)), np.log(mle.theta), np.log(mle.sigma)])
    for step in np.concatenate([np.eye(3), -np.eye(3)]) * 0.1:
        v = u + step
        assert best > loglik(1 / (1 + np.exp(-v[0])), np.exp(v[1]), np.exp(v[2]))


def test_linear_parameters_of_a_model():
    model = fractional_ou(0, hurst=0.4, theta=2.0, sigma=0.3, obs_std=0.05, horizon=5.0)
    kw = linear_parameters(model)
    assert kw["hurst"] == pytest.approx(0.4) and kw["theta"] == pytest.approx(2.0)
    assert kw["sigma"] == pytest.approx(0.3) and kw["horizon"] == 5.0 and kw["x0"] == 0.0
    with pytest.raises(TypeError, match="LinearDrift"):
        linear_parameters(neural_sde(0, dim=1))


def test_bad_input():
    kw = {**_model(0.5, 1.0, 1.0, 0.1, "type2"), "horizon": 1.0}
    with pytest.raises(ValueError, match="times: expected strictly increasing"):
        mafbm_log_likelihood([0.2, 0.1], np.zeros((1, 2)), **kw)
    with pytest.raises(ValueError, match="horizon: .* must cover the data"):
        mafbm_log_likelihood([0.5, 2.0], np.zeros((1, 2)), **kw)
    with pytest.raises(ValueError, match="values: expected 2 observations"):
        mafbm_log_likelihood([0.1, 0.2], np.zeros((1, 3)), **kw)
    with pytest.raises(ValueError, match="obs_std: expected positive"):
        mafbm_log_likelihood([0.1, 0.2], np.zeros((1, 2)), **{**kw, "obs_std": -0.1})
    with pytest.raises(ValueError, match="hurst"):
        mafbm_log_likelihood([0.1, 0.2], np.zeros((1, 2)), **{**kw, "hurst": 1.2})
    with pytest.raises(ValueError, match="query_times"):
        mafbm_smoother([0.1, 0.2], np.zeros((1, 2)), query_times=[0.5, 0.3], **kw)
