"""Kalman filter / RTS smoother against brute-force Gaussian conditioning, and the Fisher score."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskit.smc import kalman, models

T = 6


@pytest.fixture(scope="module")
def setup():
    with jax.enable_x64(True):
        model = models.linear_gaussian(2, 1, B=jnp.array([[1.0, 0.5]]), P0=jnp.eye(2) * 2.0)
        theta = {
            "A": jnp.array([[0.8, 0.2], [-0.1, 0.7]]),
            "log_q": jnp.log(jnp.array([0.3, 0.5])),
            "log_r": jnp.log(jnp.array([0.4])),
        }
        _, ys = models.simulate(1, model, theta, T)
    return model, theta, ys


def joint_gaussian(mats, T):
    """Mean and covariance of (x_{0:T-1}, y_{0:T-1}) stacked, by propagating the linear model."""
    A, B, Q, R, m0, P0 = (np.asarray(a) for a in mats)
    dx, dy = A.shape[0], B.shape[0]
    # x = L w with w = (x0 - m0, w_1..w_{T-1}) independent blocks
    L = np.zeros((T * dx, T * dx))
    for t in range(T):
        for s in range(t + 1):
            L[t * dx : (t + 1) * dx, s * dx : (s + 1) * dx] = np.linalg.matrix_power(A, t - s)
    Sw = np.zeros((T * dx, T * dx))
    Sw[:dx, :dx] = P0
    for t in range(1, T):
        Sw[t * dx : (t + 1) * dx, t * dx : (t + 1) * dx] = Q
    mx = np.concatenate([np.linalg.matrix_power(A, t) @ m0 for t in range(T)])
    Sx = L @ Sw @ L.T
    Bb = np.kron(np.eye(T), B)
    Sy = Bb @ Sx @ Bb.T + np.kron(np.eye(T), R)
    return mx, Sx, Bb @ mx, Sy, Sx @ Bb.T, dx, dy


def test_loglik_and_smoother_match_brute_force(setup):
    model, theta, ys = setup
    mats = model.matrices(theta)
    mx, Sx, my, Sy, Sxy, dx, _ = joint_gaussian(mats, T)
    y = np.asarray(ys).reshape(-1)
    diff = y - my
    _, logdet = np.linalg.slogdet(Sy)
    ll = -0.5 * (diff @ np.linalg.solve(Sy, diff) + logdet + y.size * np.log(2 * np.pi))
    post_m = mx + Sxy @ np.linalg.solve(Sy, diff)
    post_S = Sx - Sxy @ np.linalg.solve(Sy, Sxy.T)
    rts = kalman.rts_smoother(ys, mats)
    kf = kalman.kalman_filter(ys, mats)
    # all float64 linear algebra on a 12-dim Gaussian: agreement to ~1e-9 relative
    np.testing.assert_allclose(rts.log_likelihood, ll, rtol=1e-9)
    np.testing.assert_allclose(kf.log_likelihood, ll, rtol=1e-9)
    np.testing.assert_allclose(rts.means.reshape(-1), post_m, atol=1e-9)
    for t in range(T):
        blk = post_S[t * dx : (t + 1) * dx, t * dx : (t + 1) * dx]
        np.testing.assert_allclose(rts.covs[t], blk, atol=1e-9)
    for t in range(T - 1):
        cross = post_S[t * dx : (t + 1) * dx, (t + 1) * dx : (t + 2) * dx]
        np.testing.assert_allclose(rts.cross_covs[t], cross, atol=1e-9)
    sx, sxx = kalman.smoothed_sums(rts)
    want_sxx = sum(
        post_S[t * dx : (t + 1) * dx, (t + 1) * dx : (t + 2) * dx]
        + np.outer(post_m[t * dx : (t + 1) * dx], post_m[(t + 1) * dx : (t + 2) * dx])
        for t in range(T - 1)
    )
    np.testing.assert_allclose(sx, post_m.reshape(T, dx).sum(0), atol=1e-9)
    np.testing.assert_allclose(sxx, want_sxx, atol=1e-9)
    assert rts.means.dtype == jnp.float64


def test_fisher_identity_equals_autodiff_score(setup):
    model, theta, ys = setup
    auto = jax.jit(jax.grad(lambda th: kalman.kalman_log_likelihood(ys, model.matrices(th))))(theta)
    fisher = kalman.fisher_score(model, theta, ys)
    for name in theta:
        # two exact float64 computations of the same gradient
        np.testing.assert_allclose(fisher[name], auto[name], rtol=1e-8, atol=1e-10)


def test_kalman_bad_inputs(setup):
    model, theta, ys = setup
    mats = model.matrices(theta)
    with pytest.raises(ValueError, match=r"ys: expected shape \(T, 1\)"):
        kalman.kalman_filter(jnp.zeros((T, 2)), mats)
    with pytest.raises(ValueError, match="ys: expected at least 2 time steps"):
        kalman.rts_smoother(ys[:1], mats)
    with pytest.raises(ValueError, match="ys: expected finite"):
        kalman.kalman_log_likelihood(ys.at[2, 0].set(jnp.nan), mats)
    with pytest.raises(TypeError, match="mats: expected LGSSMMatrices"):
        kalman.kalman_filter(ys, (1, 2))
    with pytest.raises(ValueError, match=r"mats.Q: expected shape \(2, 2\)"):
        kalman.kalman_filter(ys, mats._replace(Q=jnp.eye(3)))
    with pytest.raises(TypeError, match="rts: expected an RTSResult"):
        kalman.smoothed_sums((1, 2))
    with pytest.raises(ValueError, match=r"rts.means: expected shape \(T, dx\) with T = 6"):
        kalman.expected_log_joint(mats, ys, kalman.rts_smoother(ys[:3], mats))
    with pytest.raises(ValueError, match="model: expected a linear Gaussian"):
        kalman.fisher_score(models.stochastic_volatility(), {}, ys)


def test_truth_matches_the_research_brief():
    # the brief computed the Kalman/RTS truth independently (NumPy, 1-D) on particles' data
    pytest.importorskip("particles")
    from bayeskit.smc.benchmark import brief_data, lgssm_1d

    model, theta = lgssm_1d()
    ys = brief_data(0, 500)
    rts = kalman.rts_smoother(ys, model.matrices(theta))
    sx, sxx = kalman.smoothed_sums(rts)
    np.testing.assert_allclose(float(sx[0]), -141.245547, atol=2e-6)
    np.testing.assert_allclose(float(sxx[0, 0]), 3226.337211, atol=2e-6)
    np.testing.assert_allclose(float(rts.log_likelihood), -933.067031, atol=2e-6)
