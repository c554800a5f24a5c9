"""Bootstrap particle filter with multinomial or systematic resampling, in ``lax.scan``.

Resampling happens at every step (the setting analysed for PaRIS and PPG). The log-likelihood
estimate ``sum_t log(mean_i w_t^i)`` is unbiased for ``p(y_{0:T-1})`` on the natural scale.

References: Gordon, Salmond & Smith (1993), IEE Proc. F 140(2); Del Moral (2004), Feynman-Kac
Formulae, Prop. 7.4.1 (unbiasedness); Olsson & Westerborn (2017), Section 2.2.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

from bayeskit.parallel import _check_mesh, gather, named_sharding
from bayeskit.random import as_key
from bayeskit.smc.models import StateSpaceModel, check_model_theta
from bayeskit.validate import check_array, check_choice, check_int, check_log_weights

__all__ = ["FilterResult", "bootstrap_filter", "resample", "ess"]

RESAMPLING = ("multinomial", "systematic")


class FilterResult(NamedTuple):
    """Output of :func:`bootstrap_filter`.

    Fields: ``log_likelihood ()`` (estimate of ``log p(y_{0:T-1})``), ``ess (T,)`` (effective
    sample size of the weights at each step), ``particles (N, dx)`` and ``log_weights (N,)`` at the
    last step.
    """

    log_likelihood: jax.Array
    ess: jax.Array
    particles: jax.Array
    log_weights: jax.Array


def ess(log_weights: Any) -> jax.Array:
    """Kish effective sample size ``(sum w)^2 / sum w^2`` of log-weights.

    Args:
        log_weights: ``(N,)`` unnormalised log-weights, ``N >= 1`` (``-inf`` is a zero weight).

    Returns:
        Scalar in ``[1, N]``.

    Raises:
        ValueError: if ``log_weights`` is not 1-D, is empty, has NaN or ``+inf`` entries, or
            is ``-inf`` everywhere (see :func:`bayeskit.validate.check_log_weights`).
    """
    return _ess(check_log_weights(log_weights))


def _ess(log_weights: jax.Array) -> jax.Array:
    return jnp.exp(2.0 * jax.nn.logsumexp(log_weights) - jax.nn.logsumexp(2.0 * log_weights))


def _cdf(log_weights: jax.Array) -> jax.Array:
    # unnormalised cumulative weights; safe when some (not all) weights are -inf
    w = jnp.exp(log_weights - jnp.max(log_weights))
    return jnp.cumsum(w)


def _icdf(cdf: jax.Array, u: jax.Array) -> jax.Array:
    # index j with cdf[j-1] <= u * total < cdf[j]; zero-weight entries have empty intervals
    idx = jnp.searchsorted(cdf, u * cdf[-1], side="right")
    return jnp.minimum(idx, cdf.shape[0] - 1)


def _resample(key: jax.Array, log_weights: jax.Array, n: int, method: str) -> jax.Array:
    cdf = _cdf(log_weights)
    if method == "systematic":
        u = (jax.random.uniform(key, dtype=cdf.dtype) + jnp.arange(n, dtype=cdf.dtype)) / n
    else:
        u = jax.random.uniform(key, (n,), dtype=cdf.dtype)
    return _icdf(cdf, u)


def resample(key: Any, log_weights: Any, n: int, method: str = "multinomial") -> jax.Array:
    """Draw ``n`` ancestor indices with probabilities proportional to ``exp(log_weights)``.

    Args:
        key: an int seed or PRNG key.
        log_weights: ``(N,)`` unnormalised log-weights, at least one finite.
        n: number of indices (>= 1).
        method: ``"multinomial"`` (i.i.d. draws) or ``"systematic"`` (one shared uniform).

    Returns:
        ``(n,)`` int32 indices in ``[0, N)``.

    Raises:
        ValueError: on a bad ``method``, ``n < 1``, an empty weight vector, NaN or ``+inf``
            weights or all weights ``-inf``.
    """
    key = as_key(key, "key")
    n = check_int(n, "n", minimum=1)
    method = check_choice(method, "method", RESAMPLING)
    lw = check_log_weights(log_weights, "log_weights")
    return _resample(key, lw, n, method)


# ---------------------------------------------------------------- diagnostics shared by the package
# Inside jitted code a degenerate step is recorded as the first time index where it happened
# (-1: never); the public functions raise on the host with that step named.
NO_FAULT = -1


class Faults(NamedTuple):
    """First time step (or -1) at which a log-density was NaN, all filter weights were -inf, a
    backward kernel had no support, or a transition density exceeded ``trans_log_bound``."""

    nan_step: jax.Array
    dead_step: jax.Array
    backward_step: jax.Array
    bound_step: jax.Array


def no_faults() -> Faults:
    return Faults(*(jnp.asarray(NO_FAULT, jnp.int32) for _ in Faults._fields))


def record(step: jax.Array, t: Any, bad: jax.Array) -> jax.Array:
    """Keep the first step ``t`` at which ``bad`` held."""
    return jnp.where((step == NO_FAULT) & bad, jnp.asarray(t, jnp.int32), step)


def weight_faults(faults: Faults, t: Any, log_weights: jax.Array) -> Faults:
    return faults._replace(
        nan_step=record(faults.nan_step, t, jnp.any(jnp.isnan(log_weights))),
        dead_step=record(faults.dead_step, t, jnp.all(log_weights == -jnp.inf)),
    )


def raise_faults(faults: Faults, where: str, check_bound: bool = True) -> None:
    """Raise a ``ValueError`` naming the first faulty time step (over any batch axes); with
    ``check_bound=False`` a transition density above ``trans_log_bound`` is not an error.

    Flags sharded across processes (chains on a multi-process mesh) are gathered first, so
    every process raises the same error."""
    faults = gather(faults)
    checks = [
        ("nan_step", "a model log-density returned NaN"),
        ("dead_step", "all particle weights are zero (every log-weight is -inf)"),
        ("backward_step", "the backward kernel has no support (all backward weights are zero)"),
    ]
    if check_bound:
        checks.append(
            (
                "bound_step",
                "the transition density exceeds exp(model.trans_log_bound), an accept-reject "
                "acceptance ratio above 1 (biased backward draws)",
            )
        )
    for field, what in checks:
        steps = getattr(faults, field)
        bad = steps[steps >= 0]
        if bad.size:
            raise ValueError(f"{where}: {what} at time step {int(bad.min())}")


def validate_common(
    model: Any, theta: Any, ys: Any, n_particles: Any, theta_name: str = "theta"
) -> tuple[jax.Array, int]:
    """Checks shared by the public particle functions; returns ``(ys, n_particles)``."""
    if not isinstance(model, StateSpaceModel):
        raise TypeError(f"model: expected a StateSpaceModel, got {type(model).__name__}")
    ys = check_array(ys, "ys", ndim=2)
    if ys.shape[1] != model.dim_y:
        raise ValueError(f"ys: expected shape (T, {model.dim_y}) for {model.name}, got {ys.shape}")
    if ys.shape[0] < 2:
        raise ValueError(f"ys: expected at least 2 time steps, got shape {ys.shape}")
    check_model_theta(model, theta, theta_name)
    n = check_int(n_particles, "n_particles", minimum=2)
    return ys, n


def init_particles(key, model, theta, n):
    return jax.vmap(model.init_sample, in_axes=(0, None))(jax.random.split(key, n), theta)


def _on_particles(mesh, tree):
    """Constrain the particle axis (axis 0) of every array of ``tree`` to be split across
    ``mesh`` (no-op without a mesh), so that the elementwise work runs on every device."""
    if mesh is None:
        return tree
    return jax.tree_util.tree_map(
        lambda a: jax.lax.with_sharding_constraint(a, named_sharding(mesh, a.ndim)), tree
    )


def _replicated(mesh, a):
    """``a`` gathered whole on every device of ``mesh`` (no-op without a mesh)."""
    if mesh is None:
        return a
    return jax.lax.with_sharding_constraint(a, NamedSharding(mesh, PartitionSpec()))


def propagate(key, model, theta, x, log_weights, n, method, mesh=None):
    """Resample ancestors and move them through the transition (bootstrap proposal).

    With a ``mesh`` (particles split across it) every device gathers the weights and states,
    draws all ancestors (the same draws as without a mesh) and moves its own block."""
    k_res, k_move = jax.random.split(key)
    anc = _resample(k_res, _replicated(mesh, log_weights), n, method)
    keys = _on_particles(mesh, jax.random.split(k_move, n))
    parents = _on_particles(mesh, _replicated(mesh, x)[anc])
    return jax.vmap(model.trans_sample, in_axes=(0, 0, None))(keys, parents, theta), anc


def obs_weights(model, theta, x, y):
    return jax.vmap(model.obs_logpdf, in_axes=(0, None, None))(x, y, theta)


def log_mean_weight(log_weights: jax.Array) -> jax.Array:
    return jax.nn.logsumexp(log_weights) - math.log(log_weights.shape[0])


@partial(jax.jit, static_argnames=("model", "n", "method", "mesh"))
def _bootstrap_filter(key, model, theta, ys, n, method, mesh=None):
    k0, kscan = jax.random.split(key)
    x = _on_particles(mesh, init_particles(k0, model, theta, n))
    lw = _on_particles(mesh, obs_weights(model, theta, x, ys[0]))
    faults = weight_faults(no_faults(), 0, lw)
    ess0 = _ess(lw)

    def step(carry, inp):
        x, lw, ll, faults = carry
        k, y, t = inp
        x, _ = propagate(k, model, theta, x, lw, n, method, mesh)
        lw = _on_particles(mesh, obs_weights(model, theta, x, y))
        faults = weight_faults(faults, t, lw)
        return (x, lw, ll + log_mean_weight(lw), faults), _ess(lw)

    T = ys.shape[0]
    inputs = (jax.random.split(kscan, T - 1), ys[1:], jnp.arange(1, T))
    (x, lw, ll, faults), esses = jax.lax.scan(step, (x, lw, log_mean_weight(lw), faults), inputs)
    return FilterResult(ll, jnp.concatenate([ess0[None], esses]), x, lw), faults


def bootstrap_filter(
    key: Any,
    model: StateSpaceModel,
    theta: Any,
    ys: Any,
    *,
    n_particles: int,
    resampling: str = "multinomial",
    mesh: Any = None,
) -> FilterResult:
    """Run a bootstrap particle filter with resampling at every step.

    Args:
        key: an int seed or PRNG key.
        model: the state-space model.
        theta: model parameters (pytree of finite arrays).
        ys: observations ``(T, dy)``, ``T >= 2``.
        n_particles: number of particles ``N >= 2``.
        resampling: ``"multinomial"`` or ``"systematic"``.
        mesh: ``None``, or a 1-D ``jax.sharding.Mesh`` (:func:`bayeskit.parallel.device_mesh`)
            to split the particles across its devices (for large ``N``): propagation and
            weighting run on every device's block, resampling gathers the weights and the
            ancestors it draws. ``n_particles`` must be a multiple of the device count. The
            draws are the same as without a mesh; the log-likelihood and ESS sum the weights in
            another order, so they agree to float rounding (tested to rtol 1e-12 in float64).

    Returns:
        :class:`FilterResult` (``particles``, ``log_weights`` split across ``mesh``).

    Raises:
        ValueError: on mismatched observation shapes, ``N < 2``, non-finite inputs, a model
            log-density returning NaN or all weights ``-inf`` at some step (the step is named).
    """
    key = as_key(key, "key")
    ys, n = validate_common(model, theta, ys, n_particles)
    method = check_choice(resampling, "resampling", RESAMPLING)
    if mesh is not None:
        mesh = _check_mesh(mesh)
        if n % mesh.size:
            raise ValueError(
                f"n_particles: expected a multiple of the mesh's {mesh.size} devices, got {n}"
            )
    res, faults = _bootstrap_filter(key, model, theta, ys, n, method, mesh)
    raise_faults(faults, "bootstrap_filter")
    return res
