"""Split kernels for target, root, power KT and KT+, and the median-heuristic default kernel.

KT-SPLIT may use a different kernel from the target kernel ``k`` that KT-SWAP (and the MMD) use.
With ``hat`` the Fourier transform, the ``alpha``-power kernel has ``hat(k_alpha) ∝ hat(k)^alpha``;
``alpha = 1/2`` is the square-root kernel of the original KT paper. KT-SPLIT is invariant to a
positive rescaling of its kernel, so power kernels are returned with value 1 at zero distance.

Closed forms (distances are measured in the base kernel's scaled coordinates ``x / l``):

============================  =====================================================  ==========
kernel                        ``alpha``-power kernel                                 alpha
============================  =====================================================  ==========
Gaussian                      ``exp(-r^2 / (2 alpha))``                              [1/2, 1]
Matern12 / Laplace,           Matérn of smoothness ``nu' = alpha (nu + d/2) - d/2``  ``nu' > 0``
Matern32, Matern52 (``nu``)   and the same spectral scale ``gamma = sqrt(2 nu)``
InverseMultiquadric(power p)  root only: IMQ with power ``p / 2 + d / 4``           1/2
Sinc                          itself (its spectral density is a box indicator)       [1/2, 1]
============================  =====================================================  ==========

A Matérn power kernel with half-integer ``nu'`` (1/2, 3/2, 5/2) is evaluated in closed form.
Otherwise it is evaluated through the exact Gaussian scale mixture
``M_nu(x) = E_{S ~ Gamma(nu, 1)} exp(-x^2 / (4 S))`` with a 64-node midpoint rule in the Gamma
quantile: a positive mixture of Gaussians, hence positive definite, within about 4e-3 of the
exact Matérn correlation (checked against ``scipy.special.kv`` in the tests).

KT+ uses ``k / k(0) + k_alpha / k_alpha(0)`` (each summand scaled to sup-norm one).

References: Dwivedi & Mackey (2021), "Kernel Thinning", Table 2 and eq. (117) (IMQ root);
Dwivedi & Mackey (2022), "Generalized Kernel Thinning", section 3 and Table 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from gpjax.parameters import val
from scipy.special import gammaincinv

from bayeskit.kernels import (
    Gaussian,
    InverseMultiquadric,
    Matern12,
    Matern32,
    Matern52,
    RadialKernel,
    Sinc,
    _check_distance,
    matern_profile,
)
from bayeskit.validate import check_array, check_callable, check_choice, check_int, check_scalar

__all__ = ["split_kernel", "power_kernel", "default_kernel", "matern_correlation"]

Kernel = Callable[[jax.Array, jax.Array], jax.Array]

_MIXTURE_NODES = 64
_MEDIAN_POINTS = 1024
_MATERN_NU = ((Matern12, 0.5), (Matern32, 1.5), (Matern52, 2.5))

# KT-SPLIT kernels: the target itself, its square root, an alpha-power, or KT+ (their sum)
VARIANTS = ("target", "root", "power", "plus")


def _gamma_nodes(nu: float) -> np.ndarray:
    probs = (np.arange(_MIXTURE_NODES) + 0.5) / _MIXTURE_NODES
    return gammaincinv(nu, probs)


def matern_correlation(nu: float, x: jax.Array) -> jax.Array:
    """Matérn correlation ``2^(1-nu) / Gamma(nu) * x^nu K_nu(x)`` at ``x >= 0`` (1 at 0).

    Half-integer ``nu`` in {1/2, 3/2, 5/2} is exact; any other ``nu > 0`` uses the positive
    Gaussian scale mixture described in the module docs (error about 4e-3 at most).

    Args:
        nu: smoothness, a positive Python float.
        x: non-negative arguments, any shape.

    Returns:
        Array of the shape of ``x``.

    Raises:
        TypeError: if ``nu`` is not a real number or ``x`` is not numeric.
        ValueError: if ``nu`` is not positive and finite, or a concrete ``x`` has a negative,
            NaN or infinite entry.
    """
    nu = check_scalar(nu, "nu", 0.0, None)
    x = _check_distance(x, "x")
    if nu in (0.5, 1.5, 2.5):
        return matern_profile(nu, x / np.sqrt(2 * nu))
    nodes = jnp.asarray(_gamma_nodes(nu), dtype=jnp.result_type(x, float))
    return jnp.mean(jnp.exp(-(x[..., None] ** 2) / (4 * nodes)), axis=-1)


class _PowerKernel(eqx.Module):
    """A power kernel of a bayeskit radial kernel, in the base kernel's scaled coordinates."""

    base: RadialKernel
    family: str = eqx.field(static=True)
    param: float = eqx.field(static=True)

    def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
        xs, ys = self.base._scaled(x, y)
        sq = jnp.sum((xs - ys) ** 2)
        if self.family == "gaussian":
            return jnp.exp(-0.5 * sq / self.param)
        if self.family == "imq":
            return (1.0 + sq) ** (-self.param)
        # Matérn: sqrt with a floor keeps the value exact at r = 0 and the gradient finite.
        nu_base, nu_new = self.param
        r = jnp.sqrt(jnp.maximum(sq, 1e-300 if sq.dtype == jnp.float64 else 1e-30))
        return matern_correlation(nu_new, np.sqrt(2 * nu_base) * r)


