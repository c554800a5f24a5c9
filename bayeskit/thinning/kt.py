"""Kernel thinning: KT-SPLIT (level-wise kernel halving), KT-SWAP, and the ``thin`` driver.

References:
    Dwivedi & Mackey (2021), "Kernel Thinning", Algorithms 1a (KT-SPLIT) and 1b (KT-SWAP).
    Dwivedi & Mackey (2022), "Generalized Kernel Thinning" (target, power KT and KT+).

**delta convention (level-wise).** Round ``j = 0..m-1`` halves each of the ``2**j`` current
coresets of size ``n_j = n' / 2**j`` (``n' = 2**m * (n // 2**m)``, the first ``n'`` rows) with
failure probability ``delta_j = delta * 2**j / m``; each halving uses the threshold log term
``2 log(2 n_j / delta_j)``. This is the convention of goodpoints' compiled ``split_K`` (not the
streaming ``split_X``); with the same uniforms and kernel matrix the splits coincide.

**Pairing** is by input order: coreset ``c`` is halved over the pairs ``(c[2i], c[2i+1])``.
Child ``2l`` of coreset ``l`` gets one point of each pair, child ``2l + 1`` the other.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax

from bayeskit.kernels import pairwise
from bayeskit.random import as_key
from bayeskit.thinning.mmd import kernel_row_means
from bayeskit.thinning.split_kernels import VARIANTS, _check_kernel, default_kernel, split_kernel
from bayeskit.validate import (
    check_array,
    check_bool,
    check_choice,
    check_indices,
    check_int,
    check_scalar,
)

__all__ = [
    "kt_split",
    "kt_swap",
    "kt_split_gram",
    "kt_swap_gram",
    "thin",
    "standard_thin",
    "iid",
    "VARIANTS",
]

Kernel = Callable[[jax.Array, jax.Array], jax.Array]


# ---------------------------------------------------------------------------------------------
# Kernel sources: the algorithms only ask for kernel sub-blocks, from a dense matrix or on the fly.
# ---------------------------------------------------------------------------------------------


class _OneDevice:
    """A kernel source that computes every row of a KT-SPLIT block on one device."""

    def panel_terms(self, coresets, pts, w, start: int, first: bool):
        """A KT-SPLIT block's kernel (c, 2B, 2B) and h = w^T K on its points (c, 2B)."""
        kb = self.panel(coresets, pts, first)  # (c, 2B, L): kernel rows of the block's points
        inner_k = lax.dynamic_slice_in_dim(kb, start, pts.shape[1], axis=2)
        return inner_k, jnp.einsum("cl,ckl->ck", w, kb)  # D on the block's points (K symmetric)


class _Dense(_OneDevice):
    """Kernel entries read from a precomputed ``(n, n)`` matrix."""

    def __init__(self, kmat: jax.Array):
        self.kmat = kmat

    def row(self, c: jax.Array) -> jax.Array:
        return lax.dynamic_index_in_dim(self.kmat, c, keepdims=False)

    def diag(self) -> jax.Array:
        return jnp.diagonal(self.kmat)

    def row_means(self) -> jax.Array:
        return self.kmat.mean(axis=1)

    def col_means(self, cols: jax.Array) -> jax.Array:
        """mean_{j in cols} K[i, j] for every row i: shape (n,)."""
        # This gather (not kmat[:, cols]) keeps XLA's float32 summation order of earlier versions.
        rows = jnp.arange(self.kmat.shape[0])
        return self.kmat[rows[:, None], cols[None, :]].mean(axis=1)

    def set_mean(self, s: jax.Array) -> jax.Array:
        """mean_{i, j in s} K[i, j]."""
        return self.kmat[s[:, None], s[None, :]].mean()

    def panel(self, coresets: jax.Array, pts: jax.Array, first: bool) -> jax.Array:
        """K[p, c] for the block's points p and each coreset c: shape (count, 2B, L)."""
        if first:  # round 0: the coreset is arange, so the panel is a row slice of K itself
            size = coresets.shape[1]
            return lax.dynamic_slice(self.kmat, (pts[0, 0], 0), (pts.shape[1], size))[None]
        # Row-wise gather (each row read in increasing column order) keeps memory access local.
        return self.kmat[pts[:, :, None], coresets[:, None, :]]


