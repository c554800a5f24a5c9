"""Kronecker identities against dense linear algebra on small 2-D and 3-D grids."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskit.gp_pde import kronecker as kr


@pytest.fixture(autouse=True)
def _x64():
    # float64 for these checks without changing the process-wide setting
    with jax.enable_x64(True):
        yield


def _spd(n, rng):
    a = rng.normal(size=(n, n))
    return jnp.asarray(a @ a.T + n * np.eye(n))


def _dense(mats):
    out = mats[0]
    for m in mats[1:]:
        out = jnp.kron(out, m)
    return out


@pytest.mark.parametrize("shape", [(7, 9), (5, 6, 4)])
def test_identities_match_dense(shape):
    rng = np.random.default_rng(len(shape))
    mats = [_spd(n, rng) for n in shape]
    t = jnp.asarray(rng.normal(size=shape))
    big = _dense(mats)
    fac = kr.kron_factor(mats)
    # float64 dense reference; tolerances are a few hundred ulps of the condition numbers here
    np.testing.assert_allclose(kr.kron_mvp(mats, t).ravel(), big @ t.ravel(), rtol=1e-10)
    np.testing.assert_allclose(
        kr.kron_solve(fac, t).ravel(), jnp.linalg.solve(big, t.ravel()), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(kr.kron_logdet(fac), jnp.linalg.slogdet(big)[1], rtol=1e-10)
    quad = t.ravel() @ jnp.linalg.solve(big, t.ravel())
    np.testing.assert_allclose(kr.kron_quad(fac, t), quad, rtol=1e-10)
    # derivative map along dim 1: kron(I, D_1 K_1^{-1}, I) equals kron(K_0, D_1, K_2) K^{-1}
    kd = jnp.asarray(rng.normal(size=(shape[1], shape[1])))
    dmap = kr.derivative_map(kd, fac.chols[1])
    lhs = kr.mode_product(t, dmap, 1).ravel()
    rhs = _dense([kd if j == 1 else m for j, m in enumerate(mats)]) @ jnp.linalg.solve(
        big, t.ravel()
    )
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-11)


def test_mode_product_rectangular():
    t = jnp.arange(24.0).reshape(2, 3, 4)
    m = jnp.ones((5, 3))
    out = kr.mode_product(t, m, 1)
    assert out.shape == (2, 5, 4)
    np.testing.assert_allclose(out[:, 0, :], t.sum(axis=1))