class _SumKernel(eqx.Module):
    """``k1 / c1 + k2 / c2`` with ``c_i = k_i(z, z)``: the KT+ split kernel."""

    k1: Any
    k2: Any
    c1: jax.Array
    c2: jax.Array

    def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
        return self.k1(x, y) / self.c1 + self.k2(x, y) / self.c2


def _input_dim(kernel: RadialKernel, dim: int) -> int:
    dims = getattr(kernel, "active_dims", None)
    if isinstance(dims, list | tuple):
        return len(dims)
    return dim


def _check_params(kernel: Any) -> None:
    for name in ("lengthscale", "variance"):
        if hasattr(kernel, name):
            value = np.asarray(val(getattr(kernel, name)))
            if not np.all(np.isfinite(value)) or not np.all(value > 0):
                raise ValueError(
                    f"kernel: expected a positive finite {name}, got {value.tolist()} "
                    "(a negative value becomes NaN inside a GPJax PositiveReal)"
                )


def _check_kernel(kernel: Any, name: str = "kernel") -> Any:
    """A kernel instance (not a class), callable, with finite positive parameters if it has any."""
    check_callable(kernel, name)
    _check_params(kernel)
    return kernel


def power_kernel(kernel: Any, alpha: float | None, dim: int) -> Kernel:
    """The ``alpha``-power kernel of ``kernel`` in dimension ``dim`` (see the module table).

    Args:
        kernel: a :class:`bayeskit.kernels.Gaussian`, ``Matern12`` / ``Laplace``, ``Matern32``,
            ``Matern52``, ``InverseMultiquadric`` or ``Sinc``.
        alpha: power in [1/2, 1]; ``None`` means 1/2 (the square root) where it exists.
        dim: input dimension ``d`` (the number of active dimensions if the kernel has them).

    Returns:
        A kernel callable ``k_alpha(x, y) -> scalar`` with ``k_alpha(x, x) = 1``.

    Raises:
        ValueError: for a kernel family without a closed form, ``alpha`` outside [1/2, 1],
            ``alpha=None`` for a kernel with no square root (Laplace, Matérn with nu <= d/2),
            ``alpha`` too small for a Matérn kernel (need ``alpha > d / (2 nu + d)``), or an
            IMQ ``alpha`` other than 1/2.
    """
    check_callable(kernel, "kernel")
    family = type(kernel).__name__
    supported = (Gaussian, Matern12, Matern32, Matern52, InverseMultiquadric, Sinc)
    if not isinstance(kernel, supported):
        raise ValueError(
            f"kernel: root/power/plus variants need a closed-form power kernel, available for "
            f"Gaussian, Laplace, Matern12/32/52, InverseMultiquadric and Sinc; got {family}. "
            "Use variant='target' for any other kernel."
        )
    _check_params(kernel)
    d = _input_dim(kernel, dim)
    dim = check_int(dim, "dim", minimum=1)
    if alpha is not None:
        alpha = check_scalar(alpha, "alpha", 0.5, 1.0, closed=(True, True))
    if isinstance(kernel, Sinc):
        return kernel
    if isinstance(kernel, Gaussian):
        return _PowerKernel(kernel, "gaussian", 0.5 if alpha is None else alpha)
    if isinstance(kernel, InverseMultiquadric):
        if alpha not in (None, 0.5):
            raise ValueError(
                f"alpha: only the square root (alpha = 0.5) is available for "
                f"InverseMultiquadric, got {alpha}"
            )
        return _PowerKernel(kernel, "imq", kernel.power / 2 + d / 4)
    nu = next(v for cls, v in _MATERN_NU if isinstance(kernel, cls))
    lowest = d / (2 * nu + d)
    if alpha is None:
        if lowest >= 0.5:
            raise ValueError(
                f"alpha: {family} (nu = {nu}) has no square-root kernel in d = {d}; pass a "
                f"power alpha in ({lowest:.4g}, 1]"
            )
        alpha = 0.5
    nu_new = alpha * (nu + d / 2) - d / 2
    if nu_new <= 0:
        raise ValueError(
            f"alpha: the {family} power kernel in d = {d} needs alpha > {lowest:.4g}, got {alpha}"
        )
    return _PowerKernel(kernel, "matern", (nu, nu_new))


