"""GP-HM solver: GP prior on grid values, boundary and residual likelihoods, learned spectrum.

The model is Fang, Cooley, Long, Li, Kirby & Zhe (2024), "Solving High Frequency and Multi-Scale
PDEs with Gaussian Processes", Eq. (14): with grid values ``U``, per-dimension mixture kernels
(``spectral``), boundary precision ``tau`` and residual precision ``v``, minimise

``L = 1/2 vec(U)^T K^{-1} vec(U) + 1/2 log|K|
      + lambda_b [ tau/2 sum_b (U_b - g_b)^2 - N_b/2 log tau ]
      + v/2 sum_grid (R[U] - s)^2 - N/2 log v``,

where derivatives of ``U`` come from differentiating the interpolant ``k(x, M) K^{-1} vec(U)``
(``kronecker.derivative_map``). The paper runs Adam on everything for 1e5 to 3e6 steps
(``method="adam"`` here). ``method="profile"`` (default) minimises the same ``L`` in far fewer
steps by taking the grid values out of the first-order loop: each step solves for ``U`` given
the hyperparameters (``L`` is quadratic in ``U`` for a linear operator, a linear least-squares
problem; one warm-started Gauss-Newton step per outer step for the Allen-Cahn nonlinearity,
damped by a line search (``_damped``); dense up to 2500 nodes, warm-started conjugate
gradients in the operator's Kronecker eigenbasis beyond), then takes one optimizer step on the
kernel hyperparameters and ``log tau, log v`` with the gradient of ``L`` at the new ``U`` (at
the exact minimiser this is the gradient of the profiled objective). A step that raises the
profiled objective by more than ``REJECT_RISE`` is undone and retried at half the scale
(``_profile_step``). The precisions are not profiled in closed form: ``L`` is unbounded below
in ``v`` (the interpolant's derivative map is invertible, so the residual can be driven to zero
and ``L -> -inf`` as ``v -> inf``); like the paper, they move by optimizer steps. The default
step sizes decay on a cosine schedule (``_profile_optimizer``), which lets the frequencies
settle to the accuracy the solution needs.

Everything runs in float64 inside ``jax.enable_x64(True)``; the caller's global setting is left
alone.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import optax

from bayeskit._progress import progress_bar, show_progress
from bayeskit.gp_pde import kronecker as kr
from bayeskit.gp_pde import spectral as sp
from bayeskit.gp_pde.problems import NONLINEARITIES, PDEProblem, boundary_mask
from bayeskit.random import as_key
from bayeskit.summary import to_inference_data
from bayeskit.validate import (
    check_bool,
    check_choice,
    check_finite,
    check_int,
    check_optimizer,
    check_positive,
)

__all__ = ["Trace", "GPSolution", "SolveInfo", "solve", "objective", "objective_dense", "METHODS"]

METHODS = ("profile", "adam")
JITTER = 1e-6  # the authors' jitter on each 1-D factor (the default of ``solve``)
DENSE_MAX = 2500  # grids up to this many nodes are solved densely (exactly)
CG_TOL = 1e-10  # relative residual at which an inner CG solve stops early
REJECT_RISE = 1.0  # a profiled step raising L by more (nats) is retried at half the scale
INNER_WARN = 1e-2  # a last inner solve with a larger relative residual is warned about


class Trace(NamedTuple):
    """Per-checkpoint history: ``step``, ``loss`` (negative log joint) and ``rel_l2`` (NaN when
    the problem has no exact solution), each of shape ``(n_checkpoints,)``."""

    step: np.ndarray
    loss: np.ndarray
    rel_l2: np.ndarray


class SolveInfo(NamedTuple):
    """Diagnostics: ``inner_residual`` (relative residual of the last inner solve, 0 for a
    direct solve), ``finite`` (all state entries finite) and ``rejected_steps`` (steps of
    ``method="profile"`` that raised the objective and were retried at half the scale; 0 for
    ``"adam"``)."""

    inner_residual: float
    finite: bool
    rejected_steps: int = 0


class _Static(NamedTuple):
    """Hashable configuration of a run (static under ``jit``)."""

    kind: str
    grid: tuple
    spacing: tuple
    terms: tuple
    nonlinearity: str | None
    boundary_weight: float
    n_newton: int
    cg_iters: int
    jitter: float


class _Accepted(NamedTuple):
    """The profiled method's last accepted step: grid values solved at ``hyper``, the
    objective there, the optimizer's (unscaled) update taken from it, the step scale, and how
    many steps were rejected so far."""

    values: jax.Array
    hyper: tuple  # (params, log_tau, log_v)
    loss: jax.Array
    update: tuple  # like ``hyper``
    scale: jax.Array
    rejected: jax.Array


class _State(NamedTuple):
    values: jax.Array
    params: sp.MixtureParams
    log_tau: jax.Array
    log_v: jax.Array
    opt_state: object
    inner_residual: jax.Array
    accepted: _Accepted | None = None  # ``method="profile"`` only


class _Data(NamedTuple):
    source: jax.Array  # grid shape
    bidx: jax.Array  # (N_b,) flat indices of boundary nodes
    bvals: jax.Array  # (N_b,)


# ----------------------------------------------------------------------------- model pieces


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


# ----------------------------------------------------------------------------- inner solves


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
    ``K``-whitened, and grids over ``DENSE_MAX`` nodes are solved by ``_solve_cg_eigen``)."""
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
    solver = _solve_dense if math.prod(static.grid) <= DENSE_MAX else _solve_cg_eigen
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


