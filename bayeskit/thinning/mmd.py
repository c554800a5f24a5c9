"""Maximum mean discrepancy between a point set and a (weighted) coreset.

MMD_k(P, Q)^2 = E_{P x P} k - 2 E_{P x Q} k + E_{Q x Q} k for the empirical measures P (uniform
on ``x``) and Q (the coreset, uniform or weighted). The O(n^2) term E_{P x P} k is computed in row
blocks so that no n x n matrix is ever held (Dwivedi & Mackey, "Kernel Thinning", 2021, eq. (1)).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from gpjax.parameters import val
from jax import lax

from bayeskit.kernels import Gaussian, gram
from bayeskit.thinning.split_kernels import default_kernel
from bayeskit.validate import check_array, check_callable, check_int, check_positive

__all__ = ["mmd", "mmd_to_normal", "kernel_row_means"]

Kernel = Callable[[jax.Array, jax.Array], jax.Array]

_DEFAULT_BLOCK = 1024


def kernel_row_means(kernel: Kernel, x: jax.Array, y: jax.Array, block_size: int) -> jax.Array:
    """Row means ``(1/m) sum_j k(x_i, y_j)`` computed in row blocks (pure, jittable).

    Args:
        kernel: ``k(a, b) -> scalar`` on single points.
        x: rows, shape ``(n, d)``.
        y: columns, shape ``(m, d)``.
        block_size: rows per block; memory is O(block_size * m).

    Returns:
        Array of shape ``(n,)``.

    Raises:
        TypeError: if ``kernel`` is not callable or ``block_size`` is not an integer.
        ValueError: if ``x`` or ``y`` is not a rank-2 array with at least one row, their
            columns differ, an entry is NaN or infinite (checked when concrete) or
            ``block_size < 1``.
    """
    check_callable(kernel, "kernel")
    x = check_array(x, "x", ndim=2)
    y = check_array(y, "y", ndim=2)
    for name, arr in (("x", x), ("y", y)):
        if arr.shape[0] == 0:
            raise ValueError(f"{name}: expected at least one row, got shape {arr.shape}")
    if y.shape[1] != x.shape[1]:
        raise ValueError(f"y: expected {x.shape[1]} columns to match x, got shape {y.shape}")
    block_size = check_int(block_size, "block_size", minimum=1)
    n = x.shape[0]
    block = max(1, min(block_size, n))
    nblocks = -(-n // block)
    pad = nblocks * block - n
    # Pad with copies of the first row so padded kernel values stay finite; they are sliced off.
    xp = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad, x.shape[1]))]) if pad else x
    blocks = xp.reshape(nblocks, block, x.shape[1])
    means = lax.map(lambda xb: gram(kernel, xb, y).mean(axis=1), blocks)
    return means.reshape(-1)[:n]


@eqx.filter_jit
def _mmd_sq(kernel: Kernel, x: jax.Array, q: jax.Array, w: jax.Array, block: int) -> jax.Array:
    kxx = kernel_row_means(kernel, x, x, block).mean()
    kxq = kernel_row_means(kernel, q, x, block) @ w
    kqq = w @ gram(kernel, q, q) @ w
    return kxx - 2.0 * kxq + kqq


def mmd(
    x: Any,
    kernel: Kernel | None = None,
    *,
    idx: Any = None,
    y: Any = None,
    weights: Any = None,
    block_size: int = _DEFAULT_BLOCK,
) -> float:
    """MMD between the uniform measure on ``x`` and a coreset (or another point set).

    The second measure Q is ``x[idx]`` when ``idx`` is given (repeated indices count with their
    multiplicity), ``y`` when ``y`` is given, and ``x`` itself otherwise; ``weights`` (normalised
    to sum to one) weight the points of Q, uniform by default. Rounding can make the squared MMD
    slightly negative for near-identical measures: it is clipped at zero before the square root.

    Args:
        x: input points, shape ``(n, d)``.
        kernel: ``k(a, b) -> scalar`` on single points, e.g. ``bayeskit.kernels.Gaussian()``.
            ``None`` means :func:`bayeskit.thinning.default_kernel` of ``x``, the kernel that
            :func:`bayeskit.thinning.thin` and :func:`bayeskit.thinning.compresspp` use by
            default, so ``mmd(x, idx=thin(key, x, m))`` scores a coreset in its own kernel.
        idx: integer row indices into ``x``, shape ``(s,)``, values in ``[0, n)``.
        y: other points, shape ``(s, d)``; exclusive with ``idx``.
        weights: non-negative weights of Q's points, shape ``(s,)``, not all zero.
        block_size: rows per kernel block in the O(n^2) term (memory O(block_size * n)).

    Returns:
        The MMD as a Python float (in the precision of ``x``).

    Raises:
        ValueError: if ``x`` is not a finite rank-2 array, ``idx`` and ``y`` are both given,
            ``idx`` is out of range, ``y`` has the wrong width, ``weights`` are negative,
            all zero or of the wrong length, or (``kernel=None``) all rows of ``x`` coincide.
        TypeError: if ``kernel`` is neither callable nor ``None``, or ``idx`` is not integer.

    Reference: Gretton et al. (2012), eq. (3); Dwivedi & Mackey (2021), eq. (1).
    """
    x = check_array(x, "x", ndim=2)
    if x.shape[0] == 0:
        raise ValueError(f"x: expected at least one row, got shape {x.shape}")
    block_size = check_int(block_size, "block_size", minimum=1)
    if kernel is None:
        kernel = default_kernel(x)
    else:
        check_callable(kernel, "kernel")
    if idx is not None and y is not None:
        raise ValueError("idx, y: pass at most one of idx and y, got both")
    if idx is not None:
        idx = check_array(idx, "idx", ndim=1)
        if not jnp.issubdtype(idx.dtype, jnp.integer):
            raise TypeError(f"idx: expected integer indices, got dtype {idx.dtype}")
        host = np.asarray(jax.device_get(idx))
        if host.size == 0 or host.min() < 0 or host.max() >= x.shape[0]:
            raise ValueError(f"idx: expected a non-empty set of indices in [0, {x.shape[0]})")
        q = x[idx]
    elif y is not None:
        q = check_array(y, "y", ndim=2, shape=(None, x.shape[1])).astype(x.dtype)
        if q.shape[0] == 0:
            raise ValueError(f"y: expected at least one row, got shape {q.shape}")
    else:
        q = x
    if weights is None:
        w = jnp.full((q.shape[0],), 1.0 / q.shape[0], x.dtype)
    else:
        w = check_array(weights, "weights", shape=(q.shape[0],)).astype(x.dtype)
        check_positive(w, "weights", strict=False)
        total = float(np.sum(np.asarray(jax.device_get(weights), np.float64)))
        if total <= 0:
            raise ValueError("weights: expected a positive total weight, got all zeros")
        w = w / total
    sq = _mmd_sq(kernel, x, q, w, block_size)
    return float(jnp.sqrt(jnp.maximum(sq, 0.0)))


@eqx.filter_jit
def _mmd_to_normal_sq(kernel: Gaussian, y: jax.Array, block: int) -> jax.Array:
    y = kernel.slice_input(y)
    ls2 = jnp.broadcast_to(jnp.asarray(val(kernel.lengthscale), y.dtype) ** 2, y.shape[1:])
    var = val(kernel.variance)
    # x - X ~ N(x, s I) for X ~ N(0, I) (s = 1) and X - X' ~ N(0, 2 I) (s = 2); per dimension,
    # E exp(-(x - X)^2 / (2 l^2)) = sqrt(l^2 / (l^2 + s)) exp(-x^2 / (2 (l^2 + s))).
    kpp = var * jnp.prod(jnp.sqrt(ls2 / (ls2 + 2.0)))
    kqp = var * jnp.prod(jnp.sqrt(ls2 / (ls2 + 1.0))) * jnp.exp(-0.5 * (y**2 / (ls2 + 1.0)).sum(1))
    kqq = kernel_row_means(kernel, y, y, block).mean()
    return kpp - 2.0 * kqp.mean() + kqq


def mmd_to_normal(y: Any, kernel: Gaussian, *, block_size: int = _DEFAULT_BLOCK) -> float:
    """MMD between the uniform measure on ``y`` and the standard normal N(0, I_d), in closed form.

    For a Gaussian kernel ``k(x, x') = v exp(-sum_j (x_j - x'_j)^2 / (2 l_j^2))`` and
    ``X, X' ~ N(0, I_d)`` independent, ``E k(X, X') = v prod_j (l_j^2 / (l_j^2 + 2))^(1/2)`` and
    ``E k(y, X) = v prod_j (l_j^2 / (l_j^2 + 1))^(1/2) exp(-y_j^2 / (2 (l_j^2 + 1)))``, so
    ``MMD^2 = E k(X, X') - 2 mean_i E k(y_i, X) + mean_{i, i'} k(y_i, y_i')`` needs no sample
    of the normal: it scores a coreset against the distribution its input was drawn from.

    Args:
        y: points (e.g. a coreset ``x[idx]``), shape ``(s, d)``; repeated rows count twice.
        kernel: a :class:`bayeskit.kernels.Gaussian` (scalar or per-dimension lengthscale;
            ``active_dims`` select the coordinates, whose marginal is again standard normal).
        block_size: rows per kernel block of the O(s^2) term (memory O(block_size * s)).

    Returns:
        The MMD as a Python float (in the precision of ``y``).

    Raises:
        ValueError: if ``y`` is not a finite rank-2 array with at least one row.
        TypeError: if ``kernel`` is not a ``bayeskit.kernels.Gaussian``.

    Reference: Gretton et al. (2012), eq. (3); the expectations are Gaussian convolutions.
    """
    y = check_array(y, "y", ndim=2)
    if y.shape[0] == 0:
        raise ValueError(f"y: expected at least one row, got shape {y.shape}")
    if not isinstance(kernel, Gaussian):
        raise TypeError(
            f"kernel: expected a bayeskit.kernels.Gaussian, got {type(kernel).__name__}"
        )
    block_size = check_int(block_size, "block_size", minimum=1)
    sq = _mmd_to_normal_sq(kernel, y, block_size)
    return float(jnp.sqrt(jnp.maximum(sq, 0.0)))
