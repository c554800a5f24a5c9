"""KT-Compress++: near-linear-time kernel thinning (Shetty, Dwivedi & Mackey, 2022).

Compress(S, g) returns S if S is a base bucket; otherwise it compresses the four consecutive
quarters of S recursively, concatenates the four outputs and halves them. With base buckets of
``4^g`` points and ``|S| = 4^k`` it returns ``2^g sqrt|S|`` points, which Compress++ thins by
``2^g`` with KT, giving ``sqrt(n)`` points. Halve is *symmetrised* KT(m = 1): kernel halving,
KT-SWAP restricted to distinct points, then with probability 1/2 the complement, which keeps
every halving unbiased.

The recursion runs bottom-up: all subproblems of one level are halved at once (``vmap`` inside
``lax.map`` chunks of at most 2^25 kernel entries). A halving on more than ``block_size``
points never holds its kernel matrix: KT-SPLIT computes 128-row panels, KT-SWAP computes rows
when needed and its sums in blocks of ``block_size`` rows, so the peak memory is
O(block_size * 2^(g+1) sqrt(n)) plus the points.

**Any n, every row used.** With ``k = floor(log4 n)`` Compress++ thins by ``2^k``, like
``thin(key, x, k)``: about ``n / 2^k`` points, between ``sqrt(n)`` and ``2 sqrt(n)``. Compress
runs ``L = k - g`` levels on ``4^L`` base buckets of ``B = n' / 4^L`` consecutive rows
(``4^g <= B < 4^(g+1)``; ``B = 4^g`` when ``n = 4^k``, the paper's case), with
``n' = n - (n mod 2^max(2L, k))`` so that every halving and the final KT are exact; the output
has ``n' / 2^k`` points (still ``2^g`` times fewer than Compress returns). When ``n' < n`` the
``r = n - n' < max(n / 4^g, sqrt(n))`` rows left out are drawn uniformly at random (from
``key``): every row can be selected and the kept rows' measure ``P'`` is unbiased for the
input's ``P``, with ``E MMD(P, P')^2 = r V / (n' (n - 1))``, ``V = mean_i k(x_i, x_i) -
mean_ij k(x_i, x_j)`` (sampling without replacement). By the triangle inequality this adds at
most ``sqrt(V / (4^g n'))`` in root mean square (``sqrt(V / n')`` if ``k < 2g``) to the
``O(polylog(n) / sqrt(n'))`` error guarantee of Compress++ on the kept rows. If
``L <= 1`` Compress would not reduce anything and plain KT with ``m = k`` runs on all ``n`` rows
instead (same key, so the output equals :func:`bayeskit.thinning.thin`).

**delta split** (paper, Theorem 4 / goodpoints.jax): with ``D = g + L B / 2^g`` (the paper's
``g + (beta + 1) 2^g``, ``beta = k - g - 1``, when ``B = 4^g``), a Halve on ``l`` points uses
``delta l^2 / (4 n' 2^g D)`` and the final thinning ``delta g / D``: each level's halvings take
``delta B / (2^g D)`` in all, so the failure probabilities sum to ``delta``.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from bayeskit import parallel
from bayeskit.parallel import _check_mesh
from bayeskit.random import as_key
from bayeskit.thinning.kt import (
    VARIANTS,
    _check_block,
    _check_delta,
    _check_x,
    _source,
    _split,
    _swap,
    _thin_core,
    iid,
    thin,
)
from bayeskit.thinning.split_kernels import _check_kernel, default_kernel, split_kernel
from bayeskit.validate import check_choice, check_int

__all__ = ["compresspp", "symmetrized_halve"]

# Kernel entries held at once per Compress level (float64: 8 bytes each, so 256 MiB).
_LEVEL_ENTRIES = 2**25
# Rows of the kernel panel that KT-SPLIT computes at once (64 pairs) on a streamed source.
_PANEL_ROWS = 128
_DEFAULT_BLOCK = 1024


def _halve_sym(key, x, idx, split_k, swap_k, delta, block_size, axis=None):
    """Symmetrised KT(m=1) on the points ``x[idx]``; returns half of ``idx`` (distinct).

    With ``axis`` (inside :func:`_on_every_device`) a streamed halving splits its kernel rows
    across the devices of that mesh axis."""
    size = idx.shape[0]
    pts = x[idx]
    src = _source(split_k, pts, block_size, axis)
    key_u, key_coin = jax.random.split(key)
    u = jax.random.uniform(key_u, (1, size // 2), x.dtype)
    halves = _split(src, u, size, 1, delta)
    if swap_k is not None:
        src = _source(swap_k, pts, block_size, axis)
    chosen = _swap(src, halves, True)
    member = jnp.zeros((size,), bool).at[chosen].set(True)
    (rest,) = jnp.nonzero(~member, size=size // 2)
    flip = jax.random.bernoulli(key_coin)
    return idx[jnp.where(flip, rest, chosen)]


def _on_every_device(fn, mesh, *args):
    """``fn(*args, axis)`` run by every device of ``mesh`` on the same (replicated) inputs;
    ``fn`` splits its O(n^2) sums across the devices with collectives over ``axis``, so every
    device returns the same value."""
    axis = mesh.axis_names[0]
    body = jax.shard_map(
        lambda *a: fn(*a, axis), mesh=mesh, in_specs=P(), out_specs=P(), check_vma=False
    )
    return body(*args)


def _compress_core(key, x, split_k, swap_k, g, levels, delta, block_size, mesh=None):
    n = x.shape[0]
    base = n // 4**levels
    denom = g + levels * base / 2**g
    key_c, key_t = jax.random.split(key)
    z = jnp.arange(n).reshape(4**levels, base)
    # Levels are numbered from g so that n = 4^k keeps the keys (and output) of base 4^g.
    for level in range(g, g + levels):
        groups = z.reshape(-1, 4 * z.shape[1])
        size = groups.shape[1]
        delta_h = delta * size**2 / (4 * n * 2**g * denom)
        keys = jax.random.split(jax.random.fold_in(key_c, level), groups.shape[0])
        # A halving holds its kernel matrix, or blocks of rows when it is streamed.
        rows = size if block_size is None else min(size, max(block_size, _PANEL_ROWS))
        cap = _LEVEL_ENTRIES // (size * rows)

        def halve(k, idx, axis=None, dh=delta_h):
            return _halve_sym(k, x, idx, split_k, swap_k, dh, block_size, axis)

        if mesh is None:
            batch = max(1, min(groups.shape[0], cap))
            z = jax.lax.map(lambda a: halve(*a), (keys, groups), batch_size=batch)
        elif groups.shape[0] < mesh.size:  # fewer buckets than devices: each one's rows split
            z = _on_every_device(
                lambda ks, gs, axis: jax.lax.map(lambda a: halve(*a, axis), (ks, gs)),
                mesh,
                keys,
                groups,
            )
        else:  # the buckets of this level split across the devices, same memory per device
            batch = max(1, min(-(-groups.shape[0] // mesh.size), cap))
            z = parallel.map_sharded(halve, keys, groups, mesh=mesh, batch_size=batch)
    coreset = z[0]
    if g == 0:
        return coreset

    def final(k, pts, axis=None):
        return _thin_core(
            k, pts, split_k, swap_k, g, delta * g / denom, True, False, block_size, axis
        )

    pts = x[coreset]
    sub = final(key_t, pts) if mesh is None else _on_every_device(final, mesh, key_t, pts)
    return coreset[sub]


_compress_jit = eqx.filter_jit(_compress_core)


def symmetrized_halve(key: Any, x: Any, kernel: Any, *, delta: float = 0.5) -> jax.Array:
    """Symmetrised kernel halving, the Halve step of KT-Compress++.

    Runs KT-SPLIT with ``m = 1``, KT-SWAP over distinct points, then returns the resulting half
    or, with probability 1/2, its complement.

    Args:
        key: PRNG key or int seed.
        x: points, shape ``(n, d)`` with ``n`` even.
        kernel: kernel ``k(a, b) -> scalar`` (used to split and to swap).
        delta: failure probability in (0, 1].

    Returns:
        Integer array of shape ``(n // 2,)`` of distinct indices into ``x``.

    Raises:
        ValueError: on bad ``x``, odd ``n`` or ``delta`` outside (0, 1].

    Reference: Shetty, Dwivedi & Mackey (2022), Algorithm 1 and section 4.
    """
    key = as_key(key, "key")
    x = _check_x(x)
    if x.shape[0] % 2:
        raise ValueError(f"x: expected an even number of rows, got shape {x.shape}")
    kernel = _check_kernel(kernel)
    delta = _check_delta(delta)
    return _halve_jit(key, x, kernel, delta)


@eqx.filter_jit
def _halve_jit(key, x, kernel, delta):
    return _halve_sym(key, x, jnp.arange(x.shape[0]), kernel, None, delta, None)


def compresspp(
    key: Any,
    x: Any,
    kernel: Any = None,
    *,
    g: int = 4,
    delta: float = 0.5,
    variant: str = "target",
    alpha: float | None = None,
    block_size: int | None = _DEFAULT_BLOCK,
    mesh: Any = None,
) -> jax.Array:
    """KT-Compress++: sqrt(n) to 2 sqrt(n) points, near-KT quality, O(4^g n log n) time.

    Args:
        key: PRNG key or int seed.
        x: points, shape ``(n, d)``, float32 or float64.
        kernel: target kernel; ``None`` means the median-heuristic Gaussian of
            :func:`bayeskit.thinning.default_kernel`.
        g: oversampling parameter >= 0 (larger: closer to KT, cost grows like 4^g).
        delta: failure probability in (0, 1], split between the halvings and the final KT.
        variant: split kernel, as in :func:`bayeskit.thinning.thin`.
        alpha: power for ``power`` / ``plus`` variants, as in :func:`bayeskit.thinning.thin`.
        block_size: a halving (or the final KT) on at most ``block_size`` points builds its
            kernel matrix; a larger one computes kernel rows when needed, in blocks of
            ``block_size`` rows, so its memory is O(block_size * points) and the peak stays
            bounded as ``n`` grows (n = 2^20, float64, d = 2, g = 4: 2.5 GB peak RSS, about
            1 GB of it JAX itself). ``None`` always builds the matrices (the last halving's has
            (2^(g+1) sqrt(n))^2 entries: 8 GiB at n = 2^20 in float64). The same ``key`` gives
            the same coreset for any ``block_size`` unless two candidate halves of KT-SWAP tie
            to rounding (their scores are summed in another order).
        mesh: ``None`` runs on one device; a 1-D mesh (e.g.
            :func:`bayeskit.parallel.device_mesh`) splits each Compress level's buckets (its
            independent halvings) across the devices with
            :func:`bayeskit.parallel.map_sharded`; a level with fewer buckets than devices (the
            top one) and the final KT on ``2^g sqrt(n)`` points split their kernel rows
            instead (KT-SPLIT's panels, KT-SWAP's row means; its greedy steps run whole on
            every device), which gives the one-device numbers bit for bit. Every halving is
            the same algorithm with the same key, but XLA compiles a device's share of a level
            (another vectorised width, another loop) with other rounding, and a halving whose
            candidates tie to rounding may choose the other half; one flip changes the rest.
            So the coreset is often index-identical to one device (tested: n = 3000, g = 1)
            but not always (n = 1024, g = 0: 27 of 32 differ); it is then another draw of the
            same algorithm, of the same MMD quality.

    Returns:
        Integer array of shape ``(n' // 2**k,)``: row indices into ``x``, with
        ``4**k <= n < 4**(k + 1)`` and ``n' <= n`` the rows Compress++ runs on (``n' = n`` when
        ``n`` is a power of four; "Any n" in the module docs). Every row is a possible pick;
        repeats come only from the final KT-SWAP.

    Raises:
        ValueError: on non-finite or non-rank-2 ``x``, ``g < 0``, ``delta`` outside (0, 1], an
            unknown ``variant`` or one the kernel has no closed form for, ``block_size < 2``.
        TypeError: on a non-integer ``g`` or ``block_size``.

    Reference: Shetty, Dwivedi & Mackey (2022), Algorithms 1-2 (Compress, Compress++).
    """
    key = as_key(key, "key")
    x = _check_x(x)
    g = check_int(g, "g", minimum=0)
    delta = _check_delta(delta)
    variant = check_choice(variant, "variant", VARIANTS)
    block_size = _check_block(block_size)
    mesh = None if mesh is None else _check_mesh(mesh)
    if kernel is None:
        kernel = default_kernel(x)
    split_k = split_kernel(kernel, variant, alpha=alpha, dim=x.shape[1])
    n = x.shape[0]
    k = (n.bit_length() - 1) // 2  # 4**k <= n < 4**(k + 1)
    levels = k - g
    if levels <= 1:
        return thin(
            key, x, k, kernel, variant=variant, alpha=alpha, delta=delta, block_size=block_size
        )
    swap_k = None if split_k is kernel else kernel
    key = as_key(key, "key")
    n_used = n - n % 2 ** max(2 * levels, k)
    if n_used == n:
        return _compress_jit(key, x, split_k, swap_k, g, levels, delta, block_size, mesh)
    key_keep, key = jax.random.split(key)
    keep = iid(key_keep, n, n_used)
    return keep[_compress_jit(key, x[keep], split_k, swap_k, g, levels, delta, block_size, mesh)]
