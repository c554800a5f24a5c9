"""Tests for bayeskit.thinning.mmd: exact values against a dense NumPy formula."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from statkeys import seed

from bayeskit.kernels import Gaussian, Matern52
from bayeskit.thinning import default_kernel, mmd, mmd_to_normal, thin


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((50, 3)), rng.standard_normal((7, 3))


def dense_mmd(x, y, w, ls=1.5):
    def k(a, b):
        return np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / (2 * ls**2))

    w = w / w.sum()
    return np.sqrt(k(x, x).mean() - 2 * k(x, y).mean(0) @ w + w @ k(y, y) @ w)


def test_mmd_matches_dense_formula(data):
    x, y = data
    kern = Gaussian(lengthscale=1.5)
    with jax.enable_x64(True):
        w = np.arange(1.0, 8.0)
        # block_size 16 does not divide 50: the padded last block must not change the value
        got = mmd(x, kern, y=y, weights=w, block_size=16)
        assert got == pytest.approx(dense_mmd(x, y, w), rel=1e-10)  # float64 rounding only
        idx = np.array([3, 3, 10, 49])  # repeated indices count twice
        assert mmd(x, kern, idx=idx) == pytest.approx(dense_mmd(x, x[idx], np.ones(4)), rel=1e-10)


def test_mmd_zero_for_the_input_itself(data):
    x, _ = data
    kern = Gaussian(lengthscale=1.5)
    with jax.enable_x64(True):
        assert mmd(x, kern) == pytest.approx(0.0, abs=1e-7)  # sqrt of a ~1e-16 residual
        assert mmd(x, kern, idx=np.arange(50)) == pytest.approx(0.0, abs=1e-7)
    # float32: the clipped square root stays finite (no NaN from a slightly negative MMD^2)
    assert np.isfinite(mmd(x.astype(np.float32), kern, y=x.astype(np.float32)))


def test_mmd_defaults_to_the_kernel_thin_uses(data):
    x, y = data
    with jax.enable_x64(True):
        kern = default_kernel(x)
        idx = thin(0, x, 2)  # kernel=None: thin's default
        assert np.array_equal(np.asarray(idx), np.asarray(thin(0, x, 2, kern)))
        assert mmd(x, idx=idx) == mmd(x, kern, idx=idx)
        assert mmd(x, y=y) == mmd(x, kern, y=y)
        # the median-heuristic lengthscale scales with the data (a fixed default would not)
        assert mmd(3 * x, y=3 * y) == pytest.approx(mmd(x, y=y), rel=1e-10)


def test_mmd_bad_inputs(data):
    x, y = data
    kern = Gaussian(lengthscale=1.5)
    with pytest.raises(ValueError, match="idx, y: pass at most one"):
        mmd(x, kern, idx=np.array([0]), y=y)
    with pytest.raises(ValueError, match="idx: expected a non-empty set of indices in"):
        mmd(x, kern, idx=np.array([50]))
    with pytest.raises(TypeError, match="idx: expected integer indices"):
        mmd(x, kern, idx=np.array([0.5]))
    with pytest.raises(ValueError, match="y: expected shape"):
        mmd(x, kern, y=y[:, :2])
    with pytest.raises(ValueError, match="weights: expected non-negative"):
        mmd(x, kern, y=y, weights=-np.ones(7))
    with pytest.raises(ValueError, match="weights: expected a positive total"):
        mmd(x, kern, y=y, weights=np.zeros(7))
    with pytest.raises(ValueError, match="x: expected finite values"):
        mmd(np.full((3, 2), np.inf), kern)
    with pytest.raises(ValueError, match="x: expected an array of rank 2"):
        mmd(jnp.ones(3), kern)
    with pytest.raises(TypeError, match="kernel: expected a callable, got float 1.5"):
        mmd(x, 1.5)
    with pytest.raises(ValueError, match="x: the median inter-point distance is zero"):
        mmd(np.ones((4, 2)))


@pytest.mark.statistical
@pytest.mark.parametrize("ls, var, shift", [(1.5, 1.0, 0.0), ((0.7, 1.3, 2.0), 2.5, 0.8)])
def test_mmd_to_normal_matches_monte_carlo(ls, var, shift):
    # MMD^2 = E[k(Z, Z') - 2 mean_i k(y_i, Z)] + mean_ii' k(y_i, y_i') over independent pairs
    # Z, Z' ~ N(0, I_3): a mean of i.i.d. terms, so the Monte Carlo error has a sample SE.
    rng = np.random.default_rng(seed(7))
    y = rng.standard_normal((40, 3)) + shift  # shift 0.8: far from N(0, I), MMD clearly > 0
    z, z2 = rng.standard_normal((2, 200_000, 3))
    l2 = np.broadcast_to(np.square(ls), (3,))

    def k(a, b):
        return var * np.exp(-0.5 * ((a - b) ** 2 / l2).sum(-1))

    terms = k(z, z2) - 2 * np.mean([k(yi, z) for yi in y], axis=0)
    kqq = k(y[:, None], y[None]).mean()
    se = terms.std() / np.sqrt(terms.size)
    with jax.enable_x64(True):
        got = mmd_to_normal(y, Gaussian(lengthscale=jnp.asarray(ls), variance=var), block_size=16)
    assert abs(got**2 - (terms.mean() + kqq)) < 5 * se  # 5 SE of a CLT mean: fails w.p. 6e-7


def test_mmd_to_normal_bad_inputs():
    kern = Gaussian(lengthscale=1.0)
    with pytest.raises(ValueError, match="y: expected an array of rank 2"):
        mmd_to_normal(np.ones(3), kern)
    with pytest.raises(ValueError, match="y: expected at least one row"):
        mmd_to_normal(np.ones((0, 2)), kern)
    with pytest.raises(ValueError, match="y: expected finite values"):
        mmd_to_normal(np.full((2, 2), np.nan), kern)
    with pytest.raises(
        TypeError, match="kernel: expected a bayeskit.kernels.Gaussian, got Matern52"
    ):
        mmd_to_normal(np.ones((2, 2)), Matern52(lengthscale=1.0))
    with pytest.raises(ValueError, match="block_size: expected"):
        mmd_to_normal(np.ones((2, 2)), kern, block_size=0)
