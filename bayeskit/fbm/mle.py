"""Shared maximum-likelihood driver of the fOU estimators (:func:`~bayeskit.fbm.exact.fou_mle`,
:func:`~bayeskit.fbm.kalman.mafbm_mle`): L-BFGS-B over ``(logit H, log theta, log sigma, ...)``
with the objective's value and gradient from JAX in float64.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from bayeskit.fbm.mafbm import check_hurst, check_positive_scalar

# H is confined to [0.01, 0.99]; theta and sigma to [e^-10, e^5]
_LOGIT_H = float(np.log(0.01 / 0.99))
FOU_BOUNDS = [(_LOGIT_H, -_LOGIT_H), (-10.0, 5.0), (-10.0, 5.0)]


def fou_start(init) -> list[float]:
    """Validated starting point ``(logit H, log theta, log sigma)`` from ``init = (H, theta, sigma)``."""
    if isinstance(init, str | bytes) or not isinstance(init, Sequence | np.ndarray):
        raise TypeError(f"init: expected a tuple (H, theta, sigma), got {type(init).__name__}")
    if len(init) != 3:
        raise ValueError(f"init: expected 3 numbers (H, theta, sigma), got {len(init)}")
    check_hurst(init[0], "init[0]")
    check_positive_scalar(init[1], "init[1]")
    check_positive_scalar(init[2], "init[2]")
    h0, th0, s0 = (float(v) for v in init)
    return [float(np.log(h0 / (1.0 - h0))), float(np.log(th0)), float(np.log(s0))]


def fou_estimates(u) -> tuple[float, float, float]:
    """``(H, theta, sigma)`` from the optimiser's ``(logit H, log theta, log sigma, ...)``."""
    return float(1.0 / (1.0 + np.exp(-u[0]))), float(np.exp(u[1])), float(np.exp(u[2]))


@functools.lru_cache(maxsize=64)
def _value_and_grad(neg: Callable) -> Callable:
    return jax.jit(jax.value_and_grad(neg))


def minimize_float64(neg: Callable, u0, bounds, *args) -> scipy.optimize.OptimizeResult:
    """L-BFGS-B on ``neg(u, *args)``, a JAX function evaluated and differentiated in float64.

    ``neg`` is compiled once per function object: pass the data through ``args`` and keep
    ``neg`` one object per model structure, so that a second fit reuses the compilation."""
    with jax.enable_x64(True):
        value_and_grad = _value_and_grad(neg)
        args = jax.tree.map(jnp.asarray, args)

        def wrapped(u):
            val, grad = value_and_grad(jnp.asarray(u, jnp.float64), *args)
            return float(val), np.asarray(grad, np.float64)

        return scipy.optimize.minimize(
            wrapped, np.asarray(u0, np.float64), jac=True, method="L-BFGS-B", bounds=bounds
        )
