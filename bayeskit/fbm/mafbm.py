"""Markov-approximate fractional Brownian motion (MA-fBM).

fBM is written as a mixture of Ornstein-Uhlenbeck processes driven by one Brownian motion,
``B_H(t) ~ sum_k omega_k Y_k(t)`` with ``dY_k = -gamma_k Y_k dt + dW`` (Carmona & Coutin 1998;
Harms & Stefanovits 2019). The weights ``omega(H)`` are the closed-form L2-optimal ones of
Daems, Opper, Crevecoeur & Birdal, "Variational Inference for SDEs Driven by Fractional Noise",
ICLR 2024 (Proposition 1, the ``omega = A^{-1} b`` system).

Two kinds of fBM are supported, with the normalisation of the Riemann-Liouville kernel
``(t - s)^(H - 1/2) / Gamma(H + 1/2)``:

* ``"type1"``: Mandelbrot-Van Ness (stationary increments), ``Var B(t) = V_I(H) t^(2H)`` with
  ``V_I = 1 / (Gamma(2H + 1) sin(pi H))``; the OU states start from their joint stationary law and
  the approximation is ``sum_k omega_k (Y_k(t) - Y_k(0))``.
* ``"type2"``: Riemann-Liouville (starts at rest), ``Var B(t) = t^(2H) / (2H Gamma(H + 1/2)^2)``;
  the OU states start at zero.

``standardize=True`` divides the weights by ``sqrt(V(H))`` so that the approximated process has
``Var B(t) = t^(2H)`` (standard fBM scale for type 1).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.special

from bayeskit.random import as_key
from bayeskit.validate import (
    check_array,
    check_bool,
    check_choice,
    check_in_range,
    check_int,
    check_positive,
    check_scalar,
)

__all__ = [
    "KINDS",
    "speed_grid",
    "variance_scale",
    "optimal_omega",
    "approximation_cost",
    "ma_covariance",
    "OUTransition",
    "ou_transition",
    "stationary_sqrt",
    "sample_mafbm",
]

KINDS = ("type1", "type2")
SCHEMES = ("exact", "euler")
# Above this argument e^x Q(a, x) is evaluated by its asymptotic series: exp(x) overflows float64
# near x = 709 and Q(a, x) underflows well before, so the direct product would be inf * 0.
_ASYMPTOTIC_X = 30.0


# --------------------------------------------------------------------------------------------
# validation shared by the subpackage
# --------------------------------------------------------------------------------------------
def check_hurst(hurst, name: str = "hurst"):
    """Return a scalar Hurst index in the open interval (0, 1) as a float (a tracer unchanged).

    Raises:
        TypeError: if ``hurst`` is not a real number.
        ValueError: if it is not a scalar, or lies outside (0, 1).
    """
    return check_scalar(hurst, name, 0.0, 1.0)


def check_gammas(gammas, name: str = "gammas") -> np.ndarray:
    """Return the OU speeds as a float64 NumPy vector, requiring finite, positive, distinct
    entries.

    The speeds fix the model's structure (transition matrices are precomputed from them), so they
    must be concrete: a traced array raises ``TypeError``.
    """
    if isinstance(gammas, jax.core.Tracer):
        raise TypeError(f"{name}: expected concrete speeds (a NumPy array), got a traced array")
    try:
        arr = np.asarray(jax.device_get(gammas), dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{name}: expected a vector of speeds, got {type(gammas).__name__}"
        ) from err
    if arr.ndim != 1 or arr.shape[0] < 1:
        raise ValueError(f"{name}: expected a non-empty vector of speeds, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise ValueError(f"{name}: expected finite positive speeds, got {arr.tolist()}")
    if np.unique(arr).size != arr.size:  # equal speeds make the omega system singular
        raise ValueError(f"{name}: expected distinct speeds, got {arr.tolist()}")
    return arr


def check_positive_scalar(x, name: str) -> float:
    """Return ``x`` as a float, requiring a finite positive scalar."""
    return check_scalar(x, name, 0.0, None)


# --------------------------------------------------------------------------------------------
# speeds, scales, weights
# --------------------------------------------------------------------------------------------
def speed_grid(num_speeds: int, gamma_max: float = 20.0, offset: float = 0.0) -> np.ndarray:
    """Geometric OU speed grid ``gamma_k = r^(k - (K + 1)/2 + offset)``, ``r = gamma_max^(2/(K-1))``.

    The grid is symmetric in log around ``exp(0) = 1`` (for ``offset = 0``) and spans
    ``[1 / gamma_max, gamma_max]``, the parametrisation of Daems et al. (2024), Sec. 3.

    Args:
        num_speeds: K >= 1, the number of OU processes. K = 1 gives the single speed ``r^offset``
            with ``r = gamma_max``.
        gamma_max: the largest speed (> 1 for a non-degenerate grid; must be positive).
        offset: shift of the grid in units of log-ratio steps.

    Returns:
        float64 NumPy array of shape ``(K,)``, increasing.

    Raises:
        ValueError: if ``num_speeds < 1`` or ``gamma_max <= 0``.
        TypeError: if ``num_speeds`` is not an integer.
    """
    k = check_int(num_speeds, "num_speeds", minimum=1)
    gmax = check_positive_scalar(gamma_max, "gamma_max")
    check_array(offset, "offset", ndim=0)
    ratio = gmax ** (2.0 / (k - 1)) if k > 1 else gmax
    idx = np.arange(1, k + 1, dtype=np.float64) - (k + 1) / 2.0 + float(offset)
    return ratio**idx


def variance_scale(hurst, kind: str = "type1"):
    """``V(H)`` such that ``Var B(t) = V(H) t^(2H)`` for the 1/Gamma(H+1/2)-normalised kernels.

    Args:
        hurst: Hurst index in (0, 1), any shape (traceable; concrete values are checked).
        kind: ``"type1"`` (``1 / (Gamma(2H+1) sin(pi H))``) or ``"type2"``
            (``1 / (2H Gamma(H+1/2)^2)``).

    Returns:
        Array with the shape of ``hurst``.

    Raises:
        ValueError: if a concrete ``hurst`` lies outside (0, 1) or ``kind`` is unknown.
    """
    check_array(hurst, "hurst", finite=False)
    check_in_range(hurst, "hurst", 0.0, 1.0)
    check_choice(kind, "kind", KINDS)
    return _vscale(jnp.asarray(hurst), kind, jnp, jax.scipy.special)


def _vscale(hurst, kind, xp, sp):
    if kind == "type1":
        return xp.exp(-sp.gammaln(2.0 * hurst + 1.0)) / xp.sin(np.pi * hurst)
    return xp.exp(-2.0 * sp.gammaln(hurst + 0.5)) / (2.0 * hurst)


def _exp_q(a, x, xp, sp):
    """``exp(x) * Q(a, x)`` (regularised upper incomplete gamma), stable for large ``x``.

    ``xp``/``sp`` are ``numpy``/``scipy.special`` or their JAX counterparts.
    """
    small = x < _ASYMPTOTIC_X
    xs = xp.where(small, x, 1.0)  # keep both branches finite so gradients stay finite
    xl = xp.where(small, _ASYMPTOTIC_X, x)
    direct = xp.exp(xs) * sp.gammaincc(a, xs)
    # Gamma(a, x) e^x ~ x^(a-1) sum_n (a-1)(a-2)...(a-n) / x^n; 10 terms: error < 10!/30^10 ~ 1e-8
    term = xp.ones_like(xl)
    total = xp.ones_like(xl)
    for n in range(1, 11):
        term = term * (a - n) / xl
        total = total + term
    asym = xp.exp((a - 1.0) * xp.log(xl) - sp.gammaln(a)) * total
    return xp.where(small, direct, asym)


def _system(hurst, gammas, kind: str, horizon, xp=jnp, sp=jax.scipy.special):
    """The matrix ``A``, vector ``b`` and constant ``c`` of ``J(w) = w'Aw - 2b'w + c``."""
    alpha = hurst + 0.5
    g = gammas
    gi, gj = g[:, None], g[None, :]
    T = horizon
    gT = g * T
    if kind == "type1":
        em = xp.expm1(-gT) / g
        A = (2.0 * T + em[:, None] + em[None, :]) / (gi + gj)
        b = (
            2.0 * T * g ** (-alpha)
            - xp.exp(alpha * xp.log(T) - sp.gammaln(alpha + 1.0)) / g
            + g ** (-(alpha + 1.0)) * (xp.exp(-gT) - _exp_q(alpha, gT, xp, sp))
        )
    else:
        tot = gi + gj
        A = (T + xp.expm1(-tot * T) / tot) / tot
        b = T * g ** (-alpha) * sp.gammainc(alpha, gT) - alpha * g ** (
            -(alpha + 1.0)
        ) * sp.gammainc(alpha + 1.0, gT)
    c = _vscale(hurst, kind, xp, sp) * T ** (2.0 * hurst + 1.0) / (2.0 * hurst + 1.0)
    return A, b, c


def omega_float64(hurst, gammas, kind: str, horizon, standardize: bool):
    """``omega*(H)`` as a pure JAX program (traceable, differentiable); float64 inputs only.

    For code that already runs under ``jax.enable_x64`` (the Kalman likelihood): there the
    host callback of :func:`optimal_omega` is unsafe, because a callback that runs on another
    thread does not see the thread-local x64 setting and returns float32.
    """
    A, b, _ = _system(hurst, gammas, kind, horizon)
    # A is symmetric positive definite but badly conditioned (cond ~1e7 for type 2, K = 5):
    # Cholesky in float64 keeps ~9 correct digits where float32 keeps none.
    w = jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(A), b)
    return w / jnp.sqrt(variance_scale(hurst, kind)) if standardize else w


@functools.cache
def _omega_jvp64(kind: str, standardize: bool):
    """A float64-jitted ``(h, gammas, T) -> (omega, d omega / d h)``; call under x64 only."""

    def value_and_tangent(h, g, T):
        return jax.jvp(
            lambda hh: omega_float64(hh, g, kind, T, standardize), (h,), (jnp.ones_like(h),)
        )

    return jax.jit(value_and_tangent)


def _omega_value_host(h, g, T, kind, standardize, dtype):
    """Float64 NumPy/SciPy solve of ``A omega = b`` (no compilation, so cheap to call)."""
    h = float(h)
    A, b, _ = _system(h, np.asarray(g, np.float64), kind, float(T), np, scipy.special)
    # A is symmetric positive definite but badly conditioned (cond ~1e7 for type 2, K = 5):
    # Cholesky in float64 keeps ~9 correct digits where float32 keeps none.
    w = scipy.linalg.cho_solve(scipy.linalg.cho_factor(A), b)
    if standardize:
        w = w / np.sqrt(_vscale(h, kind, np, scipy.special))
    return np.asarray(w, dtype)


def _omega_host(h, g, T, kind, standardize, dtype):
    with jax.enable_x64(True):
        w, dw = _omega_jvp64(kind, standardize)(
            np.float64(h), np.asarray(g, np.float64), np.float64(T)
        )
        return np.asarray(w, dtype), np.asarray(dw, dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3, 4))
def _omega(h, gammas: tuple, horizon: float, kind: str, standardize: bool):
    spec = jax.ShapeDtypeStruct((len(gammas),), h.dtype)
    fn = functools.partial(
        _omega_value_host, g=gammas, T=horizon, kind=kind, standardize=standardize, dtype=h.dtype
    )
    return jax.pure_callback(fn, spec, h, vmap_method="sequential")


def _omega_and_tangent(h, gammas, horizon, kind, standardize):
    # The solve runs on the host in float64 (a callback), so that it stays accurate under jit
    # whatever the global precision; the custom JVP supplies the exact derivative in H, from a
    # float64 JAX program compiled on first use.
    k = len(gammas)
    spec = jax.ShapeDtypeStruct((k,), h.dtype)
    return jax.pure_callback(
        functools.partial(
            _omega_host, g=gammas, T=horizon, kind=kind, standardize=standardize, dtype=h.dtype
        ),
        (spec, spec),
        h,
        vmap_method="sequential",
    )


@_omega.defjvp
def _omega_jvp(gammas, horizon, kind, standardize, primals, tangents):
    (h,), (dh,) = primals, tangents
    w, dw = _omega_and_tangent(h, gammas, horizon, kind, standardize)
    return w, dw * dh


def optimal_omega(
    hurst, gammas, *, kind: str = "type2", horizon: float = 1.0, standardize: bool = False
):
    """L2-optimal MA-fBM weights ``omega*(H) = A^{-1} b`` (Daems et al. 2024, Prop. 1).

    ``omega*`` minimises ``E int_0^T (B_H(t) - sum_k omega_k Y_k(t))^2 dt`` for the fixed grid
    ``gammas``. The linear system is solved in float64 (whatever the global JAX precision) and the
    result is cast back to the dtype of ``hurst``; the function is differentiable in ``hurst``
    (through ``Gamma``, ``P`` and ``Q`` in their first argument) and may be traced.

    Args:
        hurst: scalar Hurst index in (0, 1).
        gammas: OU speeds, shape ``(K,)``, positive (see :func:`speed_grid`).
        kind: ``"type1"`` or ``"type2"`` (see the module docstring).
        horizon: the interval ``[0, T]`` on which the error is minimised.
        standardize: divide by ``sqrt(V(H))`` so the target has ``Var B(t) = t^(2H)``.

    Returns:
        Weights of shape ``(K,)``, ordered like ``gammas``.

    Raises:
        ValueError: if ``hurst`` is outside (0, 1), a speed is not positive, ``horizon <= 0``
            or ``kind`` is unknown (checked when the inputs are concrete).
    """
    check_choice(kind, "kind", KINDS)
    check_hurst(hurst)
    g = check_gammas(gammas)
    horizon = check_positive_scalar(horizon, "horizon")
    standardize = check_bool(standardize, "standardize")
    h = jnp.asarray(hurst)
    if not jnp.issubdtype(h.dtype, jnp.floating):
        h = h.astype(jnp.float32)
    if h.ndim != 0:
        raise ValueError(f"hurst: expected a scalar, got shape {h.shape}")
    return _omega(h, tuple(g.tolist()), horizon, kind, standardize)


def approximation_cost(omega, hurst, gammas, *, kind: str = "type2", horizon: float = 1.0):
    """Mean integrated squared error ``J(omega) = E int_0^T (B_H - B_hat)^2 dt`` (unstandardised).

    Args:
        omega: weights, shape ``(K,)``, for the 1/Gamma(H+1/2)-normalised kernel.
        hurst: Hurst index in (0, 1).
        gammas: OU speeds, shape ``(K,)``.
        kind: ``"type1"`` or ``"type2"``.
        horizon: T > 0.

    Returns:
        Scalar ``omega'A omega - 2 b'omega + c`` (computed on the host in float64; returned with
        the dtype of ``omega``). Not traceable.

    Raises:
        ValueError: on invalid ``hurst``, ``gammas``, ``horizon``, ``kind`` or a shape mismatch.
    """
    check_choice(kind, "kind", KINDS)
    check_hurst(hurst)
    g = check_gammas(gammas)
    omega = check_array(omega, "omega", shape=(g.shape[0],))
    horizon = check_positive_scalar(horizon, "horizon")
    A, b, c = _system(float(hurst), g, kind, horizon, np, scipy.special)
    w = np.asarray(omega, np.float64)
    return jnp.asarray(w @ A @ w - 2.0 * b @ w + c, omega.dtype)


# --------------------------------------------------------------------------------------------
# covariance of the approximation
# --------------------------------------------------------------------------------------------
def _ou_cross_cov(t, s, gi, gj, kind):
    """``Cov(Y_i(t), Y_j(s))`` for OUs driven by one BM; broadcasting over all arguments."""
    tot = gi + gj
    if kind == "type2":
        m = jnp.minimum(t, s)
        # stable form of e^{-g_i t - g_j s}(e^{(g_i+g_j) m} - 1)/(g_i+g_j); the naive one overflows
        return jnp.exp(-gi * (t - m) - gj * (s - m)) * (-jnp.expm1(-tot * m)) / tot

    def stat(a, b):
        return jnp.where(a >= b, jnp.exp(-gi * (a - b)), jnp.exp(-gj * (b - a))) / tot

    zero = jnp.zeros_like(t)
    return stat(t, s) - stat(t, zero) - stat(zero, s) + stat(zero, zero)


def ma_covariance(t, s, omega, gammas, *, kind: str = "type2"):
    """Exact covariance ``Cov(B_hat(t_a), B_hat(s_b))`` of MA-fBM with weights ``omega``.

    Args:
        t: times, shape ``(n,)``, non-negative.
        s: times, shape ``(m,)``, non-negative.
        omega: weights, shape ``(K,)``.
        gammas: OU speeds, shape ``(K,)``, positive.
        kind: ``"type1"`` (increments of stationary OUs) or ``"type2"`` (OUs started at zero).

    Returns:
        Array of shape ``(n, m)``.

    Raises:
        ValueError: for negative or non-finite times, non-positive speeds, mismatched shapes or an
            unknown ``kind``.
    """
    check_choice(kind, "kind", KINDS)
    t = check_array(t, "t", ndim=1)
    s = check_array(s, "s", ndim=1)
    check_positive(t, "t", strict=False)
    check_positive(s, "s", strict=False)
    g = jnp.asarray(check_gammas(gammas), dtype=jnp.result_type(t.dtype, jnp.float32))
    omega = check_array(omega, "omega", shape=(g.shape[0],))
    cov = _ou_cross_cov(
        t[:, None, None, None], s[None, :, None, None], g[:, None], g[None, :], kind
    )
    return jnp.einsum("i,abij,j->ab", omega, cov, omega)


# --------------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------------
def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """A factor ``L`` with ``L L' = cov`` for a PSD matrix that may be numerically singular."""
    vals, vecs = np.linalg.eigh(np.asarray(cov, np.float64))
    # clip round-off negatives: the matrices here are covariance matrices, PSD in exact arithmetic
    return vecs * np.sqrt(np.clip(vals, 0.0, None))


