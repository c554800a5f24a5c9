"""One-dimensional mixture kernels of GP-HM with closed-form derivatives in the first argument.

Each input dimension ``j`` carries its own ``Q``-component mixture (Fang et al., 2024, Sec. 3):

- ``"student_t"``: Student-t spectral mixture, i.e. Matérn-5/2 x cosine (the paper's GP-HM-StM),
  ``k(d) = sum_q w_q (1 + sqrt5 rho_q |d| + 5/3 rho_q^2 d^2) exp(-sqrt5 rho_q |d|) cos(2 pi mu_q d)``;
- ``"gaussian"``: Gaussian spectral mixture, SE x cosine (GP-HM-GM),
  ``k(d) = sum_q w_q exp(-rho_q d^2) cos(2 pi mu_q d)``;
- ``"rbf"`` and ``"matern52"``: the same without the cosine (the paper's GP-SE and GP-Matern
  negative controls; the frequencies are ignored).

Parameters follow the authors' code: ``w_q = exp(log_weight)``, ``rho_q = exp(log_scale)`` (an
inverse length-scale for Matérn, the SE rate for Gaussian), ``mu_q`` in cycles per unit length.
Only derivatives in the first argument up to order two are needed by the solver (Sec. 3.2): the
grid values are differentiated through the kernel, the operator never enters the covariance.

Kernels are evaluated on lags ``d = x - x'``. On an equispaced grid a stationary Gram matrix is
Toeplitz, so the solver evaluates each kernel at the ``N_j`` distinct lags only and gathers.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayeskit.validate import check_array, check_choice, check_int, check_positive, check_scalar

__all__ = [
    "KERNELS",
    "MixtureParams",
    "Spectrum",
    "init_params",
    "kernel_lags",
    "scalar_kernel",
    "toeplitz_gram",
    "toeplitz_grams",
    "cross_gram",
]

KERNELS = ("student_t", "gaussian", "rbf", "matern52")
_SQRT5 = np.sqrt(5.0)


class MixtureParams(NamedTuple):
    """Per-dimension mixture parameters, each of shape ``(d, Q)`` (unconstrained)."""

    log_weight: jax.Array
    log_scale: jax.Array
    freq: jax.Array


class Spectrum(NamedTuple):
    """Learned spectrum per dimension, each field of shape ``(d, Q)``.

    ``weights`` are ``w_q``, ``freqs`` the frequencies ``mu_q`` (cycles per unit length,
    ``|mu_q|`` because the spectrum is symmetrised), ``scales`` the ``rho_q`` and ``active`` marks
    the components whose weight is at least ``prune_ratio`` times the largest weight of their
    dimension: the rest have been pruned by the log-domain (Jeffreys) weights.
    """

    weights: jax.Array
    freqs: jax.Array
    scales: jax.Array
    active: jax.Array


def check_mixture(params, name: str, *, ndim: int, d: int | None = None) -> MixtureParams:
    """Check ``MixtureParams`` whose fields share one shape: ``(Q,)`` (``ndim=1``, one dimension)
    or ``(d, Q)`` (``ndim=2``); values are checked finite when concrete (trace-safe).

    Raises:
        TypeError: if ``params`` is not a ``MixtureParams`` or a field is not numeric.
        ValueError: on fields of different or wrong shapes, no components, or NaN/inf values.
    """
    if not isinstance(params, MixtureParams):
        raise TypeError(f"{name}: expected a MixtureParams, got {type(params).__name__}")
    ref = check_array(params.log_weight, f"{name}.log_weight", ndim=ndim)
    if ref.shape[-1] < 1 or (d is not None and ref.shape[0] != d):
        want = "(Q,)" if ndim == 1 else f"({'d' if d is None else d}, Q)"
        raise ValueError(f"{name}: expected fields of shape {want} with Q >= 1, got {ref.shape}")
    for field in ("log_scale", "freq"):
        check_array(getattr(params, field), f"{name}.{field}", shape=ref.shape)
    return params


def _check_order(order, name: str = "order") -> int:
    order = check_int(order, name, minimum=0)
    if order > 2:
        raise ValueError(f"{name}: expected 0, 1 or 2, got {order}")
    return order


def init_params(n_dims: int, n_components: int, freq_scale) -> MixtureParams:
    """The paper's initialisation: ``w_q = 1/Q``, ``rho_q = 1``, ``mu_q = linspace(0, 1, Q) * fs``.

    Args:
        n_dims: number of input dimensions ``d``.
        n_components: ``Q``.
        freq_scale: largest initial frequency, scalar or shape ``(d,)`` (cycles per unit length).

    Returns:
        ``MixtureParams`` with fields of shape ``(d, Q)``.

    Raises:
        TypeError: on non-integer sizes or a non-numeric ``freq_scale``.
        ValueError: on sizes below 1, or a ``freq_scale`` that is not positive and finite or
            not a scalar or ``(d,)``.
    """
    n_dims = check_int(n_dims, "n_dims", minimum=1)
    n_components = check_int(n_components, "n_components", minimum=1)
    check_array(freq_scale, "freq_scale", ndim=(0, 1))
    check_positive(freq_scale, "freq_scale")
    if jnp.ndim(freq_scale) == 1 and jnp.shape(freq_scale) != (n_dims,):
        raise ValueError(
            f"freq_scale: expected a scalar or shape ({n_dims},), got {jnp.shape(freq_scale)}"
        )
    fs = jnp.broadcast_to(jnp.asarray(freq_scale, dtype=float), (n_dims,))
    grid = jnp.linspace(0.0, 1.0, n_components)
    return MixtureParams(
        log_weight=jnp.full((n_dims, n_components), -jnp.log(n_components)),
        log_scale=jnp.zeros((n_dims, n_components)),
        freq=fs[:, None] * grid[None, :],
    )


def _envelope(kind: str, d: jax.Array, rho: jax.Array):
    """Envelope ``m(d)`` and its first two derivatives in ``d``; ``d`` (..., 1), ``rho`` (Q,)."""
    if kind in ("student_t", "matern52"):
        a = jnp.abs(d)
        sa = _SQRT5 * rho * a
        e = jnp.exp(-sa)
        m = (1.0 + sa + sa**2 / 3.0) * e
        m1 = -(5.0 / 3.0) * rho**2 * d * (1.0 + sa) * e
        m2 = -(5.0 / 3.0) * rho**2 * (1.0 + sa - sa**2) * e
        return m, m1, m2
    g = jnp.exp(-rho * d**2)
    return g, -2.0 * rho * d * g, (4.0 * rho**2 * d**2 - 2.0 * rho) * g


def kernel_lags(kind: str, params_j: MixtureParams, d: jax.Array, order: int = 0) -> jax.Array:
    """Evaluate ``d^order/dx^order k(x, x')`` at lags ``d = x - x'`` for one dimension.

    Args:
        kind: one of ``KERNELS``.
        params_j: ``MixtureParams`` with fields of shape ``(Q,)`` (one dimension).
        d: lags, any shape.
        order: derivative order in the first argument, 0, 1 or 2.

    Returns:
        Array of ``d``'s shape.

    Raises:
        ValueError: if ``order`` is not 0, 1 or 2, on an unknown kind, parameters of the wrong
            shape or NaN/inf lags or parameters (values checked when concrete).
        TypeError: on parameters that are not ``MixtureParams`` or non-numeric lags.
    """
    order = _check_order(order)
    check_choice(kind, "kind", KERNELS)
    check_mixture(params_j, "params_j", ndim=1)
    return _lag_values(kind, params_j, check_array(d, "d"), (order,))[0]


@jax.custom_jvp
def _cos_sin(x: jax.Array):
    """``(cos x, sin x)``. Its derivative reuses the two values: autodiff of ``jnp.cos`` and
    ``jnp.sin`` evaluates each again, and the kernel's element-wise work, mostly these float64
    evaluations on CPU, was a third of a joint-Adam step on the 200 x 200 advection grid."""
    return jnp.cos(x), jnp.sin(x)


@_cos_sin.defjvp
def _cos_sin_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    c, s = _cos_sin(x)
    return (c, s), (-s * dx, c * dx)


def _lag_values(kind: str, params_j: MixtureParams, d: jax.Array, orders: tuple) -> tuple:
    """``d^r/dx^r k`` at lags ``d`` (any shape) for each ``r`` in ``orders``, one array of
    ``d``'s shape each, from one evaluation of the envelope, cosine and sine."""
    d = d[..., None]
    w = jnp.exp(params_j.log_weight)
    rho = jnp.exp(params_j.log_scale)
    m, m1, m2 = _envelope(kind, d, rho)
    if kind in ("rbf", "matern52"):
        vals = (m, m1, m2)
    else:
        om = 2.0 * jnp.pi * params_j.freq
        c, s = _cos_sin(om * d)
        vals = (m * c, m1 * c - m * om * s, m2 * c - 2.0 * m1 * om * s - m * om**2 * c)
    return tuple(jnp.sum(w * vals[r], axis=-1) for r in orders)


def scalar_kernel(kind: str, params_j: MixtureParams, x, y) -> jax.Array:
    """The kernel on two scalars, written directly from the formula (for autodiff checks).

    Raises:
        ValueError, TypeError: as :func:`kernel_lags`, or if ``x`` or ``y`` is not a scalar.
    """
    check_choice(kind, "kind", KERNELS)
    check_mixture(params_j, "params_j", ndim=1)
    check_scalar(x, "x")
    check_scalar(y, "y")
    w = jnp.exp(params_j.log_weight)
    rho = jnp.exp(params_j.log_scale)
    r = jnp.abs(x - y)
    if kind in ("student_t", "matern52"):
        env = (1 + _SQRT5 * rho * r + 5.0 / 3.0 * rho**2 * r**2) * jnp.exp(-_SQRT5 * rho * r)
    else:
        env = jnp.exp(-rho * r**2)
    if kind in ("student_t", "gaussian"):
        env = env * jnp.cos(2 * jnp.pi * params_j.freq * (x - y))
    return jnp.sum(w * env)


def toeplitz_gram(kind: str, params_j: MixtureParams, n: int, h, order: int = 0) -> jax.Array:
    """Gram (or derivative) matrix ``[d^order k(x_a, x_b)]`` on ``n`` equispaced points, step ``h``.

    Returns:
        ``(n, n)`` array.

    Raises:
        ValueError, TypeError: as :func:`toeplitz_grams`.
    """
    return toeplitz_grams(kind, params_j, n, h, (_check_order(order),))[0]


def toeplitz_grams(kind: str, params_j: MixtureParams, n: int, h, orders=(0,)) -> tuple:
    """The matrices ``[d^r k(x_a, x_b)]`` on ``n`` equispaced points, step ``h``, for each
    derivative order ``r`` in ``orders``.

    Only the ``n`` lags ``0, h, ..., (n - 1) h`` are evaluated (``O(nQ)`` kernel work instead of
    ``O(n^2 Q)``), once for all orders; the matrices are gathered from them (``k`` and its
    second derivative are even in the lag, the first derivative odd).

    Returns:
        A tuple of ``(n, n)`` arrays, one per order.

    Raises:
        ValueError, TypeError: as :func:`kernel_lags`, on ``n < 1``, ``h <= 0`` or ``orders``
            not a non-empty tuple of 0, 1 and 2.
    """
    check_choice(kind, "kind", KERNELS)
    check_mixture(params_j, "params_j", ndim=1)
    n = check_int(n, "n", minimum=1)
    check_scalar(h, "h", 0.0, None)
    if not isinstance(orders, tuple) or not orders:
        raise TypeError(f"orders: expected a non-empty tuple of 0, 1 or 2, got {orders!r}")
    orders = tuple(_check_order(r, f"orders[{i}]") for i, r in enumerate(orders))
    vals = _lag_values(kind, params_j, (jnp.arange(n) * h).astype(float), orders)
    idx = jnp.arange(n)
    diff = idx[:, None] - idx[None, :]
    sign = jnp.where(diff < 0, -1.0, 1.0)
    dist = jnp.abs(diff)
    return tuple(v[dist] * sign if r == 1 else v[dist] for v, r in zip(vals, orders, strict=True))


def cross_gram(kind: str, params_j: MixtureParams, x, grid, order: int = 0) -> jax.Array:
    """``[d^order k(x_i, g_b)]`` between points ``x`` (m,) and grid nodes ``grid`` (n,) -> (m, n).

    Raises:
        ValueError, TypeError: as :func:`kernel_lags`, or if ``x`` or ``grid`` is not a finite
            vector.
    """
    x = check_array(x, "x", ndim=1)
    grid = check_array(grid, "grid", ndim=1)
    return kernel_lags(kind, params_j, x[:, None] - grid[None, :], order)


def spectrum(kind: str, params: MixtureParams, prune_ratio: float = 1e-3) -> Spectrum:
    """Turn unconstrained parameters ``(d, Q)`` into a ``Spectrum`` with pruned components marked."""
    w = jnp.exp(params.log_weight)
    freqs = jnp.abs(params.freq) if kind in ("student_t", "gaussian") else jnp.zeros_like(w)
    active = w >= prune_ratio * jnp.max(w, axis=-1, keepdims=True)
    return Spectrum(weights=w, freqs=freqs, scales=jnp.exp(params.log_scale), active=active)