# ----------------------------------------------------------------------------- steps


def _profile_step(static, data, optimizer, state: _State) -> _State:
    """One step of the profiled method: ``U`` given the hyperparameters, then one optimizer step
    on ``(kernel hyperparameters, log tau, log v)`` with the gradient of ``L`` at the new ``U``.

    A step is accepted unless the profiled objective rose by more than ``REJECT_RISE`` (one
    nat) or is NaN; otherwise the hyperparameters go back to the last accepted point and retry
    its update at half the scale (the scale doubles back, up to 1, on each accepted step). The
    allowance lets Adam's momentum take the small uphill steps it needs (with none, a run
    stalled: its update pointed uphill at every scale). Without the guard a 1500-step
    Allen-Cahn 1-D sin 6x cos 100x run left its optimum once the precisions had sharpened the
    objective (error 5e-6 at step 550, 0.43 at the end; 2.1e-6 with it)."""
    acc = state.accepted
    hyper = (state.params, state.log_tau, state.log_v)
    u, rel = _inner(static, data, state.params, state.values, state.log_tau, state.log_v)
    loss, grads = jax.value_and_grad(lambda h: _loss(static, data, u, *h))(hyper)
    ok = loss <= acc.loss + REJECT_RISE  # False for a NaN loss
    updates, opt_state = optimizer.update(grads, state.opt_state, hyper)
    scale = jnp.where(ok, jnp.minimum(2.0 * acc.scale, 1.0), 0.5 * acc.scale)

    def pick(new, old):  # leafwise: ``new`` if the step is accepted, else ``old``
        return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)

    acc = pick(
        _Accepted(u, hyper, loss, updates, scale, acc.rejected),
        acc._replace(scale=scale, rejected=acc.rejected + 1),
    )
    step = jax.tree.map(lambda x: acc.scale * x, acc.update)
    params, log_tau, log_v = optax.apply_updates(acc.hyper, step)
    opt_state = pick(opt_state, state.opt_state)
    return _State(acc.values, params, log_tau, log_v, opt_state, rel, acc)


def _adam_step(static, data, optimizer, state: _State) -> _State:
    """One step of the paper's joint first-order optimisation of ``(U, hyperparameters)``."""
    tree = (state.values, state.params, state.log_tau, state.log_v)

    def loss(t):
        return _loss(static, data, *t)

    grads = jax.grad(loss)(tree)
    updates, opt_state = optimizer.update(grads, state.opt_state, tree)
    u, params, log_tau, log_v = optax.apply_updates(tree, updates)
    return _State(u, params, log_tau, log_v, opt_state, state.inner_residual)