def stationary_sqrt(gammas) -> np.ndarray:
    """Square root of the joint stationary covariance ``1 / (gamma_i + gamma_j)`` of the OUs.

    Args:
        gammas: OU speeds, shape ``(K,)``, positive.

    Returns:
        float64 NumPy array ``L`` of shape ``(K, K)`` with ``L L' = Sigma_0``.
    """
    g = check_gammas(gammas)
    return _psd_sqrt(1.0 / (g[:, None] + g[None, :]))


class OUTransition(NamedTuple):
    """Exact one-step law of the K OU states driven by one BM over a step ``dt``.

    ``y(t + dt) = decay * y(t) + gain * u + noise_sqrt @ z`` for a control ``u`` held constant over
    the step and ``z ~ N(0, I_K)``.

    Attributes:
        decay: ``exp(-gamma dt)``, shape ``(K,)``.
        gain: ``(1 - exp(-gamma dt)) / gamma``, shape ``(K,)`` (response to a constant drift).
        noise_sqrt: ``(K, K)`` factor of ``Cov_ij = (1 - exp(-(g_i + g_j) dt)) / (g_i + g_j)``.
        joint_sqrt: ``(K + 1, K + 1)`` factor of the joint covariance of the K OU noises and the
            Brownian increment ``W(t + dt) - W(t)`` (last row): the same formula with a speed 0
            appended (``Cov(noise_k, dW) = gain_k``, ``Var dW = dt``). The controlled posterior
            draws its noise through it, so that the path's Girsanov log-ratio is exact.
    """

    decay: np.ndarray
    gain: np.ndarray
    noise_sqrt: np.ndarray
    joint_sqrt: np.ndarray


