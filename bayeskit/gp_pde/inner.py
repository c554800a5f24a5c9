"""Inner solves for the grid values given the hyperparameters: exact dense least squares or
preconditioned CG in the operator's Kronecker eigenbasis, whichever a flop model predicts cheaper
(``dense_is_faster``), and damped Gauss-Newton."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from bayeskit.gp_pde import kronecker as kr
from bayeskit.gp_pde.model import _apply_linear, _factors, _loss_factored, _nonlin
from bayeskit.gp_pde.state import _Data

DENSE_MAX = 2500  # operators with first-order terms (no CG) are solved densely up to this size
CG_TOL = 1e-10  # relative residual at which an inner CG solve stops early
CG_ITER_OVERHEAD = 1e4  # flop-equivalent fixed cost of one CG iteration (loop, small kernels)


def dense_is_faster(grid: tuple, cg_iters: int) -> bool:
    """Whether the dense solve is predicted cheaper than ``cg_iters`` CG iterations on ``grid``.

    Flop counts, ``N`` nodes, ``S = sum_j N_j``: the dense solve forms a ``(2N + N_b) x N``
    matrix and its QR factorisation with an explicit ``Q``, about ``12 N^3``; CG needs the
    per-dimension eigendecompositions of the operator and the preconditioner, about
    ``25 sum_j N_j^3``, and per iteration six Kronecker passes of ``2 N S`` each plus a fixed
    ``CG_ITER_OVERHEAD``. So 1-D grids stay dense (CG's eigendecompositions alone cost twice the
    QR) and 2-D grids from 7 x 7 on take CG. Timed side by side (docs/gp_pde_measurements.md):
    CG was faster at every 2-D size from 6 x 6 to 40 x 40, by two to three orders of magnitude
    from 10 x 10 on (40 x 40 dense: about 1 s a step idle, the cliff of issue 20).
    """
    n, s = math.prod(grid), sum(grid)
    dense = 12.0 * n**3
    cg = cg_iters * (12.0 * n * s + CG_ITER_OVERHEAD) + 25.0 * sum(k**3 for k in grid)
    return dense <= cg


def _solve_dense(static, data, factor, maps, u0, tau, v):
    """Exact least-squares solve for ``U`` on small grids, in whitened coordinates ``U = L z``.

    Minimises ``|z|^2 / v + |J L z - r|^2 + lambda tau / v |B L z - g|^2`` by a QR factorisation
    of the stacked matrix ``[J L; sqrt(lambda tau / v) B L; I / sqrt(v)]``, whose condition number
    is the square root of the normal matrix's. With the residual precision ``v`` large, the
    normal equations' Cholesky factor lost the solution (a 1500-step Poisson run jumped from
    5e-5 to 2e-3 error when ``log v`` passed about 12).
    """
    n = u0.size
    chol = factor.chols[0]
    for c in factor.chols[1:]:
        chol = jnp.kron(chol, c)
    # operator matrix: apply R's linear part to each unit vector of the grid
    a = _apply_linear(static, maps, jnp.eye(n).reshape(static.grid + (n,))).reshape(n, n)
    u0 = u0.ravel()
    phi, dphi = _nonlin(static, u0)
    jl = (a + jnp.diag(dphi)) @ chol
    sb = jnp.sqrt(static.boundary_weight * tau / v)
    stacked = jnp.concatenate([jl, sb * chol[data.bidx], jnp.eye(n) / jnp.sqrt(v)])
    target = jnp.concatenate([data.source.ravel() - phi + dphi * u0, sb * data.bvals, jnp.zeros(n)])
    q, r = jnp.linalg.qr(stacked)
    z = jsl.solve_triangular(r, q.T @ target, lower=False)
    grad = stacked.T @ (stacked @ z - target)  # the normal equations' residual
    rel = jnp.linalg.norm(grad) / jnp.linalg.norm(stacked.T @ target)
    return (chol @ z).reshape(static.grid), rel


def _along(w: jax.Array, j: int, d: int) -> jax.Array:
    """A per-dimension vector ``w`` (N_j,) shaped to broadcast along dimension ``j`` of a
    ``d``-dimensional grid."""
    return jnp.reshape(w, [-1 if i == j else 1 for i in range(d)])


def _eig_factors(static, factor, maps):
    """Eigendecomposition ``A = V diag(lam) V^{-1}`` of the Kronecker-sum linear operator
    ``A = sum_j A_j`` from per-dimension ones.

    With only even-order terms (the only ones solved this way, ``_even_order``) each
    ``A_j = C_j K_j^{-1}`` with ``C_j`` symmetric, so ``L_j^{-1} A_j L_j = L_j^{-1} C_j L_j^{-T}``
    (``K_j = L_j L_j^T``) is symmetric: ``V_j = L_j Q_j``, ``V_j^{-1} = Q_j^T L_j^{-1}`` and
    ``lam`` are real.

    Returns ``(lam, vals, vecs, invs)``: ``lam`` of the grid's shape, and per dimension the
    eigenvalues ``vals[j]`` (N_j,), ``V_j`` and ``V_j^{-1}`` (N_j, N_j).
    """
    d = len(static.grid)
    per_dim = [jnp.zeros((n, n)) for n in static.grid]
    for t in static.terms:
        if t.order == 0:
            per_dim[0] = per_dim[0] + t.coef * jnp.eye(static.grid[0])
        else:
            per_dim[t.dim] = per_dim[t.dim] + t.coef * maps[(t.dim, t.order)]
    vals, vecs, invs = [], [], []
    for m, chol in zip(per_dim, factor.chols, strict=True):
        sym = jsl.solve_triangular(chol, m @ chol, lower=True)
        w, q = jnp.linalg.eigh(0.5 * (sym + sym.T))
        vals.append(w)
        vecs.append(chol @ q)
        invs.append(jsl.solve_triangular(chol, q, lower=True, trans=1).T)
    lam = sum(_along(w, j, d) for j, w in enumerate(vals))
    return lam, vals, vecs, invs


def _prior_aware_preconditioner(lam, vals, vecs, v):
    """Approximate inverse of ``I / v + lam G lam`` (``G = V^T V = kron(V_j^T V_j)``, ``lam``
    diagonal; arrays of the grid's shape in, same out), applied in two Kronecker passes.

    Writes the matrix as ``lam (G + E) lam`` with ``E = 1 / (v lam^2)`` and replaces ``E`` by
    the Kronecker product ``kron(diag(e_j))``, ``e_j = (d^2 v)^{-1/d} |vals_j|^{-2/d}``. By the
    AM-GM inequality ``prod e_j >= E`` when the ``vals_j`` share a sign (a Laplacian), with
    equality where they are equal in size. ``G + kron(diag(e_j))`` is inverted exactly from
    the per-dimension eigendecompositions of ``e_j^{-1/2} G_j e_j^{-1/2} = W_j S_j W_j^T``:
    ``(G + E)^{-1} = kron(e_j^{-1/2} W_j) (kron(S_j) + I)^{-1} kron(W_j^T e_j^{-1/2})``.
    Without ``E`` (the inverse of ``lam G lam`` alone) CG stalled at 400 x 400 while ``v`` was
    small: Poisson 2-D sin 100x sin 100y with the initial kernel and ``v = 1`` needed 587
    iterations to a relative residual of 1e-9 (hyperparameter gradients from the unconverged
    values had the wrong sign and the kernel never learned); with it, 2 to 3 iterations to
    1e-9 (4 to 8 to 1e-11) at ``v`` from 1 to e^10.
    """
    d = len(vecs)
    outs, ins, sig = [], [], []
    for w, vj in zip(vals, vecs, strict=True):
        mag = jnp.maximum(jnp.abs(w), 1e-12 * jnp.abs(w).max())
        root = jnp.sqrt((d * d * v) ** (-1.0 / d) * mag ** (-2.0 / d))  # e_j^{1/2}
        scaled = (vj.T @ vj) / root[:, None] / root[None, :]
        s_j, w_j = jnp.linalg.eigh(0.5 * (scaled + scaled.T))
        sig.append(s_j)
        ins.append(w_j.T / root[None, :])
        outs.append(w_j / root[:, None])
    den = math.prod(_along(s_j, j, d) for j, s_j in enumerate(sig)) + 1.0
    return lambda y: kr.kron_mvp(outs, kr.kron_mvp(ins, y / lam) / den) / lam


def _boundary_grids(data: _Data, shape: tuple):
    """The boundary indicator and the boundary data scattered onto the grid (both ``shape``)."""
    mask = jnp.zeros(math.prod(shape)).at[data.bidx].set(1.0).reshape(shape)
    gvec = jnp.zeros(math.prod(shape)).at[data.bidx].set(data.bvals).reshape(shape)
    return mask, gvec


def _even_order(terms) -> bool:
    """Whether an operator's ``terms`` hold no first-order one (its eigenbasis is then real and
    ``K``-whitened, so ``_solve_cg_eigen`` applies)."""
    return all(t.order != 1 for t in terms)


def _solve_cg_eigen(static, data, factor, maps, u0, tau, v):
    """``U`` for d >= 2 and an operator without first-order terms: conjugate gradients in the
    coordinates ``y`` of the operator's eigenbasis, ``vec(U) = V y`` (``_eig_factors``).

    Since ``V V^T = K`` and ``A V = V diag(lam)``, the prior is ``y^T y`` and the normal matrix
    (divided by ``v``) is ``I / v + (J V)^T (J V) + lambda tau / v (B V)^T (B V)`` with
    ``J V y = V (lam y) + phi'(U) (V y)`` for the linearised operator ``J = A + diag(phi'(U))``:
    four mode products per dimension and iteration (two more for the preconditioner), with no
    triangular solve. Preconditioned by ``_prior_aware_preconditioner``, an approximate inverse
    of ``I / v + (A V)^T (A V)``, the prior plus the linear part.
    Stops at ``cg_iters`` iterations or a relative residual of ``CG_TOL``: with large precisions
    a looser tolerance leaves grid values whose hyperparameter gradient is wrong.
    ``inner_residual`` is measured in ``y``.
    """
    lam, vals, vecs, invs = _eig_factors(static, factor, maps)
    vecs_t = [m.T for m in vecs]
    wb = static.boundary_weight * tau / v
    mask, gvec = _boundary_grids(data, u0.shape)
    phi, dphi = _nonlin(static, u0)

    def stacked(mats, a, b):  # (M a, M b) with one pass of mode products
        out = kr.kron_mvp(mats, jnp.stack([a, b], axis=-1))
        return out[..., 0], out[..., 1]

    def hess(y):
        vly, vy = stacked(vecs, lam * y, y)
        jv = vly + dphi * vy
        t1, t2 = stacked(vecs_t, jv, dphi * jv + wb * mask * vy)
        return y / v + lam * t1 + t2

    r_lin = data.source - phi + dphi * u0
    t1, t2 = stacked(vecs_t, r_lin, dphi * r_lin + wb * gvec)
    rhs = lam * t1 + t2
    y, _ = jax.scipy.sparse.linalg.cg(
        hess,
        rhs,
        x0=kr.kron_mvp(invs, u0),
        maxiter=static.cg_iters,
        tol=CG_TOL,
        M=_prior_aware_preconditioner(lam, vals, vecs, v),
    )
    rel = jnp.linalg.norm(hess(y) - rhs) / jnp.linalg.norm(rhs)
    return kr.kron_mvp(vecs, y), rel


def _inner(static, data, params, u, log_tau, log_v):
    factor, maps = _factors(static, params)
    dense = not _even_order(static.terms) or dense_is_faster(static.grid, static.cg_iters)
    solver = _solve_dense if dense else _solve_cg_eigen
    tau, v = jnp.exp(log_tau), jnp.exp(log_v)
    rel = jnp.zeros(())
    for _ in range(static.n_newton):
        u_new, rel = solver(static, data, factor, maps, u, tau, v)
        u = (
            u_new
            if static.nonlinearity is None
            else _damped(static, data, factor, maps, u, u_new, log_tau, log_v)
        )
    return u, rel


_DAMPING = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.0)


def _damped(static, data, factor, maps, u, u_new, log_tau, log_v):
    """The Gauss-Newton update ``u + t (u_new - u)`` with the step ``t`` in ``_DAMPING`` that
    minimises ``L`` at the current hyperparameters (``t = 0`` keeps ``u``), so a step never
    raises the objective. Undamped, a 1500-step Allen-Cahn 1-D run blew up (error 7e4) once
    ``log v`` passed 20 and a kernel step left the linearisation far off. Shapes as ``u``."""
    steps = jnp.asarray(_DAMPING)
    candidates = u[None] + steps.reshape((-1,) + (1,) * u.ndim) * (u_new - u)[None]
    losses = jax.vmap(lambda c: _loss_factored(static, data, factor, maps, c, log_tau, log_v))(
        candidates
    )
    return candidates[jnp.argmin(jnp.where(jnp.isnan(losses), jnp.inf, losses))]
