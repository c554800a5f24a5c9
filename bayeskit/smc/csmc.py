"""Conditional SMC with a frozen reference path: backward-sampling and ancestor-sampling kernels.

Slot 0 holds the reference path ``zeta_{0:T-1}``; the other ``N - 1`` particles follow a bootstrap
filter with multinomial resampling over all ``N``. The new path is drawn either by backward
sampling (CPF-BS) or by tracing the genealogy after ancestor sampling for the frozen slot
(CPF-AS). Both kernels leave the joint smoothing law invariant.

References: Andrieu, Doucet & Holenstein (2010), JRSS B 72(3), Section 4.5 (conditional SMC);
Whiteley (2010), discussion of the same paper (backward sampling); Lindsten, Jordan & Schon (2014),
JMLR 15, Algorithm 2 (ancestor sampling).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from bayeskit.random import as_key
from bayeskit.smc import filter as pf
from bayeskit.smc.models import StateSpaceModel
from bayeskit.validate import check_array, check_choice

__all__ = ["CSMCResult", "csmc", "VARIANTS"]

VARIANTS = ("backward", "ancestor")


class CSMCResult(NamedTuple):
    """Output of :func:`csmc`: the new reference ``path (T, dx)`` and the conditional filter's
    ``log_likelihood ()`` (not an unbiased estimate: the frozen path biases it)."""

    path: jax.Array
    log_likelihood: jax.Array


def _trans_row(model, theta, x_prev, x_next):
    return jax.vmap(model.trans_logpdf, in_axes=(0, None, None))(x_prev, x_next, theta)


def _draw(key, log_w):
    return pf._icdf(pf._cdf(log_w), jax.random.uniform(key, dtype=log_w.dtype))


def csmc_kernel(key, model, theta, ys, ref_path, n, variant):
    """One conditional SMC move (un-jitted core): returns ``(new_path, log_likelihood, faults)``."""
    T = ys.shape[0]
    k0, kscan, kpath = jax.random.split(key, 3)
    x = pf.init_particles(k0, model, theta, n).at[0].set(ref_path[0])
    lw = pf.obs_weights(model, theta, x, ys[0])
    faults = pf.weight_faults(pf.no_faults(), 0, lw)

    def step(carry, inp):
        x, lw, ll, faults = carry
        k, y, t, ref = inp
        k_move, k_as = jax.random.split(k)
        x_new, anc = pf.propagate(k_move, model, theta, x, lw, n, "multinomial")
        x_new = x_new.at[0].set(ref)
        if variant == "ancestor":
            a0 = _draw(k_as, lw + _trans_row(model, theta, x, ref))
        else:
            a0 = jnp.asarray(0, anc.dtype)
        anc = anc.at[0].set(a0)
        lw_new = pf.obs_weights(model, theta, x_new, y)
        faults = pf.weight_faults(faults, t, lw_new)
        return (x_new, lw_new, ll + pf.log_mean_weight(lw_new), faults), (x, lw, anc)

    inputs = (jax.random.split(kscan, T - 1), ys[1:], jnp.arange(1, T), ref_path[1:])
    init = (x, lw, pf.log_mean_weight(lw), faults)
    (xT, lwT, ll, faults), (xs, lws, ancs) = jax.lax.scan(step, init, inputs)
    k_last, k_back = jax.random.split(kpath)
    b_last = _draw(k_last, lwT)

    allx = jnp.concatenate([xs, xT[None]])
    if variant == "ancestor":

        def back_as(b_next, anc):
            b = anc[b_next]
            return b, b

        _, bs = jax.lax.scan(back_as, b_last, ancs, reverse=True)
    else:

        def back_bs(b_next, inp):
            x_t, lw_t, x_next, k = inp
            logits = lw_t + _trans_row(model, theta, x_t, x_next[b_next])
            b = _draw(k, logits)
            return b, (b, ~jnp.any(jnp.isfinite(logits)))

        keys = jax.random.split(k_back, T - 1)
        _, (bs, dead) = jax.lax.scan(back_bs, b_last, (xs, lws, allx[1:], keys), reverse=True)
        # the backward pass runs from T-2 down to 0: report the latest degenerate step
        last_dead = T - 2 - jnp.argmax(dead[::-1])
        faults = faults._replace(
            backward_step=pf.record(faults.backward_step, last_dead, jnp.any(dead))
        )
    idx = jnp.concatenate([bs, b_last[None]])
    return allx[jnp.arange(T), idx], ll, faults


_csmc_jit = partial(jax.jit, static_argnames=("model", "n", "variant"))(csmc_kernel)


def check_path(path: Any, name: str, ys: jax.Array, model: StateSpaceModel) -> jax.Array:
    return check_array(path, name, shape=(ys.shape[0], model.dim_x))


def csmc(
    key: Any,
    model: StateSpaceModel,
    theta: Any,
    ys: Any,
    ref_path: Any,
    *,
    n_particles: int,
    variant: str = "backward",
) -> CSMCResult:
    """One conditional SMC move from ``ref_path`` to a new path.

    Args:
        key: an int seed or PRNG key.
        model: the state-space model.
        theta: model parameters.
        ys: observations ``(T, dy)``.
        ref_path: the frozen reference path ``(T, dx)``.
        n_particles: ``N >= 2`` (slot 0 is the reference).
        variant: ``"backward"`` (CPF-BS, Whiteley 2010) or ``"ancestor"`` (CPF-AS, Lindsten et
            al. 2014).

    Returns:
        :class:`CSMCResult`.

    Raises:
        ValueError: on mismatched shapes, ``N < 2``, non-finite inputs, NaN log-densities or all
            weights ``-inf`` (the time step is named).
    """
    key = as_key(key, "key")
    ys, n = pf.validate_common(model, theta, ys, n_particles)
    ref = check_path(ref_path, "ref_path", ys, model)
    variant = check_choice(variant, "variant", VARIANTS)
    path, ll, faults = _csmc_jit(key, model, theta, ys, ref, n, variant)
    pf.raise_faults(faults, "csmc")
    return CSMCResult(path, ll)
