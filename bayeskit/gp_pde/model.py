"""The GP-HM objective: per-dimension kernel factors and derivative maps, the PDE operator on
grid values, and the negative log joint ``L`` (Eq. 14) with its dense reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from bayeskit.gp_pde import kronecker as kr
from bayeskit.gp_pde import spectral as sp
from bayeskit.gp_pde.adjoint import prior_and_derivatives
from bayeskit.gp_pde.problems import NONLINEARITIES, PDEProblem
from bayeskit.gp_pde.state import _Data, _data, _Static, _static
from bayeskit.validate import check_array, check_choice, check_scalar

__all__ = ["objective", "objective_dense"]

JITTER = 1e-6  # the authors' jitter on each 1-D factor (``objective``'s default; see ``defaults``)


def _orders(static: _Static) -> tuple:
    """Derivative orders needed per dimension."""
    return tuple(
        tuple(sorted({t.order for t in static.terms if t.dim == j and t.order > 0}))
        for j in range(len(static.grid))
    )


def _grams(static: _Static, params: sp.MixtureParams):
    """Per-dimension Gram matrices ``K_j`` with the jitter (tuple) and their derivatives
    ``{(j, r): K_j^{(r)}}``, each ``(N_j, N_j)``."""
    grams, dgrams = [], {}
    for j, (n, h) in enumerate(zip(static.grid, static.spacing, strict=True)):
        pj = jax.tree.map(lambda a, j=j: a[j], params)
        mats = sp.toeplitz_grams(static.kind, pj, n, h, (0, *_orders(static)[j]))
        grams.append(mats[0] + static.jitter * jnp.eye(n))
        dgrams.update({(j, r): m for r, m in zip(_orders(static)[j], mats[1:], strict=True)})
    return tuple(grams), dgrams


def _factors(static: _Static, params: sp.MixtureParams):
    """Per-dimension Cholesky factors and derivative maps ``{(j, r): K_j^{(r)} K_j^{-1}}``."""
    grams, dgrams = _grams(static, params)
    factor = kr.kron_factor(grams)
    maps = {key: kr.derivative_map(d, factor.chols[key[0]]) for key, d in dgrams.items()}
    return factor, maps


def _combine(static: _Static, derivs: dict, u: jax.Array):
    """``sum_t c_t D_t`` with ``D_t`` the grid values ``u`` (order 0) or ``derivs[(j_t, r_t)]``."""
    out = jnp.zeros_like(u)
    for t in static.terms:
        out = out + t.coef * (u if t.order == 0 else derivs[(t.dim, t.order)])
    return out


def _apply_linear(static: _Static, maps: dict, u: jax.Array, transpose: bool = False):
    """The linear part of ``R``: ``sum_t c_t U x_{j_t} D_{j_t}^{(r_t)}`` (or its adjoint)."""
    derivs = {key: kr.mode_product(u, m.T if transpose else m, key[0]) for key, m in maps.items()}
    return _combine(static, derivs, u)


def _nonlin(static: _Static, u):
    if static.nonlinearity is None:
        return jnp.zeros_like(u), jnp.zeros_like(u)
    phi = NONLINEARITIES[static.nonlinearity]
    return phi(u), jax.vmap(jax.grad(phi))(u.ravel()).reshape(u.shape)


def _residual(static: _Static, maps, u, source):
    return _apply_linear(static, maps, u) + _nonlin(static, u)[0] - source


def _loss(static: _Static, data: _Data, u, params, log_tau, log_v):
    """Negative log joint ``L`` (Eq. 14 of the paper, constants dropped), a scalar, through the
    Cholesky factors (autodiff gradient): the profile path's hyperparameter gradient."""
    return _loss_factored(static, data, *_factors(static, params), u, log_tau, log_v)


def _loss_adjoint(static: _Static, data: _Data, u, params, log_tau, log_v):
    """``_loss`` with its gradient through the kernel from the hand-written adjoint of
    ``adjoint.prior_and_derivatives``: the joint-Adam path (2.95x faster a step on 200 x 200
    advection). Not used by the profile path: with jitter 1e-10 its gradient there cost
    accuracy (a 1-D 30-node test: 7.6e-6 against 8.4e-9, 822 rejected steps against 205)."""
    prior, derivs = prior_and_derivatives(*_grams(static, params), u)
    return _joint(static, data, u, prior, _combine(static, derivs, u), log_tau, log_v)


def _loss_factored(static: _Static, data: _Data, factor, maps, u, log_tau, log_v):
    """``_loss`` with the kernel's factors and derivative maps (``_factors``) given."""
    prior = 0.5 * kr.kron_quad(factor, u) + 0.5 * kr.kron_logdet(factor)
    return _joint(static, data, u, prior, _apply_linear(static, maps, u), log_tau, log_v)


def _joint(static: _Static, data: _Data, u, prior, linear, log_tau, log_v):
    """``L`` from the prior term and the linear part of the residual (both from the kernel)."""
    ss_b = jnp.sum((u.ravel()[data.bidx] - data.bvals) ** 2)
    ss_r = jnp.sum((linear + _nonlin(static, u)[0] - data.source) ** 2)
    nb, n = data.bidx.shape[0], u.size
    lam = static.boundary_weight
    bnd = lam * (0.5 * jnp.exp(log_tau) * ss_b - 0.5 * nb * log_tau)
    res = 0.5 * jnp.exp(log_v) * ss_r - 0.5 * n * log_v
    return prior + bnd + res


def _check_objective_args(problem, values, params, log_tau, log_v, kernel, jitter):
    """Trace-safe checks of ``objective``'s arguments (shapes and types; values when concrete)."""
    if not isinstance(problem, PDEProblem):
        raise TypeError(f"problem: expected a PDEProblem, got {type(problem).__name__}")
    check_choice(kernel, "kernel", sp.KERNELS)
    values = check_array(values, "values", shape=problem.grid)
    sp.check_mixture(params, "params", ndim=2, d=len(problem.grid))
    check_scalar(log_tau, "log_tau")
    check_scalar(log_v, "log_v")
    check_scalar(jitter, "jitter", 0.0, None, closed=(True, False))
    return values


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
        TypeError: if ``problem`` is not a PDEProblem or ``params`` not a MixtureParams.
        ValueError: on an unknown kernel, values or parameters of the wrong shape (fields
            ``(d, Q)`` for the problem's ``d``), NaN or infinite inputs (values checked when
            concrete) or a negative jitter.
    """
    values = _check_objective_args(problem, values, params, log_tau, log_v, kernel, jitter)
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
        TypeError, ValueError: as :func:`objective`.
    """
    values = _check_objective_args(problem, values, params, log_tau, log_v, kernel, jitter)
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
