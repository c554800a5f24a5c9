"""Tests for bayeskit.thinning.kt: KT-SPLIT / KT-SWAP invariants, oracles and statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mmd_reference import iid_mean_mmd2, t_upper
from statkeys import seed

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
        x = jnp.asarray(gauss_points(96, 2, seed=seed(1)))
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


@pytest.mark.statistical
def test_reproducible_and_key_dependent(small):
    x, kern = small
    a, b = thin(seed(7), x, 3, kern), thin(jax.random.key(seed(7)), x, 3, kern)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    splits = {tuple(np.asarray(kt_split(seed(k), x, 3, kern)).ravel()) for k in range(4)}
    # 4 keys, 4 different splits. In each of the 7 halved coresets the 1st pair swaps with
    # probability 1/2 (alpha = 0) and the 2nd within (1 +- 1/c)/2 (|alpha| <= b1 b2 <= a / c,
    # c = sqrt(2 log(2 n_j / delta_j)) = 3.75, 3.37, 2.92 by level): P(collision) <= 6 * 4.3e-4
    assert len(splits) == 4
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed


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


def test_size_is_the_coreset_size_of_m_rounds(small):
    x, kern = small  # n = 96: sizes 96 // 2**m = 96, 48, 24, 12, 6, 3, 1
    by_size = np.asarray(thin(5, x, kernel=kern, size=12))
    assert by_size.shape == (12,)
    assert np.array_equal(by_size, np.asarray(thin(5, x, 3, kern)))
    assert np.array_equal(np.asarray(thin(5, x[:95], kernel=kern, size=95)), np.arange(95))


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
    u_seed = 17
    expected = goodpoints_kt.split_K(kmat, m, 0.5, u_seed)
    u = np.random.default_rng(u_seed).uniform(size=(m, n // 2))  # goodpoints' draws
    ours = np.asarray(kt_split_gram(jnp.asarray(kmat), jnp.asarray(u), delta=0.5))
    assert np.array_equal(ours, expected)
    for unique in (False, True):
        gp_out = goodpoints_kt.swap_K(kmat, expected.copy(), unique=unique)  # swap_K edits input
        ours_out = np.asarray(kt_swap_gram(jnp.asarray(kmat), ours, unique=unique))
        assert np.array_equal(ours_out, gp_out)


# ------------------------------------------------------------------------------ statistics


def kt_split_bound2(kmat, m, delta, delta_prime, r=32):
    """(head, L): a high-probability bound `head` on ||L w||^2, the squared MMD of a KT-SPLIT
    coreset S (w = 1/n - 1_S/s) projected on the span of the first r pivots of a pivoted
    Cholesky K ~ L^T L; the rest, w^T (K - L^T L) w, is computed exactly from S.

    Dwivedi & Mackey (2021), self-balancing Hilbert walk: outside an event of probability
    <= delta (2^m - 1) / (2m) (threshold violations on one coreset's m ancestors; level-wise
    delta_j = delta 2^j / m over n_j / 2 pairs, each <= delta_j / n_j), the walk of level j is
    sigma_j-sub-Gaussian with sigma_j <= b_max (c_j + 1/c_j) / 2, c_j^2 = 2 log(2 n_j / delta_j),
    b_max^2 = max ||k(x,.) - k(y,.)||^2 (induction on the walk's variance recursion). The coreset
    error sum_j psi_j / n_j is then sigma-sub-Gaussian, sigma^2 = sum_j sigma_j^2 / n_j^2, and
    Hsu-Kakade-Zhang (2012) bound its projection on a fixed r-dimensional subspace by
    sigma^2 (r + 2 sqrt(r t) + 2t) with probability 1 - e^-t (t = log 1/delta').
    """
    n = kmat.shape[0]
    b_max = np.sqrt(2 * np.max(np.diag(kmat)) - 2 * kmat.min())
    sig2 = 0.0
    for j in range(m):
        n_j, delta_j = n >> j, delta * 2**j / m
        c = np.sqrt(2 * np.log(2 * n_j / delta_j))
        sig2 += (b_max * (c + 1 / c) / 2) ** 2 / n_j**2
    t = np.log(1 / delta_prime)
    resid, rows = np.diag(kmat).copy(), []
    for _ in range(r):
        p = int(np.argmax(resid))
        row = (kmat[p] - sum(q[p] * q for q in rows)) / np.sqrt(resid[p])
        rows.append(row)
        resid = resid - row**2
    return sig2 * (r + 2 * np.sqrt(r * t) + 2 * t), np.array(rows)


@pytest.mark.statistical
@pytest.mark.parametrize("d", [2, 10])
def test_kt_beats_iid(d):
    n, m, s = 2**12, 6, 64
    x = gauss_points(n, d, seed=seed(d))
    kern = Gaussian(lengthscale=np.sqrt(2 * d))
    kmat = gauss_kmat(x, d)
    # 5 keys at a delta that makes the theory bound hold with probability >= 1 - 2e-4 each
    # (delta (2^m - 1) / (2m) = delta' = 1e-4), 5 keys at the default delta = 0.5
    small = 1e-4 * 2 * m / (2**m - 1)
    keys = jax.random.split(jax.random.key(seed(d)), 10)
    deltas = jnp.array([small] * 5 + [0.5] * 5)

    def split_and_swap(k, dl):  # kt._thin_core, also returning KT-SPLIT's first coreset
        src = kt_module._source(kern, x, None)
        cs = kt_module._split(src, kt_module._uniforms(k, m, n, x.dtype), n, m, dl)
        return cs[0], kt_module._swap(src, cs, False)

    # One compiled, vmapped KT over the 10 (key, delta) pairs (the kernel matrix is shared).
    first, out = map(np.asarray, jax.jit(jax.vmap(split_and_swap))(keys, deltas))
    kt_mmd = np.array([rel_mmd(kmat, c) for c in out])
    # KT's MMD <= sqrt(head + exact tail) of KT-SPLIT's coreset (kt_split_bound2, failure <=
    # 5 * 2e-4 = 1e-3 over 5 keys); KT-SWAP never raises the MMD of its candidates
    head, lmat = kt_split_bound2(kmat, m, small, 1e-4)
    w = np.full((5, n), 1 / n)
    for i, c in enumerate(first[:5]):
        w[i, c] -= 1 / s
    tail = np.einsum("in,nm,im->i", w, kmat, w) - ((w @ lmat.T) ** 2).sum(1)
    bound = np.sqrt(head + tail)
    assert np.all(kt_mmd[:5] <= bound)
    # KT (default delta) beats i.i.d. thinning: the one-sided t upper confidence bound (level
    # 1e-3, 5 keys) on E[MMD^2_KT] lies below the exact E[MMD^2] of uniform subsampling
    assert t_upper(kt_mmd[5:] ** 2, 1e-3) < iid_mean_mmd2(kmat, s)
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed; worst MMD / bound 0.022 (d=2), 0.062
    # (d=10); worst t upper bound / E[MMD^2_iid] 0.016 (d=2), 0.078 (d=10)


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
    with pytest.raises(ValueError, match="m, size: expected exactly one .* got neither"):
        thin(0, x, kernel=kern)
    with pytest.raises(ValueError, match=r"m, size: .* got both \(m=3, size=12\)"):
        thin(0, x, 3, kern, size=12)
    with pytest.raises(
        ValueError, match="size: expected n // 2\\*\\*m .* 96, 48, 24, 12, 6, 3, 1; got 10"
    ):
        thin(0, x, kernel=kern, size=10)
    with pytest.raises(ValueError, match="size: expected n // 2\\*\\*m .* got 192"):
        thin(0, x, kernel=kern, size=192)
    with pytest.raises(ValueError, match="size: expected an integer >= 1, got 0"):
        thin(0, x, kernel=kern, size=0)
    with pytest.raises(TypeError, match="size: expected an integer, got float"):
        thin(0, x, kernel=kern, size=12.0)


def test_split_swap_and_baseline_bad_inputs(small):
    x, kern = small
    with pytest.raises(ValueError, match="m: 2\\*\\*m = 128 exceeds"):
        kt_split(0, x, 7, kern)
    with pytest.raises(ValueError, match=r"coresets: expected integer indices in \[0, 96\)"):
        kt_swap(x, jnp.array([[0, 96]]), kern)
    with pytest.raises(TypeError, match="coresets: expected integer indices"):
        kt_swap(x, jnp.zeros((1, 2)), kern)
    with pytest.raises(ValueError, match="kmat: expected a non-empty square kernel matrix"):
        kt_split_gram(jnp.ones((4, 3)), jnp.ones((1, 2)))
    with pytest.raises(ValueError, match="uniforms: expected shape"):
        kt_split_gram(jnp.eye(8), jnp.ones((2, 1)))
    with pytest.raises(ValueError, match=r"coresets: expected integer indices in \[0, 4\)"):
        kt_swap_gram(jnp.eye(4), jnp.array([[5]]))
    with pytest.raises(ValueError, match="size: expected at most n = 5"):
        standard_thin(5, 6)
    with pytest.raises(ValueError, match="size: expected an integer >= 1"):
        iid(0, 5, 0)
