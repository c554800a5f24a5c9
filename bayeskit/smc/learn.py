"""Parameter and variational-smoother learning with PPG (or PaRIS) estimates of additive
functionals: maximum likelihood through the Fisher identity, and Markov score climbing.

- MLE: the score ``grad log p_theta(y)`` is the smoothed expectation of the additive functional
  ``sum_t grad_theta [log m_theta(x_{t-1}, x_t) + log g_theta(x_t, y_t)]`` (Fisher identity), estimated
  by PPG with the reference path carried from one optimiser step to the next (a Markovian
  stochastic approximation) or by PaRIS.
- MSC: the inclusive KL ``KL(p_theta(x | y) || q_lambda)`` has gradient ``-E_p[grad log q_lambda(X)]``;
  for a backward Markov Gaussian family ``q(x_{T-1}) prod_t q(x_t | x_{t+1})`` that is an additive
  functional too, so the same PPG pass estimates it.

References: Cardoso et al. (2023), arXiv 2301.00900, Section 4 (PPG-based MLE and MSC); Cappe,
Moulines & Ryden (2005), Prop. 10.1.6 (Fisher identity); Naesseth, Lindsten & Blei (2020),
NeurIPS, "Markovian score climbing".
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from bayeskit._progress import progress_range, show_progress
from bayeskit.random import as_key
from bayeskit.smc import filter as pf
from bayeskit.smc.models import StateSpaceModel, _mvn_logpdf
from bayeskit.smc.paris import FlatFunctional, _check_backward_opts, flat_functional, paris_pass
from bayeskit.smc.ppg import initial_path, ppg_iterations
from bayeskit.validate import (
    check_array,
    check_bool,
    check_choice,
    check_in_range,
    check_int,
    check_optimizer,
)

__all__ = [
    "score_functional",
    "MLEResult",
    "mle",
    "MSCResult",
    "msc",
    "init_smoother",
    "smoother_marginals",
    "smoother_logpdf_term",
]

ESTIMATORS = ("ppg", "paris")
# module-level defaults: the optimiser is a static argument of the jitted steps, so one instance
# lets repeated calls with the same options reuse the compilation
_MLE_OPTIMIZER = optax.adam(1e-2)
_MSC_OPTIMIZER = optax.adam(5e-2)


class _Score(eqx.Module):
    model: StateSpaceModel = eqx.field(static=True)

    def __call__(self, t, x_prev, x, y, theta):
        model = self.model
        if x_prev is None:

            def f(th):
                return model.init_logpdf(x, th) + model.obs_logpdf(x, y, th)

        else:

            def f(th):
                return model.trans_logpdf(x_prev, x, th) + model.obs_logpdf(x, y, th)

        return jax.grad(f)(theta)


def score_functional(model: StateSpaceModel):
    """The Fisher-identity score as an additive functional ``h(t, x_prev, x, y, theta)``.

    Returns ``grad_theta [log chi(x) + log g(x, y)]`` at ``t = 0`` and
    ``grad_theta [log m(x_prev, x) + log g(x, y)]`` after; its smoothed expectation is
    ``grad_theta log p_theta(y_{0:T-1})``. An equinox Module: the functionals of one model compare
    equal, so jitted callers compile once per model.
    """
    if not isinstance(model, StateSpaceModel):
        raise TypeError(f"model: expected a StateSpaceModel, got {type(model).__name__}")
    return _Score(model)


def restrict_optimizer(optimizer, params: Any, learn: Any, name: str):
    """``optimizer`` applied to the top-level fields ``learn`` of the dict ``params`` only; the
    other fields get zero updates (they stay fixed). ``learn=None`` learns everything.

    Raises:
        TypeError: if ``learn`` is given and ``params`` is not a dict.
        ValueError: if ``learn`` is empty or names a field ``params`` lacks.
    """
    if learn is None:
        return optimizer
    if not isinstance(learn, str) and not (
        isinstance(learn, list | tuple) and all(isinstance(k, str) for k in learn)
    ):
        raise TypeError(f"learn: expected a field name or a list of field names, got {learn!r}")
    names = (learn,) if isinstance(learn, str) else tuple(learn)
    if not isinstance(params, dict):
        raise TypeError(
            f"learn: choosing fields needs {name} as a dict, got {type(params).__name__}"
        )
    unknown = [k for k in names if k not in params]
    if not names or unknown:
        raise ValueError(
            f"learn: expected a non-empty subset of the fields {sorted(params)} of {name}, "
            f"got {list(names)}"
        )
    labels = {
        k: jax.tree_util.tree_map(lambda _, k=k: "learn" if k in names else "fixed", v)
        for k, v in params.items()
    }
    return optax.multi_transform({"learn": optimizer, "fixed": optax.set_to_zero()}, labels)


def _check_learn(
    model, theta0, ys, n_particles, n_backward, sampler, max_trials, burn_in, iters, name
):
    ys, n = pf.validate_common(model, theta0, ys, n_particles, name)
    nb, sampler, max_trials = _check_backward_opts(model, n_backward, sampler, max_trials, n)
    k0 = check_int(burn_in, "burn_in", minimum=0)
    kk = check_int(iters, "iterations", minimum=1)
    return ys, n, nb, sampler, max_trials, k0, kk


def _estimate(key, model, theta, ys, h_flat, theta_h, n, nb, sampler, mt, estimator, k0, kk, path):
    """One additive-functional estimate (flat) and the next reference path."""
    if estimator == "paris":
        out = paris_pass(key, model, theta, ys, h_flat, theta_h, n, nb, sampler, mt)
        return out.estimate, path, out.faults
    ests, paths, _, faults = ppg_iterations(
        key, model, theta, ys, h_flat, theta_h, n, nb, sampler, mt, k0 + kk, path
    )
    faults = jax.tree_util.tree_map(lambda f: jnp.max(f), faults)
    return jnp.mean(ests[k0:], axis=0), paths[-1], faults


class MLEResult(NamedTuple):
    """Output of :func:`mle`.

    Fields: ``theta`` (last iterate), ``theta_average`` (average of the iterates over the last half
    of the steps, the Polyak-Ruppert estimate), ``theta_trace`` (pytree with leading axis
    ``steps + 1``) and ``score_trace`` (pytree of score estimates, leading axis ``steps``).
    """

    theta: Any
    theta_average: Any
    theta_trace: Any
    score_trace: Any


@partial(
    jax.jit,
    static_argnames=("model", "n", "nb", "sampler", "mt", "estimator", "k0", "kk", "optimizer"),
)  # fmt: skip
def _mle_step(key, theta, opt_state, path, ys, *, model, h_flat, n, nb, sampler, mt, estimator,
              k0, kk, optimizer):  # fmt: skip
    unravel = ravel_pytree(theta)[1]  # the score has theta's structure
    score, path, faults = _estimate(
        key, model, theta, ys, h_flat, theta, n, nb, sampler, mt, estimator, k0, kk, path
    )
    # ascend the per-observation score: the step size then does not scale with T
    grads = jax.tree_util.tree_map(lambda g: -g / ys.shape[0], unravel(score))
    updates, opt_state = optimizer.update(grads, opt_state, theta)
    return optax.apply_updates(theta, updates), opt_state, path, unravel(score), faults


@partial(jax.jit, static_argnames=("model", "n", "nb", "sampler", "mt"))
def _init_path_jit(key, model, theta, ys, h_flat, theta_h, n, nb, sampler, mt):
    return initial_path(key, model, theta, ys, h_flat, theta_h, n, nb, sampler, mt)


def mle(
    key: Any,
    model: StateSpaceModel,
    theta0: Any,
    ys: Any,
    *,
    estimator: str = "ppg",
    steps: int,
    optimizer: optax.GradientTransformation | None = None,
    n_particles: int = 50,
    n_backward: int = 2,
    burn_in: int = 0,
    iterations: int = 1,
    sampler: str = "hybrid",
    max_trials: int | None = None,
    learn: Any = None,
    check_bound: bool = True,
    progress: bool | None = None,
) -> MLEResult:
    """Maximum likelihood by stochastic gradient ascent on PPG (or PaRIS) score estimates.

    Each step estimates ``grad log p_theta(y) / T`` with the Fisher-identity functional
    (:func:`score_functional`) and applies ``optimizer`` to its negative. With ``estimator="ppg"``
    the reference path is carried across steps (``burn_in`` and ``iterations`` conditional passes
    per step, the paper's ``k0`` and ``k - k0``).

    Args:
        key: an int seed or PRNG key.
        model: the state-space model.
        theta0: initial parameters (pytree of finite floating arrays).
        ys: observations ``(T, dy)``.
        estimator: ``"ppg"`` or ``"paris"``.
        steps: optimiser steps (>= 1).
        optimizer: an optax transformation (default ``optax.adam(1e-2)``).
        n_particles, n_backward, sampler, max_trials: as in :func:`~bayeskit.smc.ppg.ppg`.
        burn_in, iterations: PPG passes per step (``iterations >= 1``).
        learn: names of the top-level fields of a dict ``theta0`` to learn (e.g. ``["phi"]``);
            the others stay at their ``theta0`` values. Default: every leaf is learned.
        check_bound: raise if the accept-reject samplers saw a transition density above
            ``exp(model.trans_log_bound(theta))`` at any step (as in :func:`~bayeskit.smc.ppg.ppg`);
            the bound is checked at every iterate ``theta``, so a bound that holds only near
            ``theta0`` is caught when the iterates leave its range.
        progress: show a tqdm bar; ``None`` (default) shows one when run interactively (a
            Jupyter kernel or a terminal; ``BAYESKIT_PROGRESS=0``/``1`` overrides).

    Returns:
        :class:`MLEResult`.

    Raises:
        ValueError: on bad shapes or options, non-finite inputs, NaN log-densities or all weights
            ``-inf`` (the time step and optimiser step are named).
    """
    key = as_key(key, "key")
    estimator = check_choice(estimator, "estimator", ESTIMATORS)
    n_steps = check_int(steps, "steps", minimum=1)
    progress = show_progress(progress)
    ys, n, nb, sampler, mt, k0, kk = _check_learn(
        model, theta0, ys, n_particles, n_backward, sampler, max_trials, burn_in, iterations,
        "theta0",
    )  # fmt: skip
    check_bound = check_bool(check_bound, "check_bound")
    optimizer = _MLE_OPTIMIZER if optimizer is None else optimizer
    check_optimizer(optimizer)
    optimizer = restrict_optimizer(optimizer, theta0, learn, "theta0")
    h = score_functional(model)
    h_flat, _, _ = flat_functional(h, model, theta0, ys)
    theta = jax.tree_util.tree_map(jnp.asarray, theta0)
    k_init, k_loop = jax.random.split(key)
    path, faults = _init_path_jit(k_init, model, theta, ys, h_flat, theta, n, nb, sampler, mt)
    pf.raise_faults(faults, "mle (initial path)", check_bound)
    opt_state = optimizer.init(theta)
    thetas, scores = [theta], []
    static = dict(model=model, h_flat=h_flat, n=n, nb=nb, sampler=sampler, mt=mt,
                  estimator=estimator, k0=k0, kk=kk, optimizer=optimizer)  # fmt: skip
    for i in progress_range(n_steps, progress, "mle"):
        theta, opt_state, path, score, faults = _mle_step(
            jax.random.fold_in(k_loop, i), theta, opt_state, path, ys, **static
        )
        pf.raise_faults(faults, f"mle step {i}", check_bound)
        thetas.append(theta)
        scores.append(score)
    stack = lambda xs: jax.tree_util.tree_map(lambda *a: jnp.stack(a), *xs)  # noqa: E731
    theta_trace = stack(thetas)
    half = n_steps // 2 + 1
    theta_avg = jax.tree_util.tree_map(lambda a: jnp.mean(a[half:], axis=0), theta_trace)
    return MLEResult(theta, theta_avg, theta_trace, stack(scores))


# ----------------------------------------------------------------------- Markov score climbing
def init_smoother(n_steps: int, dim_x: int, dtype: Any = jnp.float32) -> dict:
    """Initial parameters of the backward Markov Gaussian smoother
    ``q(x_{T-1}) prod_{t<T-1} N(x_t; a_t x_{t+1} + b_t, L_t L_t')`` with full covariances.

    Each Cholesky factor is ``L = diag(exp(log_s)) + strictly_lower(l)``, so the family contains
    the exact smoother of every linear Gaussian model (its backward kernels are linear Gaussian with
    full covariances), in any dimension.

    Returns a dict ``{"a": (T-1, dx, dx), "b": (T-1, dx), "log_s": (T-1, dx), "l": (T-1, dx, dx),
    "m_last": (dx,), "log_s_last": (dx,), "l_last": (dx, dx)}`` with ``a = 0``, ``b = 0``, identity
    covariances.
    """
    T = check_int(n_steps, "n_steps", minimum=2)
    d = check_int(dim_x, "dim_x", minimum=1)
    try:
        if dtype is None:
            raise TypeError("dtype: None")
        dtype = jnp.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"dtype: expected a floating dtype, got {dtype!r}") from err
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype: expected a floating dtype, got {dtype}")
    return {
        "a": jnp.zeros((T - 1, d, d), dtype),
        "b": jnp.zeros((T - 1, d), dtype),
        "log_s": jnp.zeros((T - 1, d), dtype),
        "l": jnp.zeros((T - 1, d, d), dtype),
        "m_last": jnp.zeros((d,), dtype),
        "log_s_last": jnp.zeros((d,), dtype),
        "l_last": jnp.zeros((d, d), dtype),
    }


_SMOOTHER_FIELDS = ("a", "b", "log_s", "l", "m_last", "log_s_last", "l_last")


def _check_lam(lam: Any) -> None:
    """Fields and shapes of the smoother parameters (values checked when concrete)."""
    if not isinstance(lam, dict):
        raise ValueError(f"lam: expected a dict of smoother parameters, got {type(lam).__name__}")
    missing = set(_SMOOTHER_FIELDS) - set(lam)
    if missing:
        raise ValueError(f"lam: missing fields {sorted(missing)} (see init_smoother)")
    a = check_array(lam["a"], "lam['a']", ndim=3)
    t1, d, _ = a.shape
    shapes = {
        "a": (t1, d, d),
        "b": (t1, d),
        "log_s": (t1, d),
        "l": (t1, d, d),
        "m_last": (d,),
        "log_s_last": (d,),
        "l_last": (d, d),
    }
    for name, shape in shapes.items():
        check_array(lam[name], f"lam[{name!r}]", shape=shape)


def _smoother_chol(log_s, lower):
    """``diag(exp(log_s)) + strictly_lower(lower)``: a Cholesky factor with positive diagonal."""
    return jnp.diag(jnp.exp(log_s)) + jnp.tril(lower, -1)


def smoother_logpdf_term(t: Any, x_prev: Any, x: Any, lam: dict) -> jax.Array:
    """``log q(x_{t-1} | x_t)`` for ``t >= 1`` plus ``log q(x_{T-1})`` when ``t = T - 1``.

    Args:
        t: time index in ``[1, T-1]`` (may be traced; a concrete ``t`` is checked).
        x_prev: ``(dx,)`` state at ``t - 1``.
        x: ``(dx,)`` state at ``t``.
        lam: smoother parameters (see :func:`init_smoother`).

    Returns:
        Scalar log-density.

    Raises:
        ValueError: if ``lam`` lacks a field of :func:`init_smoother` or a concrete ``t`` is
            outside ``[1, T-1]``.
    """
    _check_lam(lam)
    T = lam["b"].shape[0] + 1
    d = lam["m_last"].shape[0]
    if not isinstance(t, jax.core.Tracer):
        if isinstance(t, np.ndarray | jax.Array) and t.ndim == 0 and t.dtype.kind in "iu":
            t = int(t)
        t = check_int(t, "t")
    check_in_range(t, "t", 1, T - 1, closed=(True, True))  # skipped for a traced t
    x_prev = check_array(x_prev, "x_prev", shape=(d,))
    x = check_array(x, "x", shape=(d,))
    mean = lam["a"][t - 1] @ x + lam["b"][t - 1]
    term = _mvn_logpdf(x_prev, mean, _smoother_chol(lam["log_s"][t - 1], lam["l"][t - 1]))
    last = _mvn_logpdf(x, lam["m_last"], _smoother_chol(lam["log_s_last"], lam["l_last"]))
    return term + jnp.where(t == T - 1, last, 0.0)


def _msc_h(t, x_prev, x, y, lam):
    if x_prev is None:
        return jax.tree_util.tree_map(jnp.zeros_like, lam)
    return jax.grad(lambda p: smoother_logpdf_term(t, x_prev, x, p))(lam)


def smoother_marginals(lam: dict) -> tuple[jax.Array, jax.Array]:
    """Marginal means ``(T, dx)`` and covariances ``(T, dx, dx)`` of the Markov Gaussian smoother.

    Raises:
        ValueError: if ``lam`` lacks the fields of :func:`init_smoother`.
    """
    _check_lam(lam)

    def step(carry, p):
        m, P = carry
        a, b, log_s, lower = p
        chol = _smoother_chol(log_s, lower)
        m = a @ m + b
        P = a @ P @ a.T + chol @ chol.T
        return (m, P), (m, P)

    last = _smoother_chol(lam["log_s_last"], lam["l_last"])
    init = (lam["m_last"], last @ last.T)
    inputs = (lam["a"], lam["b"], lam["log_s"], lam["l"])
    _, (ms, Ps) = jax.lax.scan(step, init, inputs, reverse=True)
    return jnp.concatenate([ms, init[0][None]]), jnp.concatenate([Ps, init[1][None]])


class MSCResult(NamedTuple):
    """Output of :func:`msc`: ``lam`` (last iterate), ``lam_average`` (average over the last half
    of the steps), ``grad_norm_trace (steps,)`` (norm of the estimated inclusive-KL gradient)."""

    lam: dict
    lam_average: dict
    grad_norm_trace: jax.Array


@partial(
    jax.jit,
    static_argnames=("model", "n", "nb", "sampler", "mt", "estimator", "k0", "kk", "optimizer"),
)  # fmt: skip
def _msc_step(key, lam, opt_state, path, theta, ys, *, model, n, nb, sampler, mt, estimator, k0,
              kk, optimizer):  # fmt: skip
    unravel = ravel_pytree(lam)[1]
    h_flat = FlatFunctional(_msc_h)
    g, path, faults = _estimate(
        key, model, theta, ys, h_flat, lam, n, nb, sampler, mt, estimator, k0, kk, path
    )
    updates, opt_state = optimizer.update(jax.tree_util.tree_map(jnp.negative, unravel(g)),
                                          opt_state, lam)  # fmt: skip
    return optax.apply_updates(lam, updates), opt_state, path, jnp.linalg.norm(g), faults


def msc(
    key: Any,
    model: StateSpaceModel,
    theta: Any,
    ys: Any,
    *,
    steps: int,
    lam0: dict | None = None,
    optimizer: optax.GradientTransformation | None = None,
    estimator: str = "ppg",
    n_particles: int = 50,
    n_backward: int = 2,
    burn_in: int = 0,
    iterations: int = 1,
    sampler: str = "hybrid",
    max_trials: int | None = None,
    learn: Any = None,
    check_bound: bool = True,
    progress: bool | None = None,
) -> MSCResult:
    """Fit a backward Markov Gaussian smoother to ``p_theta(x | y)`` by Markov score climbing.

    Minimises the inclusive KL by stochastic gradient steps on ``-E_p[grad log q_lambda(X)]``,
    estimated by PPG with the reference path carried across steps (or by PaRIS). The family
    (:func:`init_smoother`: linear Gaussian backward kernels with full covariances) contains the
    exact smoother of a linear Gaussian model in any dimension, so there ``lambda`` converges to
    the RTS smoother. ``tau`` holds the full gradient (dimension about ``T d_x (2 d_x + 2)``), so
    memory and time grow like ``T^2``: keep ``T`` moderate.

    Args:
        key: an int seed or PRNG key.
        model: the state-space model (``theta`` stays fixed).
        theta: model parameters.
        ys: observations ``(T, dy)``.
        steps: optimiser steps (>= 1).
        lam0: initial smoother parameters (default :func:`init_smoother`).
        optimizer: an optax transformation (default ``optax.adam(5e-2)``).
        estimator, n_particles, n_backward, burn_in, iterations, sampler, max_trials, progress:
            as in :func:`mle`.
        check_bound: as in :func:`mle`.
        learn: names of smoother fields to learn (e.g. ``["a", "b", "m_last"]`` to keep the
            covariances of ``lam0``); default all.

    Returns:
        :class:`MSCResult`.

    Raises:
        ValueError: on bad shapes or options, a ``lam0`` of the wrong shape, or numerical
            faults (the time step is named).
    """
    key = as_key(key, "key")
    estimator = check_choice(estimator, "estimator", ESTIMATORS)
    n_steps = check_int(steps, "steps", minimum=1)
    progress = show_progress(progress)
    ys, n, nb, sampler, mt, k0, kk = _check_learn(
        model, theta, ys, n_particles, n_backward, sampler, max_trials, burn_in, iterations,
        "theta",
    )  # fmt: skip
    check_bound = check_bool(check_bound, "check_bound")
    T, d = ys.shape[0], model.dim_x
    ref = init_smoother(T, d, ys.dtype)
    if lam0 is None:
        lam = ref
    else:
        if not isinstance(lam0, dict):
            raise TypeError(
                f"lam0: expected a dict with keys {sorted(ref)}, got {type(lam0).__name__}"
            )
        if set(lam0) != set(ref):
            raise ValueError(f"lam0: expected a dict with keys {sorted(ref)}, got {sorted(lam0)}")
        for name in ref:
            check_array(lam0[name], f"lam0[{name!r}]", shape=ref[name].shape)
        lam = {k: jnp.asarray(v, ys.dtype) for k, v in lam0.items()}
    optimizer = _MSC_OPTIMIZER if optimizer is None else optimizer
    check_optimizer(optimizer)
    optimizer = restrict_optimizer(optimizer, lam, learn, "lam")
    h_flat = FlatFunctional(_msc_h)
    k_init, k_loop = jax.random.split(key)
    path, faults = _init_path_jit(k_init, model, theta, ys, h_flat, lam, n, nb, sampler, mt)
    pf.raise_faults(faults, "msc (initial path)", check_bound)
    opt_state = optimizer.init(lam)
    static = dict(model=model, n=n, nb=nb, sampler=sampler, mt=mt, estimator=estimator, k0=k0,
                  kk=kk, optimizer=optimizer)  # fmt: skip
    half = n_steps // 2
    total, count, norms = None, 0, []
    for i in progress_range(n_steps, progress, "msc"):
        lam, opt_state, path, gnorm, faults = _msc_step(
            jax.random.fold_in(k_loop, i), lam, opt_state, path, theta, ys, **static
        )
        pf.raise_faults(faults, f"msc step {i}", check_bound)
        norms.append(gnorm)
        if i >= half:
            total = lam if total is None else jax.tree_util.tree_map(jnp.add, total, lam)
            count += 1
    lam_avg = jax.tree_util.tree_map(lambda a: a / count, total)
    return MSCResult(lam, lam_avg, jnp.stack(norms))
