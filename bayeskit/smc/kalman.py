"""Exact inference in linear Gaussian models, in float64: the ground truth for the particle methods.

Kalman filter with the exact log-likelihood, Rauch-Tung-Striebel smoother with lag-one
cross-covariances, the exact smoothed additive functionals ``E[sum x_t]`` and
``E[sum x_t x_{t+1}^T]``, and the score by the Fisher identity (the gradient of the EM
intermediate quantity at fixed smoothing moments).

Every public function runs under ``jax.enable_x64(True)`` and returns float64 arrays, because the
covariance recursions lose several digits in float32 over long series.

References: Kalman (1960); Rauch, Tung & Striebel (1965), AIAA J. 3(8); Shumway & Stoffer (1982),
J. Time Ser. Anal. 3(4), eqs. (9)-(12) (lag-one covariance and EM expected log-likelihood);
Cappe, Moulines & Ryden (2005), Inference in HMMs, Prop. 10.1.6 (Fisher identity).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from bayeskit.smc.models import LGSSMMatrices, StateSpaceModel, check_model_theta
from bayeskit.validate import check_array, check_spd

__all__ = [
    "KalmanResult",
    "RTSResult",
    "kalman_filter",
    "rts_smoother",
    "kalman_log_likelihood",
    "smoothed_sums",
    "expected_log_joint",
    "fisher_score",
]

_LOG_2PI = math.log(2.0 * math.pi)


class KalmanResult(NamedTuple):
    """Kalman filter output for ``T`` steps.

    Fields: ``means (T, dx)`` and ``covs (T, dx, dx)`` (filter, ``x_t | y_{0:t}``),
    ``pred_means (T, dx)`` and ``pred_covs (T, dx, dx)`` (``x_t | y_{0:t-1}``; at ``t = 0`` the
    prior), ``log_likelihood ()`` (``log p(y_{0:T-1})``; NaN, never a finite wrong value, when
    called under ``jit`` on covariances that are not positive definite: the public functions
    check concrete matrices, traced ones cannot be).
    """

    means: jax.Array
    covs: jax.Array
    pred_means: jax.Array
    pred_covs: jax.Array
    log_likelihood: jax.Array


class RTSResult(NamedTuple):
    """RTS smoother output: ``means (T, dx)``, ``covs (T, dx, dx)`` of ``x_t | y_{0:T-1}``,
    ``cross_covs (T-1, dx, dx)`` with ``cross_covs[t] = Cov(x_t, x_{t+1} | y)``, and the
    exact ``log_likelihood ()``."""

    means: jax.Array
    covs: jax.Array
    cross_covs: jax.Array
    log_likelihood: jax.Array


def _check_inputs(ys: Any, mats: Any, *, definite: bool = False) -> tuple[jax.Array, LGSSMMatrices]:
    if not isinstance(mats, LGSSMMatrices):
        raise TypeError(f"mats: expected LGSSMMatrices, got {type(mats).__name__}")
    dx = jnp.shape(mats.A)[0]
    dy = jnp.shape(mats.B)[0]
    ys = check_array(ys, "ys", ndim=2)
    if ys.shape[1] != dy or ys.shape[0] < 1:
        raise ValueError(
            f"ys: expected shape (T, {dy}) with T >= 1 to match B {jnp.shape(mats.B)}, got "
            f"{ys.shape}"
        )
    for name, shape in [
        ("A", (dx, dx)),
        ("B", (dy, dx)),
        ("Q", (dx, dx)),
        ("R", (dy, dy)),
        ("m0", (dx,)),
        ("P0", (dx, dx)),
    ]:
        check_array(getattr(mats, name), f"mats.{name}", shape=shape)
    # covariances: symmetric with no negative eigenvalue (a singular one, e.g. a known x_0, is a
    # valid model); checked on concrete values only
    for name in ("Q", "R", "P0"):
        check_spd(getattr(mats, name), f"mats.{name}", semidefinite=not definite)
    return ys, mats


def _check_rts(rts: Any, n_steps: int | None = None) -> None:
    if not isinstance(rts, RTSResult):
        raise TypeError(f"rts: expected an RTSResult, got {type(rts).__name__}")
    m = check_array(rts.means, "rts.means", ndim=2)
    T, dx = m.shape
    if T < 2 or (n_steps is not None and T != n_steps):
        want = "T >= 2" if n_steps is None else f"T = {n_steps} time steps, as ys"
        raise ValueError(f"rts.means: expected shape (T, dx) with {want}, got {m.shape}")
    check_array(rts.covs, "rts.covs", shape=(T, dx, dx))
    check_array(rts.cross_covs, "rts.cross_covs", shape=(T - 1, dx, dx))


def _f64(tree):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), tree)


def _kalman(ys: jax.Array, mats: LGSSMMatrices) -> KalmanResult:
    A, B, Q, R, m0, P0 = mats

    def update(m_pred, P_pred, y):
        S = B @ P_pred @ B.T + R
        chol = jnp.linalg.cholesky(S)
        resid = y - B @ m_pred
        z = jax.scipy.linalg.solve_triangular(chol, resid, lower=True)
        ll = -0.5 * (z @ z + y.shape[0] * _LOG_2PI) - jnp.sum(jnp.log(jnp.diag(chol)))
        # K = P B^T S^{-1}, via two triangular solves for stability
        K = jax.scipy.linalg.cho_solve((chol, True), B @ P_pred).T
        m = m_pred + K @ resid
        P = P_pred - K @ S @ K.T
        return m, 0.5 * (P + P.T), ll

    def step(carry, y):
        m_prev, P_prev = carry
        m_pred = A @ m_prev
        P_pred = A @ P_prev @ A.T + Q
        m, P, ll = update(m_pred, P_pred, y)
        return (m, P), (m, P, m_pred, P_pred, ll)

    m, P, ll0 = update(m0, P0, ys[0])
    _, (ms, Ps, mps, Pps, lls) = jax.lax.scan(step, (m, P), ys[1:])
    cat = lambda a, b: jnp.concatenate([a[None], b])  # noqa: E731
    return KalmanResult(
        means=cat(m, ms),
        covs=cat(P, Ps),
        pred_means=cat(m0, mps),
        pred_covs=cat(P0, Pps),
        log_likelihood=ll0 + jnp.sum(lls),
    )


def _rts(ys: jax.Array, mats: LGSSMMatrices) -> RTSResult:
    kf = _kalman(ys, mats)
    A = mats.A

    def step(carry, inp):
        ms_next, Ps_next = carry
        m, P, mp_next, Pp_next = inp
        # G = P A^T Pp^{-1}; Pp is SPD so use a Cholesky solve
        G = jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(Pp_next), True), A @ P).T
        ms = m + G @ (ms_next - mp_next)
        Ps = P + G @ (Ps_next - Pp_next) @ G.T
        return (ms, 0.5 * (Ps + Ps.T)), (ms, Ps, G @ Ps_next)

    inputs = (kf.means[:-1], kf.covs[:-1], kf.pred_means[1:], kf.pred_covs[1:])
    _, (ms, Ps, Cs) = jax.lax.scan(step, (kf.means[-1], kf.covs[-1]), inputs, reverse=True)
    return RTSResult(
        means=jnp.concatenate([ms, kf.means[-1:]]),
        covs=jnp.concatenate([Ps, kf.covs[-1:]]),
        cross_covs=Cs,
        log_likelihood=kf.log_likelihood,
    )


_kalman_jit = jax.jit(_kalman)
_rts_jit = jax.jit(_rts)


def kalman_filter(ys: Any, mats: LGSSMMatrices) -> KalmanResult:
    """Kalman filter and exact log-likelihood, in float64.

    Args:
        ys: observations ``(T, dy)``.
        mats: model matrices (see :class:`~bayeskit.smc.models.LGSSMMatrices`).

    Returns:
        :class:`KalmanResult` (float64).

    Raises:
        ValueError: on shape mismatches or non-finite observations.
        TypeError: if ``mats`` is not ``LGSSMMatrices``.
    """
    ys, mats = _check_inputs(ys, mats)
    with jax.enable_x64(True):
        return _kalman_jit(_f64(ys), _f64(mats))


def rts_smoother(ys: Any, mats: LGSSMMatrices) -> RTSResult:
    """RTS smoother with lag-one cross-covariances ``Cov(x_t, x_{t+1} | y) = G_t P^s_{t+1}``.

    Args:
        ys: observations ``(T, dy)``, ``T >= 2``.
        mats: model matrices.

    Returns:
        :class:`RTSResult` (float64).

    Raises:
        ValueError: on shape mismatches, ``T < 2`` or non-finite observations.
    """
    ys, mats = _check_inputs(ys, mats)
    if ys.shape[0] < 2:
        raise ValueError(f"ys: expected at least 2 time steps, got shape {ys.shape}")
    with jax.enable_x64(True):
        return _rts_jit(_f64(ys), _f64(mats))


def kalman_log_likelihood(ys: Any, mats: LGSSMMatrices) -> jax.Array:
    """Exact ``log p(y_{0:T-1})`` in float64; differentiable in ``mats`` (use under ``jax.grad``).

    Args:
        ys: observations ``(T, dy)``.
        mats: model matrices.

    Returns:
        Scalar float64 log-likelihood.

    Raises:
        ValueError: on shape mismatches or non-finite observations.
    """
    ys, mats = _check_inputs(ys, mats)
    with jax.enable_x64(True):
        return _kalman(_f64(ys), _f64(mats)).log_likelihood


def smoothed_sums(rts: RTSResult) -> tuple[jax.Array, jax.Array]:
    """Exact smoothed additive functionals ``E[sum_t x_t | y]`` and ``E[sum_t x_t x_{t+1}^T | y]``.

    Args:
        rts: output of :func:`rts_smoother`.

    Returns:
        ``(sum_x (dx,), sum_xx (dx, dx))``, with ``sum_xx = sum_{t<T-1} (C_t + m_t m_{t+1}^T)``,
        ``C_t = Cov(x_t, x_{t+1} | y)``.

    Raises:
        TypeError: if ``rts`` is not an :class:`RTSResult`.
    """
    _check_rts(rts)
    with jax.enable_x64(True):
        m = rts.means
        sxx = jnp.sum(rts.cross_covs + m[:-1, :, None] * m[1:, None, :], axis=0)
        return jnp.sum(m, axis=0), sxx


def _expected_log_joint(mats: LGSSMMatrices, ys: jax.Array, rts: RTSResult) -> jax.Array:
    A, B, Q, R, m0, P0 = mats
    m, P, C = rts.means, rts.covs, rts.cross_covs

    def gauss_term(cov, second_moment):
        # E[log N(e; 0, cov)] with E[e e^T] = second_moment
        chol = jnp.linalg.cholesky(cov)
        logdet = 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))
        tr = jnp.trace(jax.scipy.linalg.cho_solve((chol, True), second_moment))
        return -0.5 * (cov.shape[0] * _LOG_2PI + logdet + tr)

    d0 = m[0] - m0
    init = gauss_term(P0, P[0] + jnp.outer(d0, d0))
    S00 = jnp.sum(P[:-1] + m[:-1, :, None] * m[:-1, None, :], axis=0)
    S11 = jnp.sum(P[1:] + m[1:, :, None] * m[1:, None, :], axis=0)
    S01 = jnp.sum(C + m[:-1, :, None] * m[1:, None, :], axis=0)
    n = m.shape[0] - 1
    trans_mom = (S11 - A @ S01 - S01.T @ A.T + A @ S00 @ A.T) / n
    trans = n * gauss_term(Q, trans_mom)
    resid = ys - m @ B.T
    obs_mom = (resid.T @ resid + B @ jnp.sum(P, axis=0) @ B.T) / ys.shape[0]
    obs = ys.shape[0] * gauss_term(R, obs_mom)
    return init + trans + obs


def expected_log_joint(mats: LGSSMMatrices, ys: Any, rts: RTSResult) -> jax.Array:
    """EM intermediate quantity ``E[log p_theta(x_{0:T-1}, y_{0:T-1}) | y]`` under fixed moments.

    Args:
        mats: model matrices at which the complete-data log-density is evaluated.
        ys: observations ``(T, dy)``.
        rts: smoothing moments (usually from :func:`rts_smoother` at another parameter).

    Returns:
        Scalar float64 (Shumway & Stoffer 1982, eq. (9)).

    Raises:
        TypeError: if ``mats`` or ``rts`` has the wrong type.
        ValueError: on shape mismatches (``rts`` must cover the ``T >= 2`` steps of ``ys``),
            non-finite entries, or covariances ``Q``, ``R``, ``P0`` that are not symmetric
            positive definite.
    """
    ys, mats = _check_inputs(ys, mats, definite=True)
    if ys.shape[0] < 2:
        raise ValueError(f"ys: expected at least 2 time steps, got shape {ys.shape}")
    _check_rts(rts, ys.shape[0])
    if rts.means.shape[1] != mats.A.shape[0]:
        raise ValueError(
            f"rts.means: expected shape (T, {mats.A.shape[0]}) to match mats.A, got "
            f"{rts.means.shape}"
        )
    with jax.enable_x64(True):
        return _expected_log_joint(_f64(mats), _f64(ys), _f64(rts))


def fisher_score(model: StateSpaceModel, theta: Any, ys: Any) -> Any:
    """Exact score ``grad_theta log p_theta(y)`` of a linear Gaussian model by the Fisher identity.

    The score equals the gradient of :func:`expected_log_joint` in its first argument with the
    smoothing moments held at ``theta`` (Cappe, Moulines & Ryden 2005, Prop. 10.1.6).

    Args:
        model: a model with ``matrices`` (e.g. :func:`~bayeskit.smc.models.linear_gaussian`).
        theta: parameters (pytree).
        ys: observations ``(T, dy)``.

    Returns:
        A pytree like ``theta`` (float64).

    Raises:
        TypeError: if ``model`` is not a StateSpaceModel or ``theta`` is malformed.
        ValueError: if the model is not linear Gaussian, shapes mismatch, ``T < 2`` or a
            covariance is not symmetric positive definite.
    """
    if not isinstance(model, StateSpaceModel):
        raise TypeError(f"model: expected a StateSpaceModel, got {type(model).__name__}")
    if model.matrices is None:
        raise ValueError(f"model: expected a linear Gaussian model with matrices, got {model.name}")
    check_model_theta(model, theta)
    ys, _ = _check_inputs(ys, model.matrices(theta), definite=True)
    if ys.shape[0] < 2:
        raise ValueError(f"ys: expected at least 2 time steps, got shape {ys.shape}")
    with jax.enable_x64(True):
        return _fisher_jit(model, _f64(theta), _f64(ys))


@partial(jax.jit, static_argnums=0)
def _fisher_jit(model, theta, ys):
    rts = jax.lax.stop_gradient(_rts(ys, model.matrices(theta)))
    return jax.grad(lambda th: _expected_log_joint(model.matrices(th), ys, rts))(theta)
