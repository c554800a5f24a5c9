"""Exact fractional Brownian motion: covariances, samplers and the exact fOU likelihood.

These are the ground truths and the baseline estimator of ``H`` against which the Markov
approximation (:mod:`bayeskit.fbm.mafbm`) is measured. Normalisations (Daems et al. 2024, Sec. 2):

* ``"standard"``: ``Cov = (t^2H + s^2H - |t - s|^2H) / 2`` (``Var B(1) = 1``).
* ``"type1"``: Mandelbrot-Van Ness with the ``1 / Gamma(H + 1/2)`` kernel, ``V_I(H)`` times the
  standard covariance, ``V_I = 1 / (Gamma(2H + 1) sin(pi H))``.
* ``"type2"``: Riemann-Liouville, ``Gamma(H + 1/2)^-2 int_0^min(t,s) (t-u)^(H-1/2) (s-u)^(H-1/2) du``.

Samplers: Davies & Harte (1987) circulant embedding for stationary increments, with a Cholesky
fallback (used for type 2, whose increments are not stationary, and whenever the embedding has a
negative eigenvalue).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayeskit.fbm.mafbm import check_hurst, check_positive_scalar, variance_scale
from bayeskit.fbm.mle import FOU_BOUNDS, fou_estimates, fou_start, minimize_float64
from bayeskit.random import as_key
from bayeskit.validate import (
    check_array,
    check_choice,
    check_in_range,
    check_int,
    check_positive,
    check_scalar,
)

__all__ = [
    "FBM_KINDS",
    "fbm_covariance",
    "fgn_autocovariance",
    "circulant_eigenvalues",
    "sample_fbm",
    "fou_covariance",
    "sample_fou",
    "fou_log_likelihood",
    "FouMLE",
    "fou_mle",
]

FBM_KINDS = ("standard", "type1", "type2")
METHODS = ("auto", "davies_harte", "cholesky")

# Tanh-sinh (double-exponential) rule on [-1, 1]: handles the integrable endpoint singularity of the
# Riemann-Liouville kernel; step 1/16 over |k h| <= 4.5 gives ~1e-10 relative accuracy here.
_TS_H = 1.0 / 16.0
_TS_K = np.arange(-72, 73) * _TS_H
_TS_Z = 0.5 * np.pi * np.sinh(_TS_K)
_TS_W = _TS_H * 0.5 * np.pi * np.cosh(_TS_K) / np.cosh(_TS_Z) ** 2


def _pow(x, p):
    """``x^p`` for ``x >= 0`` with value 0 and a finite gradient at ``x = 0`` (for ``p > 0``)."""
    pos = x > 0
    return jnp.where(pos, jnp.exp(p * jnp.log(jnp.where(pos, x, 1.0))), 0.0)


def _standard_cov(t, s, hurst):
    two_h = 2.0 * hurst
    return 0.5 * (_pow(t, two_h) + _pow(s, two_h) - _pow(jnp.abs(t - s), two_h))


def _rl_cov(t, s, hurst):
    """Type-2 covariance by tanh-sinh quadrature in ``v = min(t, s) - u`` (singular at v = 0)."""
    a1 = hurst - 0.5
    m = jnp.minimum(t, s)
    d = jnp.abs(t - s)
    # v = m (1 + x) / 2 with x = tanh(z); (1 + x) / 2 = sigmoid(2 z) keeps the small v accurate
    frac = jax.nn.sigmoid(2.0 * _TS_Z)
    v = m[..., None] * frac
    w = _TS_W * 0.5
    integrand = jnp.exp(a1 * (jnp.log(v) + jnp.log(d[..., None] + v)))
    integral = m * jnp.sum(jnp.where(v > 0, integrand, 0.0) * w, axis=-1)
    return integral * jnp.exp(-2.0 * jax.scipy.special.gammaln(hurst + 0.5))


def fbm_covariance(t, s, hurst, *, kind: str = "standard"):
    """Exact covariance matrix ``Cov(B_H(t_a), B_H(s_b))``.

    Args:
        t: times, shape ``(n,)``, non-negative.
        s: times, shape ``(m,)``, non-negative.
        hurst: scalar Hurst index in (0, 1).
        kind: ``"standard"``, ``"type1"`` or ``"type2"`` (see the module docstring).

    Returns:
        Array of shape ``(n, m)`` (float64 inside for ``"type2"``, cast to the input dtype).

    Raises:
        ValueError: for negative or non-finite times, ``hurst`` outside (0, 1) or unknown ``kind``.
    """
    check_choice(kind, "kind", FBM_KINDS)
    t = check_array(t, "t", ndim=1)
    s = check_array(s, "s", ndim=1)
    check_positive(t, "t", strict=False)
    check_positive(s, "s", strict=False)
    check_hurst(hurst)
    dtype = jnp.result_type(t.dtype, s.dtype, jnp.float32)
    tt, ss = t[:, None].astype(dtype), s[None, :].astype(dtype)
    h = jnp.asarray(hurst, dtype)
    if kind == "type2":
        with jax.enable_x64(True):
            out = _rl_cov(
                jnp.asarray(tt, jnp.float64), jnp.asarray(ss, jnp.float64), jnp.float64(hurst)
            )
            out = np.asarray(out)
        return jnp.asarray(out, dtype)
    cov = _standard_cov(tt, ss, h)
    return cov * variance_scale(h, "type1") if kind == "type1" else cov


def fgn_autocovariance(lags, hurst):
    """Autocovariance of unit-step fractional Gaussian noise, ``(|k+1|^2H - 2|k|^2H + |k-1|^2H)/2``.

    Args:
        lags: integer or float lags, any shape.
        hurst: Hurst index in (0, 1) (traceable).

    Returns:
        Array with the shape of ``lags``.

    Raises:
        TypeError: if ``lags`` or ``hurst`` is not numeric.
        ValueError: on NaN or infinite lags, or a concrete ``hurst`` outside (0, 1).
    """
    lags = check_array(lags, "lags")
    check_array(hurst, "hurst", finite=False)
    check_in_range(hurst, "hurst", 0.0, 1.0)
    k = jnp.abs(jnp.asarray(lags))
    two_h = 2.0 * jnp.asarray(hurst)
    k = k.astype(jnp.result_type(k.dtype, two_h.dtype, jnp.float32))
    return 0.5 * (_pow(k + 1.0, two_h) - 2.0 * _pow(k, two_h) + _pow(jnp.abs(k - 1.0), two_h))


def circulant_eigenvalues(hurst: float, n: int) -> np.ndarray:
    """Eigenvalues of the ``2n`` circulant embedding of the fGn covariance (Davies & Harte 1987).

    Args:
        hurst: Hurst index in (0, 1).
        n: number of increments >= 1.

    Returns:
        float64 NumPy array of shape ``(2n,)``; all non-negative means the embedding is exact.
    """
    check_hurst(hurst)
    n = check_int(n, "n", minimum=1)
    k = np.arange(n + 1, dtype=np.float64)
    two_h = 2.0 * float(hurst)
    r = 0.5 * ((k + 1) ** two_h - 2 * k**two_h + np.abs(k - 1) ** two_h)
    row = np.concatenate([r, r[-2:0:-1]])
    return np.fft.fft(row).real


@functools.partial(jax.jit, static_argnums=(2, 3))
def _davies_harte(key, sqrt_eig, n, n_paths):
    k1, k2 = jax.random.split(key)
    m = sqrt_eig.shape[0]
    z = jax.random.normal(k1, (n_paths, m)) + 1j * jax.random.normal(k2, (n_paths, m))
    # Re(F diag(sqrt(lam / 2n)) z) has covariance equal to the circulant matrix (z complex N(0, 2I))
    incr = jnp.fft.fft(z * sqrt_eig, axis=-1).real[:, :n]
    return incr


@functools.partial(jax.jit, static_argnums=(2,))
def _cholesky_draw(key, chol, n_paths):
    z = jax.random.normal(key, (n_paths, chol.shape[0]), chol.dtype)
    return z @ chol.T


def sample_fbm(
    key,
    hurst: float,
    *,
    n_steps: int,
    n_paths: int,
    horizon: float = 1.0,
    kind: str = "standard",
    method: str = "auto",
):
    """Exact fBM paths on the grid ``t_j = j * horizon / n_steps``, ``j = 0..n_steps``.

    ``method="auto"`` uses Davies-Harte for ``"standard"``/``"type1"`` when the circulant embedding
    is non-negative (checked on the host, in float64) and Cholesky of the exact covariance
    otherwise, and always for ``"type2"`` (non-stationary increments).

    Args:
        key: PRNG key or int seed.
        hurst: Hurst index in (0, 1) (a concrete number).
        n_steps: number of grid steps >= 1.
        n_paths: number of paths >= 1.
        horizon: T > 0.
        kind: ``"standard"``, ``"type1"`` or ``"type2"``.
        method: ``"auto"``, ``"davies_harte"`` or ``"cholesky"``.

    Returns:
        Array of shape ``(n_paths, n_steps + 1)`` (float32 unless x64 is enabled); column 0 is 0.

    Raises:
        ValueError: on invalid arguments, or ``method="davies_harte"`` with ``kind="type2"`` or a
            negative circulant eigenvalue.
    """
    key = as_key(key, "key")
    check_choice(kind, "kind", FBM_KINDS)
    check_choice(method, "method", METHODS)
    check_hurst(hurst)
    hurst = float(hurst)
    n = check_int(n_steps, "n_steps", minimum=1)
    n_paths = check_int(n_paths, "n_paths", minimum=1)
    horizon = check_positive_scalar(horizon, "horizon")
    dtype = jnp.zeros(()).dtype  # float32, or float64 under x64
    use_dh = method == "davies_harte" or (method == "auto" and kind != "type2")
    if use_dh:
        if kind == "type2":
            raise ValueError("method: 'davies_harte' needs stationary increments; kind='type2'")
        eig = circulant_eigenvalues(hurst, n)
        if eig.min() < -1e-10 * eig.max():
            if method == "davies_harte":
                raise ValueError(
                    f"method: circulant embedding not positive (min eigenvalue {eig.min():.3g})"
                )
            use_dh = False
    if use_dh:
        sqrt_eig = jnp.asarray(np.sqrt(np.clip(eig, 0.0, None) / (2 * n)), dtype)
        incr = _davies_harte(key, sqrt_eig, n, n_paths)
        scale = (horizon / n) ** hurst
        if kind == "type1":
            scale *= float(np.sqrt(variance_scale(hurst, "type1")))
        paths = jnp.cumsum(incr, axis=-1) * jnp.asarray(scale, dtype)
    else:
        times = np.linspace(0.0, horizon, n + 1)[1:]
        with jax.enable_x64(True):
            cov = np.asarray(fbm_covariance(times, times, np.float64(hurst), kind=kind))
        # a relative jitter of 1e-12 keeps Cholesky defined where round-off makes cov semi-definite
        chol = np.linalg.cholesky(cov + 1e-12 * np.trace(cov) / n * np.eye(n))
        paths = _cholesky_draw(key, jnp.asarray(chol, dtype), n_paths)
    return jnp.concatenate([jnp.zeros((n_paths, 1), dtype), paths.astype(dtype)], axis=1)


# --------------------------------------------------------------------------------------------
# fractional Ornstein-Uhlenbeck observed at times t_1 < ... < t_n
# --------------------------------------------------------------------------------------------
class _FouGrid(NamedTuple):
    """Host-side (float64) description of the fine grid ``0 = s_0 < ... < s_N`` (N = n substeps).

    lags: ``|s_a - s_b|``, shape ``(N + 1, N + 1)``.
    gaps: ``t_i - s_{k+1}`` where ``s_{k+1} <= t_i`` and 0 elsewhere, shape ``(n, N)``.
    mask: whether ``s_{k+1} <= t_i``, shape ``(n, N)``.
    """

    lags: np.ndarray
    gaps: np.ndarray
    mask: np.ndarray


def _fou_grid(times: np.ndarray, substeps: int) -> _FouGrid:
    t = np.concatenate([[0.0], times])
    frac = np.arange(substeps) / substeps
    # each interval [t_{i-1}, t_i] split into `substeps` equal parts; s[i substeps] = t_i exactly
    s = np.append((t[:-1, None] + np.diff(t)[:, None] * frac).ravel(), t[-1])
    n_fine = s.shape[0] - 1
    obs_index = np.arange(1, times.shape[0] + 1) * substeps
    mask = np.arange(1, n_fine + 1)[None, :] <= obs_index[:, None]
    gaps = np.where(mask, times[:, None] - s[None, 1:], 0.0)
    return _FouGrid(np.abs(s[:, None] - s[None, :]), gaps, mask)


def _fou_cov(hurst, theta, sigma, grid: _FouGrid):
    """Traceable ``Cov(X(t_i), X(t_j))`` on the fine grid ``grid``; see :func:`fou_covariance`.

    Uses the default float dtype (float64 under x64); differentiable in all three parameters.
    """
    dtype = jnp.result_type(float)
    lags = jnp.asarray(grid.lags, dtype)
    # Cov(dB_k, dB_l) is the second difference of the standard covariance R(s_a, s_b); the
    # one-variable terms s^2H / 2 of R cancel exactly, so only -|s_a - s_b|^2H / 2 is kept (no
    # cancellation of large terms on long grids). On a regular grid this is h^2H fGn(k - l).
    p = _pow(lags, 2.0 * hurst)
    c_incr = 0.5 * (p[1:, :-1] + p[:-1, 1:] - p[1:, 1:] - p[:-1, :-1])
    # X(t_i) = sum_{s_{k+1} <= t_i} exp(-theta (t_i - s_{k+1})) dB_k: exponential Euler (exact
    # integration of the linear drift between fBM increments), X_{k+1} = e^{-theta h_k} X_k + dB_k
    L = jnp.where(grid.mask, jnp.exp(-theta * jnp.asarray(grid.gaps, dtype)), 0.0)
    return sigma**2 * (L @ c_incr @ L.T)


def _as_float64(x) -> np.ndarray:
    # from the caller's array, not from a (possibly float32) JAX copy made by check_array
    return np.asarray(jax.device_get(x), np.float64)


def _check_times(times) -> np.ndarray:
    check_array(times, "times", ndim=1)
    t = _as_float64(times)
    if t.shape[0] < 1:
        raise ValueError(f"times: expected at least one observation time, got shape {t.shape}")
    if t[0] <= 0:
        raise ValueError(f"times: expected a positive first time (X(0) = 0), got times[0] = {t[0]}")
    bad = np.flatnonzero(np.diff(t) <= 0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"times: expected strictly increasing values, got times[{i}] = {t[i]} "
            f">= times[{i + 1}] = {t[i + 1]}"
        )
    return t


def _resolve_times(times, n_obs, obs_dt, *, n_values: int | None = None):
    """Observation times as float64, and ``obs_dt`` (a float) when they form a regular grid.

    ``n_values`` is the number of observations per path of the data, when there are data (then
    ``n_obs`` is not an argument and is taken from the data).
    """
    if times is not None:
        if obs_dt is not None:
            raise ValueError(
                f"times, obs_dt: expected exactly one of them, got both (obs_dt = {obs_dt!r})"
            )
        if n_obs is not None:
            raise ValueError(f"n_obs: expected None when times is given, got {n_obs!r}")
        t = _check_times(times)
        if n_values is not None and t.shape[0] != n_values:
            raise ValueError(
                f"times: expected length values.shape[1] = {n_values}, got {t.shape[0]}"
            )
        return t, None
    if obs_dt is None or (n_values is None and n_obs is None):
        need = "times or obs_dt" if n_values is not None else "times or (n_obs, obs_dt)"
        raise ValueError(
            f"times, obs_dt: expected exactly one of {need}, got neither "
            f"(times = None, n_obs = {n_obs!r}, obs_dt = {obs_dt!r})"
        )
    n = n_values if n_values is not None else check_int(n_obs, "n_obs", minimum=1)
    obs_dt = check_positive_scalar(obs_dt, "obs_dt")
    return np.arange(1, n + 1, dtype=np.float64) * obs_dt, obs_dt


def _check_fou_params(hurst, theta, sigma) -> None:
    check_hurst(hurst)
    check_scalar(theta, "theta", 0.0, None, closed=(True, False))
    check_array(sigma, "sigma", ndim=0)
    check_positive(sigma, "sigma")


def _check_noise(obs_noise) -> float:
    return check_scalar(obs_noise, "obs_noise", 0.0, None, closed=(True, False))


def fou_covariance(
    hurst,
    theta,
    sigma,
    *,
    times=None,
    n_obs: int | None = None,
    obs_dt: float | None = None,
    substeps: int = 4,
):
    """Covariance of a fractional OU process ``dX = -theta X dt + sigma dB_H`` at given times.

    ``X(0) = 0`` and ``B_H`` is standard fBM. The process is defined on the fine grid
    ``0 = s_0 < ... < s_N`` made of ``0, t_1, ..., t_n`` with each interval split into
    ``substeps`` equal parts, by ``X_{k+1} = e^{-theta h_k} X_k + sigma (B_H(s_{k+1}) - B_H(s_k))``,
    ``h_k = s_{k+1} - s_k``: an exact linear map of exact fBM increments, so its covariance
    (computed here exactly) is the law that :func:`sample_fou` draws from; it converges to the
    continuous fOU as ``substeps`` grows and is exact for ``theta = 0``.

    The parameters are traceable (``jax.grad`` works in all three); the times are host data.

    Args:
        hurst: Hurst index in (0, 1).
        theta: mean-reversion rate >= 0.
        sigma: noise scale > 0.
        times: observation times, shape ``(n,)``, strictly increasing, ``times[0] > 0``.
        n_obs: number of observation times ``t_i = i obs_dt``, ``i = 1..n_obs`` (with ``obs_dt``,
            instead of ``times``).
        obs_dt: observation spacing > 0 (with ``n_obs``, instead of ``times``).
        substeps: fine steps per observation interval >= 1.

    Returns:
        Array of shape ``(n, n)`` (``n = n_obs`` on a regular grid), default float dtype.

    Raises:
        ValueError: on out-of-range parameters, times that are not 1-D, finite, positive and
            strictly increasing, or unless exactly one of ``times`` and ``(n_obs, obs_dt)`` is
            given.
    """
    _check_fou_params(hurst, theta, sigma)
    t, _ = _resolve_times(times, n_obs, obs_dt)
    substeps = check_int(substeps, "substeps", minimum=1)
    dtype = jnp.result_type(float)
    return _fou_cov(jnp.asarray(hurst, dtype), theta, sigma, _fou_grid(t, substeps))


def sample_fou(
    key,
    hurst: float,
    theta: float,
    sigma: float,
    *,
    times=None,
    n_obs: int | None = None,
    obs_dt: float | None = None,
    n_paths: int,
    substeps: int = 4,
    obs_noise: float = 0.0,
):
    """Simulate fOU paths (model of :func:`fou_covariance`) and noisy observations of them.

    On a regular grid (``n_obs``, ``obs_dt``) the fine-grid recursion is run on exact
    (Davies-Harte) fBM increments; at arbitrary ``times`` the values are drawn exactly from the
    model's Gaussian law at those times (Cholesky of :func:`fou_covariance`, float64 inside).

    Args:
        key: PRNG key or int seed.
        hurst, theta, sigma: as in :func:`fou_covariance`.
        times: observation times, shape ``(n,)``, strictly increasing, ``times[0] > 0``.
        n_obs: number of observations per path at ``t_i = i obs_dt`` (instead of ``times``).
        obs_dt: observation spacing > 0 (with ``n_obs``, instead of ``times``).
        n_paths: number of independent paths >= 1.
        substeps: fine steps per observation interval >= 1.
        obs_noise: standard deviation >= 0 of additive Gaussian observation noise.

    Returns:
        ``(times, values)``: shapes ``(n,)`` and ``(n_paths, n)``, float32 unless x64 is on.

    Raises:
        ValueError: on out-of-range parameters or times, or unless exactly one of ``times`` and
            ``(n_obs, obs_dt)`` is given.
    """
    key = as_key(key, "key")
    _check_fou_params(hurst, theta, sigma)
    obs_noise = _check_noise(obs_noise)
    t, regular_dt = _resolve_times(times, n_obs, obs_dt)
    n_paths = check_int(n_paths, "n_paths", minimum=1)
    substeps = check_int(substeps, "substeps", minimum=1)
    dtype = jnp.zeros(()).dtype  # float32, or float64 under x64
    k_path, k_noise = jax.random.split(key)
    n_obs = t.shape[0]
    if regular_dt is None:
        with jax.enable_x64(True):
            params = (jnp.float64(hurst), jnp.float64(theta), jnp.float64(sigma))
            cov = np.asarray(_fou_cov(*params, _fou_grid(t, substeps)))
        # a relative jitter of 1e-12 keeps Cholesky defined where round-off makes cov semi-definite
        chol = np.linalg.cholesky(cov + 1e-12 * np.trace(cov) / n_obs * np.eye(n_obs))
        values = _cholesky_draw(k_path, jnp.asarray(chol, dtype), n_paths)
    else:
        n = n_obs * substeps
        b = sample_fbm(k_path, hurst, n_steps=n, n_paths=n_paths, horizon=n_obs * regular_dt)
        incr = jnp.diff(b, axis=1) * sigma
        decay = jnp.exp(-theta * regular_dt / substeps)

        def step(x, db):
            x = decay * x + db
            return x, x

        _, xs = jax.lax.scan(step, jnp.zeros(n_paths, b.dtype), incr.T)
        values = xs[substeps - 1 :: substeps].T
    values = values + obs_noise * jax.random.normal(k_noise, values.shape, values.dtype)
    return jnp.asarray(t, values.dtype), values


def _fou_loglik(params, values, grid, obs_noise):
    hurst, theta, sigma = params
    cov = _fou_cov(hurst, theta, sigma, grid)
    n_obs = values.shape[1]
    cov = cov + obs_noise**2 * jnp.eye(n_obs, dtype=cov.dtype)
    chol = jnp.linalg.cholesky(cov)
    z = jax.scipy.linalg.solve_triangular(chol, values.T, lower=True)
    n_paths = values.shape[0]
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))
    return -0.5 * jnp.sum(z**2) - 0.5 * n_paths * (logdet + n_obs * jnp.log(2.0 * jnp.pi))


def _check_values(values, times, obs_dt, substeps):
    check_array(values, "values", ndim=2)
    v = _as_float64(values)
    if v.shape[0] < 1:
        raise ValueError(f"values: expected at least one path, got shape {v.shape}")
    if v.shape[1] < 2:
        raise ValueError(f"values: expected at least 2 observations per path, got {v.shape}")
    t, _ = _resolve_times(times, None, obs_dt, n_values=v.shape[1])
    substeps = check_int(substeps, "substeps", minimum=1)
    return v, _fou_grid(t, substeps)


def fou_log_likelihood(
    values,
    hurst,
    theta,
    sigma,
    *,
    times=None,
    obs_dt: float | None = None,
    substeps: int = 4,
    obs_noise: float = 0.0,
):
    """Exact Gaussian log-likelihood of fOU observations (model of :func:`fou_covariance`).

    Computed in float64. Independent paths share the observation times.

    Args:
        values: observations, shape ``(n_paths, n_obs)``, finite, ``n_obs >= 2``.
        hurst, theta, sigma: parameters (Hurst in (0, 1), theta >= 0, sigma > 0).
        times: observation times, shape ``(n_obs,)``, strictly increasing, ``times[0] > 0``.
        obs_dt: observation spacing > 0, for ``t_i = i obs_dt`` (instead of ``times``).
        substeps: fine steps per observation interval >= 1.
        obs_noise: observation noise standard deviation >= 0.

    Returns:
        Scalar float64 log-likelihood (a NumPy float).

    Raises:
        ValueError: for NaN data, out-of-range parameters or times, ``times`` of a length other
            than ``values.shape[1]``, or unless exactly one of ``times`` and ``obs_dt`` is given.
    """
    values, grid = _check_values(values, times, obs_dt, substeps)
    _check_fou_params(hurst, theta, sigma)
    obs_noise = _check_noise(obs_noise)
    with jax.enable_x64(True):
        params = tuple(jnp.float64(p) for p in (hurst, theta, sigma))
        return np.float64(_fou_loglik(params, values, grid, obs_noise))


class FouMLE(NamedTuple):
    """Maximum-likelihood estimate of the fOU parameters.

    Attributes:
        hurst, theta, sigma: the estimates (floats).
        log_likelihood: maximised log-likelihood.
        success: whether the optimiser reported convergence.
        obs_noise: the estimated observation noise sd, or the known value that was passed.
    """

    hurst: float
    theta: float
    sigma: float
    log_likelihood: float
    success: bool
    obs_noise: float


def _neg_fou_loglik(u, values, grid, noise):
    """Minus the mean exact fOU log-likelihood at ``(sigmoid u0, e^u1, e^u2)`` and ``noise``."""
    params = (jax.nn.sigmoid(u[0]), jnp.exp(u[1]), jnp.exp(u[2]))
    return -_fou_loglik(params, values, grid, noise) / values.size


def _neg_fou_loglik_noise(u, values, grid):
    """``_neg_fou_loglik`` with the noise sd learned too, ``e^u3``."""
    return _neg_fou_loglik(u[:3], values, grid, jnp.exp(u[3]))


def fou_mle(
    values,
    *,
    times=None,
    obs_dt: float | None = None,
    substeps: int = 4,
    obs_noise: float | None = None,
    init: tuple[float, float, float] = (0.5, 1.0, 1.0),
) -> FouMLE:
    """Exact-likelihood MLE of ``(H, theta, sigma)`` and, by default, the noise sd.

    Maximises :func:`fou_log_likelihood` with L-BFGS-B over ``(logit H, log theta, log sigma)``
    and, when ``obs_noise`` is None, ``log obs_noise``, with JAX gradients in float64. ``H`` is
    confined to [0.01, 0.99]; the noise sd to ``[1e-6, 10] * d`` with ``d`` the sd of the
    first differences of ``values``, and it starts at ``0.1 d``.

    Args:
        values: observations, shape ``(n_paths, n_obs)``, ``n_obs >= 2``.
        times: observation times, shape ``(n_obs,)``, strictly increasing, ``times[0] > 0``.
        obs_dt: observation spacing > 0, for ``t_i = i obs_dt`` (instead of ``times``).
        substeps: fine steps per observation interval >= 1.
        obs_noise: known observation noise sd >= 0, or None to estimate it jointly.
        init: starting ``(H, theta, sigma)``.

    Returns:
        :class:`FouMLE`.

    Raises:
        ValueError: for NaN data, invalid settings or times, ``times`` of a length other than
            ``values.shape[1]``, unless exactly one of ``times`` and ``obs_dt`` is given, or,
            when the noise is estimated, data whose first differences are all zero.
    """
    values, grid = _check_values(values, times, obs_dt, substeps)
    estimate_noise = obs_noise is None
    if not estimate_noise:
        obs_noise = _check_noise(obs_noise)
    u0 = fou_start(init)
    bounds = list(FOU_BOUNDS)
    if estimate_noise:
        # Var(Y_{i+1} - Y_i) = Var(X_{i+1} - X_i) + 2 noise^2, so the sd d of the first differences
        # bounds noise by d / sqrt(2): start well inside, at 0.1 d; 1e-6 d is noise-free in effect
        d = float(np.std(np.diff(values, axis=1)))
        if not d > 0:
            raise ValueError(
                "values: expected observations that vary in time to estimate obs_noise, "
                "got all first differences 0"
            )
        u0.append(np.log(0.1 * d))
        bounds.append((np.log(1e-6 * d), np.log(10.0 * d)))

    if estimate_noise:
        res = minimize_float64(_neg_fou_loglik_noise, u0, bounds, values, grid)
    else:
        res = minimize_float64(_neg_fou_loglik, u0, bounds, values, grid, obs_noise)
    u = res.x
    hurst, theta, sigma = fou_estimates(u)
    return FouMLE(
        hurst=hurst,
        theta=theta,
        sigma=sigma,
        log_likelihood=float(-res.fun * values.size),
        success=bool(res.success),
        obs_noise=float(np.exp(u[3])) if estimate_noise else obs_noise,
    )