def ou_transition(gammas, dt: float) -> OUTransition:
    """Exact OU transition of the shared-noise OU bank (unconditionally stable in ``gamma dt``).

    Args:
        gammas: OU speeds, shape ``(K,)``, positive.
        dt: step size > 0.

    Returns:
        :class:`OUTransition` of float64 NumPy arrays (computed on the host, in float64, because
        the noise covariance is nearly singular when slow speeds share one BM).

    Raises:
        ValueError: for non-positive speeds or ``dt <= 0``.
    """
    g = check_gammas(gammas)
    dt = check_positive_scalar(dt, "dt")
    gain = -np.expm1(-g * dt) / g
    tot = g[:, None] + g[None, :]
    cov = -np.expm1(-tot * dt) / tot
    joint = np.block([[cov, gain[:, None]], [gain[None, :], np.array([[dt]])]])
    return OUTransition(np.exp(-g * dt), gain, _psd_sqrt(cov), _psd_sqrt(joint))


def _mafbm_paths(key, omega, gammas, kind, dt, n_steps, n_paths, scheme):
    g = jnp.asarray(gammas, omega.dtype)
    k_init, k_steps = jax.random.split(key)
    if kind == "type1":
        z0 = jax.random.normal(k_init, (n_paths, g.shape[0]), omega.dtype)
        y0 = z0 @ jnp.asarray(stationary_sqrt(gammas), omega.dtype).T
    else:
        y0 = jnp.zeros((n_paths, g.shape[0]), omega.dtype)
    if scheme == "exact":
        tr = ou_transition(gammas, dt)
        decay = jnp.asarray(tr.decay, omega.dtype)
        root = jnp.asarray(tr.noise_sqrt, omega.dtype)

        def step(y, k):
            z = jax.random.normal(k, y.shape, y.dtype)
            y_new = decay * y + z @ root.T
            return y_new, y_new
    else:

        def step(y, k):
            dw = jnp.sqrt(dt) * jax.random.normal(k, (y.shape[0], 1), y.dtype)
            y_new = y - g * y * dt + dw
            return y_new, y_new

    _, ys = jax.lax.scan(step, y0, jax.random.split(k_steps, n_steps))
    b = (ys - y0) @ omega  # (n_steps, n_paths); for type 2, y0 = 0
    return jnp.concatenate([jnp.zeros((1, n_paths), b.dtype), b], axis=0).T


