"""Tests for bayeskit.thinning.split_kernels: closed-form power kernels, KT+, median heuristic."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp
from gpjax.parameters import val

from bayeskit.kernels import (
    Gaussian,
    InverseMultiquadric,
    Laplace,
    Matern32,
    Sinc,
    SpectralMixture,
)
from bayeskit.thinning import default_kernel, power_kernel, split_kernel
from bayeskit.thinning.split_kernels import matern_correlation


def exact_matern(nu, r):
    return 2 ** (1 - nu) / sp.gamma(nu) * r**nu * sp.kv(nu, r)


@pytest.mark.parametrize("nu", [0.1, 0.25, 0.75, 1.0, 1.75, 3.3])
def test_matern_mixture_close_to_bessel_form(nu):
    r = np.logspace(-5, 1.3, 60)
    got = np.asarray(matern_correlation(nu, jnp.asarray(r)))
    # 64-node midpoint rule: max error ~4e-3 at nu = 0.25 (checked against scipy), O(1/nodes)
    assert np.max(np.abs(got - exact_matern(nu, r))) < 5e-3
    assert float(matern_correlation(nu, jnp.zeros(()))) == pytest.approx(1.0)


def test_half_integer_matern_is_exact():
    r = np.linspace(0.01, 5, 20)
    for nu in (0.5, 1.5, 2.5):
        got = np.asarray(matern_correlation(nu, jnp.asarray(r)))
        np.testing.assert_allclose(got, exact_matern(nu, r), rtol=1e-5)  # float32 round-off


def test_gaussian_power_and_root_closed_forms():
    x, y = jnp.array([0.3, -1.0]), jnp.array([1.1, 0.4])
    base = Gaussian(lengthscale=2.0)
    for alpha in (0.5, 0.8):
        k_alpha = power_kernel(base, alpha, 2)
        expected = Gaussian(lengthscale=2.0 * np.sqrt(alpha))(x, y)
        assert float(k_alpha(x, y)) == pytest.approx(float(expected), rel=1e-6)
    root = split_kernel(base, "root", alpha=None, dim=2)
    assert float(root(x, y)) == pytest.approx(float(power_kernel(base, 0.5, 2)(x, y)))


def test_laplace_power_is_matern_and_plus_is_normalised_sum():
    x, y = jnp.array([0.3, -1.0]), jnp.array([1.1, 0.4])
    lap = Laplace(lengthscale=1.5)
    # d = 2: nu' = alpha * 3/2 - 1; alpha = 1 gives back the Laplace kernel itself (nu' = 1/2)
    same = power_kernel(lap, 1.0, 2)
    assert float(same(x, y)) == pytest.approx(float(lap(x, y)), rel=1e-5)
    plus = split_kernel(Laplace(lengthscale=1.5, variance=3.0), "plus", alpha=0.8, dim=2)
    assert float(plus(x, x)) == pytest.approx(2.0, rel=1e-5)  # each summand has sup-norm one
    m32 = power_kernel(Matern32(lengthscale=1.0), None, 2)  # nu = 3/2 > d/2: root exists
    assert float(m32(x, x)) == pytest.approx(1.0, rel=1e-5)


def test_imq_root_and_sinc():
    x, y = jnp.array([0.3, -1.0]), jnp.array([1.1, 0.4])
    root = power_kernel(InverseMultiquadric(lengthscale=1.0, power=0.5), None, 2)
    sq = float(jnp.sum((x - y) ** 2))
    assert float(root(x, y)) == pytest.approx((1 + sq) ** -(0.25 + 0.5), rel=1e-6)
    sinc = Sinc(lengthscale=1.0)
    assert power_kernel(sinc, 0.7, 2) is sinc


def test_median_heuristic():
    x = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    # squared distances 9, 16, 25: median 16, lengthscale 4
    assert float(val(default_kernel(x).lengthscale)) == pytest.approx(4.0, rel=1e-5)


def test_split_kernel_bad_inputs():
    with pytest.raises(ValueError, match="alpha: Laplace .* has no square-root kernel"):
        split_kernel(Laplace(), "root", alpha=None, dim=2)
    with pytest.raises(ValueError, match="alpha: Laplace .* has no square-root kernel"):
        split_kernel(Laplace(), "power", alpha=None, dim=2)
    with pytest.raises(ValueError, match="alpha: the Laplace power kernel in d = 2 needs alpha"):
        split_kernel(Laplace(), "power", alpha=0.6, dim=2)
    with pytest.raises(ValueError, match="alpha: expected a value in"):
        split_kernel(Gaussian(), "power", alpha=1.5, dim=2)
    with pytest.raises(ValueError, match="alpha: only the square root"):
        split_kernel(InverseMultiquadric(), "power", alpha=0.7, dim=2)
    with pytest.raises(ValueError, match="alpha: only used by variant"):
        split_kernel(Gaussian(), "target", alpha=0.7, dim=2)
    with pytest.raises(ValueError, match="variant: expected one of 'target', .*, got 'foo'"):
        split_kernel(Gaussian(), "foo", alpha=None, dim=2)  # was a KT+ kernel, silently
    with pytest.raises(TypeError, match=r"kernel: expected a callable, got str"):
        split_kernel("gaussian", "target", alpha=None, dim=2)
    mix = SpectralMixture(jnp.ones(1), jnp.zeros((1, 2)), jnp.ones((1, 2)))
    with pytest.raises(ValueError, match="kernel: root/power/plus variants need"):
        split_kernel(mix, "plus", alpha=None, dim=2)
    with pytest.raises(ValueError, match="lengthscale: expected positive values, got -2.0"):
        split_kernel(Gaussian(lengthscale=-2.0), "root", alpha=None, dim=2)
    with pytest.raises(ValueError, match="x: the median inter-point distance is zero"):
        default_kernel(np.ones((5, 2)))
    with pytest.raises(ValueError, match="nu: expected positive values, got 0.0"):
        matern_correlation(0.0, jnp.ones(2))