class _Stream(_OneDevice):
    """Kernel entries computed when needed: O(n) memory per step, O(block_size * n) for sums.

    Entries come from the same ``pairwise`` as the dense matrix, so they are equal bit for bit.
    """

    def __init__(self, kernel: Kernel, x: jax.Array, block_size: int):
        self.kernel, self.x, self.block_size = kernel, x, block_size

    def row(self, c: jax.Array) -> jax.Array:
        return pairwise(self.kernel, self.x[c][None], self.x)[0]

    def diag(self) -> jax.Array:
        return jax.vmap(self.kernel)(self.x, self.x)

    def row_means(self) -> jax.Array:
        return kernel_row_means(self.kernel, self.x, self.x, self.block_size)

    def col_means(self, cols: jax.Array) -> jax.Array:
        return kernel_row_means(self.kernel, self.x, self.x[cols], self.block_size)

    def set_mean(self, s: jax.Array) -> jax.Array:
        # Row means then their mean: the dense full mean sums in another order (equal to rounding).
        pts = self.x[s]
        return kernel_row_means(self.kernel, pts, pts, self.block_size).mean()

    def panel(self, coresets: jax.Array, pts: jax.Array, first: bool) -> jax.Array:
        return jax.vmap(lambda p, c: pairwise(self.kernel, self.x[p], self.x[c]))(pts, coresets)


