"""Tests for bayeskit.thinning.kt: KT-SPLIT / KT-SWAP invariants, oracles and statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskit.kernels import Gaussian, gram
from bayeskit.thinning import (
    iid,
    kt_split,
    kt_split_gram,
    kt_swap,
    kt_swap_gram,
    standard_thin,
    thin,
)
from bayeskit.thinning import kt as kt_module

goodpoints_kt = pytest.importorskip("goodpoints.kt")


@pytest.fixture(autouse=True)
def _x64():
    # Exactness tests (goodpoints oracle, monotone swaps) need float64 kernel matrices.
    with jax.enable_x64(True):
        yield


def gauss_points(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


def gauss_kmat(x, d):
    # goodpoints' convention: K built row by row from exp(-||x - y||^2 / (2 * 2d)).
    return np.exp(-((x[:, None] - x[None]) ** 2).sum(-1) / (2 * 2 * d))


def reference_split(kmat, uniforms, delta):
    """Plain-Python level-wise KT-SPLIT (delta_j = delta 2^j / m, log term 2 log(2 n_j / delta_j))."""
    m = uniforms.shape[0]
    n_used = (kmat.shape[0] >> m) << m
    coresets = [list(range(n_used))]
    for j in range(m):
        nxt, offset = [], 0
        for c in coresets:
            half = len(c) // 2
            delta_j = delta * len(coresets) / m
            log_mult = 2 * np.log(2 * len(c) / delta_j)
            c0, c1, sig = [], [], 0.0
            for i in range(half):
                p0, p1 = c[2 * i], c[2 * i + 1]
                b2 = kmat[p0, p0] - 2 * kmat[p0, p1] + kmat[p1, p1]
                a = max(np.sqrt(sig * b2 * log_mult), b2)
                sig = b2 if sig == 0 else sig + b2 * max(0.0, 1 + (b2 / a - 2) * sig / a)
                alpha = sum(kmat[p0, q1] - kmat[p0, q0] + kmat[p1, q0] - kmat[p1, q1]
                            for q0, q1 in zip(c0, c1))  # fmt: skip
                if uniforms[j, offset + i] <= 0.5 * (1 - alpha / a):
                    p0, p1 = p1, p0
                c0.append(p0)
                c1.append(p1)
            nxt += [c0, c1]
            offset += half
        coresets = nxt
    return np.array(coresets)


def rel_mmd(kmat, s):
    s = np.asarray(s)
    return np.sqrt(max(kmat.mean() - 2 * kmat[s].mean() + kmat[np.ix_(s, s)].mean(), 0.0))


@pytest.fixture(scope="module")
def small():
    with jax.enable_x64(True):
        x = jnp.asarray(gauss_points(96, 2, seed=1))
        kern = Gaussian(lengthscale=2.0)
        return x, kern


# ------------------------------------------------------------------------------ invariants


@pytest.mark.parametrize("n, m", [(96, 3), (90, 2), (33, 1)])
def test_split_partitions_the_truncated_input(n, m):
    x = jnp.asarray(gauss_points(n, 2))
    cs = np.asarray(kt_split(0, x, m, Gaussian(lengthscale=2.0)))
    size = n // 2**m
    assert cs.shape == (2**m, size)
    # disjoint and union = the first 2^m * size indices
    assert np.array_equal(np.sort(cs.ravel()), np.arange(2**m * size))


def test_halving_puts_one_point_of_each_pair_in_each_half(small):
    x, kern = small
    halves = np.asarray(kt_split(3, x, 1, kern))
    assert np.array_equal(halves[0] // 2, np.arange(48))  # pair i = (2i, 2i+1), arrival order
    assert np.array_equal(halves[0] + halves[1], 4 * np.arange(48) + 1)


def test_m0_and_m1_edge_cases(small):
    x, kern = small
    assert np.array_equal(np.asarray(kt_split(0, x, 0, kern)), np.arange(96)[None])
    assert np.array_equal(np.asarray(thin(0, x, 0, kern)), np.arange(96))
    # m = 1 is one halving with the key's uniforms, level-wise delta_0 = delta
    u = jax.random.uniform(jax.random.key(5), (1, 48), jnp.float64)
    one = kt_split_gram(gram(kern, x, x), u, delta=0.5)
    assert np.array_equal(np.asarray(kt_split(jax.random.key(5), x, 1, kern)), np.asarray(one))


def test_thin_output_size_range_and_unique(small):
    x, kern = small
    out = np.asarray(thin(1, x, 3, kern))
    assert out.shape == (12,) and out.min() >= 0 and out.max() < 96
    uniq = np.asarray(thin(1, x, 3, kern, unique=True))
    assert len(np.unique(uniq)) == uniq.size == 12


def test_reproducible_and_key_dependent(small):
    x, kern = small
    a, b = thin(7, x, 3, kern), thin(jax.random.key(7), x, 3, kern)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    splits = {tuple(np.asarray(kt_split(k, x, 3, kern)).ravel()) for k in range(4)}
    assert len(splits) == 4  # 4 keys, 4 different splits (collision probability ~ 2^-40)


def test_jit_and_no_jit_agree():
    with jax.enable_x64(True):
        x = jnp.asarray(gauss_points(8, 2, seed=4))
        kern = Gaussian(lengthscale=2.0)
        key = jax.random.key(2)
        jitted = kt_module._thin_jit(key, x, kern, None, 1, 0.5, True, False, None)
        with jax.disable_jit():
            eager = kt_module._thin_core(key, x, kern, None, 1, 0.5, True, False, None)
    assert np.array_equal(np.asarray(jitted), np.asarray(eager))


def test_streaming_matches_dense(small):
    x, kern = small
    dense = thin(11, x, 3, kern)
    streamed = thin(11, x, 3, kern, block_size=32)
    assert np.array_equal(np.asarray(dense), np.asarray(streamed))


def test_swap_never_increases_mmd():
    x = gauss_points(256, 2, seed=3)
    kmat = gauss_kmat(x, 2)
    cs = np.asarray(kt_split(0, x, 4, Gaussian(lengthscale=2.0)))
    for unique in (False, True):
        out = np.asarray(kt_swap_gram(jnp.asarray(kmat), cs, unique=unique))
        after = rel_mmd(kmat, out)
        before = [rel_mmd(kmat, c) for c in cs] + [rel_mmd(kmat, standard_thin(256, 16))]
        assert after <= min(before) * (1 + 1e-12)  # float64 rounding only
    # kt_swap on points gives the same result as on the matrix
    on_x = kt_swap(x, cs, Gaussian(lengthscale=2.0))
    assert np.array_equal(np.asarray(on_x), np.asarray(kt_swap_gram(jnp.asarray(kmat), cs)))


def test_scaling_split_kernel_leaves_split_unchanged(small):
    x, _ = small
    a = kt_split(4, x, 3, Gaussian(lengthscale=2.0))
    b = kt_split(4, x, 3, Gaussian(lengthscale=2.0, variance=3.7))
    assert np.array_equal(np.asarray(a), np.asarray(b))


# ------------------------------------------------------------------------------ oracles


def test_level_wise_delta_convention_matches_reference():
    x = gauss_points(64, 2, seed=6)
    kmat = gauss_kmat(x, 2)
    u = np.random.default_rng(1).uniform(size=(3, 32))
    for delta in (0.5, 1e-3):  # a small delta makes the threshold, hence the split, differ
        ours = np.asarray(kt_split_gram(jnp.asarray(kmat), jnp.asarray(u), delta=delta))
        assert np.array_equal(ours, reference_split(kmat, u, delta))


@pytest.mark.parametrize("n, m, d", [(1000, 4, 3), (4096, 6, 2)])
def test_same_uniforms_same_coresets_as_goodpoints(n, m, d):
    x = gauss_points(n, d, seed=n)
    kmat = gauss_kmat(x, d)
    seed = 17
    expected = goodpoints_kt.split_K(kmat, m, 0.5, seed)
    u = np.random.default_rng(seed).uniform(size=(m, n // 2))  # goodpoints' draws
    ours = np.asarray(kt_split_gram(jnp.asarray(kmat), jnp.asarray(u), delta=0.5))
    assert np.array_equal(ours, expected)
    for unique in (False, True):
        gp_out = goodpoints_kt.swap_K(kmat, expected.copy(), unique=unique)  # swap_K edits input
        ours_out = np.asarray(kt_swap_gram(jnp.asarray(kmat), ours, unique=unique))
        assert np.array_equal(ours_out, gp_out)


# ------------------------------------------------------------------------------ statistics


@pytest.mark.parametrize("d, ratio", [(2, 0.2), (10, 0.5)])
def test_kt_beats_iid(d, ratio):
    # Brief section 3.4: observed KT/iid ratios at n = 2^12 are 0.056 (d=2) and 0.25 (d=10), so
    # 0.2 and 0.5 leave > 2x margin for 10 keys.
    n, m = 2**12, 6
    x = gauss_points(n, d, seed=d)
    kern = Gaussian(lengthscale=np.sqrt(2 * d))
    keys = jax.random.split(jax.random.key(d), 10)
    # One compiled, vmapped KT over the 10 keys (the kernel matrix is shared, not batched).
    run = jax.jit(
        jax.vmap(lambda k: kt_module._thin_core(k, x, kern, None, m, 0.5, True, False, None))
    )
    kmat = gauss_kmat(x, d)
    kt_mmd = [rel_mmd(kmat, s) for s in np.asarray(run(keys))]
    iid_mmd = [rel_mmd(kmat, iid(100 + k, n, 64)) for k in range(10)]
    assert np.mean(kt_mmd) <= ratio * np.mean(iid_mmd)
    assert max(kt_mmd) < np.mean(iid_mmd)  # every single key beats the iid mean


# ------------------------------------------------------------------------------ baselines


def test_standard_thin_and_iid_exact():
    assert np.array_equal(np.asarray(standard_thin(10, 3)), [3, 6, 9])
    assert np.array_equal(np.asarray(standard_thin(8, 8)), np.arange(8))
    draw = np.asarray(iid(0, 50, 20))
    assert draw.shape == (20,) and len(np.unique(draw)) == 20 and np.all(np.diff(draw) > 0)
    assert np.array_equal(draw, np.asarray(iid(0, 50, 20)))


# ------------------------------------------------------------------------------ bad input


def test_thin_bad_inputs(small):
    x, kern = small
    with pytest.raises(ValueError, match="m: 2\\*\\*m = 128 exceeds"):
        thin(0, x, 7, kern)
    with pytest.raises(ValueError, match="x: expected finite values"):
        thin(0, x.at[0, 0].set(jnp.nan), 2, kern)
    with pytest.raises(ValueError, match="x: expected an array of rank 2"):
        thin(0, x[:, 0], 2, kern)
    with pytest.raises(ValueError, match="lengthscale: expected positive values, got -1.0"):
        thin(0, x, 2, Gaussian(lengthscale=-1.0))  # the kernel rejects a negative bandwidth
    with pytest.raises(ValueError, match="variant: expected one of"):
        thin(0, x, 2, kern, variant="herding")
    with pytest.raises(ValueError, match="delta: expected a value in"):
        thin(0, x, 2, kern, delta=0.0)
    with pytest.raises(TypeError, match="unique: expected a bool"):
        thin(0, x, 2, kern, unique=1)
    with pytest.raises(TypeError, match="m: expected an integer"):
        thin(0, x, 2.0, kern)
    with pytest.raises(ValueError, match="block_size: expected an integer >= 2"):
        thin(0, x, 2, kern, block_size=1)


def test_split_swap_and_baseline_bad_inputs(small):
    x, kern = small
    with pytest.raises(ValueError, match="m: 2\\*\\*m = 128 exceeds"):
        kt_split(0, x, 7, kern)
    with pytest.raises(ValueError, match="coresets: expected indices in"):
        kt_swap(x, jnp.array([[0, 96]]), kern)
    with pytest.raises(TypeError, match="coresets: expected integer indices"):
        kt_swap(x, jnp.zeros((1, 2)), kern)
    with pytest.raises(ValueError, match="K: expected a square kernel matrix"):
        kt_split_gram(jnp.ones((4, 3)), jnp.ones((1, 2)))
    with pytest.raises(ValueError, match="uniforms: expected shape"):
        kt_split_gram(jnp.eye(8), jnp.ones((2, 1)))
    with pytest.raises(ValueError, match="coresets: expected indices in"):
        kt_swap_gram(jnp.eye(4), jnp.array([[5]]))
    with pytest.raises(ValueError, match="size: expected at most n = 5"):
        standard_thin(5, 6)
    with pytest.raises(ValueError, match="size: expected an integer >= 1"):
        iid(0, 5, 0)
