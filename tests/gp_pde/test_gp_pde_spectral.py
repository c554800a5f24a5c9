"""Closed-form kernel derivatives against autodiff, the brief's check values and the shared kernels."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskit import kernels
from bayeskit.gp_pde import spectral as sp


@pytest.fixture(autouse=True)
def _x64():
    # float64 for these checks without changing the process-wide setting
    with jax.enable_x64(True):
        yield


def _params(q=3, seed=0):
    rng = np.random.default_rng(seed)
    return sp.MixtureParams(
        log_weight=jnp.asarray(rng.normal(size=q)),
        log_scale=jnp.asarray(rng.normal(size=q) * 0.3),
        freq=jnp.asarray(rng.uniform(0, 3, size=q)),
    )


@pytest.mark.parametrize("kind", sp.KERNELS)
@pytest.mark.parametrize("lag", [0.0, 1e-9, -0.37, 0.3, 1.7])
def test_derivatives_match_autodiff(kind, lag):
    p = _params()
    f = lambda x: sp.scalar_kernel(kind, p, x, 0.0)  # noqa: E731
    d1, d2 = jax.grad(f)(lag), jax.grad(jax.grad(f))(lag)
    # float64 closed forms vs autodiff of the formula: agreement to rounding
    np.testing.assert_allclose(sp.kernel_lags(kind, p, jnp.asarray(lag), 0), f(lag), rtol=1e-12)
    np.testing.assert_allclose(sp.kernel_lags(kind, p, jnp.asarray(lag), 1), d1, atol=1e-10)
    np.testing.assert_allclose(sp.kernel_lags(kind, p, jnp.asarray(lag), 2), d2, rtol=1e-9)


@pytest.mark.parametrize(
    "kind,lag,want",
    [
        ("student_t", 0.0, -160.730337),
        ("gaussian", 0.0, -160.513670),
        ("student_t", 0.3, 104.820839),
        ("gaussian", 0.3, 104.831753),
    ],
)
def test_brief_check_values(kind, lag, want):
    # brief section 1.6: one component, rho = beta = 1.3, mu = 2, printed to 6 decimals
    p = sp.MixtureParams(jnp.zeros(1), jnp.log(jnp.array([1.3])), jnp.array([2.0]))
    assert float(sp.kernel_lags(kind, p, jnp.asarray(lag), 2)) == pytest.approx(want, abs=1e-6)


def test_matches_shared_kernels():
    p = _params(q=4, seed=1)
    w, rho, mu = np.exp(p.log_weight), np.exp(p.log_scale), np.asarray(p.freq)
    stm = kernels.StudentTMixture(w, mu, rho / (2 * np.pi))
    gm = kernels.SpectralMixture(w, mu, np.sqrt(rho / (2 * np.pi**2)))
    for lag in (0.0, 0.21, -1.3):
        x, y = jnp.array([lag]), jnp.array([0.0])
        np.testing.assert_allclose(sp.kernel_lags("student_t", p, lag), stm(x, y), rtol=1e-10)
        np.testing.assert_allclose(sp.kernel_lags("gaussian", p, lag), gm(x, y), rtol=1e-10)


def test_toeplitz_gram_matches_pairwise():
    p = _params()
    x = jnp.linspace(0.0, 1.0, 7)
    full = sp.cross_gram("student_t", p, x, x, 2)
    np.testing.assert_allclose(sp.toeplitz_gram("student_t", p, 7, 1 / 6, 2), full, rtol=1e-12)


def test_spectrum_marks_pruned():
    p = sp.MixtureParams(
        jnp.log(jnp.array([[1.0, 1e-5, 0.5]])), jnp.zeros((1, 3)), jnp.array([[1.0, -2.0, 3.0]])
    )
    s = sp.spectrum("student_t", p)
    assert s.active.tolist() == [[True, False, True]]
    assert s.freqs.tolist() == [[1.0, 2.0, 3.0]]


def test_bad_order():
    with pytest.raises(ValueError, match="order: expected 0, 1 or 2"):
        sp.kernel_lags("student_t", _params(), jnp.zeros(2), 3)
