"""Kronecker algebra for product kernels on Cartesian grids, without forming any ``N x N`` matrix.

With ``K = K_1 kron ... kron K_d`` on a grid of shape ``(N_1, ..., N_d)`` and ``U`` the grid
tensor (``vec`` in C order, so the last dimension varies fastest):

- ``K^{-1} vec(U) = U x_1 K_1^{-1} ... x_d K_d^{-1}`` (mode products),
- ``log|K| = sum_j (N / N_j) log|K_j|``,
- a derivative along dimension ``j`` of the interpolant ``k(x, M) K^{-1} vec(U)`` evaluated on the
  grid is the single mode product ``U x_j (K_j^{(r)} K_j^{-1})`` (Fang et al., 2024, Sec. 3.2)
  because ``K_i K_i^{-1} = I`` in every other mode.

Costs: ``O(sum_j N_j^3)`` for the factorisations and ``O(N sum_j N_j)`` for the mode products,
with ``O(sum_j N_j^2 + N)`` memory (Saatçi, 2012, Ch. 5).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

__all__ = [
    "KronFactor",
    "mode_product",
    "kron_mvp",
    "kron_factor",
    "kron_solve",
    "kron_logdet",
    "kron_quad",
    "derivative_map",
]


class KronFactor(NamedTuple):
    """Lower Cholesky factors ``L_j`` of each ``K_j`` (tuple of ``(N_j, N_j)`` arrays)."""

    chols: tuple


def mode_product(t: jax.Array, m: jax.Array, axis: int) -> jax.Array:
    """Mode-``axis`` product ``t x_axis m``: contract ``m`` (p, N_axis) with ``t`` along ``axis``.

    Args:
        t: tensor of shape ``(..., N_axis, ...)``.
        m: matrix of shape ``(p, N_axis)``.
        axis: the mode.

    Returns:
        Tensor with ``N_axis`` replaced by ``p`` in place.
    """
    return jnp.moveaxis(jnp.tensordot(m, t, axes=(1, axis)), 0, axis)


def kron_mvp(mats: Sequence[jax.Array], t: jax.Array) -> jax.Array:
    """``(M_1 kron ... kron M_d) vec(t)`` as a tensor, one mode product per dimension."""
    for j, m in enumerate(mats):
        t = mode_product(t, m, j)
    return t


def kron_factor(mats: Sequence[jax.Array]) -> KronFactor:
    """Cholesky-factor each symmetric positive definite ``K_j``; ``O(sum_j N_j^3)``."""
    return KronFactor(tuple(jnp.linalg.cholesky(m) for m in mats))


def kron_solve(factor: KronFactor, t: jax.Array) -> jax.Array:
    """``K^{-1} vec(t)`` as a tensor of ``t``'s shape."""
    for j, chol in enumerate(factor.chols):
        moved = jnp.moveaxis(t, j, 0)
        flat = jsl.cho_solve((chol, True), moved.reshape(moved.shape[0], -1))
        t = jnp.moveaxis(flat.reshape(moved.shape), 0, j)
    return t


def kron_logdet(factor: KronFactor) -> jax.Array:
    """``log|K_1 kron ... kron K_d| = sum_j (N / N_j) log|K_j|``."""
    sizes = [c.shape[0] for c in factor.chols]
    n = 1
    for s in sizes:
        n *= s
    return sum((n // s) * 2.0 * jnp.sum(jnp.log(jnp.diag(c))) for s, c in zip(sizes, factor.chols))


def kron_quad(factor: KronFactor, t: jax.Array) -> jax.Array:
    """``vec(t)^T K^{-1} vec(t)``, computed as ``||(L_1^{-1} kron ... ) vec(t)||^2``."""
    for j, chol in enumerate(factor.chols):
        moved = jnp.moveaxis(t, j, 0)
        flat = jsl.solve_triangular(chol, moved.reshape(moved.shape[0], -1), lower=True)
        t = jnp.moveaxis(flat.reshape(moved.shape), 0, j)
    return jnp.sum(t**2)


def derivative_map(kd: jax.Array, chol: jax.Array) -> jax.Array:
    """``K^{(r)} K^{-1}`` for one dimension, from ``K^{(r)}`` (n, n) and ``K``'s Cholesky factor.

    Uses ``K^{(r)} K^{-1} = (K^{-1} K^{(r)T})^T`` (``K`` symmetric), one ``O(n^3)`` solve.
    """
    return jsl.cho_solve((chol, True), kd.T).T
