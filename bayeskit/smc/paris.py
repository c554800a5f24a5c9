"""PaRIS: online smoothing of additive functionals in O(N) memory, with exact, accept-reject and
hybrid backward samplers.

For an additive functional ``h_T(x_{0:T-1}) = sum_t h(t, x_{t-1}, x_t, y_t, theta)`` each particle
carries a statistic ``tau_t^i`` updated with ``n_backward`` draws from the backward kernel
``Lambda_t(i, j) ~ w_{t-1}^j m(x_{t-1}^j, x_t^i)``:
``tau_t^i = mean_k [tau_{t-1}^{J_k} + h(t, x_{t-1}^{J_k}, x_t^i, y_t, theta)]``, and the estimate
is ``sum_i w_t^i tau_t^i / sum_i w_t^i``. Only ``(x_t, w_t, tau_t)`` is carried between steps.

References: Olsson & Westerborn (2017), Bernoulli 23(3), Algorithm 1 and eq. (3.3); Douc,
Garivier, Moulines & Olsson (2011), Ann. Appl. Probab. 21(6) (accept-reject backward draws);
Dau & Chopin (2022), arXiv 2207.00976 (hybrid: capped trials then an exact draw); Chen & Asau
(1974), J. Chinese Inst. Eng. 1 (guide tables for the categorical proposals).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from bayeskit import parallel
from bayeskit._progress import advance, device_bar, show_progress
from bayeskit.parallel import _check_mesh, gather
from bayeskit.random import as_key
from bayeskit.smc import filter as pf
from bayeskit.smc.models import StateSpaceModel, check_model_theta
from bayeskit.summary import to_inference_data
from bayeskit.validate import (
    check_array,
    check_bool,
    check_choice,
    check_int,
    check_log_weights,
)

__all__ = ["ParisResult", "paris", "backward_sample", "SAMPLERS"]

SAMPLERS = ("exact", "accept_reject", "hybrid")


class ParisResult(NamedTuple):
    """Output of :func:`paris`.

    Fields (with ``paris(..., n_replications=R)`` each gets a leading axis ``R``):
        estimate: the smoothed expectation ``E[h_T(X_{0:T-1}) | y]``, same structure as ``h``'s
            output.
        log_likelihood: ``()`` particle-filter estimate of ``log p(y_{0:T-1})``.
        ess: ``(T,)`` effective sample size of the filter weights at each step.
        mean_proposals: ``()`` accept-reject proposals per backward draw, counted up to each
            acceptance as a sequential sampler would (0 for ``"exact"``; the exact fallback
            draws add none).
        mean_evaluations: ``()`` transition densities computed per backward draw, the sampler's
            cost (``N / N-tilde`` for ``"exact"``; for the accept-reject samplers vectorised
            padding lanes and the ``N`` densities of each fallback row are included).
        fallback_fraction: ``()`` fraction of the backward draws made by the exact fallback
            after ``max_trials`` rejected proposals (0 for ``"exact"``).
        bound_excess: ``()`` largest ``log m(x, x') - trans_log_bound`` over the pairs the
            accept-reject samplers evaluated, floored at 0; above 0 means an acceptance ratio
            above 1, i.e. a wrong bound and biased draws (0 for ``"exact"``, which needs no
            bound).
    """

    estimate: Any
    log_likelihood: jax.Array
    ess: jax.Array
    mean_proposals: jax.Array
    mean_evaluations: jax.Array
    fallback_fraction: jax.Array
    bound_excess: jax.Array

    def to_inference_data(self):
        """ArviZ ``InferenceData`` of this run, as one draw of one chain (with ``paris``'s
        ``n_replications=R``: ``R`` chains of one draw, so every shape below starts ``(R, 1)``).

        A PaRIS run gives one Monte Carlo estimate of ``E[h_T | y]``, not posterior draws, so
        the estimate is stored as the single draw of ``posterior.estimate`` (the layout of
        :meth:`PPGResult.to_inference_data <bayeskit.smc.ppg.PPGResult.to_inference_data>`,
        whose draws are per-iteration PaRIS estimates): independent runs then combine with
        ``arviz.concat(..., dim="draw")`` (or ``"chain"``), and ``arviz.summary`` of the
        combination gives their mean and Monte Carlo spread. The filter's estimate of
        ``log p(y_{0:T-1})`` is a per-run statistic, not a pointwise log-likelihood for
        ``az.loo``, so it goes to ``sample_stats`` as ``marginal_log_likelihood``, with the
        ESS per time step and the backward sampler's counters.

        Returns:
            ``arviz.InferenceData`` with posterior ``estimate`` of shape ``(1, 1, dim h)`` (the
            estimate flattened with ``jax.flatten_util.ravel_pytree``, dimension ``h_dim``),
            and sample stats ``marginal_log_likelihood`` ``(1, 1)``, ``ess`` ``(1, 1, T)``
            (dimension ``time``), ``mean_proposals``, ``mean_evaluations``,
            ``fallback_fraction`` and ``bound_excess`` ``(1, 1)``.
        """
        stats = {
            "marginal_log_likelihood": self.log_likelihood,
            "ess": self.ess,
            "mean_proposals": self.mean_proposals,
            "mean_evaluations": self.mean_evaluations,
            "fallback_fraction": self.fallback_fraction,
            "bound_excess": self.bound_excess,
        }
        if jnp.ndim(self.log_likelihood):  # paris(n_replications=R): R chains of one draw
            flat = jax.vmap(lambda e: ravel_pytree(e)[0])(self.estimate)[:, None]
            stats = {k: jnp.asarray(v)[:, None] for k, v in stats.items()}
        else:
            flat = ravel_pytree(self.estimate)[0][None, None]
            stats = {k: jnp.asarray(v)[None, None] for k, v in stats.items()}
        return to_inference_data(
            {"estimate": flat},
            sample_stats=stats,
            dims={"estimate": ["h_dim"], "ess": ["time"]},
        )


HYBRID_TRIALS_RATIO = 16


def default_max_trials(n_particles: int, sampler: str = "hybrid") -> int:
    """Cap ``K`` on accept-reject proposals per draw before the exact fallback.

    ``"hybrid"``: ``max(4, N // HYBRID_TRIALS_RATIO)``. ``K`` proportional to ``N`` keeps the
    expected cost per step ``O(N N-tilde)`` up to the ``log K`` of heavy-tailed trial counts:
    proposals ``E[min(G, K)]`` per draw and fallback rows ``O(N N-tilde / K)`` of ``N`` densities
    each (Dau & Chopin 2022 take ``K = N``); the ratio was chosen by timing PaRIS on the
    stochastic volatility model. ``"accept_reject"``: ``max(1024, N)``, so that the fallback is
    rare and only a safeguard: no input loops forever (at worst ``K`` proposals and one exact
    row per draw) and a kernel without support is detected.
    """
    if sampler == "accept_reject":
        return max(1024, n_particles)
    return max(4, n_particles // HYBRID_TRIALS_RATIO)


# ------------------------------------------------------------------------------ backward samplers
# Accept-reject in vectorised rounds of W = _LANES * S lanes (S = M * N-tilde draws): stage k gives
# each pending draw b_k more proposals, b_0 = W // S and then doubling (b_k = proposals so far, at
# most K - so far), W // b_k draws per round, so a stage of p pending draws takes ceil(p b_k / W)
# rounds. For a transition density unbounded below the trial count G is heavy-tailed,
# P(G > P) ~ c / P (c ~ 0.6 on the stochastic volatility model), so p b_k ~ c S and each stage is
# about one round of O(S) work: O(S log K) proposals in all. Draws still pending after K
# proposals get exact draws, whole backward rows (N densities each) at most F = ~S / (2 K) rows a
# pass: O(S N / K) more. With K ~ N (default_max_trials) a step costs O(N N-tilde log N).
_LANES = 1.0
_MIN_LANES = 64
_FALLBACK_ROWS = 0.5
_MIN_FALLBACK_ROWS = 4


def _ar_sizes(m: int, nb: int, max_trials: int) -> tuple[int, int, int]:
    """Static sizes: lanes per round, first-stage proposals per draw, fallback rows per pass."""
    s = m * nb
    lanes = max(_MIN_LANES, math.ceil(_LANES * s))
    first = max(1, min(max_trials, lanes // s))
    rows = min(m, max(_MIN_FALLBACK_ROWS, math.ceil(_FALLBACK_ROWS * s / max_trials)))
    return lanes, first, rows


class _Backward(NamedTuple):
    """Backward draws at one step, with counters (float scalars of the weights' dtype: an int32
    count of densities could overflow at large N)."""

    J: jax.Array  # (M, nb) int32 indices into x_prev
    proposals: jax.Array  # accept-reject proposals up to each acceptance (sequential count)
    evaluations: jax.Array  # transition densities computed (idle lanes included): the cost
    fallback: jax.Array  # draws made by the exact fallback
    dead: jax.Array  # bool: a row without support, or a NaN transition density
    bound_excess: jax.Array  # max(0, log m - trans_log_bound) over the pairs evaluated


def _trans_rows(model, theta, x_prev, x_new_rows):
    # (F, N) log m(x_prev^j, x_new^i) for the given rows i
    return jax.vmap(
        lambda xn: jax.vmap(model.trans_logpdf, in_axes=(0, None, None))(x_prev, xn, theta)
    )(x_new_rows)


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


def _guide_table(cdf):
    """Guide table of an unnormalised CDF ``(N,)`` (Chen & Asau 1974): ``g[k]`` counts the
    entries ``<= k / N`` of the total, ``k = 0..N``, so that a lookup only searches the few
    indices of its bucket."""
    n = cdf.shape[0]
    edges = cdf[-1] * (jnp.arange(n + 1, dtype=cdf.dtype) / n)
    return jnp.searchsorted(cdf, edges, side="right").astype(jnp.int32)


def _guide_icdf(cdf, guide, u):
    """``pf._icdf(cdf, u)`` (index ``j`` with ``cdf[j-1] <= u * total < cdf[j]``, at most
    ``N - 1``), found by bisection inside the guide buckets around ``u``: the same indices,
    in ``O(log(bucket size))`` instead of ``O(log N)`` steps."""
    n = cdf.shape[0]
    v = u * cdf[-1]
    k = jnp.clip(jnp.floor(u * n).astype(jnp.int32), 0, n - 1)
    # one bucket either side absorbs the rounding of u * n and of the edges
    lo = guide[jnp.maximum(k - 1, 0)]
    hi = jnp.minimum(guide[jnp.minimum(k + 2, n)], n - 1)

    def body(c):
        lo, hi = c
        mid = (lo + hi) // 2
        right = cdf[mid] > v
        active = lo < hi
        return jnp.where(active & ~right, mid + 1, lo), jnp.where(active & right, mid, hi)

    lo, _ = jax.lax.while_loop(lambda c: jnp.any(c[0] < c[1]), body, (lo, hi))
    return lo


def _max_excess(log_ratio, mask):
    ok = mask & ~jnp.isnan(log_ratio)
    return jnp.maximum(jnp.max(jnp.where(ok, log_ratio, -jnp.inf)), 0.0)


def _exact(key, model, theta, x_prev, log_w_prev, x_new, nb):
    logits = log_w_prev[None, :] + _trans_rows(model, theta, x_prev, x_new)
    J, dead = _draw_rows(key, logits, nb)
    zero = jnp.zeros((), log_w_prev.dtype)
    evals = jnp.asarray(x_new.shape[0] * x_prev.shape[0], log_w_prev.dtype)
    return _Backward(J, zero, evals, zero, jnp.any(dead), zero)


def _accept_reject(key, model, theta, x_prev, log_w_prev, x_new, nb, max_trials):
    """Accept-reject backward draws (proposals from ``Cat(w_prev)`` accepted with probability
    ``m / exp(bound)``), at most ``max_trials`` proposals per draw and then an exact draw, in the
    rounds described above. Of a draw's batch of proposals the first accepted one is kept, which
    is the sequential outcome; whether a draw goes on depends only on its own rejections and on
    other draws, so every draw has the exact law ``Lambda(i, .)`` (Dau & Chopin 2022)."""
    n, m = x_prev.shape[0], x_new.shape[0]
    s = m * nb
    lanes, first, f = _ar_sizes(m, nb, max_trials)
    dtype = log_w_prev.dtype
    cdf = pf._cdf(log_w_prev)
    guide = _guide_table(cdf)
    log_bound = model.trans_log_bound(theta)
    k_ar, k_fb = jax.random.split(key)
    lane = jnp.arange(lanes, dtype=jnp.int32)
    pos = jnp.arange(s, dtype=jnp.int32)
    zero = jnp.asarray(0, jnp.int32)
    fzero = jnp.zeros((), dtype)

    def ar_cond(st):
        pending, tried = st[1], st[2]
        return jnp.any(pending & (tried < max_trials))

    def ar_body(st):
        J, pending, tried, target, b, it, props, evals, excess, nan = st
        # next stage once every pending draw has its proposals for this one
        advance = ~jnp.any(pending & (tried < target))
        b_next = jnp.where(target == 0, first, jnp.minimum(target, lanes))
        b = jnp.where(advance, jnp.minimum(b_next, max_trials - target), b)
        target = jnp.where(advance, target + b, target)
        slots = jnp.nonzero(pending & (tried < target), size=s, fill_value=s)[0]
        n_slots = jnp.minimum(lanes // b, s)
        q = jnp.minimum(lane // b, s - 1)  # the draw (position in `slots`) a lane works for
        valid = (lane // b < n_slots) & (slots[q] < s)
        rows = jnp.minimum(slots[q], s - 1) // nb
        k1, k2 = jax.random.split(jax.random.fold_in(k_ar, it))
        prop = _guide_icdf(cdf, guide, jax.random.uniform(k1, (lanes,), dtype=dtype))
        lp = jax.vmap(lambda j, i: model.trans_logpdf(x_prev[j], x_new[i], theta))(prop, rows)
        la = lp - log_bound
        acc = valid & (jnp.log(jax.random.uniform(k2, (lanes,), dtype=dtype)) < la)
        # first accepted lane of each draw (lanes of a draw are contiguous)
        hit = jax.ops.segment_min(
            jnp.where(acc, lane, lanes), q, num_segments=s, indices_are_sorted=True
        )
        done = (pos < n_slots) & (slots < s)
        got = done & (hit < lanes)
        tgt = jnp.where(done, slots, s)  # s: out of range, dropped
        J = J.at[tgt].set(
            jnp.where(got, prop[jnp.minimum(hit, lanes - 1)], J[tgt % s]), mode="drop"
        )
        pending = pending.at[tgt].set(~got, mode="drop")
        tried = tried.at[tgt].add(b, mode="drop")
        # proposals a sequential sampler uses: up to and including the first acceptance
        used = jnp.where(got, hit - pos * b + 1, jnp.where(done, b, 0))
        props = props + jnp.sum(used).astype(dtype)
        excess = jnp.maximum(excess, _max_excess(la, valid))
        nan = nan | jnp.any(valid & jnp.isnan(la))
        return J, pending, tried, target, b, it + 1, props, evals + float(lanes), excess, nan

    st = (
        jnp.zeros(s, jnp.int32),
        jnp.ones(s, bool),
        jnp.zeros(s, jnp.int32),
        zero,
        zero,
        zero,
        fzero,
        fzero,
        fzero,
        jnp.asarray(False),
    )
    J, pending, _, _, _, _, props, evals, excess, nan = jax.lax.while_loop(ar_cond, ar_body, st)

    # exact fallback: whole backward rows for the particles with a pending draw
    def fb_body(st):
        Jr, pend, todo, it, evals, fallback, excess, dead = st
        rows = jnp.nonzero(todo, size=f, fill_value=m)[0]  # m: out of range, dropped
        valid = rows < m
        safe = jnp.minimum(rows, m - 1)
        lm = _trans_rows(model, theta, x_prev, x_new[safe])
        draw, d = _draw_rows(jax.random.fold_in(k_fb, it), log_w_prev[None, :] + lm, nb)
        need = pend[safe] & valid[:, None]
        Jr = Jr.at[rows].set(jnp.where(need, draw, Jr[safe]), mode="drop")
        pend = pend.at[rows].set(False, mode="drop")
        todo = todo.at[rows].set(False, mode="drop")
        excess = jnp.maximum(excess, _max_excess(lm - log_bound, valid[:, None]))
        fallback = fallback + jnp.sum(need).astype(dtype)
        evals = evals + float(f * n)
        return Jr, pend, todo, it + 1, evals, fallback, excess, dead | jnp.any(d & valid)

    pend = pending.reshape(m, nb)
    st = (J.reshape(m, nb), pend, jnp.any(pend, axis=1), zero, evals, fzero, excess, nan)
    Jr, _, _, _, evals, fallback, excess, dead = jax.lax.while_loop(
        lambda st: jnp.any(st[2]), fb_body, st
    )
    return _Backward(Jr, props, evals, fallback, dead, excess)


def _backward(key, model, theta, x_prev, log_w_prev, x_new, nb, sampler, max_trials):
    """Dispatch to a backward sampler: returns a :class:`_Backward`."""
    if sampler == "exact":
        return _exact(key, model, theta, x_prev, log_w_prev, x_new, nb)
    return _accept_reject(key, model, theta, x_prev, log_w_prev, x_new, nb, max_trials)


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
    check_bound: bool = True,
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
        sampler: ``"exact"`` (``M N`` densities), ``"accept_reject"`` (proposals from the
            weights, accepted with probability ``m / exp(trans_log_bound)``) or ``"hybrid"``
            (the same with a smaller cap). Both accept-reject samplers make at most
            ``max_trials`` proposals per draw and then draw exactly from the backward row, so
            every draw has the exact law and the work per step is bounded; their expected cost
            is ``O(M N-tilde log K + M N-tilde N / K)`` densities.
        max_trials: the cap ``K`` (default :func:`default_max_trials` of ``N`` and ``sampler``).
        check_bound: raise if a transition density above ``exp(trans_log_bound)`` was seen
            (an acceptance ratio above 1: the accept-reject draws are then biased).

    Returns:
        ``(J, n_proposals)``: ``(M, n_backward)`` int32 indices and the total number of
        accept-reject proposals made (counted up to each acceptance).

    Raises:
        TypeError: if ``model`` is not a StateSpaceModel, or on non-numeric arrays or options
            of the wrong type.
        ValueError: on bad shapes, empty or non-finite particles, NaN, ``+inf`` or all
            ``-inf`` log-weights, bad options, a backward kernel without support, or (with
            ``check_bound``) a transition density above the bound by more than ``sqrt(eps)``
            nats.
    """
    key = as_key(key, "key")
    if not isinstance(model, StateSpaceModel):
        raise TypeError(f"model: expected a StateSpaceModel, got {type(model).__name__}")
    check_model_theta(model, theta)
    x_prev = check_array(x_prev, "x_prev", ndim=2)
    x_new = check_array(x_new, "x_new", ndim=2)
    if x_prev.shape[1] != model.dim_x or x_prev.shape[0] < 1:
        raise ValueError(f"x_prev: expected shape (N, {model.dim_x}), N >= 1, got {x_prev.shape}")
    if x_new.shape[1] != model.dim_x or x_new.shape[0] < 1:
        raise ValueError(f"x_new: expected shape (M, {model.dim_x}), M >= 1, got {x_new.shape}")
    lw = check_log_weights(log_w_prev, "log_w_prev")
    if lw.shape != (x_prev.shape[0],):
        raise ValueError(
            f"log_w_prev: expected shape ({x_prev.shape[0]},) to match x_prev, got {lw.shape}"
        )
    check_bound = check_bool(check_bound, "check_bound")
    n = x_prev.shape[0]
    nb, sampler, max_trials = _check_backward_opts(model, n_backward, sampler, max_trials, n)
    out = _backward_jit(key, model, theta, x_prev, lw, x_new, nb, sampler, max_trials)
    if bool(out.dead):
        raise ValueError("backward_sample: the backward kernel has no support for some particle")
    excess = float(out.bound_excess)
    if check_bound and excess > bound_tolerance(out.bound_excess.dtype):
        raise ValueError(
            f"backward_sample: {_BOUND_MSG} by {excess:.3g} nats; raise model.trans_log_bound, "
            "use sampler='exact' or pass check_bound=False"
        )
    return out.J, out.proposals


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
        max_trials = default_max_trials(n_particles, sampler)
    max_trials = check_int(max_trials, "max_trials", minimum=1)
    return nb, sampler, max_trials


_BOUND_MSG = "the transition density exceeds exp(model.trans_log_bound)"


def bound_tolerance(dtype) -> float:
    """Log-ratio excess over ``trans_log_bound`` taken as rounding, not a wrong bound:
    ``sqrt(eps)`` nats of the floating type (3.5e-4 in float32, 1.5e-8 in float64)."""
    return float(jnp.finfo(dtype).eps) ** 0.5


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
    mean_evaluations: jax.Array  # transition densities computed per backward draw
    fallback_fraction: jax.Array  # backward draws made by the exact fallback, per draw
    bound_excess: jax.Array  # max(0, log m - trans_log_bound) seen by accept-reject


@jax.tree_util.register_pytree_node_class
class FlatFunctional:
    """``h`` with its (pytree) output flattened to a vector: ``h_flat(t, x_prev, x, y, theta)``.

    A pytree whose leaves are the arrays inside ``h`` (an equinox Module or any registered pytree;
    none for a plain function) and whose static part is the rest of ``h``. Jitted callers take it
    as a traced argument, so two functionals of the same structure (same class and static fields,
    arrays of the same shapes and dtypes) share one compilation, whatever the array values; a
    plain function or closure is static and compiles once per distinct function object.
    """

    def __init__(self, h):
        self.h = h

    def __call__(self, t, x_prev, x, y, theta):
        return ravel_pytree(self.h(t, x_prev, x, y, theta))[0]

    def tree_flatten(self):
        arrays, static = eqx.partition(self.h, eqx.is_array)
        leaves, treedef = jax.tree_util.tree_flatten(arrays)
        return leaves, (treedef, static)

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        treedef, static = aux
        return cls(eqx.combine(jax.tree_util.tree_unflatten(treedef, leaves), static))


def flat_functional(h, model, theta_h, ys):
    """Flatten ``h``'s (pytree) output: returns ``(FlatFunctional(h), unravel, dim)``.

    Raises:
        TypeError: if ``h`` is not callable or its non-array part is not hashable (it becomes a
            static argument of ``jax.jit``).
    """
    if not callable(h):
        raise TypeError(f"h: expected a callable h(t, x_prev, x, y, theta), got {type(h).__name__}")
    h_flat = FlatFunctional(h)
    _, (_, static) = h_flat.tree_flatten()
    try:
        hash(static)
    except TypeError as err:
        raise TypeError(
            f"h: its non-array fields must be hashable (they are static under jit), got {err}"
        ) from None
    x = jnp.zeros((model.dim_x,), ys.dtype)
    try:  # abstract evaluation: traces h once, computes and compiles nothing
        out = jax.eval_shape(lambda: h(1, x, x, ys[0], theta_h))
    except Exception as err:  # any failure of user code is reported as a bad argument
        raise TypeError(
            "h: expected a function h(t, x_prev, x, y, theta) returning a pytree of arrays; "
            f"evaluating it on arrays of the model's shapes raised {type(err).__name__}: {err}"
        ) from None
    zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), out)
    flat0, unravel = ravel_pytree(zeros)
    return h_flat, unravel, flat0.shape[0]


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
    bar=None,
):
    """One (conditional) PaRIS pass; un-jitted core shared by :func:`paris` and PPG.

    With ``ref_path (T, dx)`` slot 0 is frozen to the reference path (conditional SMC) and every
    particle, the frozen one included, gets backward draws from the full weighted population.
    With ``bar`` (an id from :func:`bayeskit._progress.device_bar`) each time step advances it.
    """
    T = ys.shape[0]
    k0, kscan = jax.random.split(key)
    x = pf.init_particles(k0, model, theta, n)
    if ref_path is not None:
        x = x.at[0].set(ref_path[0])
    lw = pf.obs_weights(model, theta, x, ys[0])
    tau = jax.vmap(lambda xi: h_flat(0, None, xi, ys[0], theta_h))(x)
    faults = pf.weight_faults(pf.no_faults(), 0, lw)

    tol = bound_tolerance(lw.dtype)

    def step(carry, inp):
        x, lw, tau, ll, counts, faults = carry
        k, y, t, ref = inp
        k_move, k_back = jax.random.split(k)
        x_new, _ = pf.propagate(k_move, model, theta, x, lw, n, method)
        if ref is not None:
            x_new = x_new.at[0].set(ref)
        lw_new = pf.obs_weights(model, theta, x_new, y)
        back = _backward(k_back, model, theta, x, lw, x_new, nb, sampler, max_trials)
        J = back.J
        hv = jax.vmap(jax.vmap(lambda j, xn: h_flat(t, x[j], xn, y, theta_h), in_axes=(0, None)))(
            J, x_new
        )
        tau_new = jnp.mean(tau[J] + hv, axis=1)
        faults = pf.weight_faults(faults, t, lw_new)
        faults = faults._replace(
            backward_step=pf.record(faults.backward_step, t, back.dead),
            bound_step=pf.record(faults.bound_step, t, back.bound_excess > tol),
        )
        step_counts = (back.proposals, back.evaluations, back.fallback)
        counts = tuple(c + v.astype(lw.dtype) for c, v in zip(counts[:3], step_counts)) + (
            jnp.maximum(counts[3], back.bound_excess),
        )
        carry = (x_new, lw_new, tau_new, ll + pf.log_mean_weight(lw_new), counts, faults)
        if bar is not None:
            advance(bar, t, every=max(1, (T - 1) // 50))
        out = (pf._ess(lw_new), (x_new, J[:, 0]) if keep_path else None)
        return carry, out

    refs = None if ref_path is None else ref_path[1:]
    inputs = (jax.random.split(kscan, T - 1), ys[1:], jnp.arange(1, T), refs)
    counts = tuple(jnp.zeros((), lw.dtype) for _ in range(4))
    init = (x, lw, tau, pf.log_mean_weight(lw), counts, faults)
    (xT, lwT, tauT, ll, counts, faults), (esses, hist) = jax.lax.scan(step, init, inputs)
    w = jax.nn.softmax(lwT)
    estimate = w @ tauT
    n_draws = n * nb * (T - 1)
    particles = backward_first = log_w_last = None
    if keep_path:
        particles = jnp.concatenate([x[None], hist[0]])
        backward_first = hist[1]
        log_w_last = lwT
    return _Pass(
        estimate,
        ll,
        jnp.concatenate([pf._ess(lw)[None], esses]),
        counts[0] / n_draws,
        faults,
        particles,
        log_w_last,
        backward_first,
        counts[1] / n_draws,
        counts[2] / n_draws,
        counts[3],
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


_STATIC = ("model", "n", "nb", "sampler", "max_trials", "method")


@partial(jax.jit, static_argnames=_STATIC)
def _paris_jit(key, model, theta, ys, h_flat, n, nb, sampler, max_trials, method, bar):
    return paris_pass(
        key, model, theta, ys, h_flat, theta, n, nb, sampler, max_trials, method, bar=bar
    )


@partial(jax.jit, static_argnames=(*_STATIC, "n_rep", "mesh"))
def _paris_rep_jit(key, model, theta, ys, h_flat, n, nb, sampler, max_trials, method, n_rep,
                   mesh):  # fmt: skip
    """Replication ``r`` is the pass from key ``split(key, n_rep)[r]``; the replication axis is
    sharded across ``mesh``, one pass at a time per device (bit-identical on any mesh)."""

    def one(k):
        return paris_pass(k, model, theta, ys, h_flat, theta, n, nb, sampler, max_trials, method)

    return parallel.replicate(one, key, n_rep, mesh=mesh, batch_size=1)


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
    check_bound: bool = True,
    progress: bool | None = None,
    n_replications: int | None = None,
    mesh: Any = None,
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
        max_trials: cap on accept-reject proposals per draw before an exact draw (default
            :func:`default_max_trials`: ``max(4, N // 16)`` for ``"hybrid"``,
            ``max(1024, N)`` for ``"accept_reject"``).
        resampling: ``"multinomial"`` (the analysed setting) or ``"systematic"``.
        check_bound: raise if the accept-reject samplers saw a transition density above
            ``exp(model.trans_log_bound(theta))`` (an acceptance ratio above 1, which biases
            the draws). On by default because the bias is otherwise silent; with ``False`` the
            excess is only reported in :attr:`ParisResult.bound_excess`.
        progress: show a tqdm bar over the time steps; ``None`` (default) shows one when run
            interactively (a Jupyter kernel or a terminal; ``BAYESKIT_PROGRESS=0``/``1``
            overrides). Not shown with ``n_replications``.
        n_replications: ``None`` runs one pass; an int ``R >= 1`` runs ``R`` independent
            passes, pass ``r`` from key ``jax.random.split(key, R)[r]`` (the same run as
            ``paris(that key, ...)``), and every field of the result gets a leading axis ``R``.
            The replication axis is sharded across ``mesh``
            (:func:`bayeskit.parallel.map_sharded`, one pass at a time per device): the result
            is bit-identical on any number of devices.
        mesh: a 1-D device mesh for the replications (default
            :func:`bayeskit.parallel.device_mesh`, all devices); only with ``n_replications``.

    Returns:
        :class:`ParisResult`; with ``n_replications`` each field has a leading axis ``R``.

    Raises:
        ValueError: on mismatched observation shapes, ``N < 2``, ``N-tilde < 1``, non-finite
            observations or parameters, a model log-density returning NaN, all weights ``-inf``,
            a backward kernel without support, or (with ``check_bound``) a transition density
            above the bound by more than :func:`bound_tolerance` nats (the time step is named).
        TypeError: if ``model`` is not a :class:`StateSpaceModel`.

    Reference: Olsson & Westerborn (2017), Algorithm 1.
    """
    key = as_key(key, "key")
    ys, n = pf.validate_common(model, theta, ys, n_particles)
    nb, sampler, max_trials = _check_backward_opts(model, n_backward, sampler, max_trials, n)
    method = check_choice(resampling, "resampling", pf.RESAMPLING)
    check_bound = check_bool(check_bound, "check_bound")
    show = show_progress(progress)
    h_flat, unravel, _ = flat_functional(h, model, theta, ys)
    if n_replications is not None:
        n_rep = check_int(n_replications, "n_replications", minimum=1)
        out = _paris_rep_jit(
            key, model, theta, ys, h_flat, n, nb, sampler, max_trials, method, n_rep,
            _check_mesh(mesh),
        )  # fmt: skip
        unravel = jax.vmap(unravel)
    elif mesh is not None:
        raise ValueError("mesh: expected None without n_replications (it shards replications)")
    else:
        with device_bar(ys.shape[0] - 1, "paris", show) as bar:
            out = _paris_jit(key, model, theta, ys, h_flat, n, nb, sampler, max_trials, method, bar)
            jax.block_until_ready(out)
    pf.raise_faults(out.faults, "paris", check_bound=False)
    # gathered: replications on a multi-process mesh span processes
    bound_steps, bound_excess = gather((out.faults.bound_step, out.bound_excess))
    bound_steps = bound_steps[bound_steps >= 0]  # over replications, if any
    if check_bound and bound_steps.size:
        raise ValueError(
            f"paris: {_BOUND_MSG} by {float(bound_excess.max()):.3g} nats (first at time "
            f"step {int(bound_steps.min())}): the accept-reject draws are biased; raise "
            "model.trans_log_bound, use sampler='exact' or pass check_bound=False"
        )
    return ParisResult(
        unravel(out.estimate),
        out.log_likelihood,
        out.ess,
        out.mean_proposals,
        out.mean_evaluations,
        out.fallback_fraction,
        out.bound_excess,
    )