def _profile_optimizer(steps: int) -> optax.GradientTransformation:
    """The default optimizer of ``method="profile"``: Adam on ``(params, log_tau, log_v)`` with
    step sizes decaying on a cosine schedule to 1% over ``steps``.

    Peak step sizes: 0.03 for the log weights and log scales; 0.01 for the frequencies (cycles
    per unit length), where 0.03 made long runs jump between nearby optima once the precisions
    had sharpened the objective (1500-step Poisson 1-D sin 100x: 2.8e-4 or 8.4e-7 depending on
    rounding, against 6.2e-7 and 9.0e-7 with 0.01). For ``log tau`` and ``log v`` the larger of
    that schedule with peak 0.03 and one with peak 0.06 over the first ``min(steps, 300)``
    steps: the early climb takes ``v`` past the stationary point that holds it near e^3 in 2-D
    (Poisson 2-D sin 6x cos 20x: 4e-4 instead of 1.5e-3 at 300 steps and 1.3e-3 at 1000),
    while 0.06 throughout made long runs jump (1500 steps: Poisson 1-D sin 100x 4.7e-5 to
    7.9e-4, Allen-Cahn 1-D 9.6e-4). Measurements in docs/gp_pde.md.
    """

    def cosine(peak, length):
        return optax.cosine_decay_schedule(peak, length, alpha=0.01)

    early, late = cosine(0.06, min(steps, 300)), cosine(0.03, steps)
    labels = (sp.MixtureParams("kernel", "kernel", "freq"), "precision", "precision")
    groups = {
        "kernel": optax.adam(cosine(0.03, steps)),
        "freq": optax.adam(cosine(0.01, steps)),
        "precision": optax.adam(lambda count: jnp.maximum(early(count), late(count))),
    }
    return optax.multi_transform(groups, labels)


def _opt_target(method, state: _State):
    if method == "profile":
        return (state.params, state.log_tau, state.log_v)
    return (state.values, state.params, state.log_tau, state.log_v)


def _make_chunk(static, method, optimizer, length):
    step = _profile_step if method == "profile" else _adam_step

    @jax.jit
    def chunk(data, state):
        def body(s, _):
            return step(static, data, optimizer, s), None

        state, _ = jax.lax.scan(body, state, None, length=length)
        if method == "profile":  # the objective at the last accepted point
            return state, state.accepted.loss
        loss = _loss(static, data, state.values, state.params, state.log_tau, state.log_v)
        return state, loss

    return chunk


# ----------------------------------------------------------------------------- prediction


def _cross(kind, params, axes, xs, orders):
    """Per-dimension cross matrices ``d^{r_j} k_j(x_j, grid_j)``."""
    return [
        sp.cross_gram(kind, jax.tree.map(lambda a, j=j: a[j], params), x, g, r)
        for j, (x, g, r) in enumerate(zip(xs, axes, orders))
    ]


def _predict_points(kind, params, axes, alpha, x, orders):
    """``sum_M prod_j d^{r_j} k_j(x_ij, M_j) alpha[M]`` for scattered ``x`` (n, d): O(n N)."""
    mats = _cross(kind, params, axes, [x[:, j] for j in range(x.shape[1])], orders)
    t = mats[0] @ alpha.reshape(alpha.shape[0], -1)
    for m in mats[1:]:
        t = jnp.einsum("nab,na->nb", t.reshape(t.shape[0], m.shape[1], -1), m)
    return t[:, 0]


def _predict_grid(kind, params, axes, alpha, test_axes):
    return kr.kron_mvp(_cross(kind, params, axes, test_axes, (0,) * len(axes)), alpha)