_mafbm_paths_jit = jax.jit(_mafbm_paths, static_argnums=(2, 3, 4, 5, 6, 7))


def sample_mafbm(
    key,
    omega,
    gammas,
    *,
    dt: float,
    n_steps: int,
    n_paths: int,
    kind: str = "type2",
    scheme: str = "exact",
):
    """Sample MA-fBM paths ``B_hat`` on the grid ``0, dt, ..., n_steps dt``.

    ``scheme="exact"`` advances the OU bank with its exact Gaussian transition (no
    discretisation error, stable for any ``gamma dt``); ``"euler"`` uses Euler-Maruyama with one
    shared Brownian increment (first order; biased unless ``gamma_max dt`` is small).

    Args:
        key: PRNG key or int seed.
        omega: weights, shape ``(K,)`` (e.g. from :func:`optimal_omega`).
        gammas: OU speeds, shape ``(K,)``, positive.
        dt: step > 0.
        n_steps: number of steps >= 1.
        n_paths: number of independent paths >= 1.
        kind: ``"type1"`` (OUs start from the stationary law) or ``"type2"`` (from zero).
        scheme: ``"exact"`` or ``"euler"``.

    Returns:
        Array of shape ``(n_paths, n_steps + 1)``; column 0 is zero.

    Raises:
        ValueError: on invalid sizes, ``dt``, speeds, weights, ``kind`` or ``scheme``.
    """
    key = as_key(key, "key")
    check_choice(kind, "kind", KINDS)
    check_choice(scheme, "scheme", SCHEMES)
    g = check_gammas(gammas)
    omega = check_array(omega, "omega", shape=(g.shape[0],))
    if not jnp.issubdtype(omega.dtype, jnp.floating):
        omega = omega.astype(jnp.float32)
    dt = check_positive_scalar(dt, "dt")
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    n_paths = check_int(n_paths, "n_paths", minimum=1)
    return _mafbm_paths_jit(key, omega, tuple(g.tolist()), kind, dt, n_steps, n_paths, scheme)
