"""The GP-HM objective: per-dimension kernel factors and derivative maps, the PDE operator on
grid values, and the negative log joint ``L`` (Eq. 14) with its dense reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from bayeskit.gp_pde import kronecker as kr
from bayeskit.gp_pde import spectral as sp
from bayeskit.gp_pde.problems import NONLINEARITIES, PDEProblem
from bayeskit.gp_pde.state import _Data, _data, _Static, _static
from bayeskit.validate import check_choice

__all__ = ["objective", "objective_dense"]

JITTER = 1e-6  # the authors' jitter on each 1-D factor (the default of ``solve``)


def _orders(static: _Static) -> tuple:
    """Derivative orders needed per dimension."""
    return tuple(
        tuple(sorted({t.order for t in static.terms if t.dim == j and t.order > 0}))
        for j in range(len(static.grid))
    )


def _factors(static: _Static, params: sp.MixtureParams):
    """Per-dimension Cholesky factors and derivative maps ``{(j, r): K_j^{(r)} K_j^{-1}}``."""
    chols, maps = [], {}
    for j, (n, h) in enumerate(zip(static.grid, static.spacing)):
        pj = jax.tree.map(lambda a, j=j: a[j], params)
        k = sp.toeplitz_gram(static.kind, pj, n, h, 0) + static.jitter * jnp.eye(n)
        chol = jnp.linalg.cholesky(k)
        chols.append(chol)
        for r in _orders(static)[j]:
            maps[(j, r)] = kr.derivative_map(sp.toeplitz_gram(static.kind, pj, n, h, r), chol)
    return kr.KronFactor(tuple(chols)), maps


def _apply_linear(static: _Static, maps: dict, u: jax.Array, transpose: bool = False):
    """The linear part of ``R``: ``sum_t c_t U x_{j_t} D_{j_t}^{(r_t)}`` (or its adjoint)."""
    out = jnp.zeros_like(u)
    for t in static.terms:
        if t.order == 0:
            out = out + t.coef * u
        else:
            m = maps[(t.dim, t.order)]
            out = out + t.coef * kr.mode_product(u, m.T if transpose else m, t.dim)
    return out


def _nonlin(static: _Static, u):
    if static.nonlinearity is None:
        return jnp.zeros_like(u), jnp.zeros_like(u)
    phi = NONLINEARITIES[static.nonlinearity]
    return phi(u), jax.vmap(jax.grad(phi))(u.ravel()).reshape(u.shape)


def _residual(static: _Static, maps, u, source):
    return _apply_linear(static, maps, u) + _nonlin(static, u)[0] - source


def _loss(static: _Static, data: _Data, u, params, log_tau, log_v):
    """Negative log joint ``L`` (Eq. 14 of the paper, constants dropped), a scalar."""
    return _loss_factored(static, data, *_factors(static, params), u, log_tau, log_v)


def _loss_factored(static: _Static, data: _Data, factor, maps, u, log_tau, log_v):
    """``_loss`` with the kernel's factors and derivative maps (``_factors``) given."""
    prior = 0.5 * kr.kron_quad(factor, u) + 0.5 * kr.kron_logdet(factor)
    ss_b = jnp.sum((u.ravel()[data.bidx] - data.bvals) ** 2)
    ss_r = jnp.sum(_residual(static, maps, u, data.source) ** 2)
    nb, n = data.bidx.shape[0], u.size
    lam = static.boundary_weight
    bnd = lam * (0.5 * jnp.exp(log_tau) * ss_b - 0.5 * nb * log_tau)
    res = 0.5 * jnp.exp(log_v) * ss_r - 0.5 * n * log_v
    return prior + bnd + res


def objective(
    problem: PDEProblem,
    values,
    params: sp.MixtureParams,
    log_tau,
    log_v,
    *,
    kernel,
    jitter: float = JITTER,
):
    """The paper's negative log joint ``L`` (Eq. 14, constants dropped) for one state.

    Args:
        problem: the PDE.
        values: grid values ``U``, shape ``problem.grid``.
        params: ``MixtureParams`` with fields of shape ``(d, Q)``.
        log_tau, log_v: log boundary and residual precisions (scalars).
        kernel: one of ``spectral.KERNELS``.
        jitter: added to the diagonal of each 1-D Gram factor.

    Returns:
        Scalar ``L`` (float64 if the caller enabled x64; call it under ``jax.enable_x64``).

    Raises:
        ValueError: on an unknown kernel or values of the wrong shape.
    """
    check_choice(kernel, "kernel", sp.KERNELS)
    if tuple(jnp.shape(values)) != problem.grid:
        raise ValueError(f"values: expected shape {problem.grid}, got {jnp.shape(values)}")
    static = _static(problem, kernel, 1, 0, jitter)
    return _loss(static, _data(problem), values, params, log_tau, log_v)


def objective_dense(
    problem: PDEProblem,
    values,
    params: sp.MixtureParams,
    log_tau,
    log_v,
    *,
    kernel,
    jitter: float = JITTER,
):
    """``objective`` computed with dense ``N x N`` matrices (``K = kron(K_j)``): a reference for
    tests and the Kronecker-vs-dense benchmark. Same arguments and result as ``objective``.

    Raises:
        ValueError: on an unknown kernel.
    """
    check_choice(kernel, "kernel", sp.KERNELS)
    static = _static(problem, kernel, 1, 0, jitter)
    data = _data(problem)
    mats, dmats = [], {}
    for j, (n, h) in enumerate(zip(static.grid, static.spacing, strict=True)):
        pj = jax.tree.map(lambda a, j=j: a[j], params)
        mats.append(sp.toeplitz_gram(kernel, pj, n, h, 0) + jitter * jnp.eye(n))
        for r in _orders(static)[j]:
            dmats[(j, r)] = sp.toeplitz_gram(kernel, pj, n, h, r)
    big = mats[0]
    for m in mats[1:]:
        big = jnp.kron(big, m)
    u = jnp.ravel(values)
    chol = jnp.linalg.cholesky(big)
    alpha = jsl.cho_solve((chol, True), u)
    op = jnp.zeros((u.size, u.size))
    for t in static.terms:
        if t.order == 0:
            op = op + t.coef * jnp.eye(u.size)
            continue
        # the derivative of the interpolant along dim j: kron(I, .., K_j^(r), .., I) K^{-1}
        # written as kron(K_1, .., K_j^(r), .., K_d) K^{-1}
        blk = None
        for j, m in enumerate(mats):
            f = dmats[(j, t.order)] if j == t.dim else m
            blk = f if blk is None else jnp.kron(blk, f)
        op = op + t.coef * blk
    deriv = op @ alpha
    phi = _nonlin(static, u)[0]
    ss_r = jnp.sum((deriv + phi - data.source.ravel()) ** 2)
    ss_b = jnp.sum((u[data.bidx] - data.bvals) ** 2)
    prior = 0.5 * u @ alpha + jnp.sum(jnp.log(jnp.diag(chol)))
    lam = static.boundary_weight
    nb = data.bidx.shape[0]
    bnd = lam * (0.5 * jnp.exp(log_tau) * ss_b - 0.5 * nb * log_tau)
    return prior + bnd + 0.5 * jnp.exp(log_v) * ss_r - 0.5 * u.size * log_v
