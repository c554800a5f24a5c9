"""Exact likelihood and posterior of a linear SDE driven by MA-fBM (Kalman filter and smoother).

A fractional OU process driven by Markov-approximate fBM,

    dx = -theta x dt + sigma dB_hat,   B_hat = sum_k omega_k Y_k,   dY_k = -gamma_k Y_k dt + dW,

is linear-Gaussian in the augmented state ``z = (x, Y_1, ..., Y_K)``:
``dz = F z dt + L dW`` with ``F = [[-theta, -sigma (omega * gamma)'], [0, -diag(gamma)]]`` and
``L = (sigma sum_k omega_k, 1, ..., 1)``. Its transition over any interval is exact
(Van Loan's matrix exponential), so a Kalman filter gives the exact log-likelihood of noisy
observations at arbitrary times, and a smoother (two-filter form) the exact posterior of ``x``. This is the
likelihood that the ELBO of :func:`bayeskit.fbm.vi.elbo` bounds from below for the model built by
:func:`bayeskit.fbm.models.fractional_ou`; the gap between the two measures the variational
posterior. Everything here runs in float64 (the augmented covariance is badly conditioned: the
OU states share one Brownian motion).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayeskit.fbm.exact import _as_float64
from bayeskit.fbm.guide import is_linear
from bayeskit.fbm.mafbm import (
    KINDS,
    check_gammas,
    check_hurst,
    check_positive_scalar,
    omega_float64,
    stationary_sqrt,
)
from bayeskit.fbm.mle import FOU_BOUNDS, fou_estimates, fou_start, minimize_float64
from bayeskit.validate import check_array, check_bool, check_choice, check_positive, check_scalar

__all__ = [
    "MAfBMPosterior",
    "MAfBMMLE",
    "linear_parameters",
    "mafbm_log_likelihood",
    "mafbm_smoother",
    "mafbm_mle",
]


class MAfBMPosterior(NamedTuple):
    """Exact posterior marginals of ``x`` from :func:`mafbm_smoother`.

    Attributes:
        times: the query times, shape ``(M,)``.
        mean: posterior means, shape ``(P, M)``.
        std: posterior standard deviations, shape ``(P, M)``.
        log_likelihood: exact log-likelihood of each sequence, shape ``(P,)``.
    """

    times: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    log_likelihood: np.ndarray


class MAfBMMLE(NamedTuple):
    """Maximum-likelihood estimate from :func:`mafbm_mle`.

    Attributes:
        hurst, theta, sigma: the estimates (floats).
        log_likelihood: the maximised log-likelihood, summed over sequences.
        success: whether the optimiser reported convergence.
    """

    hurst: float
    theta: float
    sigma: float
    log_likelihood: float
    success: bool


# --------------------------------------------------------------------------------------------
# the linear model and its exact transitions
# --------------------------------------------------------------------------------------------
def _drift_and_noise(theta, sigma, omega, gammas):
    """``F`` (K+1, K+1) and ``L`` (K+1,) of ``dz = F z dt + L dW``."""
    k = gammas.shape[0]
    top = jnp.concatenate([(-theta)[None], -sigma * omega * gammas])
    bottom = jnp.concatenate([jnp.zeros((k, 1), gammas.dtype), -jnp.diag(gammas)], axis=1)
    f = jnp.concatenate([top[None], bottom], axis=0)
    ell = jnp.concatenate([(sigma * jnp.sum(omega))[None], jnp.ones(k, gammas.dtype)])
    return f, ell


def _transition(f, ell, delta, doublings: int):
    """Exact ``(A, Q)`` over an interval ``delta``: ``A = e^{F d}``, ``Q = int_0^d e^{Fs} LL' e^{F's}``.

    Van Loan's block exponential (1978) is evaluated on ``delta / 2^doublings`` only, where its
    growing block ``e^{-F' h}`` is still small, and ``(A, Q)`` are doubled back up with
    ``Q(2h) = Q(h) + A(h) Q(h) A(h)'`` (sums of PSD terms, no cancellation). On the whole interval
    the block would hold ``e^{gamma_max d}`` and lose every digit of ``Q`` for large ``gamma d``.
    """
    n = f.shape[0]
    h = delta / 2.0**doublings
    block = jnp.block([[f, jnp.outer(ell, ell)], [jnp.zeros_like(f), -f.T]]) * h
    e = jax.scipy.linalg.expm(block)
    a = e[:n, :n]
    q = e[:n, n:] @ a.T

    def double(_, aq):
        a, q = aq
        return a @ a, q + a @ q @ a.T

    a, q = jax.lax.fori_loop(0, doublings, double, (a, 0.5 * (q + q.T)))
    return a, 0.5 * (q + q.T)


def _doublings(times, gammas) -> int:
    """Halvings that bring every ``gamma_max * interval`` below 1/4 (static, from the host data)."""
    span = float(np.max(np.diff(np.concatenate([[0.0], times])))) * max(gammas)
    return int(max(0, np.ceil(np.log2(max(span, 1e-300) / 0.25))))


def _initial(x0, gammas: tuple, kind):
    """Mean and covariance of ``z(0)``: ``x(0) = x0``; ``Y(0) = 0`` (type 2) or stationary."""
    k = len(gammas)
    mean = jnp.concatenate([jnp.asarray(x0, jnp.float64)[None], jnp.zeros(k, jnp.float64)])
    cov = np.zeros((k + 1, k + 1))
    if kind == "type1":
        root = stationary_sqrt(np.asarray(gammas))
        cov[1:, 1:] = root @ root.T
    return mean, jnp.asarray(cov)


def _filter(params, times, values, obs_std, x0, gammas, kind, horizon, standardize, doublings):
    """Kalman filter over the event ``times`` (T,); ``values`` (T,) with NaN where unobserved.

    Returns the log-likelihood, the filtered / predicted moments and the transitions.
    """
    hurst, theta, sigma = params
    g = jnp.asarray(gammas, jnp.float64)
    omega = omega_float64(hurst, g, kind, horizon, standardize)
    f, ell = _drift_and_noise(theta, sigma, omega, g)
    deltas = jnp.diff(jnp.concatenate([jnp.zeros(1, times.dtype), times]))
    a_all, q_all = jax.vmap(lambda d: _transition(f, ell, d, doublings))(deltas)
    m0, p0 = _initial(x0, gammas, kind)
    r2 = obs_std**2

    def step(carry, inp):
        m, p, ll = carry
        a, q, v = inp
        m_pred = a @ m
        p_pred = a @ p @ a.T + q
        observed = jnp.isfinite(v)
        s = p_pred[0, 0] + r2
        gain = p_pred[:, 0] / s
        resid = jnp.where(observed, v, 0.0) - m_pred[0]
        m_new = jnp.where(observed, m_pred + gain * resid, m_pred)
        # Joseph-free update; symmetrised so round-off cannot break positive semi-definiteness
        p_upd = p_pred - jnp.outer(gain, p_pred[0])
        p_new = jnp.where(observed, 0.5 * (p_upd + p_upd.T), p_pred)
        term = -0.5 * (jnp.log(2.0 * jnp.pi * s) + resid**2 / s)
        ll = ll + jnp.where(observed, term, 0.0)
        return (m_new, p_new, ll), (m_new, p_new, m_pred, p_pred)

    (_, _, ll), moments = jax.lax.scan(
        step, (m0, p0, jnp.zeros((), jnp.float64)), (a_all, q_all, values)
    )
    return ll, moments, a_all, q_all


def _smooth(moments, a_all, q_all, values, obs_std):
    """Posterior moments at every event: the filtered ``(m_f, P_f)`` combined with a backward
    information filter ``beta_k(z) = p(o_{>k} | z_k) ~ exp(-z'Hz/2 + eta'z)``.

    Two-filter form, chosen over RTS because RTS needs the inverse of the predicted covariance,
    which is nearly singular here (the OU states share one Brownian motion): every matrix
    inverted below is ``I + H P`` or ``I + H Q``, whose eigenvalues are >= 1.
    """
    m_f, p_f, _, _ = moments
    n = m_f.shape[1]
    eye = jnp.eye(n, dtype=m_f.dtype)
    e0 = eye[0]
    r2 = obs_std**2

    def back(carry, inp):
        h, eta = carry  # information of the observations after event k, on z_{k+1}
        a_next, q_next, v_next = inp
        observed = jnp.isfinite(v_next)
        h = h + jnp.where(observed, jnp.outer(e0, e0) / r2, 0.0)
        eta = eta + jnp.where(observed, e0 * jnp.where(observed, v_next, 0.0) / r2, 0.0)
        solve = jnp.linalg.solve(eye + h @ q_next, jnp.concatenate([h, eta[:, None]], 1))
        h_k = a_next.T @ solve[:, :n] @ a_next
        return (0.5 * (h_k + h_k.T), a_next.T @ solve[:, n]), (h_k, a_next.T @ solve[:, n])

    zero = (jnp.zeros((n, n), m_f.dtype), jnp.zeros(n, m_f.dtype))
    _, (h_all, eta_all) = jax.lax.scan(back, zero, (a_all[1:], q_all[1:], values[1:]), reverse=True)
    h_all = jnp.concatenate([h_all, zero[0][None]], 0)
    eta_all = jnp.concatenate([eta_all, zero[1][None]], 0)

    def combine(m, p, h, eta):
        k = p @ jnp.linalg.inv(eye + h @ p)  # P (I + H P)^{-1} = (P^{-1} + H)^{-1}
        return m + k @ (eta - h @ m), k

    return jax.vmap(combine)(m_f, p_f, h_all, eta_all)


@functools.cache
def _loglik_fn(kind, gammas, horizon, standardize, doublings):
    def loglik(params, times, values, obs_std, x0):
        def one(v):
            args = (gammas, kind, horizon, standardize, doublings)
            return _filter(params, times, v, obs_std, x0, *args)[0]

        return jax.vmap(one)(values)

    return jax.jit(loglik)


@functools.cache
def _neg_loglik(loglik):
    """``u -> -mean log-likelihood`` at ``(H, theta, sigma) = (sigmoid u0, e^u1, e^u2)``, one
    function per ``_loglik_fn`` (so that ``minimize_float64`` compiles it once)."""

    def neg(u, times, values, obs_std, x0):
        params = (jax.nn.sigmoid(u[0]), jnp.exp(u[1]), jnp.exp(u[2]))
        return -jnp.sum(loglik(params, times, values, obs_std, x0)) / values.size

    return neg


@functools.cache
def _smoother_fn(kind, gammas, horizon, standardize, doublings):
    def smoother(params, times, values, obs_std, x0):
        def one(v):
            args = (gammas, kind, horizon, standardize, doublings)
            ll, moments, a_all, q_all = _filter(params, times, v, obs_std, x0, *args)
            means, covs = _smooth(moments, a_all, q_all, v, obs_std)
            return means[:, 0], jnp.sqrt(jnp.clip(covs[:, 0, 0], 0.0, None)), ll

        return jax.vmap(one)(values)

    return jax.jit(smoother)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def _float64(x, name, ndim):
    """Validate with ``check_array`` but convert the caller's data on the host, in float64
    (``check_array`` returns a JAX array in the global precision, float32 by default)."""
    check_array(x, name, ndim=ndim)
    return _as_float64(x)


def _check_times(times, name="times") -> np.ndarray:
    t = _float64(times, name, 1)
    if t.shape[0] < 1:
        raise ValueError(f"{name}: expected at least one time, got an empty array")
    check_positive(t, name, strict=False)
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{name}: expected strictly increasing times, got {t[:8].tolist()}...")
    return t


def _check_data(times, values):
    t = _check_times(times)
    v = _float64(values, "values", (1, 2, 3))
    if v.ndim == 3:
        if v.shape[2] != 1:
            raise ValueError(
                f"values: expected shape (P, N), (N,) or (P, N, 1) for a one-dimensional "
                f"process, got {v.shape}"
            )
        v = v[:, :, 0]
    v = np.atleast_2d(v)
    if v.shape[0] < 1:
        raise ValueError(f"values: expected at least one sequence, got shape {v.shape}")
    if v.shape[1] != t.shape[0]:
        raise ValueError(
            f"values: expected {t.shape[0]} observations per sequence (one per time), "
            f"got shape {v.shape}"
        )
    return t, v


def _check_model(obs_std, gammas, kind, horizon, standardize, x0, t_last):
    check_choice(kind, "kind", KINDS)
    obs_std = check_positive_scalar(obs_std, "obs_std")
    g = check_gammas(gammas)
    horizon = check_positive_scalar(horizon, "horizon")
    check_bool(standardize, "standardize")
    x0 = check_scalar(x0, "x0")
    if t_last > horizon * (1.0 + 1e-9):
        raise ValueError(
            f"horizon: the weights omega(H) are fitted on [0, horizon] and must cover the data; "
            f"got horizon {horizon} < last observation time {t_last}"
        )
    return obs_std, tuple(g.tolist()), horizon, bool(standardize), float(x0)


def _check_params(hurst, theta, sigma):
    hurst = check_hurst(hurst)
    theta = check_scalar(theta, "theta", 0.0, None, closed=(True, False))
    return hurst, theta, check_positive_scalar(sigma, "sigma")


# --------------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------------
def linear_parameters(model) -> dict:
    """Keyword arguments of this module's functions for a fitted fOU model.

    Args:
        model: a :class:`~bayeskit.fbm.vi.LatentSDE` with one latent dimension, a
            :class:`~bayeskit.fbm.models.LinearDrift` and a
            :class:`~bayeskit.fbm.models.ConstantDiffusion` (as built by
            :func:`~bayeskit.fbm.models.fractional_ou`).

    Returns:
        dict with ``hurst, theta, sigma, obs_std, gammas, kind, horizon, standardize, x0``, so that
        ``mafbm_log_likelihood(times, values, **linear_parameters(model))`` is the exact
        log-likelihood that the model's ELBO bounds.

    Raises:
        TypeError: if the model is not a one-dimensional linear-drift, constant-diffusion model.
    """
    from bayeskit.fbm.vi import LatentSDE

    if not isinstance(model, LatentSDE):
        raise TypeError(f"model: expected a LatentSDE, got {type(model).__name__}")
    sde = model.sde
    if not is_linear(sde):
        raise TypeError(
            "model: expected a LatentSDE with a LinearDrift and a ConstantDiffusion "
            f"(e.g. from fractional_ou), got drift {type(getattr(sde, 'drift', None)).__name__} "
            f"and diffusion {type(getattr(sde, 'diffusion', None)).__name__}"
        )
    drift, diffusion = sde.drift, sde.diffusion
    if sde.dim != 1:
        raise TypeError(f"model: expected a one-dimensional latent process, got dim {sde.dim}")
    return {
        "hurst": float(sde.hurst),
        "theta": float(drift.linear_rate()),
        "sigma": float(diffusion.constant_scale()),
        "obs_std": float(model.obs_std),
        "gammas": np.asarray(sde.gammas),
        "kind": sde.kind,
        "horizon": float(sde.horizon),
        "standardize": bool(sde.standardize),
        "x0": float(np.asarray(model.x0)[0]),
    }


def mafbm_log_likelihood(
    times,
    values,
    *,
    hurst,
    theta,
    sigma,
    obs_std,
    gammas,
    kind: str = "type2",
    horizon: float,
    standardize: bool = True,
    x0: float = 0.0,
) -> np.ndarray:
    """Exact log-likelihood of noisy observations of an MA-fBM-driven fOU (Kalman filter, float64).

    Model: ``dx = -theta x dt + sigma dB_hat``, ``x(0) = x0``, ``B_hat`` the MA-fBM with speeds
    ``gammas`` and weights ``omega(H)`` fitted on ``[0, horizon]`` (as in
    :class:`~bayeskit.fbm.sde.FractionalSDE`), observed as ``o_i = x(t_i) + obs_std * e_i``.

    Args:
        times: observation times, shape ``(N,)``, strictly increasing, >= 0 (any spacing).
        values: observations, shape ``(P, N)`` (``P`` independent sequences), ``(N,)`` or
            ``(P, N, 1)``.
        hurst: H in (0, 1).
        theta: mean-reversion rate >= 0.
        sigma: noise scale > 0.
        obs_std: observation noise standard deviation > 0.
        gammas: OU speeds, shape ``(K,)``, positive.
        kind: ``"type1"`` or ``"type2"`` MA-fBM.
        horizon: T >= the last time, the interval of the weight fit.
        standardize: weights for ``Var B(t) = t^2H`` (see :func:`~bayeskit.fbm.optimal_omega`).
        x0: known initial state.

    Returns:
        float64 NumPy array of shape ``(P,)``, one log-likelihood per sequence.

    Raises:
        ValueError: for times not increasing or negative, NaN values, a shape mismatch, a
            horizon shorter than the data, or parameters out of range.
    """
    t, v = _check_data(times, values)
    params = _check_params(hurst, theta, sigma)
    obs_std, g, horizon, standardize, x0 = _check_model(
        obs_std, gammas, kind, horizon, standardize, x0, t[-1]
    )
    with jax.enable_x64(True):
        fn = _loglik_fn(kind, g, horizon, standardize, _doublings(t, g))
        out = fn(tuple(np.float64(p) for p in params), t, v, np.float64(obs_std), np.float64(x0))
        return np.asarray(out, np.float64)


def mafbm_smoother(
    times,
    values,
    *,
    query_times=None,
    hurst,
    theta,
    sigma,
    obs_std,
    gammas,
    kind: str = "type2",
    horizon: float,
    standardize: bool = True,
    x0: float = 0.0,
) -> MAfBMPosterior:
    """Exact posterior mean and sd of ``x`` at any times (Kalman filter and smoother, float64).

    Args:
        times, values, hurst, theta, sigma, obs_std, gammas, kind, horizon, standardize, x0: as in
            :func:`mafbm_log_likelihood`.
        query_times: times at which to report the posterior, shape ``(M,)``, strictly
            increasing, in ``[0, horizon]``; default the observation times.

    Returns:
        :class:`MAfBMPosterior` (means and sds of shape ``(P, M)``).

    Raises:
        ValueError: as :func:`mafbm_log_likelihood`, and for query times out of order or range.
    """
    t, v = _check_data(times, values)
    params = _check_params(hurst, theta, sigma)
    q = t if query_times is None else _check_times(query_times, "query_times")
    obs_std, g, horizon, standardize, x0 = _check_model(
        obs_std, gammas, kind, horizon, standardize, x0, t[-1]
    )
    if q[-1] > horizon * (1.0 + 1e-9):
        raise ValueError(
            f"query_times: expected times in [0, horizon] = [0, {horizon}], got {q[-1]}"
        )
    events = np.union1d(t, q)
    obs = np.full((v.shape[0], events.shape[0]), np.nan)
    obs[:, np.searchsorted(events, t)] = v
    with jax.enable_x64(True):
        fn = _smoother_fn(kind, g, horizon, standardize, _doublings(events, g))
        args = (tuple(np.float64(p) for p in params), events, obs, np.float64(obs_std))
        mean, std, ll = fn(*args, np.float64(x0))
        pick = np.searchsorted(events, q)
        return MAfBMPosterior(
            times=q,
            mean=np.asarray(mean, np.float64)[:, pick],
            std=np.asarray(std, np.float64)[:, pick],
            log_likelihood=np.asarray(ll, np.float64),
        )


def mafbm_mle(
    times,
    values,
    *,
    obs_std,
    gammas,
    kind: str = "type2",
    horizon: float,
    standardize: bool = True,
    x0: float = 0.0,
    init: tuple[float, float, float] = (0.5, 1.0, 1.0),
) -> MAfBMMLE:
    """Maximum-likelihood ``(H, theta, sigma)`` of the MA-fBM fOU model (exact Kalman likelihood).

    The estimate that the variational estimate of :func:`bayeskit.fbm.vi.fit` approaches when its
    ELBO is tight. L-BFGS-B over ``(logit H, log theta, log sigma)`` with float64 JAX gradients;
    ``H`` is confined to [0.01, 0.99].

    Args:
        times, values, obs_std, gammas, kind, horizon, standardize, x0: as in
            :func:`mafbm_log_likelihood`.
        init: starting ``(H, theta, sigma)``.

    Returns:
        :class:`MAfBMMLE`.

    Raises:
        ValueError: as :func:`mafbm_log_likelihood`, and for an invalid ``init``.
    """
    t, v = _check_data(times, values)
    u0 = fou_start(init)
    obs_std, g, horizon, standardize, x0 = _check_model(
        obs_std, gammas, kind, horizon, standardize, x0, t[-1]
    )
    neg = _neg_loglik(_loglik_fn(kind, g, horizon, standardize, _doublings(t, g)))
    res = minimize_float64(neg, u0, FOU_BOUNDS, t, v, obs_std, x0)
    hurst, theta, sigma = fou_estimates(res.x)
    return MAfBMMLE(
        hurst=hurst,
        theta=theta,
        sigma=sigma,
        log_likelihood=float(-res.fun * v.size),
        success=bool(res.success),
    )
