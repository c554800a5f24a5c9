"""Posterior uncertainty of a GP-HM solution: the Gaussian (Laplace) posterior of the grid values
at the learned hyperparameters and the predictive mean and standard deviation it implies.

With the kernel, ``tau`` and ``v`` fixed, ``L`` (Eq. 14) is a Gaussian log density in ``vec(U)``
for a linear operator ``A`` (the map ``vec(U) -> R[U]`` on the grid, through the interpolant's
derivative maps): the posterior precision is

``P = K^{-1} + lambda_b tau B^T B + v J^T J``, ``J = A + diag(phi'(U))``,

with ``B`` the boundary rows of the identity. For the Allen-Cahn nonlinearity ``J`` is the
residual's Jacobian at the solution (Gauss-Newton / Laplace). The solution at ``x`` is the
interpolant ``u(x) = k(x, M) K^{-1} vec(U)``; with ``U ~ N(U_hat, P^{-1})`` and the GP prior's
conditional spread of ``f(x)`` given the grid values, the predictive variance is

``var u(x) = c^T P^{-1} c + (k(x, x) - k(x, M) K^{-1} k(M, x))``, ``c = K^{-1} k(M, x)``.

In the whitened coordinates ``U = L z`` (``K = L L^T``, ``L = kron(L_j)``) ``c^T U = w^T z`` with
``w = kron(L_j^{-1} k_j(M_j, x_j))``, and the second term is ``k(x, x) - |w|^2``.

Grids up to ``VAR_DENSE_MAX`` nodes: ``P_z = S^T S`` with ``S = [sqrt(v) J L; sqrt(lambda_b tau)
B L; I]`` factored by QR (``S = Q R``) and ``w^T P_z^{-1} w = |R^{-T} w|^2``, exact.
Larger grids (operators without first-order terms): one preconditioned conjugate-gradient solve
per test point in the operator's Kronecker eigenbasis (``inner._solve_cg_eigen``'s matrix),
stopped at a relative residual of ``CG_TOL`` (1e-10): with ``P_y >= I`` the variance's error
is at most ``sd(x) |r|`` for the residual ``r`` (Cauchy-Schwarz in the ``P_y^{-1}`` inner
product), and on a 9 x 9 grid it matches the dense variance to 1e-4 relative
(``tests/gp_pde/test_gp_pde_uncertainty.py``).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from bayeskit.gp_pde import kronecker as kr
from bayeskit.gp_pde import spectral as sp
from bayeskit.gp_pde.inner import (
    CG_TOL,
    _boundary_grids,
    _eig_factors,
    _even_order,
    _prior_aware_preconditioner,
)
from bayeskit.gp_pde.model import _apply_linear, _factors, _nonlin
from bayeskit.gp_pde.problems import NONLINEARITIES
from bayeskit.gp_pde.state import _data, _static

__all__ = ["AccuracyEstimate"]

# grids up to this many nodes get the exact dense variance: one QR of a (2N + N_b) x N matrix,
# about 1e11 flops at this size; beyond it one CG solve per test point
VAR_DENSE_MAX = 2500
VAR_CG_ITERS = 200  # most CG iterations per test point
VAR_CHUNK = 512  # test points per batch of the dense variance (bounds the (N, chunk) block)


def _cross(kind, params, axes, xs):
    """Per-dimension ``k_j(M_j, x_j)`` (N_j, n) and the prior variance ``k(x, x)`` (a scalar)."""
    mats, prior = [], 1.0
    for j, (x, grid) in enumerate(zip(xs, axes, strict=True)):
        pj = jax.tree.map(lambda a, j=j: a[j], params)
        mats.append(sp.cross_gram(kind, pj, grid, x))
        prior = prior * sp.kernel_lags(kind, pj, jnp.zeros(()))
    return mats, prior


def _khatri_rao(ws):
    """Column-wise Kronecker product of ``(N_j, n)`` matrices -> ``(prod N_j, n)``."""
    out = ws[0]
    for w in ws[1:]:
        out = (out[:, None, :] * w[None, :, :]).reshape(-1, w.shape[1])
    return out


def _dense_factor(static, data, factor, maps, u, tau, v):
    """Upper-triangular ``R`` with ``R^T R = P_z`` (the whitened posterior precision), (N, N)."""
    n = u.size
    chol = factor.chols[0]
    for c in factor.chols[1:]:
        chol = jnp.kron(chol, c)
    a = _apply_linear(static, maps, jnp.eye(n).reshape(static.grid + (n,))).reshape(n, n)
    jl = (a + jnp.diag(_nonlin(static, u)[1].ravel())) @ chol
    sb = jnp.sqrt(static.boundary_weight * tau)
    stacked = jnp.concatenate([jnp.sqrt(v) * jl, sb * chol[data.bidx], jnp.eye(n)])
    return jnp.linalg.qr(stacked, mode="r")


def _dense_variance(r, ws):
    """``|R^{-T} w|^2`` per test point, in chunks of ``VAR_CHUNK``; ``ws`` per-dimension (N_j, n)."""
    n = ws[0].shape[1]
    out = []
    for start in range(0, n, VAR_CHUNK):
        w = _khatri_rao([m[:, start : start + VAR_CHUNK] for m in ws])
        out.append(jnp.sum(jsl.solve_triangular(r, w, trans=1, lower=False) ** 2, axis=0))
    return jnp.concatenate(out)


def _cg_variance(static, data, factor, maps, u, tau, v, mats):
    """``c^T P^{-1} c`` per test point by preconditioned CG in the eigenbasis ``vec(U) = V y``.

    There ``P_y = V^T P V = I + v (J V)^T (J V) + lambda_b tau (B V)^T (B V)`` and
    ``V^T c = kron(V_j^T K_j^{-1} k_j(M_j, x_j))``. Returns ``(var (n,), max relative residual)``.
    """
    lam, vals, vecs, _ = _eig_factors(static, factor, maps)
    vecs_t = [m.T for m in vecs]
    mask, _ = _boundary_grids(data, u.shape)
    dphi = _nonlin(static, u)[1]
    wb = static.boundary_weight * tau

    def prec(y):  # P_y y / v, the inner solve's normal matrix
        jv = kr.kron_mvp(vecs, lam * y) + dphi * kr.kron_mvp(vecs, y)
        return (
            y / v
            + lam * kr.kron_mvp(vecs_t, jv)
            + kr.kron_mvp(vecs_t, dphi * jv + wb / v * mask * kr.kron_mvp(vecs, y))
        )

    precond = _prior_aware_preconditioner(lam, vals, vecs, v)
    gs = [  # V_j^T K_j^{-1} k_j(M_j, x_j), (N_j, n)
        vj.T @ jsl.cho_solve((chol, True), m)
        for m, chol, vj in zip(mats, factor.chols, vecs, strict=True)
    ]

    def one(g):
        y, _ = jax.scipy.sparse.linalg.cg(prec, g, maxiter=static.cg_iters, tol=CG_TOL, M=precond)
        rel = jnp.linalg.norm(prec(y) - g) / jnp.linalg.norm(g)
        return jnp.sum(g * y) / v, rel

    def column(i):
        g = gs[0][:, i]
        for m in gs[1:]:
            g = g[..., None] * m[:, i]
        return one(g)

    var, rel = jax.lax.map(column, jnp.arange(mats[0].shape[1]))
    return var, jnp.max(rel)


def _predictive_variance(
    solution, x, dense_max: int = VAR_DENSE_MAX
) -> tuple[jax.Array, jax.Array]:
    """The predictive variance of a ``GPSolution``'s interpolant at points ``x`` (n, d), float64.

    Call under ``jax.enable_x64(True)``. ``dense_max`` is the largest grid factored densely.

    Returns:
        ``(var_values, var_interp)``, each ``(n,)``: the part from the grid values' posterior
        (``c^T P^{-1} c``) and the prior's conditional variance between the nodes.

    Raises:
        ValueError: for an operator with first-order terms on a grid over ``dense_max`` nodes.
    """
    problem = solution.problem
    n_nodes = math.prod(problem.grid)
    if n_nodes > dense_max and not _even_order(problem.terms):
        raise ValueError(
            f"x: the predictive variance of an operator with first-order terms is computed "
            f"densely, on grids of up to {dense_max} nodes; got {n_nodes}"
        )
    static = _static(problem, solution.kernel, 1, VAR_CG_ITERS, solution.jitter)
    sol = solution
    args = (sol.params, sol.axes, sol.values, sol.log_tau, sol.log_v, _data(problem), x)
    return _variance_parts(static, sol.kernel, n_nodes <= dense_max, *args)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _variance_parts(static, kernel, dense, params, axes, u, log_tau, log_v, data, x):
    """``(var_values, var_interp)`` of ``_predictive_variance``, by the dense factor or CG."""
    factor, maps = _factors(static, params)
    tau, v = jnp.exp(log_tau), jnp.exp(log_v)
    xs = [x[:, j] for j in range(x.shape[1])]
    mats, prior = _cross(kernel, params, axes, xs)
    ws = [jsl.solve_triangular(c, m, lower=True) for c, m in zip(factor.chols, mats, strict=True)]
    explained = math.prod(jnp.sum(w**2, axis=0) for w in ws)
    var_interp = jnp.maximum(prior - explained, 0.0)
    if dense:
        r = _dense_factor(static, data, factor, maps, u, tau, v)
        return _dense_variance(r, ws), var_interp
    var_values, _ = _cg_variance(static, data, factor, maps, u, tau, v, mats)
    return var_values, var_interp


def _predictive_std(solution, x: jax.Array) -> jax.Array:
    """``sqrt(var_values + var_interp)`` (``_predictive_variance``) at ``x`` (n, d) -> (n,)."""
    var_values, var_interp = _predictive_variance(solution, x)
    return jnp.sqrt(var_values + var_interp)


class AccuracyEstimate(NamedTuple):
    """Accuracy of a solution without its exact solution, on held-out uniform points ``x_i``.

    ``rel_l2_sd``: ``sqrt(sum_i sd(x_i)^2 / sum_i u(x_i)^2)``, the relative L2 error the
    posterior expects (its root-mean-square predictive sd over the RMS solution).
    ``rel_residual``: ``||R[u](x_i) - s(x_i)|| / ||s(x_i)||``, the PDE residual of the
    interpolant between the collocation nodes relative to the source (NaN when the source is
    an array, which cannot be evaluated off the grid).
    """

    rel_l2_sd: float
    rel_residual: float


def _held_out(problem, n: int) -> jax.Array:
    """``n`` uniform points in the problem's box (fixed seed), (n, d)."""
    lo, hi = (jnp.asarray(b) for b in zip(*problem.domain))
    return lo + (hi - lo) * jax.random.uniform(jax.random.key(0), (n, problem.ndim))


def _accuracy_estimate(solution, n_test: int) -> AccuracyEstimate:
    """``AccuracyEstimate`` of a ``GPSolution`` on ``n_test`` held-out points (under x64)."""
    problem = solution.problem
    x = _held_out(problem, n_test)
    mean, sd = solution.predict(x, return_std=True)
    rel_sd = float(jnp.sqrt(jnp.sum(sd**2) / jnp.sum(mean**2)))
    if not callable(problem.source):
        return AccuracyEstimate(rel_sd, math.nan)
    out = sum(
        t.coef
        * solution.derivative(x, tuple(t.order if j == t.dim else 0 for j in range(x.shape[1])))
        for t in problem.terms
    )
    if problem.nonlinearity is not None:
        out = out + NONLINEARITIES[problem.nonlinearity](mean)
    src = jax.vmap(problem.source)(x)
    return AccuracyEstimate(rel_sd, float(jnp.linalg.norm(out - src) / jnp.linalg.norm(src)))