class GPSolution(eqx.Module):
    """A solved PDE: grid values, learned kernel, the interpolant and its derivatives.

    Attributes:
        kernel: kernel name (``spectral.KERNELS``).
        problem: the ``PDEProblem``.
        axes: grid nodes per dimension.
        values: grid values ``U``, shape ``problem.grid``.
        alpha: ``K^{-1} vec(U)`` as a tensor of shape ``problem.grid``.
        params: learned ``MixtureParams`` (fields ``(d, Q)``).
        log_tau, log_v: learned log precisions.
        trace: ``Trace`` of loss and relative L2 error per checkpoint.
        info: ``SolveInfo`` of the last step.
        jitter: the diagonal jitter of each 1-D Gram factor.
        extra: the second ("extra") GP of the two-stage refinement, or ``None``; its interpolant
            is added to this one's.
    """

    kernel: str = eqx.field(static=True)
    problem: PDEProblem = eqx.field(static=True)
    axes: tuple
    values: jax.Array
    alpha: jax.Array
    params: sp.MixtureParams
    log_tau: jax.Array
    log_v: jax.Array
    trace: Trace
    info: SolveInfo
    jitter: float = eqx.field(static=True)
    extra: GPSolution | None = None

    def predict(self, x) -> jax.Array:
        """The solution ``u(x)`` at points ``x`` of shape ``(n, d)`` (or ``(n,)`` in 1-D).

        Raises:
            ValueError: if ``x`` has the wrong shape or is not finite.
        """
        return self.derivative(x, (0,) * self.problem.ndim)

    def derivative(self, x, order) -> jax.Array:
        """A partial derivative of the interpolant at ``x`` (n, d) (``(n,)`` allowed in 1-D).

        Args:
            x: points.
            order: an int (1-D) or a tuple of per-dimension orders, each 0, 1 or 2, e.g.
                ``(0, 2)`` for ``u_yy``.

        Returns:
            ``(n,)`` array.

        Raises:
            ValueError: on a wrong shape of ``x``, non-finite ``x`` or an unsupported order.
        """
        d = self.problem.ndim
        orders = (order,) * 1 if isinstance(order, int) and d == 1 else order
        if isinstance(orders, int) or len(tuple(orders)) != d:
            raise ValueError(f"order: expected a tuple of {d} per-dimension orders, got {order!r}")
        orders = tuple(int(r) for r in orders)
        if any(r not in (0, 1, 2) for r in orders):
            raise ValueError(f"order: expected orders in 0, 1, 2, got {order!r}")
        with jax.enable_x64(True):
            x = jnp.asarray(np.asarray(x, dtype=np.float64))
            if d == 1 and x.ndim == 1:
                x = x[:, None]
            if x.ndim != 2 or x.shape[1] != d:
                raise ValueError(f"x: expected shape (n, {d}), got {x.shape}")
            check_finite(x, "x")
            out = _predict_points(self.kernel, self.params, self.axes, self.alpha, x, orders)
            if self.extra is not None:
                out = out + self.extra.derivative(x, order)
            return out

    def predict_grid(self, axes) -> jax.Array:
        """The solution on the tensor grid spanned by ``axes`` (one 1-D array per dimension)."""
        with jax.enable_x64(True):
            axes = tuple(jnp.asarray(np.asarray(a, dtype=np.float64)) for a in axes)
            out = _predict_grid(self.kernel, self.params, self.axes, self.alpha, axes)
            if self.extra is not None:
                out = out + self.extra.predict_grid(axes)
            return out

    def rel_l2(self, n_test: int = 300) -> float:
        """Relative L2 error against the exact solution on ``n_test`` uniform points per dimension.

        Raises:
            ValueError: if the problem has no exact solution or ``n_test < 2``.
        """
        n_test = check_int(n_test, "n_test", minimum=2)
        with jax.enable_x64(True):
            axes = _test_axes(self.problem, n_test)
            truth = self.problem.exact_values(axes)
            pred = self.predict_grid(axes)
            return float(jnp.linalg.norm(pred - truth) / jnp.linalg.norm(truth))

    def to_inference_data(self):
        """ArviZ ``InferenceData`` with the solution's grid values as ``constant_data``.

        GP-HM finds a point solution (a mode of Eq. 14 over the grid values and the
        hyperparameters), not posterior draws, so there is no ``posterior`` group: the result
        only hands the solution to ArviZ/xarray tooling with named grid coordinates. With the
        extra GP the grid values are the sum of both GPs' (both live on the same grid).

        Returns:
            ``arviz.InferenceData`` with ``constant_data.u`` of shape ``problem.grid`` (float64),
            dimensions ``x0, ..., x{d-1}`` whose coordinates are the grid nodes ``axes``, and
            ``attrs`` naming the kernel and the problem.
        """
        values = np.asarray(self.values)
        if self.extra is not None:
            values = values + np.asarray(self.extra.values)
        names = [f"x{j}" for j in range(self.problem.ndim)]
        return to_inference_data(
            None,
            constant_data={"u": values},
            coords={n: np.asarray(a) for n, a in zip(names, self.axes)},
            dims={"u": names},
            attrs={
                "method": "GP-HM (Fang et al. 2024)",
                "kernel": self.kernel,
                "problem": self.problem.name,
            },
        )

    def spectrum(self, prune_ratio: float = 1e-3) -> sp.Spectrum:
        """Learned weights, frequencies (cycles per unit length) and scales per dimension, with
        ``active`` marking components not pruned (weight >= ``prune_ratio`` x the largest), as
        float64 NumPy arrays of shape ``(d, Q)`` (usable whatever the caller's x64 setting)."""
        check_positive(prune_ratio, "prune_ratio")
        with jax.enable_x64(True):
            spec = sp.spectrum(self.kernel, self.params, prune_ratio)
            return sp.Spectrum(*(np.asarray(a) for a in spec))