class _ShardedStream(_Stream):
    """A :class:`_Stream` whose O(n^2) work is split by rows across the devices of a mesh axis.

    Used inside ``shard_map`` with every input replicated. Of ``n`` rows, device ``i`` of ``P``
    computes rows ``[i q, (i + 1) q)``, ``q = ceil(n / P)``, of KT-SWAP's row means (its
    candidate scores and start statistic) and of each KT-SPLIT block's kernel panel; a psum
    of the disjoint parts gives every device the whole. Each row is computed by the same code
    as in :class:`_Stream`, so the numbers, and the coreset, are the same. KT-SWAP's greedy
    steps run whole on every device: a collective per step (measured: about 170 us between
    two CPU devices) would cost more than the step's two kernel rows.
    """

    def __init__(self, kernel: Kernel, x: jax.Array, block_size: int, axis: str):
        super().__init__(kernel, x, block_size)
        self.axis = axis

    def _rows(self, n: int) -> jax.Array:
        """This device's ``q`` row indices of ``n`` (clipped to ``n - 1`` past the end)."""
        per = -(-n // lax.axis_size(self.axis))
        return jnp.minimum(lax.axis_index(self.axis) * per + jnp.arange(per), n - 1)

    def _gather(self, part: jax.Array, axis: int = 0) -> jax.Array:
        """The devices' parts concatenated along ``axis`` in device order, on every device."""
        parts, i = lax.axis_size(self.axis), lax.axis_index(self.axis)
        shape = list(part.shape)
        shape[axis] *= parts
        whole = jnp.zeros(shape, part.dtype)
        whole = lax.dynamic_update_slice_in_dim(whole, part, i * part.shape[axis], axis)
        # Each entry is one device's number plus zeros, so exact. (lax.all_gather here gave
        # wrong coresets and a double free on three CPU devices, jax 0.10.)
        return lax.psum(whole, self.axis)

    def _by_rows(self, rows: jax.Array, cols: jax.Array) -> jax.Array:
        """mean_j k(rows_i, cols_j) for every row i, the rows split across the devices."""
        n = rows.shape[0]
        own = self._rows(n)
        means = kernel_row_means(self.kernel, rows[own], cols, self.block_size)
        return self._gather(means)[:n]

    def panel_terms(self, coresets, pts, w, start: int, first: bool):
        own = self._rows(pts.shape[1])  # this device's points of the block
        kb = self.panel(coresets, pts[:, own], first)  # (c, q, L)
        h = self._gather(jnp.einsum("cl,ckl->ck", w, kb), axis=1)
        return self.panel(pts, pts, first), h[:, : pts.shape[1]]  # the (c, 2B, 2B) block


# ---------------------------------------------------------------------------------------------
# KT-SPLIT
# ---------------------------------------------------------------------------------------------


def _pairs_per_block(half: int, cap: int = 64) -> int:
    """Largest power of two <= cap dividing ``half``, so that blocks tile the pairs exactly."""
    block = 1
    while block * 2 <= cap and half % (block * 2) == 0:
        block *= 2
    return block


def _halve_all(src, coresets: jax.Array, uniforms: jax.Array, log_mult, first: bool):
    """Kernel halving of every coreset of one round at once; returns (2 * c, L / 2) indices.

    The self-balancing Hilbert walk of Dwivedi & Mackey (2021), Alg. 1a, with the sub-Gaussian
    update of their eq. (8). With w the signed assignment of processed points (+1 in child 1,
    -1 in child 0), D = w^T K and alpha_i = D[2i] - D[2i+1] = -<psi, f_i>; the pair is swapped
    (its second point goes to child 0) with probability (1 - alpha / a) / 2. Pairs run in
    blocks of B: one (L x 2B) kernel block and one mat-vec per block give D on the block, and
    the B sequential steps only update a length-2B vector.
    """
    count, size = coresets.shape
    half = size // 2
    block = _pairs_per_block(half)
    dtype = uniforms.dtype

    def outer(carry, b):
        w, sig = carry
        pts = lax.dynamic_slice_in_dim(coresets, 2 * block * b, 2 * block, axis=1)
        inner_k, h = src.panel_terms(coresets, pts, w, 2 * block * b, first)
        u_blk = lax.dynamic_slice_in_dim(uniforms, block * b, block, axis=1)

        def inner(carry, t):
            h, sig, w_blk = carry
            r0 = lax.dynamic_index_in_dim(inner_k, 2 * t, axis=1, keepdims=False)
            r1 = lax.dynamic_index_in_dim(inner_k, 2 * t + 1, axis=1, keepdims=False)
            k00 = lax.dynamic_index_in_dim(r0, 2 * t, axis=1, keepdims=False)
            k01 = lax.dynamic_index_in_dim(r0, 2 * t + 1, axis=1, keepdims=False)
            k11 = lax.dynamic_index_in_dim(r1, 2 * t + 1, axis=1, keepdims=False)
            # Clip at 0: rounding can make ||f||^2 slightly negative for near-duplicates.
            b2 = jnp.maximum(k00 - 2 * k01 + k11, 0.0)
            thresh = jnp.maximum(jnp.sqrt(sig * b2 * log_mult), b2)
            # a == 0 only if b == 0 (duplicates): any positive a gives the same fair coin.
            thresh = jnp.where(thresh == 0, jnp.ones((), dtype), thresh)
            upd = 1 + (b2 / thresh - 2) * sig / thresh
            sig = jnp.where(sig == 0, b2, sig + b2 * jnp.maximum(upd, 0.0))
            alpha = lax.dynamic_index_in_dim(h, 2 * t, axis=1, keepdims=False)
            alpha = alpha - lax.dynamic_index_in_dim(h, 2 * t + 1, axis=1, keepdims=False)
            u = lax.dynamic_index_in_dim(u_blk, t, axis=1, keepdims=False)
            swap = u <= 0.5 * (1 - alpha / thresh)
            sign = jnp.where(swap, 1.0, -1.0).astype(dtype)  # w of the pair's first point
            h = h + sign[:, None] * (r0 - r1)
            w_pair = jnp.stack([sign, -sign], axis=1)
            w_blk = lax.dynamic_update_slice_in_dim(w_blk, w_pair, 2 * t, axis=1)
            return (h, sig, w_blk), swap

        w_blk = jnp.zeros((count, 2 * block), dtype)
        (_, sig, w_blk), swaps = lax.scan(inner, (h, sig, w_blk), jnp.arange(block))
        w = lax.dynamic_update_slice_in_dim(w, w_blk, 2 * block * b, axis=1)
        return (w, sig), swaps

    init = (jnp.zeros((count, size), dtype), jnp.zeros((count,), dtype))
    _, swaps = lax.scan(outer, init, jnp.arange(half // block))
    swaps = swaps.reshape(half, count).T
    pairs = coresets.reshape(count, half, 2)
    child0 = jnp.where(swaps, pairs[..., 1], pairs[..., 0])
    child1 = jnp.where(swaps, pairs[..., 0], pairs[..., 1])
    return jnp.stack([child0, child1], axis=1).reshape(2 * count, half)


def _split(src, uniforms: jax.Array, n_used: int, m: int, delta) -> jax.Array:
    """Level-wise KT-SPLIT over the first ``n_used`` indices; returns (2**m, n_used // 2**m)."""
    coresets = jnp.arange(n_used)[None, :]
    for j in range(m):
        count = 2**j
        size = n_used // count
        delta_j = delta * count / m
        log_mult = 2 * jnp.log(2 * size / delta_j)
        u = uniforms[j, : n_used // 2].reshape(count, size // 2)
        coresets = _halve_all(src, coresets, u, log_mult, j == 0)
    return coresets


# ---------------------------------------------------------------------------------------------
# KT-SWAP
# ---------------------------------------------------------------------------------------------


def _baseline(n: int, size: int) -> jax.Array:
    """Standard thinning counted back from the last index with stride n // size, ascending."""
    stride = n // size
    return n - 1 - stride * (size - 1 - jnp.arange(size))


def _swap(src, coresets: jax.Array, unique: bool, mean_k: jax.Array | None = None) -> jax.Array:
    """KT-SWAP: pick the best of {baseline, split coresets}, then one greedy refinement pass.

    The statistic stat[z] = k(z,z)/s + 2 (mean_{y in S} k(z,y) - mean_k[z]) is s/2 times the
    change in MMD^2 from adding z to S (Dwivedi & Mackey 2021, Alg. 1b).
    """
    diag = src.diag()
    mean_k = src.row_means() if mean_k is None else mean_k
    n = diag.shape[0]
    ncs, size = coresets.shape
    base = _baseline(n, size)
    # With two halves of an even set, both have the same MMD to it: only the first is scored.
    cands = jnp.concatenate([base[None], coresets[:1] if ncs == 2 else coresets])

    def rel_mmd2(s):
        return src.set_mean(s) - 2 * mean_k[s].mean()

    scores = jax.vmap(rel_mmd2)(cands)
    start = cands[jnp.argmin(scores)]  # argmin keeps the first minimum: baseline wins ties
    two_over = 2.0 / size
    stat = diag / size + 2 * (src.col_means(start) - mean_k)
    count = jnp.zeros((n,), jnp.int32).at[start].add(1)

    def step(carry, p):
        s, stat, count = carry
        c = s[p]
        stat = stat - src.row(c) * two_over
        count = count.at[c].add(-1)
        if unique:
            masked = jnp.where(count > 0, jnp.inf, stat)
            z = jnp.argmin(masked)
            z = jnp.where(masked[c] <= masked[z], c, z)  # keep the swapped-out point on ties
        else:
            z = jnp.argmin(stat)
        stat = stat + src.row(z) * two_over
        return (s.at[p].set(z), stat, count.at[z].add(1)), None

    (out, _, _), _ = lax.scan(step, (start, stat, count), jnp.arange(size))
    return out


# ---------------------------------------------------------------------------------------------
# Jitted cores
# ---------------------------------------------------------------------------------------------


def _uniforms(key, m: int, n_used: int, dtype) -> jax.Array:
    return jax.random.uniform(key, (m, n_used // 2), dtype)


def _source(kernel: Kernel, x: jax.Array, block_size: int | None, axis: str | None = None):
    """The kernel matrix if all rows fit in one block (``block_size`` None or >= n), else rows
    computed when needed in blocks of ``block_size``; with ``axis`` (inside ``shard_map``) the
    row sums of those are split across the devices of that mesh axis."""
    if block_size is None or x.shape[0] <= block_size:
        return _Dense(pairwise(kernel, x, x))
    if axis is not None:
        return _ShardedStream(kernel, x, block_size, axis)
    return _Stream(kernel, x, block_size)


def _thin_core(key, x, split_k, swap_k, m, delta, swap, unique, block_size, axis=None):
    """Whole KT; ``swap_k=None`` means the swap kernel is the split kernel (one Gram build)."""
    n_used = (x.shape[0] // 2**m) * 2**m
    u = _uniforms(key, m, n_used, x.dtype)
    src = _source(split_k, x, block_size, axis)
    coresets = _split(src, u, n_used, m, delta)
    if not swap:
        return coresets[0]
    if swap_k is not None:
        src = _source(swap_k, x, block_size, axis)
    return _swap(src, coresets, unique)


_thin_jit = eqx.filter_jit(_thin_core)


@eqx.filter_jit
def _split_jit(key, x, split_k, m, delta, block_size):
    n_used = (x.shape[0] // 2**m) * 2**m
    u = _uniforms(key, m, n_used, x.dtype)
    return _split(_source(split_k, x, block_size), u, n_used, m, delta)


@eqx.filter_jit
def _swap_jit(x, coresets, swap_k, unique, block_size):
    return _swap(_source(swap_k, x, block_size), coresets, unique)


@eqx.filter_jit
def _split_gram_jit(kmat, uniforms, m, delta):
    n_used = (kmat.shape[0] // 2**m) * 2**m
    return _split(_Dense(kmat), uniforms, n_used, m, delta)


@eqx.filter_jit
def _swap_gram_jit(kmat, coresets, unique):
    return _swap(_Dense(kmat), coresets, unique)


# ---------------------------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------------------------


def _check_x(x: Any) -> jax.Array:
    x = check_array(x, "x", ndim=2)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if x.shape[0] < 1:
        raise ValueError(f"x: expected at least one row, got shape {x.shape}")
    return x


def _check_m(m: Any, n: int) -> int:
    m = check_int(m, "m", minimum=0)
    if 2**m > n:
        raise ValueError(
            f"m: 2**m = {2**m} exceeds the number of points n = {n}; expected m <= "
            f"{int(math.log2(n))}"
        )
    return m


def _rounds(m: Any, size: Any, n: int) -> int:
    """Halving rounds from exactly one of ``m`` and ``size``, where ``size = n // 2**m``."""
    if (m is None) == (size is None):
        got = "neither" if m is None else f"both (m={m!r}, size={size!r})"
        raise ValueError(
            "m, size: expected exactly one of m (halving rounds) and size (coreset size), "
            f"got {got}"
        )
    if m is not None:
        return _check_m(m, n)
    size = check_int(size, "size", minimum=1)
    sizes = [n >> j for j in range(n.bit_length())]  # n // 2**m for m = 0 .. floor(log2 n)
    if size not in sizes:
        raise ValueError(
            f"size: expected n // 2**m for an integer m with n = {n}, i.e. one of "
            f"{', '.join(map(str, sizes))}; got {size}"
        )
    return sizes.index(size)


def _check_delta(delta: Any) -> float:
    return check_scalar(delta, "delta", 0.0, 1.0, closed=(False, True))


def _check_block(block_size: Any) -> int | None:
    if block_size is None:
        return None
    return check_int(block_size, "block_size", minimum=2)


def _check_coresets(coresets: Any, n: int) -> jax.Array:
    coresets = check_array(coresets, "coresets", ndim=2)
    if coresets.size == 0:
        raise ValueError(f"coresets: expected a non-empty array, got shape {coresets.shape}")
    return check_indices(coresets, "coresets", n)


def _check_gram(kmat: Any) -> jax.Array:
    kmat = check_array(kmat, "kmat", ndim=2)
    if kmat.shape[0] != kmat.shape[1] or kmat.shape[0] == 0:
        raise ValueError(f"kmat: expected a non-empty square kernel matrix, got shape {kmat.shape}")
    return kmat


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def kt_split(
    key: Any,
    x: Any,
    m: int,
    kernel: Kernel,
    *,
    delta: float = 0.5,
    block_size: int | None = None,
) -> jax.Array:
    """KT-SPLIT: ``m`` rounds of kernel halving into ``2**m`` balanced coresets.

    Args:
        key: PRNG key or int seed (one uniform per pair per round is drawn from it).
        x: points, shape ``(n, d)``; only the first ``2**m * (n // 2**m)`` rows are split.
        m: number of halving rounds, ``0 <= m <= log2(n)``.
        kernel: split kernel ``k(a, b) -> scalar`` on single points.
        delta: failure probability in ``(0, 1]`` (level-wise convention, see module docs).
        block_size: ``None`` builds the ``n x n`` kernel matrix once, and so does an int
            ``>= n``; a smaller int computes kernel entries when needed instead (row panels of
            at most 128 points, row sums in blocks of ``block_size`` rows), so memory is
            O((128 + block_size) * n). The coresets are the same either way (the kernel
            entries are the same numbers).

    Returns:
        Integer array of shape ``(2**m, n // 2**m)``: disjoint coresets whose union is
        ``range(2**m * (n // 2**m))``, each in arrival order.

    Raises:
        ValueError: on non-finite or non-rank-2 ``x``, ``2**m > n``, ``delta`` outside (0, 1].

    Reference: Dwivedi & Mackey (2021), Algorithm 1a.
    """
    key = as_key(key, "key")
    x = _check_x(x)
    m = _check_m(m, x.shape[0])
    kernel = _check_kernel(kernel)
    delta = _check_delta(delta)
    block_size = _check_block(block_size)
    if m == 0:
        return jnp.arange(x.shape[0])[None, :]
    return _split_jit(key, x, kernel, m, delta, block_size)


def kt_swap(
    x: Any,
    coresets: Any,
    kernel: Kernel,
    *,
    unique: bool = False,
    block_size: int | None = None,
) -> jax.Array:
    """KT-SWAP: choose the best candidate coreset, then greedily swap points to lower the MMD.

    Candidates are the rows of ``coresets`` plus the standard-thinning baseline (every
    ``n // s``-th index counted back from ``n - 1``); the one with the smallest MMD to all of
    ``x`` is refined by one pass that replaces each point in turn by the input point that most
    lowers the MMD. No step increases the MMD.

    Args:
        x: points, shape ``(n, d)``.
        coresets: candidate coresets, integer array of shape ``(c, s)`` with entries in [0, n).
        kernel: target kernel ``k(a, b) -> scalar``.
        unique: forbid repeated indices in the output (goodpoints' ``unique=True``).
        block_size: as in :func:`kt_split`.

    Returns:
        Integer array of shape ``(s,)``: row indices into ``x`` (may repeat unless ``unique``).

    Raises:
        ValueError: on bad ``x`` or ``coresets`` (rank, range, emptiness).

    Reference: Dwivedi & Mackey (2021), Algorithm 1b.
    """
    x = _check_x(x)
    coresets = _check_coresets(coresets, x.shape[0])
    kernel = _check_kernel(kernel)
    unique = check_bool(unique, "unique")
    block_size = _check_block(block_size)
    return _swap_jit(x, coresets, kernel, unique, block_size)


def kt_split_gram(kmat: Any, uniforms: Any, *, delta: float = 0.5) -> jax.Array:
    """KT-SPLIT on a precomputed split-kernel matrix with given uniforms (pure core).

    This is the level-wise algorithm of :func:`kt_split` with the randomness made explicit: with
    the same ``kmat`` and uniforms it returns the same coresets as goodpoints' ``ktc.split_K``.

    Args:
        kmat: symmetric kernel matrix, shape ``(n, n)``.
        uniforms: uniforms in [0, 1), shape ``(m, >= n' // 2)`` with ``n' = 2**m * (n // 2**m)``;
            round ``j`` reads row ``j``, one contiguous chunk per coreset.
        delta: failure probability in (0, 1].

    Returns:
        Integer array of shape ``(2**m, n // 2**m)``.

    Raises:
        ValueError: if ``kmat`` is not square and finite, ``uniforms`` has too few columns or
            ``2**m > n``.

    Reference: Dwivedi & Mackey (2021), Algorithm 1a; goodpoints ``ktc.split_K``.
    """
    kmat = _check_gram(kmat)
    uniforms = check_array(uniforms, "uniforms", ndim=2)
    n = kmat.shape[0]
    m = _check_m(uniforms.shape[0], n)
    delta = _check_delta(delta)
    n_used = (n // 2**m) * 2**m
    if uniforms.shape[1] < n_used // 2:
        raise ValueError(
            f"uniforms: expected shape ({m}, >= {n_used // 2}), got {tuple(uniforms.shape)}"
        )
    if m == 0:
        return jnp.arange(n)[None, :]
    return _split_gram_jit(kmat, uniforms.astype(kmat.dtype), m, delta)


def kt_swap_gram(kmat: Any, coresets: Any, *, unique: bool = False) -> jax.Array:
    """KT-SWAP on a precomputed target-kernel matrix (see :func:`kt_swap`).

    Args:
        kmat: symmetric kernel matrix, shape ``(n, n)``.
        coresets: integer array of shape ``(c, s)`` with entries in [0, n).
        unique: forbid repeated indices in the output.

    Returns:
        Integer array of shape ``(s,)``.

    Raises:
        ValueError: if ``kmat`` is not square and finite or ``coresets`` is malformed.
    """
    kmat = _check_gram(kmat)
    coresets = _check_coresets(coresets, kmat.shape[0])
    unique = check_bool(unique, "unique")
    return _swap_gram_jit(kmat, coresets, unique)


def thin(
    key: Any,
    x: Any,
    m: int | None = None,
    kernel: Kernel | None = None,
    *,
    size: int | None = None,
    variant: str = "target",
    alpha: float | None = None,
    delta: float = 0.5,
    swap: bool = True,
    unique: bool = False,
    block_size: int | None = None,
) -> jax.Array:
    """Kernel thinning: compress ``n`` points to ``n // 2**m`` with KT-SPLIT then KT-SWAP.

    Give either the number of halving rounds ``m`` or the coreset size ``size``: each round
    halves, so ``size`` must be ``n // 2**m`` for an integer ``m`` and gives the same result as
    that ``m`` (KT-SPLIT uses the first ``2**m * size`` rows, KT-SWAP all ``n``). Any other
    ``size`` raises an error that lists the valid sizes.

    The split kernel depends on ``variant`` (the swap always uses ``kernel``):
    ``"target"`` uses ``kernel``; ``"root"`` its square-root kernel; ``"power"`` its
    ``alpha``-power kernel; ``"plus"`` (KT+) the sum ``k / k(0) + k_alpha / k_alpha(0)``.
    See :func:`bayeskit.thinning.split_kernel` for the closed forms and which kernels have them.

    Args:
        key: PRNG key or int seed.
        x: points, shape ``(n, d)``, float32 or float64 (computations follow its dtype).
        m: halving rounds, ``0 <= m <= log2(n)``; ``m = log2(n) / 2`` gives ``sqrt(n)`` points.
            Exactly one of ``m`` and ``size``.
        kernel: target kernel ``k(a, b) -> scalar``. ``None`` means a Gaussian kernel whose
            lengthscale is the median heuristic (see :func:`default_kernel`).
        size: coreset size, one of ``n // 2**m`` for ``m = 0 .. floor(log2 n)`` (e.g. ``n = 1000``:
            1000, 500, 250, 125, 62, 31, 15, 7, 3, 1). Exactly one of ``m`` and ``size``.
        variant: one of ``"target"``, ``"root"``, ``"power"``, ``"plus"``.
        alpha: power in [1/2, 1] for ``"power"`` / ``"plus"``; ``None`` means 1/2 (the root),
            an error for kernels without a root (Laplace, Matern with nu <= d/2).
        delta: failure probability in (0, 1] (level-wise convention of the module docs).
        swap: run KT-SWAP; ``False`` returns the first KT-SPLIT coreset.
        unique: forbid repeated indices in the output.
        block_size: ``None`` (or an int ``>= n``) builds kernel matrices (O(n^2) memory,
            fastest for n <= 2^14); a smaller int computes kernel entries when needed
            (O((128 + block_size) * n) memory, see :func:`kt_split`): at n = 2^20, d = 10,
            float32, XLA's compiled temporary memory is 0.7 GiB with ``block_size=1024``.
            Both use the same kernel entries; only KT-SWAP's candidate scores are summed in
            another order, so the output changes only if two candidates tie to rounding.

    Returns:
        Integer array of shape ``(n // 2**m,)`` (``(size,)``): row indices into ``x``, in
        [0, n); duplicates are possible unless ``unique=True``. ``m = 0`` returns ``arange(n)``.

    Raises:
        ValueError: on non-finite or non-rank-2 ``x``, neither or both of ``m`` and ``size``,
            ``2**m > n``, a ``size`` that is not ``n // 2**m``, an unknown ``variant``,
            ``delta`` outside (0, 1], a non-positive kernel parameter, or a variant the kernel
            has no closed form for.
        TypeError: on non-bool ``swap`` / ``unique`` or a non-integer ``m`` / ``size``.

    Reference: Dwivedi & Mackey (2021, 2022); Algorithms 1a, 1b.
    """
    key = as_key(key, "key")
    x = _check_x(x)
    m = _rounds(m, size, x.shape[0])
    variant = check_choice(variant, "variant", VARIANTS)
    delta = _check_delta(delta)
    swap = check_bool(swap, "swap")
    unique = check_bool(unique, "unique")
    block_size = _check_block(block_size)
    if kernel is None:
        kernel = default_kernel(x)
    split_k = split_kernel(kernel, variant, alpha=alpha, dim=x.shape[1])
    if m == 0:
        return jnp.arange(x.shape[0])
    swap_k = None if split_k is kernel else kernel
    return _thin_jit(key, x, split_k, swap_k, m, delta, swap, unique, block_size)


def standard_thin(n: int, size: int) -> jax.Array:
    """Standard thinning: every ``n // size``-th index counted back from ``n - 1``, ascending.

    This is also KT-SWAP's baseline candidate (goodpoints' convention).

    Args:
        n: number of input points (>= 1).
        size: output size, ``1 <= size <= n``.

    Returns:
        Integer array of shape ``(size,)`` of distinct indices in [0, n).

    Raises:
        ValueError: if ``n < 1`` or ``size`` is outside [1, n].
    """
    n = check_int(n, "n", minimum=1)
    size = check_int(size, "size", minimum=1)
    if size > n:
        raise ValueError(f"size: expected at most n = {n}, got {size}")
    return _baseline(n, size)


def iid(key: Any, n: int, size: int) -> jax.Array:
    """Uniform subsampling without replacement: the i.i.d. baseline of the KT papers.

    Args:
        key: PRNG key or int seed.
        n: number of input points (>= 1).
        size: output size, ``1 <= size <= n``.

    Returns:
        Sorted integer array of shape ``(size,)`` of distinct indices in [0, n).

    Raises:
        ValueError: if ``n < 1`` or ``size`` is outside [1, n].
    """
    n = check_int(n, "n", minimum=1)
    size = check_int(size, "size", minimum=1)
    if size > n:
        raise ValueError(f"size: expected at most n = {n}, got {size}")
    return jnp.sort(jax.random.choice(as_key(key, "key"), n, (size,), replace=False))
