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

from bayeskit.validate import check_array, check_int, check_spd

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


# Validation of these traceable helpers checks types and shapes only (values when concrete), so
# it costs nothing under jit: the solver calls them on traced arrays.
def _square(m, name: str) -> jax.Array:
    m = check_array(m, name, ndim=2)
    if m.shape[0] != m.shape[1] or m.shape[0] < 1:
        raise ValueError(f"{name}: expected a non-empty square matrix, got shape {m.shape}")
    return m


def _matrices(mats, name: str) -> tuple:
    if isinstance(mats, str | bytes) or not isinstance(mats, Sequence):
        raise TypeError(f"{name}: expected a sequence of matrices, got {type(mats).__name__}")
    if not mats:
        raise ValueError(f"{name}: expected at least one matrix, got none")
    return tuple(check_array(m, f"{name}[{j}]", ndim=2) for j, m in enumerate(mats))


def _factor(factor) -> tuple:
    if not isinstance(factor, KronFactor):
        raise TypeError(
            f"factor: expected a KronFactor (from kron_factor), got {type(factor).__name__}"
        )
    return tuple(_square(c, f"factor.chols[{j}]") for j, c in enumerate(factor.chols))


def _grid_tensor(t, sizes: tuple, source: str, name: str = "t") -> jax.Array:
    """``t`` with leading axes ``sizes`` (one per factor; trailing batch axes are allowed)."""
    t = check_array(t, name)
    if t.shape[: len(sizes)] != tuple(sizes):
        raise ValueError(
            f"{name}: expected shape {tuple(sizes)} (one axis per matrix of {source}, then any "
            f"batch axes), got {t.shape}"
        )
    return t


def mode_product(t: jax.Array, m: jax.Array, axis: int) -> jax.Array:
    """Mode-``axis`` product ``t x_axis m``: contract ``m`` (p, N_axis) with ``t`` along ``axis``.

    Args:
        t: tensor of shape ``(..., N_axis, ...)``.
        m: matrix of shape ``(p, N_axis)``.
        axis: the mode.

    Returns:
        Tensor with ``N_axis`` replaced by ``p`` in place.

    Raises:
        TypeError: on non-numeric arrays or a non-integer ``axis``.
        ValueError: on an ``axis`` out of range or ``m`` not of shape ``(p, N_axis)``, ``p >= 1``.
    """
    t = check_array(t, "t")
    m = check_array(m, "m", ndim=2)
    axis = check_int(axis, "axis", minimum=-t.ndim)
    if axis >= t.ndim:
        raise ValueError(f"axis: expected an axis of t (rank {t.ndim}), got {axis}")
    if m.shape[1] != t.shape[axis] or m.shape[0] < 1:
        raise ValueError(
            f"m: expected shape (p, {t.shape[axis]}) to match axis {axis} of t {t.shape}, got "
            f"{m.shape}"
        )
    return jnp.moveaxis(jnp.tensordot(m, t, axes=(1, axis)), 0, axis)


def kron_mvp(mats: Sequence[jax.Array], t: jax.Array) -> jax.Array:
    """``(M_1 kron ... kron M_d) vec(t)`` as a tensor, one mode product per dimension.

    Raises:
        TypeError, ValueError: if ``mats`` is not a sequence of one matrix ``(p_j, N_j)`` per axis
            of ``t``.
    """
    mats = _matrices(mats, "mats")
    t = _grid_tensor(t, tuple(m.shape[1] for m in mats), "mats")
    for j, m in enumerate(mats):
        t = mode_product(t, m, j)
    return t


def kron_factor(mats: Sequence[jax.Array]) -> KronFactor:
    """Cholesky-factor each symmetric positive definite ``K_j``; ``O(sum_j N_j^3)``.

    Raises:
        TypeError, ValueError: if ``mats`` is not a non-empty sequence of square matrices, or a
            concrete one is not symmetric positive definite (a traced one gives a NaN factor).
    """
    mats = tuple(_square(m, f"mats[{j}]") for j, m in enumerate(_matrices(mats, "mats")))
    for j, m in enumerate(mats):
        check_spd(m, f"mats[{j}]")
    return KronFactor(tuple(jnp.linalg.cholesky(m) for m in mats))


def kron_solve(factor: KronFactor, t: jax.Array) -> jax.Array:
    """``K^{-1} vec(t)`` as a tensor of ``t``'s shape.

    Raises:
        TypeError, ValueError: on a ``factor`` that is not a ``KronFactor`` or a ``t`` whose
            shape is not ``(N_1, ..., N_d)``.
    """
    chols = _factor(factor)
    t = _grid_tensor(t, tuple(c.shape[0] for c in chols), "factor")
    for j, chol in enumerate(factor.chols):
        moved = jnp.moveaxis(t, j, 0)
        flat = jsl.cho_solve((chol, True), moved.reshape(moved.shape[0], -1))
        t = jnp.moveaxis(flat.reshape(moved.shape), 0, j)
    return t


def kron_logdet(factor: KronFactor) -> jax.Array:
    """``log|K_1 kron ... kron K_d| = sum_j (N / N_j) log|K_j|``.

    Raises:
        TypeError, ValueError: on a ``factor`` that is not a ``KronFactor`` of square factors.
    """
    _factor(factor)
    sizes = [c.shape[0] for c in factor.chols]
    n = 1
    for s in sizes:
        n *= s
    return sum((n // s) * 2.0 * jnp.sum(jnp.log(jnp.diag(c))) for s, c in zip(sizes, factor.chols))


def kron_quad(factor: KronFactor, t: jax.Array) -> jax.Array:
    """``vec(t)^T K^{-1} vec(t)``, computed as ``||(L_1^{-1} kron ... ) vec(t)||^2``.

    Raises:
        TypeError, ValueError: as :func:`kron_solve`.
    """
    chols = _factor(factor)
    t = _grid_tensor(t, tuple(c.shape[0] for c in chols), "factor")
    for j, chol in enumerate(factor.chols):
        moved = jnp.moveaxis(t, j, 0)
        flat = jsl.solve_triangular(chol, moved.reshape(moved.shape[0], -1), lower=True)
        t = jnp.moveaxis(flat.reshape(moved.shape), 0, j)
    return jnp.sum(t**2)


def derivative_map(kd: jax.Array, chol: jax.Array) -> jax.Array:
    """``K^{(r)} K^{-1}`` for one dimension, from ``K^{(r)}`` (n, n) and ``K``'s Cholesky factor.

    Uses ``K^{(r)} K^{-1} = (K^{-1} K^{(r)T})^T`` (``K`` symmetric), one ``O(n^3)`` solve.

    Raises:
        TypeError, ValueError: unless ``chol`` is a non-empty square matrix and ``kd`` has its
            shape.
    """
    chol = _square(chol, "chol")
    kd = check_array(kd, "kd", shape=chol.shape)
    return jsl.cho_solve((chol, True), kd.T).T