def _test_axes(problem: PDEProblem, n_test: int):
    return tuple(jnp.linspace(lo, hi, n_test) for lo, hi in problem.domain)


# ----------------------------------------------------------------------------- driver


def _static(problem, kernel, n_newton, cg_iters, jitter):
    return _Static(
        kind=kernel,
        grid=problem.grid,
        spacing=problem.spacing(),
        terms=problem.terms,
        nonlinearity=problem.nonlinearity,
        boundary_weight=float(problem.boundary_weight),
        n_newton=n_newton,
        cg_iters=cg_iters,
        jitter=float(jitter),
    )


def _data(problem):
    source = problem.source_values()
    check_finite(source, "source")
    bvals = problem.boundary_values()
    check_finite(bvals, "boundary")
    bidx = jnp.asarray(np.flatnonzero(boundary_mask(problem.grid)))
    return _Data(source=source, bidx=bidx, bvals=bvals)


def _initial_state(grid, params, optimizer, method) -> _State:
    """Zero grid values of shape ``grid``, ``log tau = log v = 0``, the optimizer's initial
    state and, for ``method="profile"``, an accepted point with an infinite objective (so the
    first step is always accepted)."""
    u, zero = jnp.zeros(grid), jnp.zeros(())
    state = _State(u, params, zero, zero, None, zero)
    state = state._replace(opt_state=optimizer.init(_opt_target(method, state)))
    if method != "profile":
        return state
    hyper = (params, zero, zero)
    update = jax.tree.map(jnp.zeros_like, hyper)
    acc = _Accepted(u, hyper, jnp.asarray(jnp.inf), update, jnp.ones(()), jnp.zeros((), int))
    return state._replace(accepted=acc)


def _reported(state: _State) -> _State:
    """The state to report: for ``method="profile"`` the last accepted point, whose grid values
    solve for its own hyperparameters."""
    acc = state.accepted
    if acc is None:
        return state
    params, log_tau, log_v = acc.hyper
    return state._replace(values=acc.values, params=params, log_tau=log_tau, log_v=log_v)


def _run(
    key,
    problem,
    kernel,
    n_components,
    steps,
    optimizer,
    method,
    progress,
    log_every,
    freq_scale,
    init_noise,
    n_newton,
    cg_iters,
    jitter,
    offset_test,
    truth_problem=None,
):
    static = _static(problem, kernel, n_newton if problem.nonlinearity else 1, cg_iters, jitter)
    data = _data(problem)
    fs = problem.freq_scale if freq_scale is None else freq_scale
    params = sp.init_params(problem.ndim, n_components, fs)
    if init_noise > 0:
        noise = jax.random.normal(key, params.freq.shape) * init_noise * jnp.asarray(fs).max()
        params = params._replace(freq=params.freq + noise)
    state = _initial_state(problem.grid, params, optimizer, method)

    # the extra GP's errors are those of the sum, against the original problem's solution
    ref = truth_problem if truth_problem is not None else problem
    axes_test = _test_axes(ref, 300) if ref.exact is not None else None
    truth = ref.exact_values(axes_test) if axes_test is not None else None

    grid_axes = problem.axes()

    @jax.jit
    def _error(params, values):
        factor, _ = _factors(static, params)
        pred = _predict_grid(kernel, params, grid_axes, kr.kron_solve(factor, values), axes_test)
        if offset_test is not None:
            pred = pred + offset_test
        return jnp.linalg.norm(pred - truth) / jnp.linalg.norm(truth)

    def error(state):
        state = _reported(state)
        return math.nan if truth is None else float(_error(state.params, state.values))

    n_chunks, rem = divmod(steps, log_every)
    chunks = [log_every] * n_chunks + ([rem] if rem else [])
    compiled = {n: _make_chunk(static, method, optimizer, n) for n in set(chunks)}
    loss0 = float(_loss(static, data, state.values, params, state.log_tau, state.log_v))
    steps_log, losses, errors = [0], [loss0], [error(state)]
    bar = progress_bar(steps, f"gp_pde {problem.name}", progress)
    done = 0
    for n in chunks:
        state, loss = compiled[n](data, state)
        done += n
        steps_log.append(done)
        losses.append(float(loss))
        errors.append(error(state))
        if bar is not None:
            bar.update(n)
            bar.set_postfix(loss=f"{losses[-1]:.4g}", rel_l2=f"{errors[-1]:.3g}")
    if bar is not None:
        bar.close()
    finite = bool(all(jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(state[:4])))
    if not finite:
        raise FloatingPointError(
            f"solve: the state became non-finite on {problem.name!r}; reduce the learning rate "
            "or check the problem's scaling"
        )
    if float(state.inner_residual) > INNER_WARN:
        warnings.warn(
            f"solve: the last inner solve on {problem.name!r} stopped at a relative residual of "
            f"{float(state.inner_residual):.2g} (> {INNER_WARN:g}); the grid values do not "
            "minimise the objective: raise cg_iters or lower the learning rate",
            RuntimeWarning,
            stacklevel=3,
        )
    rejected = 0 if state.accepted is None else int(state.accepted.rejected)
    state = _reported(state)
    factor, _ = _factors(static, state.params)
    trace = Trace(np.asarray(steps_log), np.asarray(losses), np.asarray(errors))
    return GPSolution(
        kernel=kernel,
        problem=problem,
        axes=problem.axes(),
        values=state.values,
        alpha=kr.kron_solve(factor, state.values),
        params=state.params,
        log_tau=state.log_tau,
        log_v=state.log_v,
        trace=trace,
        info=SolveInfo(float(state.inner_residual), finite, rejected),
        jitter=static.jitter,
    )


