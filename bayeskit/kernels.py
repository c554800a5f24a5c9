"""Shared stationary kernels (GPJax ``AbstractKernel`` subclasses) and Gram matrices.

Every kernel is callable on single points, ``k(x, y) -> scalar`` with ``x, y`` of shape ``(d,)``
(GPJax's convention), works inside a ``gpjax.gps.Prior``, and keeps its parameters as GPJax
parameters (``PositiveReal``, ``Real``) so ``gpjax.fit`` can train them. Gram matrices come from
:func:`gram`, densely or in row blocks.

References:
    Wilson & Adams (2013), "Gaussian Process Kernels for Pattern Discovery and Extrapolation"
    (spectral mixture, eq. 12). Fang et al. (2024), "Solving High Frequency and Multi-Scale PDEs
    with Gaussian Processes" (student-t mixture, section 3). Dwivedi & Mackey (2021, 2022)
    (the Gaussian, Laplace, Matérn, IMQ and sinc kernels used for kernel thinning).
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from gpjax.kernels.computations import AbstractKernelComputation, DenseKernelComputation
from gpjax.kernels.stationary.base import StationaryKernel
from gpjax.kernels.stationary.utils import euclidean_distance, squared_distance
from gpjax.parameters import PositiveReal, Real, val
from paramax import AbstractUnwrappable

from bayeskit.validate import check_array, check_int, check_positive, check_scalar

__all__ = [
    "RadialKernel",
    "Gaussian",
    "Matern12",
    "Laplace",
    "Matern32",
    "Matern52",
    "InverseMultiquadric",
    "Sinc",
    "SpectralMixture",
    "StudentTMixture",
    "matern_profile",
    "gram",
    "pairwise",
]


class RadialKernel(StationaryKernel):
    """Base of isotropic kernels ``variance * profile(||x - y|| / lengthscale)``.

    Subclasses implement :meth:`profile` on the scaled distance. ``lengthscale`` may be a scalar
    or a vector of shape ``(d,)`` (one per input dimension); ``variance`` is the value at zero
    distance.
    """

    def __init__(self, lengthscale=1.0, variance=1.0, **kwargs):
        """Build the kernel; ``kwargs`` are GPJax's (``active_dims``, ``n_dims``, ...).

        Raises:
            ValueError: if ``lengthscale`` or ``variance`` is not finite and positive, or
                ``lengthscale`` has rank above 1.
        """
        for name, value in (("lengthscale", lengthscale), ("variance", variance)):
            if not isinstance(value, AbstractUnwrappable):
                check_array(value, name, ndim=(0, 1) if name == "lengthscale" else 0)
                check_positive(value, name)
        super().__init__(lengthscale=lengthscale, variance=variance, **kwargs)

    def profile(self, tau: jax.Array) -> jax.Array:
        """The kernel as a function of the scaled distance ``tau >= 0`` (value 1 at 0)."""
        raise NotImplementedError

    def _scaled(self, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        ls = val(self.lengthscale)
        return self.slice_input(x) / ls, self.slice_input(y) / ls

    def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
        x, y = self._scaled(x, y)
        return (val(self.variance) * self.profile(euclidean_distance(x, y))).squeeze()


class Gaussian(RadialKernel):
    """Gaussian (RBF) kernel ``variance * exp(-||x - y||^2 / (2 lengthscale^2))``."""

    name: ClassVar[str] = "Gaussian"

    def profile(self, tau):
        return jnp.exp(-0.5 * tau**2)

    def __call__(self, x, y):
        # Squared distance directly: smooth at x == y, so derivatives there are exact.
        x, y = self._scaled(x, y)
        return (val(self.variance) * jnp.exp(-0.5 * squared_distance(x, y))).squeeze()


def _check_distance(r, name: str) -> jax.Array:
    """``r`` as a JAX array of distances: numeric, and (when concrete) finite and >= 0."""
    r = check_array(r, name)
    check_positive(r, name, strict=False)
    return r


def _check_nu(nu) -> float:
    if (
        isinstance(nu, bool | np.bool_)
        or not isinstance(nu, numbers.Real)
        or nu not in (0.5, 1.5, 2.5)
    ):
        raise ValueError(f"nu: expected one of 0.5, 1.5, 2.5, got {nu!r}")
    return float(nu)


def matern_profile(nu: float, r: jax.Array) -> jax.Array:
    """Half-integer Matérn correlation at scaled distance ``r >= 0`` (value 1 at 0).

    Args:
        nu: smoothness, one of 0.5, 1.5, 2.5.
        r: distance divided by the lengthscale, any shape (finite, >= 0; checked when concrete).

    Returns:
        Array of the shape of ``r``.

    Raises:
        ValueError: on another ``nu``, or a concrete ``r`` with a negative, NaN or infinite
            entry.
        TypeError: if ``r`` is not numeric.
    """
    nu = _check_nu(nu)
    r = _check_distance(r, "r")
    if nu == 0.5:
        return jnp.exp(-r)
    if nu == 1.5:
        s = jnp.sqrt(3.0) * r
        return (1.0 + s) * jnp.exp(-s)
    if nu == 2.5:
        s = jnp.sqrt(5.0) * r
        return (1.0 + s + s**2 / 3.0) * jnp.exp(-s)


class Matern12(RadialKernel):
    """Matérn-1/2 (exponential) kernel ``variance * exp(-||x - y|| / lengthscale)``."""

    name: ClassVar[str] = "Matern12"

    def profile(self, tau):
        return matern_profile(0.5, tau)


class Laplace(Matern12):
    """Laplace kernel ``variance * exp(-||x - y||_2 / lengthscale)`` (Euclidean norm).

    The same function as :class:`Matern12`; kernel thinning names it separately because its
    power kernels are Matérn kernels of smoothness ``alpha (d + 1) / 2`` (Dwivedi & Mackey 2022).
    """

    name: ClassVar[str] = "Laplace"


class Matern32(RadialKernel):
    """Matérn-3/2 kernel ``variance * (1 + sqrt(3) r) exp(-sqrt(3) r)``, ``r = ||x-y|| / l``."""

    name: ClassVar[str] = "Matern32"

    def profile(self, tau):
        return matern_profile(1.5, tau)


class Matern52(RadialKernel):
    """Matérn-5/2 kernel ``variance * (1 + sqrt(5) r + 5 r^2 / 3) exp(-sqrt(5) r)``."""

    name: ClassVar[str] = "Matern52"

    def profile(self, tau):
        return matern_profile(2.5, tau)


class InverseMultiquadric(RadialKernel):
    """Inverse multiquadric ``variance * (1 + ||x - y||^2 / lengthscale^2)^(-power)``.

    Args (besides the :class:`RadialKernel` ones):
        power: the exponent ``nu > 0`` (default 0.5), a static float.
    """

    name: ClassVar[str] = "InverseMultiquadric"
    power: float = 0.5

    def __init__(self, lengthscale=1.0, variance=1.0, power: float = 0.5, **kwargs):
        power = check_scalar(power, "power", 0.0, None)
        super().__init__(lengthscale=lengthscale, variance=variance, **kwargs)
        self.power = float(power)

    def profile(self, tau):
        return (1.0 + tau**2) ** (-self.power)

    def __call__(self, x, y):
        x, y = self._scaled(x, y)
        return (val(self.variance) * (1.0 + squared_distance(x, y)) ** (-self.power)).squeeze()


class Sinc(RadialKernel):
    """Sinc kernel ``variance * prod_j sin(d_j / l) / (d_j / l)`` with ``d = x - y``.

    Positive definite because its spectral density is the indicator of a box. It is a product
    over coordinates, not a radial function; :meth:`profile` is its one-dimensional factor.
    """

    name: ClassVar[str] = "Sinc"

    def profile(self, tau):
        return jnp.sinc(tau / jnp.pi)

    def __call__(self, x, y):
        x, y = self._scaled(x, y)
        return (val(self.variance) * jnp.prod(self.profile(x - y))).squeeze()


def _check_mixture(weights, means, scales) -> tuple[jax.Array, jax.Array, jax.Array]:
    w = check_array(weights, "weights", ndim=1)
    q = w.shape[0]
    mu = check_array(means, "means", ndim=(1, 2))
    mu = mu[:, None] if mu.ndim == 1 else mu
    if mu.shape[0] != q:
        raise ValueError(f"means: expected shape ({q}, d) to match weights, got {mu.shape}")
    s = check_array(scales, "scales", ndim=(1, 2))
    s = s[:, None] if s.ndim == 1 else s
    if s.shape != mu.shape:
        raise ValueError(f"scales: expected shape {mu.shape} to match means, got {s.shape}")
    check_positive(w, "weights")
    check_positive(s, "scales")
    return w, mu, s


class _SpectralMixtureBase(StationaryKernel):
    """Shared parameters of spectral-mixture kernels: ``weights (Q,)``, ``means, scales (Q, d)``."""

    weights: PositiveReal
    means: Real
    scales: PositiveReal

    def __init__(
        self,
        weights,
        means,
        scales,
        active_dims=None,
        compute_engine: AbstractKernelComputation | None = None,
    ):
        w, mu, s = _check_mixture(weights, means, scales)
        super().__init__(
            active_dims=active_dims,
            lengthscale=1.0,
            variance=1.0,
            n_dims=int(mu.shape[1]),
            compute_engine=compute_engine or DenseKernelComputation(),
        )
        self.weights = PositiveReal(w)
        self.means = Real(mu)
        self.scales = PositiveReal(s)

    def envelope(self, tau: jax.Array) -> jax.Array:
        """Per-component, per-dimension envelope at offsets ``tau (Q, d)`` (value 1 at 0)."""
        raise NotImplementedError

    def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
        tau = self.slice_input(x) - self.slice_input(y)  # (d,)
        mu = val(self.means)  # (Q, d)
        per_dim = self.envelope(jnp.broadcast_to(tau, mu.shape)) * jnp.cos(2 * jnp.pi * mu * tau)
        return jnp.sum(val(self.weights) * jnp.prod(per_dim, axis=-1))


class SpectralMixture(_SpectralMixtureBase):
    """Spectral mixture kernel: a Gaussian-mixture spectral density (Wilson & Adams 2013, eq. 12).

    ``k(tau) = sum_q w_q prod_j exp(-2 pi^2 s_qj^2 tau_j^2) cos(2 pi mu_qj tau_j)``, with
    ``tau = x - y``: component ``q`` puts spectral mass ``w_q`` on a Gaussian at frequency
    ``mu_q`` (cycles per unit length) with standard deviation ``s_q`` (symmetrised at ``-mu_q``).
    One component with mean 0 and scale ``1 / (2 pi l)`` is the Gaussian kernel of lengthscale l.

    Args:
        weights: positive mixture weights, shape ``(Q,)``.
        means: spectral means, shape ``(Q, d)`` (or ``(Q,)`` for d = 1).
        scales: positive spectral standard deviations, same shape as ``means``.
        active_dims, compute_engine: as for any GPJax kernel.

    Raises:
        ValueError: on mismatched shapes, non-finite or non-positive weights or scales.
    """

    name: ClassVar[str] = "SpectralMixture"

    def envelope(self, tau):
        return jnp.exp(-2.0 * jnp.pi**2 * (val(self.scales) * tau) ** 2)


class StudentTMixture(_SpectralMixtureBase):
    """Student-t spectral mixture: Matérn times cosine components (GP-HM, Fang et al. 2024).

    ``k(tau) = sum_q w_q prod_j m_nu(2 pi s_qj |tau_j|) cos(2 pi mu_qj tau_j)`` where ``m_nu`` is
    the Matérn correlation (:func:`matern_profile`). Each one-dimensional factor is the Fourier
    transform of a Student-t spectral density with ``2 nu`` degrees of freedom, location
    ``mu_qj`` and scale ``s_qj`` (cycles per unit length). With ``nu = 2.5`` and
    ``rho = 2 pi s`` this is the authors' ``Matern52_Cos_1d``:
    ``(1 + sqrt5 rho r + 5/3 rho^2 r^2) exp(-sqrt5 rho r) cos(2 pi mu r)``.

    Args:
        weights: positive mixture weights, shape ``(Q,)``.
        means: spectral locations, shape ``(Q, d)`` (or ``(Q,)`` for d = 1).
        scales: positive spectral scales, same shape as ``means``.
        nu: Matérn smoothness, one of 0.5, 1.5, 2.5 (default 2.5, the paper's choice).
        active_dims, compute_engine: as for any GPJax kernel.

    Raises:
        ValueError: as :class:`SpectralMixture`, or for an unsupported ``nu``.
    """

    name: ClassVar[str] = "StudentTMixture"
    nu: float = 2.5

    def __init__(self, weights, means, scales, nu: float = 2.5, **kwargs):
        nu = _check_nu(nu)
        super().__init__(weights, means, scales, **kwargs)
        self.nu = float(nu)

    def envelope(self, tau):
        # |tau| rather than a floored sqrt: autodiff then gives the exact second derivative
        # at tau = 0 (grad(abs)(0) = 1 and the Matérn-5/2 profile has zero slope there).
        return matern_profile(self.nu, 2.0 * jnp.pi * val(self.scales) * jnp.abs(tau))


def gram(k, X, Y=None, block_size: int | None = None) -> jax.Array:
    """Kernel matrix ``K[i, j] = k(X[i], Y[j])``.

    Args:
        k: a kernel callable on single points, ``k(x, y) -> scalar`` for ``x, y`` of shape (d,).
        X: points, shape ``(n, d)``.
        Y: points, shape ``(m, d)``; defaults to ``X``.
        block_size: if set, compute ``block_size`` rows at a time (``lax.map``), which bounds the
            memory of intermediates to ``block_size * m`` pairs instead of ``n * m``.

    Returns:
        Array of shape ``(n, m)``.

    Raises:
        TypeError: if ``k`` is not callable (or is a kernel class rather than an instance) or
            ``block_size`` is not an integer.
        ValueError: if ``X``/``Y`` are not rank 2 with the same ``d``, have NaN or infinite
            entries (checked when concrete), or ``block_size < 1``.
    """
    if isinstance(k, type):
        raise TypeError(f"k: expected a kernel instance, got the class {k.__name__}; call it first")
    if not callable(k):
        raise TypeError(f"k: expected a kernel callable k(x, y), got {type(k).__name__}")
    X = check_array(X, "X", ndim=2)
    Y = X if Y is None else check_array(Y, "Y", ndim=2)
    if Y.shape[1] != X.shape[1]:
        raise ValueError(
            f"Y: expected {X.shape[1]} columns to match X of shape {X.shape}, got {Y.shape}"
        )

    if block_size is not None:
        block_size = min(check_int(block_size, "block_size", minimum=1), X.shape[0])
    return _gram(k, X, Y, block_size)


def pairwise(k, X: jax.Array, Y: jax.Array) -> jax.Array:
    """Kernel matrix ``K[i, j] = k(X[i], Y[j])`` for use inside traced code (``jit``, ``vmap``):
    only the static shapes are checked, values are not.

    A ``Gaussian`` on all dimensions takes a fused path: squared differences accumulated one
    coordinate at a time let XLA write the ``(n, m)`` result in one pass, with no ``(n, m, d)``
    temporary (about 3x faster than the generic ``vmap`` at n = 2^14 on CPU, equal to rounding).

    Args:
        k: a kernel callable ``k(x, y) -> scalar`` on points of shape ``(d,)``.
        X: points, shape ``(n, d)``.
        Y: points, shape ``(m, d)``.

    Returns:
        Array of shape ``(n, m)``.

    Raises:
        TypeError: if ``k`` is not callable.
        ValueError: if ``X`` or ``Y`` is not rank 2 or their ``d`` differ.
    """
    if not callable(k):
        raise TypeError(f"k: expected a kernel callable k(x, y), got {type(k).__name__}")
    X = check_array(X, "X", finite=False)
    Y = check_array(Y, "Y", finite=False)
    if jnp.ndim(X) != 2 or jnp.ndim(Y) != 2 or X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"X, Y: expected shapes (n, d) and (m, d), got {jnp.shape(X)} and {jnp.shape(Y)}"
        )
    if type(k) is Gaussian and k.active_dims == slice(None):
        ls = val(k.lengthscale)
        a, b = X / ls, Y / ls
        sq = sum((a[:, j, None] - b[None, :, j]) ** 2 for j in range(X.shape[1]))
        return val(k.variance) * jnp.exp(-0.5 * sq)
    return jax.vmap(lambda x: jax.vmap(lambda y: k(x, y))(Y))(X)


@eqx.filter_jit
def _gram(k, X: jax.Array, Y: jax.Array, block_size: int | None) -> jax.Array:
    # Compiled once per kernel structure and shapes; kernel parameters are traced leaves.
    if block_size is None:
        return pairwise(k, X, Y)
    return jax.lax.map(lambda x: pairwise(k, x[None, :], Y)[0], X, batch_size=block_size)
