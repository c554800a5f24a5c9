"""PaRIS: online smoothing of additive functionals in O(N) memory, with exact, accept-reject and
hybrid backward samplers.

For an additive functional ``h_T(x_{0:T-1}) = sum_t h(t, x_{t-1}, x_t, y_t, theta)`` each particle
carries a statistic ``tau_t^i`` updated with ``n_backward`` draws from the backward kernel
``Lambda_t(i, j) ~ w_{t-1}^j m(x_{t-1}^j, x_t^i)``:
``tau_t^i = mean_k [tau_{t-1}^{J_k} + h(t, x_{t-1}^{J_k}, x_t^i, y_t, theta)]``, and the estimate
is ``sum_i w_t^i tau_t^i / sum_i w_t^i``. Only ``(x_t, w_t, tau_t)`` is carried between steps.

References: Olsson & Westerborn (2017), Bernoulli 23(3), Algorithm 1 and eq. (3.3); Douc,
Garivier, Moulines & Olsson (2011), Ann. Appl. Probab. 21(6) (accept-reject backward draws);
Dau & Chopin (2022), arXiv 2207.00976 (hybrid: capped trials then an exact draw).
"""

from __future__ import annotations

import functools
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from bayeskit.random import as_key
from bayeskit.smc import filter as pf
from bayeskit.smc.models import StateSpaceModel
from bayeskit.validate import check_choice, check_int

__all__ = ["ParisResult", "paris", "backward_sample", "SAMPLERS"]

SAMPLERS = ("exact", "accept_reject", "hybrid")


class ParisResult(NamedTuple):
    """Output of :func:`paris`.

    Fields:
        estimate: the smoothed expectation ``E[h_T(X_{0:T-1}) | y]``, same structure as ``h``'s
            output.
        log_likelihood: ``()`` particle-filter estimate of ``log p(y_{0:T-1})``.
        ess: ``(T,)`` effective sample size of the filter weights at each step.
        mean_proposals: ``()`` accept-reject proposals per backward draw (0 for ``"exact"``;
            for ``"hybrid"`` the exact fallback draws add no proposals).
    """

    estimate: Any
    log_likelihood: jax.Array
    ess: jax.Array
    mean_proposals: jax.Array