def split_kernel(kernel: Kernel, variant: str, *, alpha: float | None, dim: int) -> Kernel:
    """The KT-SPLIT kernel for ``variant`` (``target``, ``root``, ``power`` or ``plus``).

    Args:
        kernel: the target kernel.
        variant: ``target`` returns ``kernel``; ``root`` its 1/2-power; ``power`` its
            ``alpha``-power; ``plus`` the KT+ sum ``k / k(0) + k_alpha / k_alpha(0)``.
        alpha: the power for ``power`` / ``plus`` (``None``: 1/2); must be ``None`` or 0.5 for
            ``root``.
        dim: input dimension.

    Returns:
        A kernel callable on single points.

    Raises:
        ValueError: as :func:`power_kernel`; or an unknown ``variant``; or ``alpha`` with
            ``target``/``root`` other than None (or 0.5 for root).
        TypeError: on a non-callable kernel.
    """
    _check_kernel(kernel)
    check_choice(variant, "variant", VARIANTS)
    dim = check_int(dim, "dim", minimum=1)
    if alpha is not None:
        alpha = check_scalar(alpha, "alpha", 0.5, 1.0, closed=(True, True))
    _check_params(kernel)
    if variant == "target":
        if alpha is not None:
            raise ValueError(f"alpha: only used by variant 'power' or 'plus', got {alpha}")
        return kernel
    if variant == "root":
        if alpha not in (None, 0.5):
            raise ValueError(f"alpha: variant 'root' is alpha = 0.5, got {alpha}")
        return power_kernel(kernel, None, dim)
    k_alpha = power_kernel(kernel, alpha, dim)
    if variant == "power":
        return k_alpha
    zero = jnp.zeros((dim,))
    return _SumKernel(kernel, k_alpha, kernel(zero, zero), k_alpha(zero, zero))


def default_kernel(x: Any) -> Gaussian:
    """Gaussian kernel with the median-heuristic lengthscale, the default of :func:`thin`.

    The lengthscale ``l`` satisfies ``l^2 = median_{i < j} ||x_i - x_j||^2`` over at most 1024
    evenly spaced rows of ``x`` (deterministic), the MCMC convention of Dwivedi & Mackey (2022).

    Args:
        x: points, shape ``(n, d)``, finite.

    Returns:
        ``bayeskit.kernels.Gaussian(lengthscale=l)``.

    Raises:
        ValueError: if ``x`` is not a finite rank-2 array or all sampled rows coincide (the
            median distance is zero; pass a kernel explicitly then).
    """
    x = np.asarray(check_array(x, "x", ndim=2), dtype=np.float64)
    n = x.shape[0]
    step = max(1, n // _MEDIAN_POINTS)
    sub = x[::step][:_MEDIAN_POINTS]
    sq = ((sub[:, None, :] - sub[None, :, :]) ** 2).sum(-1)
    upper = sq[np.triu_indices(sub.shape[0], k=1)]
    med = float(np.median(upper)) if upper.size else 0.0
    if not med > 0:
        raise ValueError(
            "x: the median inter-point distance is zero (all sampled rows coincide); pass an "
            "explicit kernel"
        )
    return Gaussian(lengthscale=float(np.sqrt(med)))