def solve(
    key,
    problem: PDEProblem,
    *,
    kernel: str = "student_t",
    n_components: int = 30,
    steps: int | None = None,
    optimizer: optax.GradientTransformation | None = None,
    method: str = "profile",
    progress: bool | None = None,
    log_every: int | None = None,
    freq_scale=None,
    init_noise: float = 0.0,
    n_newton: int = 1,
    cg_iters: int = 50,
    jitter: float = JITTER,
    extra_gp: bool = False,
    extra_steps: int | None = None,
) -> GPSolution:
    """Solve a PDE with GP-HM (Fang et al., 2024, Eq. 14), in float64.

    Args:
        key: PRNG key or int seed; used only when ``init_noise > 0`` (the paper's
            initialisation is deterministic).
        problem: a ``PDEProblem`` (see ``problems.get``).
        kernel: ``"student_t"`` (GP-HM-StM), ``"gaussian"`` (GP-HM-GM), or the negative
            controls ``"rbf"`` (GP-SE) and ``"matern52"`` (GP-Matern).
        n_components: mixture components ``Q`` per dimension.
        steps: outer steps; default 300 for ``"profile"``, 100000 for ``"adam"`` (the paper's).
        optimizer: an optax transformation for the hyperparameters (``"profile"``) or for
            everything (``"adam"``); default for ``"profile"`` Adam with cosine-decayed step
            sizes (peaks 0.03 for the log weights and scales, 0.01 for the frequencies, 0.06
            over the first 300 steps then 0.03 for the precisions; ``_profile_optimizer``), and
            the paper's ``adam(1e-2)`` for ``"adam"``. With ``"profile"`` a step that raises
            the objective by more than one nat is undone and retried at half the scale
            (counted in ``GPSolution.info.rejected_steps``).
        method: ``"profile"`` (``U`` solved for given the hyperparameters, exactly up to 2500
            nodes and by conjugate gradients beyond, then one optimizer step on the kernel and
            the precisions; with first-order terms only up to 2500 nodes) or ``"adam"`` (the
            paper's joint Adam).
        progress: show a tqdm bar; ``None`` (default) shows one when run interactively (a
            Jupyter kernel or a terminal; ``BAYESKIT_PROGRESS=0``/``1`` overrides).
        log_every: steps between checkpoints of ``trace`` (default ``steps // 20``, 21
            checkpoints as the paper).
        freq_scale: largest initial frequency; default the problem's.
        init_noise: standard deviation of a random perturbation of the initial frequencies,
            relative to ``freq_scale``.
        n_newton: Gauss-Newton iterations per outer step for a nonlinear operator (each
            warm-started from the previous step's grid values and damped by a line search).
        cg_iters: conjugate-gradient iterations per inner solve on grids over 2500 nodes
            (each warm-started from the previous step's grid values, so the iterations add up
            across steps while the hyperparameters move slowly).
        extra_gp: add the authors' second GP (one Matérn-5/2 component, no cosine) fitted to
            what the first leaves (linear operators only).
        extra_steps: steps of the second GP (default ``steps``).
        jitter: added to the diagonal of each 1-D Gram factor; the paper's 1e-6 by default.
            It bounds how smooth a solution the interpolant reproduces: on sin(2 pi x) with a
            long learned length-scale it floors the error near 1e-5, and 1e-10 (safe in
            float64 for such kernels) reaches 1e-7 (docs/gp_pde.md).

    Returns:
        ``GPSolution``.

    Raises:
        ValueError: on an unknown kernel or method, non-positive sizes, a non-finite source or
            boundary, ``extra_gp`` with a nonlinear operator, or ``method="profile"`` with
            first-order terms (advection) on a grid of more than 2500 nodes.
        TypeError: if ``problem`` is not a ``PDEProblem``.
        FloatingPointError: if the state becomes non-finite.

    Warns:
        RuntimeWarning: if the last inner solve's relative residual exceeds ``INNER_WARN``.
    """
    if not isinstance(problem, PDEProblem):
        raise TypeError(f"problem: expected a PDEProblem, got {type(problem).__name__}")
    kernel = check_choice(kernel, "kernel", sp.KERNELS)
    method = check_choice(method, "method", METHODS)
    n_components = check_int(n_components, "n_components", minimum=1)
    steps = check_int(
        steps if steps is not None else (300 if method == "profile" else 100_000),
        "steps",
        minimum=1,
    )
    log_every = (
        max(steps // 20, 1) if log_every is None else check_int(log_every, "log_every", minimum=1)
    )
    progress = show_progress(progress)
    check_bool(extra_gp, "extra_gp")
    n_newton = check_int(n_newton, "n_newton", minimum=1)
    cg_iters = check_int(cg_iters, "cg_iters", minimum=1)
    check_finite(jitter, "jitter")
    check_positive(jitter, "jitter")
    check_positive(init_noise, "init_noise", strict=False)
    if freq_scale is not None:
        check_positive(jnp.asarray(freq_scale), "freq_scale")
    if extra_gp and problem.nonlinearity is not None:
        raise ValueError("extra_gp: the extra GP needs a linear operator (no nonlinearity)")
    n_nodes = math.prod(problem.grid)
    if method == "profile" and n_nodes > DENSE_MAX and not _even_order(problem.terms):
        raise ValueError(
            f"problem: an operator with first-order terms is solved exactly on grids of up to "
            f"{DENSE_MAX} nodes with method='profile', got {n_nodes} "
            f"({' x '.join(map(str, problem.grid))}); no iterative inner solve tried for it "
            "converges beyond (docs/gp_pde.md, advection). Use a coarser grid or method='adam'"
        )
    if optimizer is None:
        optimizer = _profile_optimizer(steps) if method == "profile" else optax.adam(1e-2)
    else:
        check_optimizer(optimizer)
    key = as_key(key)
    with jax.enable_x64(True):
        common = dict(
            method=method,
            progress=progress,
            log_every=log_every,
            init_noise=init_noise,
            n_newton=n_newton,
            cg_iters=cg_iters,
            jitter=jitter,
        )
        sol = _run(
            key,
            problem,
            kernel,
            n_components,
            steps,
            optimizer,
            freq_scale=freq_scale,
            offset_test=None,
            **common,
        )
        if not extra_gp:
            return sol
        second = _residual_problem(sol)
        offset = None
        if problem.exact is not None:
            offset = sol.predict_grid(_test_axes(problem, 300))
        extra = _run(
            key,
            second,
            "matern52",
            1,
            extra_steps or steps,
            optimizer,
            freq_scale=1.0,
            offset_test=offset,
            truth_problem=problem,
            **common,
        )
        return eqx.tree_at(lambda s: s.extra, sol, extra, is_leaf=lambda x: x is None)


def _residual_problem(sol: GPSolution) -> PDEProblem:
    """The problem left for the extra GP: source ``s - R[u_1]`` and boundary ``g - u_1``."""
    import dataclasses

    problem = sol.problem
    static = _static(problem, sol.kernel, 1, 0, sol.jitter)
    data = _data(problem)
    _, maps = _factors(static, sol.params)
    source = data.source - _apply_linear(static, maps, sol.values)
    bvals = data.bvals - sol.values.ravel()[data.bidx]
    return dataclasses.replace(
        problem,
        name=problem.name + "+extra",
        source=np.asarray(source),
        boundary=np.asarray(bvals),
        exact=None,
        max_frequency=None,
    )
