"""Tests for bayeskit.fbm.sde: prior law, KL, schemes, control."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from bayeskit.fbm.mafbm import ma_covariance
from bayeskit.fbm.models import ConstantDiffusion, LinearDrift
from bayeskit.fbm.sde import Control, FractionalSDE, simulate, simulate_path

N_PATHS = 8000


def _sde(theta=0.0, sigma=1.0, hurst=0.3, kind="type2"):
    return FractionalSDE(
        LinearDrift(theta, learn=False), ConstantDiffusion(sigma), dim=1, hurst=hurst, kind=kind
    )


@pytest.fixture(scope="module")
def prior_paths():
    """Prior paths of a driftless MA-fBM SDE with sigma = 2, both kinds, exact scheme."""
    out = {}
    for kind in ("type1", "type2"):
        sde = _sde(sigma=2.0, kind=kind)
        out[kind] = (sde, simulate(0, sde, x0=jnp.zeros(1), dt=0.05, n_steps=20, n_paths=N_PATHS))
    return out


@pytest.mark.parametrize("kind", ["type1", "type2"])
def test_prior_matches_mafbm_covariance(prior_paths, kind):
    sde, sim = prior_paths[kind]
    x = np.asarray(sim.x[:, :, 0], np.float64)
    t = np.asarray(sim.times, np.float64)
    w = np.asarray(sde.omega(), np.float64)
    with jax.enable_x64(True):
        cov = 4.0 * np.asarray(ma_covariance(t, t, w, np.asarray(sde.gammas), kind=kind))
    # sup of the sample covariance error over the grid: 5 standard errors sqrt(2/N) max Var
    assert np.abs(np.cov(x.T, bias=True) - cov).max() <= 5 * np.sqrt(2 / N_PATHS) * cov.max()
    np.testing.assert_array_equal(np.asarray(sim.kl), 0.0)  # no control, no KL


def _lyapunov_var(sde, theta, sigma, horizon):
    """Var x(T) of the linear augmented SDE dZ = M Z dt + e dW (Van Loan's matrix exponential)."""
    g = np.asarray(sde.gammas)
    w = np.asarray(sde.omega(), np.float64)
    k = g.size
    m = np.zeros((k + 1, k + 1))
    m[0, 0] = -theta
    m[0, 1:] = -sigma * w * g
    m[1:, 1:] = -np.diag(g)
    e = np.concatenate([[sigma * w.sum()], np.ones(k)])
    big = np.block([[-m, np.outer(e, e)], [np.zeros_like(m), m.T]]) * horizon
    ex = scipy.linalg.expm(big)
    cov = ex[k + 1 :, k + 1 :].T @ ex[: k + 1, k + 1 :]
    return cov[0, 0]


def test_linear_fou_prior_matches_lyapunov():
    theta, sigma = 1.0, 0.8
    sde = _sde(theta=theta, sigma=sigma, hurst=0.7)
    sim = simulate(1, sde, x0=jnp.zeros(1), dt=0.01, n_steps=100, n_paths=N_PATHS)
    var = float(np.var(np.asarray(sim.x[:, -1, 0], np.float64)))
    target = _lyapunov_var(sde, theta, sigma, 1.0)
    # 3 standard errors of a sample variance plus 1% for the Euler step of the x drift (dt = 0.01)
    assert abs(var / target - 1) < 3 * np.sqrt(2 / N_PATHS) + 0.01


def test_euler_and_exact_schemes_agree_as_dt_shrinks():
    sde = _sde(hurst=0.3, kind="type1")
    finals = {}
    for scheme, dt, n in (("exact", 0.05, 20), ("euler", 0.05, 20), ("euler", 0.0025, 400)):
        sim = simulate(2, sde, x0=jnp.zeros(1), dt=dt, n_steps=n, n_paths=N_PATHS, scheme=scheme)
        finals[scheme, dt] = float(np.var(np.asarray(sim.x[:, -1, 0], np.float64)))
    se = np.sqrt(2 / N_PATHS) * 2  # sd of a ratio of two independent sample variances, ~x2 margin
    fine = abs(finals["euler", 0.0025] / finals["exact", 0.05] - 1)
    coarse = finals["euler", 0.05] / finals["exact", 0.05] - 1
    assert fine < 2 * se
    assert coarse > fine  # Euler over-disperses at gamma_max dt = 1 (~+4%, brief 1.8)


def test_kl_of_constant_control_is_half_c2_t():
    sde = _sde()
    c, dt, n = 0.7, 0.1, 15

    def control(t, x, y, ctx):
        return jnp.full((1,), c)

    sim = simulate_path(jax.random.key(3), sde, jnp.zeros(1), dt=dt, n_steps=n, control=control)
    np.testing.assert_allclose(np.asarray(sim.kl), 0.5 * c**2 * dt * np.arange(n + 1), rtol=1e-5)
    sim_jit = jax.jit(
        lambda k: simulate_path(k, sde, jnp.zeros(1), dt=dt, n_steps=n, control=control)
    )(jax.random.key(3))
    np.testing.assert_allclose(np.asarray(sim_jit.x), np.asarray(sim.x), rtol=1e-5, atol=1e-6)


def test_zero_initialised_control_gives_zero_kl_and_prior_paths():
    sde = _sde()
    ctrl = Control(0, dim=1, num_speeds=5, context_dim=2)
    ctx = jnp.ones((11, 2))
    controlled = simulate(
        4, sde, x0=jnp.zeros(1), dt=0.1, n_steps=10, n_paths=5, control=ctrl, context=ctx
    )
    prior = simulate(4, sde, x0=jnp.zeros(1), dt=0.1, n_steps=10, n_paths=5)
    np.testing.assert_array_equal(np.asarray(controlled.kl), 0.0)
    np.testing.assert_allclose(np.asarray(controlled.x), np.asarray(prior.x), atol=1e-6)


def test_bad_inputs():
    sde = _sde()
    with pytest.raises(ValueError, match="hurst"):
        _sde(hurst=1.0)
    with pytest.raises(ValueError, match="num_speeds"):
        FractionalSDE(LinearDrift(), ConstantDiffusion(), dim=1, num_speeds=0)
    with pytest.raises(ValueError, match="gammas"):
        FractionalSDE(LinearDrift(), ConstantDiffusion(), dim=1, gammas=[1.0, -1.0])
    with pytest.raises(ValueError, match="dt"):
        simulate(0, sde, x0=jnp.zeros(1), dt=0.0, n_steps=3, n_paths=2)
    with pytest.raises(ValueError, match="x0"):
        simulate(0, sde, x0=jnp.array([np.nan]), dt=0.1, n_steps=3, n_paths=2)
    with pytest.raises(ValueError, match="context"):
        simulate(0, sde, x0=jnp.zeros(1), dt=0.1, n_steps=3, n_paths=2, context=jnp.ones((3, 2)))
    with pytest.raises(ValueError, match="scheme"):
        simulate(0, sde, x0=jnp.zeros(1), dt=0.1, n_steps=3, n_paths=2, scheme="milstein")
    with pytest.raises(ValueError, match="width"):
        Control(0, dim=1, num_speeds=5, width=0)