def default_max_trials(n_particles: int) -> int:
    """Hybrid cap on accept-reject proposals per draw before the exact fallback."""
    return max(4, min(16, n_particles // 16))


# ------------------------------------------------------------------------------ backward samplers
def _backward_logits(model, theta, x_prev, log_w_prev, x_new_rows):
    # (M, N) log w_prev^j + log m(x_prev^j, x_new^i)
    lm = jax.vmap(
        lambda xn: jax.vmap(model.trans_logpdf, in_axes=(0, None, None))(x_prev, xn, theta)
    )(x_new_rows)
    return log_w_prev[None, :] + lm


def _draw_rows(key, logits, k):
    """``k`` i.i.d. categorical draws per row by inverse CDF: ``(M, N) -> (M, k)``, and a flag
    for rows without support."""
    m = jnp.max(logits, axis=1, keepdims=True)
    safe_m = jnp.where(jnp.isfinite(m), m, 0.0)
    cdf = jnp.cumsum(jnp.exp(logits - safe_m), axis=1)
    u = jax.random.uniform(key, (logits.shape[0], k), dtype=cdf.dtype)
    idx = jax.vmap(lambda c, uu: jnp.searchsorted(c, uu * c[-1], side="right"))(cdf, u)
    dead = ~(cdf[:, -1] > 0) | jnp.any(jnp.isnan(logits), axis=1)
    return jnp.minimum(idx, logits.shape[1] - 1).astype(jnp.int32), dead


def _exact(key, model, theta, x_prev, log_w_prev, x_new, nb):
    logits = _backward_logits(model, theta, x_prev, log_w_prev, x_new)
    J, dead = _draw_rows(key, logits, nb)
    return J, jnp.asarray(0.0, log_w_prev.dtype), jnp.any(dead)


def _accept_reject(key, model, theta, x_prev, log_w_prev, x_new, nb, max_rounds, chunk):
    """Accept-reject backward draws, vectorised: each round proposes ``batch`` candidates per
    pending slot from ``Cat(w_prev)`` at once and keeps the first accepted one, which is exactly
    the sequential accept-reject outcome. With ``max_rounds=None`` rounds repeat until every slot
    is accepted; otherwise slots still pending after ``max_rounds`` proposals get exact draws,
    ``chunk`` rows at a time (the hybrid sampler)."""
    n = x_new.shape[0]
    cdf = pf._cdf(log_w_prev)
    log_bound = model.trans_log_bound(theta)
    k_ar, k_fb = jax.random.split(key)
    batch = 4 if max_rounds is None else max_rounds

    def trans_lp(j, i):
        return model.trans_logpdf(x_prev[j], x_new[i], theta)

    rows = jnp.broadcast_to(jnp.arange(n)[:, None, None], (n, nb, batch))

    def body(state):
        J, pending, trials, r, nan = state
        k1, k2 = jax.random.split(jax.random.fold_in(k_ar, r))
        prop = pf._icdf(cdf, jax.random.uniform(k1, (n, nb, batch), dtype=cdf.dtype))
        log_acc = jax.vmap(jax.vmap(jax.vmap(trans_lp)))(prop, rows) - log_bound
        u = jax.random.uniform(k2, (n, nb, batch), dtype=cdf.dtype)
        acc = jnp.log(u) < log_acc
        first = jnp.argmax(acc, axis=-1)
        any_acc = jnp.any(acc, axis=-1)
        chosen = jnp.take_along_axis(prop, first[..., None], axis=-1)[..., 0]
        accept = pending & any_acc
        # proposals used by a sequential sampler: up to and including the first acceptance
        used = jnp.where(any_acc, first + 1, batch)
        trials = trials + jnp.sum(jnp.where(pending, used, 0), dtype=jnp.int32)
        nan = nan | jnp.any(pending[..., None] & jnp.isnan(log_acc))
        return jnp.where(accept, chosen, J), pending & ~accept, trials, r + 1, nan

    init = (
        jnp.zeros((n, nb), jnp.int32),
        jnp.ones((n, nb), bool),
        jnp.asarray(0, jnp.int32),
        jnp.asarray(0, jnp.int32),
        jnp.asarray(False),
    )
    if max_rounds is None:
        state = jax.lax.while_loop(lambda s: jnp.any(s[1]), body, init)
    else:
        state = body(init)
    J, pending, trials, _, nan = state
    dead = nan
    if max_rounds is not None:
        # exact fallback: gather up to `chunk` pending slots, draw each from its backward row
        def fb_cond(s):
            return jnp.any(s[1])

        def fb_body(s):
            J, pending, c, dead = s
            # fill value n * nb is out of range: those writes are dropped
            flat = jnp.nonzero(pending.reshape(-1), size=chunk, fill_value=n * nb)[0]
            valid = flat < n * nb
            i = jnp.minimum(flat, n * nb - 1) // nb
            logits = _backward_logits(model, theta, x_prev, log_w_prev, x_new[i])
            draw, d = _draw_rows(jax.random.fold_in(k_fb, c), logits, 1)
            J = J.reshape(-1).at[flat].set(draw[:, 0], mode="drop").reshape(n, nb)
            pending = pending.reshape(-1).at[flat].set(False, mode="drop").reshape(n, nb)
            return J, pending, c + 1, dead | jnp.any(d & valid)

        J, pending, _, dead = jax.lax.while_loop(
            fb_cond, fb_body, (J, pending, jnp.asarray(0, jnp.int32), dead)
        )
    return J, trials.astype(log_w_prev.dtype), dead


def _backward(key, model, theta, x_prev, log_w_prev, x_new, nb, sampler, max_trials):
    """Dispatch to a backward sampler: returns ``(J (N, nb), n_proposals, dead)``."""
    if sampler == "exact":
        return _exact(key, model, theta, x_prev, log_w_prev, x_new, nb)
    n = x_new.shape[0]
    chunk = max(1, min(n * nb, -(-n // 4)))
    rounds = None if sampler == "accept_reject" else max_trials
    return _accept_reject(key, model, theta, x_prev, log_w_prev, x_new, nb, rounds, chunk)


def backward_sample(
    key: Any,
    model: StateSpaceModel,
    theta: Any,
    x_prev: Any,
    log_w_prev: Any,
    x_new: Any,
    *,
    n_backward: int,
    sampler: str = "hybrid",
    max_trials: int | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Draw ``n_backward`` indices per particle from the backward kernel
    ``Lambda(i, j) ~ exp(log_w_prev[j]) m(x_prev[j], x_new[i])``.

    Args:
        key: an int seed or PRNG key.
        model: the state-space model (``trans_log_bound`` needed unless ``sampler="exact"``).
        theta: model parameters.
        x_prev: ``(N, dx)`` particles at time ``t-1``.
        log_w_prev: ``(N,)`` their log-weights.
        x_new: ``(M, dx)`` particles at time ``t``.
        n_backward: draws per particle ``N-tilde >= 1``.
        sampler: ``"exact"`` (O(M N)), ``"accept_reject"`` (proposals from the weights, accepted
            with probability ``m / bound``) or ``"hybrid"`` (at most ``max_trials`` rounds, then
            exact draws for the slots still pending).
        max_trials: hybrid cap (default :func:`default_max_trials`).

    Returns:
        ``(J, n_proposals)``: ``(M, n_backward)`` int32 indices and the total number of
        accept-reject proposals made.

    Raises:
        ValueError: on bad shapes, options, or a backward kernel without support.
    """
    key = as_key(key)
    nb, sampler, max_trials = _check_backward_opts(model, n_backward, sampler, max_trials, 2)
    x_prev = jnp.asarray(x_prev)
    x_new = jnp.asarray(x_new)
    lw = jnp.asarray(log_w_prev)
    if x_prev.ndim != 2 or x_prev.shape[1] != model.dim_x:
        raise ValueError(f"x_prev: expected shape (N, {model.dim_x}), got {x_prev.shape}")
    if x_new.ndim != 2 or x_new.shape[1] != model.dim_x:
        raise ValueError(f"x_new: expected shape (M, {model.dim_x}), got {x_new.shape}")
    if lw.shape != (x_prev.shape[0],):
        raise ValueError(f"log_w_prev: expected shape ({x_prev.shape[0]},), got {lw.shape}")
    J, trials, dead = _backward_jit(key, model, theta, x_prev, lw, x_new, nb, sampler, max_trials)
    if bool(dead):
        raise ValueError("backward_sample: the backward kernel has no support for some particle")
    return J, trials


_backward_jit = jax.jit(_backward, static_argnums=(1, 6, 7, 8))


def _check_backward_opts(model, n_backward, sampler, max_trials, n_particles):
    if not isinstance(model, StateSpaceModel):
        raise TypeError(f"model: expected a StateSpaceModel, got {type(model).__name__}")
    nb = check_int(n_backward, "n_backward", minimum=1)
    sampler = check_choice(sampler, "sampler", SAMPLERS)
    if sampler != "exact" and model.trans_log_bound is None:
        raise ValueError(
            f"sampler: {sampler!r} needs model.trans_log_bound, which {model.name} does not "
            "provide; use sampler='exact'"
        )
    if max_trials is None:
        max_trials = default_max_trials(n_particles)
    max_trials = check_int(max_trials, "max_trials", minimum=1)
    return nb, sampler, max_trials


# ------------------------------------------------------------------------------------ the pass
class _Pass(NamedTuple):
    estimate: jax.Array  # flat (dim h,)
    log_likelihood: jax.Array
    ess: jax.Array  # (T,)
    mean_proposals: jax.Array
    faults: pf.Faults
    particles: Any  # (T, N, dx) when keep_path else None
    log_w_last: Any  # (N,) when keep_path
    backward_first: Any  # (T-1, N) first backward index per particle when keep_path


@functools.cache
def _flatten(h):
    # cached so that the same h gives the same (hashable) function and jit reuses its compilation
    def h_flat(t, xp, x, y, p):
        return ravel_pytree(h(t, xp, x, y, p))[0]

    return h_flat


def flat_functional(h, model, theta_h, ys):
    """Flatten ``h``'s (pytree) output: returns ``(h_flat(t, xp, x, y, p), unravel, dim)``."""
    if not callable(h):
        raise TypeError(f"h: expected a callable h(t, x_prev, x, y, theta), got {type(h).__name__}")
    x = jnp.zeros((model.dim_x,), ys.dtype)
    out = jax.eval_shape(lambda: h(1, x, x, ys[0], theta_h))
    zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), out)
    flat0, unravel = ravel_pytree(zeros)
    return _flatten(h), unravel, flat0.shape[0]


def paris_pass(
    key,
    model,
    theta,
    ys,
    h_flat,
    theta_h,
    n,
    nb,
    sampler,
    max_trials,
    method="multinomial",
    ref_path=None,
    keep_path=False,
):
    """One (conditional) PaRIS pass; un-jitted core shared by :func:`paris` and PPG.

    With ``ref_path (T, dx)`` slot 0 is frozen to the reference path (conditional SMC) and every
    particle, the frozen one included, gets backward draws from the full weighted population.
    """
    T = ys.shape[0]
    k0, kscan = jax.random.split(key)
    x = pf.init_particles(k0, model, theta, n)
    if ref_path is not None:
        x = x.at[0].set(ref_path[0])
    lw = pf.obs_weights(model, theta, x, ys[0])
    tau = jax.vmap(lambda xi: h_flat(0, None, xi, ys[0], theta_h))(x)
    faults = pf.weight_faults(pf.no_faults(), 0, lw)

    def step(carry, inp):
        x, lw, tau, ll, trials, faults = carry
        k, y, t, ref = inp
        k_move, k_back = jax.random.split(k)
        x_new, _ = pf.propagate(k_move, model, theta, x, lw, n, method)
        if ref is not None:
            x_new = x_new.at[0].set(ref)
        lw_new = pf.obs_weights(model, theta, x_new, y)
        J, tr, dead = _backward(k_back, model, theta, x, lw, x_new, nb, sampler, max_trials)
        hv = jax.vmap(jax.vmap(lambda j, xn: h_flat(t, x[j], xn, y, theta_h), in_axes=(0, None)))(
            J, x_new
        )
        tau_new = jnp.mean(tau[J] + hv, axis=1)
        faults = pf.weight_faults(faults, t, lw_new)
        faults = faults._replace(backward_step=pf.record(faults.backward_step, t, dead))
        carry = (x_new, lw_new, tau_new, ll + pf.log_mean_weight(lw_new), trials + tr, faults)
        out = (pf._ess(lw_new), (x_new, J[:, 0]) if keep_path else None)
        return carry, out

    refs = None if ref_path is None else ref_path[1:]
    inputs = (jax.random.split(kscan, T - 1), ys[1:], jnp.arange(1, T), refs)
    init = (x, lw, tau, pf.log_mean_weight(lw), jnp.zeros((), lw.dtype), faults)
    (xT, lwT, tauT, ll, trials, faults), (esses, hist) = jax.lax.scan(step, init, inputs)
    w = jax.nn.softmax(lwT)
    estimate = w @ tauT
    mean_prop = trials / (n * nb * (T - 1))
    particles = backward_first = log_w_last = None
    if keep_path:
        particles = jnp.concatenate([x[None], hist[0]])
        backward_first = hist[1]
        log_w_last = lwT
    return _Pass(
        estimate,
        ll,
        jnp.concatenate([pf._ess(lw)[None], esses]),
        mean_prop,
        faults,
        particles,
        log_w_last,
        backward_first,
    )


def trace_path(key, particles, log_w_last, backward_first):
    """Draw a path ``(T, dx)`` by following the stored backward indices from ``b_T ~ Cat(w_T)``."""
    b_last = pf._icdf(pf._cdf(log_w_last), jax.random.uniform(key, dtype=log_w_last.dtype))

    def step(b_next, J_t):
        b = J_t[b_next]
        return b, b

    _, bs = jax.lax.scan(step, b_last, backward_first, reverse=True)
    idx = jnp.concatenate([bs, b_last[None]])
    return particles[jnp.arange(particles.shape[0]), idx]


@partial(jax.jit, static_argnames=("model", "h_flat", "n", "nb", "sampler", "max_trials", "method"))
def _paris_jit(key, model, theta, ys, h_flat, n, nb, sampler, max_trials, method):
    return paris_pass(key, model, theta, ys, h_flat, theta, n, nb, sampler, max_trials, method)


def paris(
    key: Any,
    model: StateSpaceModel,
    theta: Any,
    ys: Any,
    h: Any,
    *,
    n_particles: int,
    n_backward: int = 2,
    sampler: str = "hybrid",
    max_trials: int | None = None,
    resampling: str = "multinomial",
) -> ParisResult:
    """Estimate a smoothed additive functional online with PaRIS, in O(N (d_x + dim h)) memory.

    Args:
        key: an int seed or PRNG key.
        model: the state-space model.
        theta: model parameters (pytree of finite arrays).
        ys: observations ``(T, dy)``, ``T >= 2``.
        h: the per-step term ``h(t, x_prev, x, y, theta)`` (a pytree of arrays) for the transition
            ``x_{t-1} -> x_t`` with ``y = y_t``; at ``t = 0`` it is called with ``x_prev=None``
            for the initial term (return zeros there if there is none). The target is
            ``E[sum_{t=0}^{T-1} h(t, X_{t-1}, X_t, y_t, theta) | y_{0:T-1}]``.
        n_particles: ``N >= 2``.
        n_backward: backward draws per particle ``N-tilde >= 1`` (2 is the usual choice; 1
            degenerates like the path-space smoother).
        sampler: ``"exact"``, ``"accept_reject"`` or ``"hybrid"`` (see :func:`backward_sample`).
        max_trials: hybrid cap on accept-reject proposals per draw (default
            ``clip(N // 16, 4, 16)``).
        resampling: ``"multinomial"`` (the analysed setting) or ``"systematic"``.

    Returns:
        :class:`ParisResult`.

    Raises:
        ValueError: on mismatched observation shapes, ``N < 2``, ``N-tilde < 1``, non-finite
            observations or parameters, a model log-density returning NaN, all weights ``-inf``
            or a backward kernel without support (the time step is named).
        TypeError: if ``model`` is not a :class:`StateSpaceModel`.

    Reference: Olsson & Westerborn (2017), Algorithm 1.
    """
    key = as_key(key)
    ys, n = pf.validate_common(model, theta, ys, n_particles)
    nb, sampler, max_trials = _check_backward_opts(model, n_backward, sampler, max_trials, n)
    method = check_choice(resampling, "resampling", pf.RESAMPLING)
    h_flat, unravel, _ = flat_functional(h, model, theta, ys)
    out = _paris_jit(key, model, theta, ys, h_flat, n, nb, sampler, max_trials, method)
    pf.raise_faults(out.faults, "paris")
    return ParisResult(unravel(out.estimate), out.log_likelihood, out.ess, out.mean_proposals)
