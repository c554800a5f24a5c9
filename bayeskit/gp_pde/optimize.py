"""The outer optimisers: the profiled step (inner solve, then a guarded hyperparameter step) with
its default optimizer, the paper's joint Adam step, their initial state and jitted chunks of steps."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from bayeskit.gp_pde import spectral as sp
from bayeskit.gp_pde.inner import _inner
from bayeskit.gp_pde.model import _loss, _loss_adjoint
from bayeskit.gp_pde.state import _Accepted, _State

REJECT_RISE = 1.0  # a profiled step raising L by more (nats) is retried at half the scale


def _profile_step(static, data, optimizer, state: _State) -> _State:
    """One step of the profiled method: ``U`` given the hyperparameters, then one optimizer step
    on ``(kernel hyperparameters, log tau, log v)`` with the gradient of ``L`` at the new ``U``.

    A step is accepted unless the profiled objective rose by more than ``REJECT_RISE`` (one
    nat) or is NaN; otherwise the hyperparameters go back to the last accepted point and retry
    its update at half the scale (the scale doubles back, up to 1, on each accepted step). The
    allowance lets Adam's momentum take the small uphill steps it needs (with none, a run
    stalled: its update pointed uphill at every scale). Without the guard a 1500-step
    Allen-Cahn 1-D sin 6x cos 100x run left its optimum once the precisions had sharpened the
    objective (error 5e-6 at step 550, 0.43 at the end; 2.1e-6 with it)."""
    acc = state.accepted
    hyper = (state.params, state.log_tau, state.log_v)
    u, rel = _inner(static, data, state.params, state.values, state.log_tau, state.log_v)
    loss, grads = jax.value_and_grad(lambda h: _loss(static, data, u, *h))(hyper)
    ok = loss <= acc.loss + REJECT_RISE  # False for a NaN loss
    updates, opt_state = optimizer.update(grads, state.opt_state, hyper)
    scale = jnp.where(ok, jnp.minimum(2.0 * acc.scale, 1.0), 0.5 * acc.scale)

    def pick(new, old):  # leafwise: ``new`` if the step is accepted, else ``old``
        return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)

    acc = pick(
        _Accepted(u, hyper, loss, updates, scale, acc.rejected),
        acc._replace(scale=scale, rejected=acc.rejected + 1),
    )
    step = jax.tree.map(lambda x: acc.scale * x, acc.update)
    params, log_tau, log_v = optax.apply_updates(acc.hyper, step)
    opt_state = pick(opt_state, state.opt_state)
    return _State(acc.values, params, log_tau, log_v, opt_state, rel, acc)


def _adam_step(static, data, optimizer, state: _State) -> _State:
    """One step of the paper's joint first-order optimisation of ``(U, hyperparameters)``."""
    tree = (state.values, state.params, state.log_tau, state.log_v)

    def loss(t):
        return _loss_adjoint(static, data, *t)

    grads = jax.grad(loss)(tree)
    updates, opt_state = optimizer.update(grads, state.opt_state, tree)
    u, params, log_tau, log_v = optax.apply_updates(tree, updates)
    return _State(u, params, log_tau, log_v, opt_state, state.inner_residual)


@functools.lru_cache(maxsize=16)  # one object per setting, so that the chunks below are reused
def _profile_optimizer(steps: int, freq_peak: float = 0.01) -> optax.GradientTransformation:
    """The default optimizer of ``method="profile"``: Adam on ``(params, log_tau, log_v)`` with
    step sizes decaying on a cosine schedule to 1% over ``steps``.

    Peak step sizes: 0.03 for the log weights and log scales; ``freq_peak`` for the frequencies
    (cycles per unit length; ``solve`` passes ``defaults.freq_step``, 0.01 at ``freq_scale``
    20), where 0.03 at that scale made long runs jump between nearby optima once the precisions
    had sharpened the objective (1500-step Poisson 1-D sin 100x: 2.8e-4 or 8.4e-7 depending on
    rounding, against 6.2e-7 and 9.0e-7 with 0.01). For ``log tau`` and ``log v`` the larger of
    that schedule with peak 0.03 and one with peak 0.06 over the first ``min(steps, 300)``
    steps: the early climb takes ``v`` past the stationary point that holds it near e^3 in 2-D
    (Poisson 2-D sin 6x cos 20x: 4e-4 instead of 1.5e-3 at 300 steps and 1.3e-3 at 1000),
    while 0.06 throughout made long runs jump (1500 steps: Poisson 1-D sin 100x 4.7e-5 to
    7.9e-4, Allen-Cahn 1-D 9.6e-4). Measurements in docs/gp_pde_measurements.md.
    """

    def cosine(peak, length):
        return optax.cosine_decay_schedule(peak, length, alpha=0.01)

    early, late = cosine(0.06, min(steps, 300)), cosine(0.03, steps)
    labels = (sp.MixtureParams("kernel", "kernel", "freq"), "precision", "precision")
    groups = {
        "kernel": optax.adam(cosine(0.03, steps)),
        "freq": optax.adam(cosine(freq_peak, steps)),
        "precision": optax.adam(lambda count: jnp.maximum(early(count), late(count))),
    }
    return optax.multi_transform(groups, labels)


def _opt_target(method, state: _State):
    if method == "profile":
        return (state.params, state.log_tau, state.log_v)
    return (state.values, state.params, state.log_tau, state.log_v)


def _make_chunk(static, method, optimizer, length):
    """The jitted chunk of ``length`` steps, compiled once per configuration and process: a
    later ``solve`` with the same static configuration, method, optimizer object and chunk
    length reuses it (an unhashable optimizer gets a chunk of its own)."""
    try:
        return _cached_chunk(static, method, optimizer, length)
    except TypeError:  # lru_cache could not hash the optimizer
        return _build_chunk(static, method, optimizer, length)


def _build_chunk(static, method, optimizer, length):
    step = _profile_step if method == "profile" else _adam_step

    @jax.jit
    def chunk(data, state):
        def body(s, _):
            return step(static, data, optimizer, s), None

        state, _ = jax.lax.scan(body, state, None, length=length)
        if method == "profile":  # the objective at the last accepted point
            return state, state.accepted.loss
        loss = _loss(static, data, state.values, state.params, state.log_tau, state.log_v)
        return state, loss

    return chunk


_cached_chunk = functools.lru_cache(maxsize=32)(_build_chunk)


def _initial_state(grid, params, optimizer, method) -> _State:
    """Zero grid values of shape ``grid``, ``log tau = log v = 0``, the optimizer's initial
    state and, for ``method="profile"``, an accepted point with an infinite objective (so the
    first step is always accepted)."""
    u, zero = jnp.zeros(grid), jnp.zeros(())
    state = _State(u, params, zero, zero, None, zero)
    state = state._replace(opt_state=optimizer.init(_opt_target(method, state)))
    if method != "profile":
        return state
    hyper = (params, zero, zero)
    update = jax.tree.map(jnp.zeros_like, hyper)
    acc = _Accepted(u, hyper, jnp.asarray(jnp.inf), update, jnp.ones(()), jnp.zeros((), int))
    return state._replace(accepted=acc)


def _reported(state: _State) -> _State:
    """The state to report: for ``method="profile"`` the last accepted point, whose grid values
    solve for its own hyperparameters."""
    acc = state.accepted
    if acc is None:
        return state
    params, log_tau, log_v = acc.hyper
    return state._replace(values=acc.values, params=params, log_tau=log_tau, log_v=log_v)
