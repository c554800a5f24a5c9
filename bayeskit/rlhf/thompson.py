"""Model-based Thompson sampling from trajectory preferences, with active queries.

Each episode t (Wu & Sun 2024, Algorithm 2, tabular instance):

1. sample transitions ``P_t ~ Dir(alpha_0 + N(s, a, .))`` for every (s, a) (conjugate counts of
   all observed transitions) and a reward ``theta_t`` from the Laplace posterior of Bayesian
   logistic regression on the queried preferences (:mod:`bayeskit.rlhf.preference`);
2. plan exactly in the sampled model (backward induction);
3. compare a trajectory of the new policy with one of a reference policy (the previous policy by
   default; ``reference="fresh"`` draws a second posterior policy, which with ``query="always"``
   is Dueling Posterior Sampling, Novoseller et al. 2020);
4. ask for a label only if ``u_t = E |(r - r')(tau^1) - (r - r')(tau^0)|``, with ``r, r'`` i.i.d.
   from the reward posterior (its sd multiplied by ``inflation``), exceeds epsilon and the label
   budget ``max_queries`` is not spent; ``u_t`` is estimated from ``num_query_draws`` posterior
   pairs. It is PR-LSVI's statistic (same units) with ``sigma_r^2 Sigma^{-1}`` replaced by
   ``inflation^2 H^{-1}``, ``H`` the Laplace precision.

``feedback="numeric"`` turns the agent into PSRL with numeric rewards (the oracle baseline): it
observes noisy per-step rewards of its own trajectory every episode and keeps the conjugate
Gaussian posterior of ``theta``. ``greedy=True`` plans in the posterior mean model instead of a
sample (no randomization).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from bayeskit.rlhf.envs import (
    DuelingBandit,
    _check_env,
    _plan,
    _policy_value,
    _reward_error,
    _rollout,
)
from bayeskit.rlhf.lsvi import (
    QUERY_RULES,
    EpisodeInfo,
    _ask,
    _check_agent_budget_and_link,
    _decide,
    _perturb,
    _random_reference,
)
from bayeskit.rlhf.preference import _check_link_kind, _gaussian_draws, _hessian, _newton
from bayeskit.validate import (
    check_array,
    check_bool,
    check_choice,
    check_in_range,
    check_instance,
    check_int,
    check_scalar,
    check_spd,
)

__all__ = [
    "ThompsonSampling",
    "ThompsonState",
    "query_statistic_mc",
    "sample_transitions",
    "init",
    "build_kernel",
]


class ThompsonState(NamedTuple):
    """Posterior state of model-based Thompson sampling.

    Attributes:
        theta_map: ``(d,)`` MAP of the preference reward posterior.
        diffs, labels, mask: ``(T, d)``, ``(T,)``, ``(T,)`` preference buffers (mask: queried).
        counts: ``(S, A, S)`` transition counts of all observed transitions.
        num_precision, num_moment: ``(d, d)`` and ``(d,)`` conjugate Gaussian posterior of the
            numeric-reward baseline (precision and precision-weighted mean).
        reference: ``(H, S)`` the comparison policy.
        t: episode index.
    """

    theta_map: jax.Array
    diffs: jax.Array
    labels: jax.Array
    mask: jax.Array
    counts: jax.Array
    num_precision: jax.Array
    num_moment: jax.Array
    reference: jax.Array
    t: jax.Array


class ThompsonSampling(eqx.Module):
    """Configuration of model-based preference Thompson sampling.

    Attributes:
        epsilon: query threshold for ``query="active"`` (>= 0; default 0, which asks about every
            informative pair). A label is requested when ``u_t``, the mean absolute disagreement
            about ``R(tau^1) - R(tau^0)`` between two independent draws of the (inflated) reward
            posterior, exceeds it: the convention and units of ``PRLSVI.epsilon`` (the reward the
            learner fits, ``c / scale`` times the true reward). The Laplace precision grows like
            ``c'^2 w n`` after ``n`` labels (``c'`` the learner's scale, ``w`` the mean Fisher
            weight of the labelled pairs, ``p (1 - p) <= 1/4`` for the logistic link), so
            ``u_t ~ 2 inflation sqrt(d / (pi c'^2 w n))`` and about
            ``4 inflation^2 d / (pi c'^2 w epsilon^2)`` labels are asked in all: PR-LSVI's count
            with ``sigma_r = inflation / (c' sqrt(w))`` (docs/rlhf.md).
        lam: prior precision of theta (> 0).
        scale: link scale c assumed by the learner; ``None`` takes the oracle's in ``run``.
        concentration: Dirichlet prior concentration alpha_0 (> 0).
        inflation: multiplies the posterior sd of the reward sample (> 0; 1 is plain TS).
        query_rate: query probability for ``query="uniform"``, in [0, 1].
        max_queries: hard label budget (int >= 0, or ``None`` for none): once spent, no label is
            requested and the agent keeps sampling from its current posterior.
        reward_noise: sd of the numeric rewards for ``feedback="numeric"`` (> 0).
        num_query_draws: posterior pairs used to estimate ``u_t`` (static, >= 1).
        query: "active", "always" or "uniform" (static).
        reference: "previous", "initial" or "fresh" (a second posterior sample; static).
        feedback: "preference" or "numeric" (static).
        greedy: plan in the posterior mean model, no sampling (static).
        newton_steps: warm-started Newton steps per episode for the MAP (static).
        link: the learner's link, "logistic", "probit" or a callable CDF (static); ``None`` takes
            the oracle's in ``run``.
    """

    epsilon: float = 0.0
    lam: float = 1.0
    scale: float | None = None
    concentration: float = 1.0
    inflation: float = 1.0
    query_rate: float = 1.0
    max_queries: int | None = None
    reward_noise: float = 0.1
    num_query_draws: int = eqx.field(static=True, default=32)
    query: str = eqx.field(static=True, default="active")
    reference: str = eqx.field(static=True, default="previous")
    feedback: str = eqx.field(static=True, default="preference")
    greedy: bool = eqx.field(static=True, default=False)
    newton_steps: int = eqx.field(static=True, default=3)
    link: Callable | str | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        check_scalar(self.epsilon, "epsilon", 0.0, None, closed=(True, False))
        check_scalar(self.lam, "lam", 0.0, None)
        if self.scale is not None:
            check_scalar(self.scale, "scale", 0.0, None)
        check_scalar(self.concentration, "concentration", 0.0, None)
        check_scalar(self.inflation, "inflation", 0.0, None)
        check_scalar(self.query_rate, "query_rate", 0.0, 1.0, closed=(True, True))
        _check_agent_budget_and_link(self)
        check_scalar(self.reward_noise, "reward_noise", 0.0, None)
        check_int(self.num_query_draws, "num_query_draws", minimum=1)
        check_choice(self.query, "query", QUERY_RULES)
        check_choice(self.reference, "reference", ("previous", "initial", "fresh"))
        check_choice(self.feedback, "feedback", ("preference", "numeric"))
        check_bool(self.greedy, "greedy")
        check_int(self.newton_steps, "newton_steps", minimum=1)

    def init(self, key, env, episodes: int) -> ThompsonState:
        return init(key, env, self, episodes)

    def build_kernel(self, env, oracle_link="logistic"):
        return build_kernel(env, self, oracle_link)


def query_statistic_mc(key, diff, mean, precision, *, num_draws: int = 32) -> jax.Array:
    """Monte Carlo query statistic ``mean_i |<theta_i - theta'_i, x>|`` over posterior pairs.

    Args:
        key: PRNG key or int seed.
        diff: ``(d,)`` feature difference of the two trajectories.
        mean: ``(d,)`` posterior mean.
        precision: ``(d, d)`` posterior precision (Gaussian posterior).
        num_draws: number of independent pairs (>= 1).

    Returns:
        Scalar estimate of ``E |<theta - theta', x>|``; for a Gaussian posterior it converges
        to ``2 |x|_{precision^{-1}} / sqrt(pi)`` (:func:`bayeskit.rlhf.lsvi.query_statistic`).

    Raises:
        ValueError: on wrong shapes, non-finite entries, a precision that is not symmetric
            positive definite or ``num_draws < 1``.

    Reference: Wu & Sun 2024, Sec. 5 (query condition of Algorithm 2).
    """
    from bayeskit.random import as_key

    x = check_array(diff, "diff", ndim=1)
    d = x.shape[0]
    if d < 1:
        raise ValueError(f"diff: expected shape (d,) with d >= 1, got {x.shape}")
    m = check_array(mean, "mean", shape=(d,))
    P = check_array(precision, "precision", shape=(d, d))
    check_spd(P, "precision")
    n = check_int(num_draws, "num_draws", minimum=1)
    return _query_stat_mc(as_key(key, "key"), x, m, P, n, 1.0)


def _query_stat_mc(key, x, mean, precision, n, inflation):
    draws = _gaussian_draws(key, jnp.zeros_like(mean), precision, 2 * n) * inflation
    return jnp.abs((draws[:n] - draws[n:]) @ x).mean()


def sample_transitions(key, counts, concentration=1.0) -> jax.Array:
    """One draw of the Dirichlet transition posterior, shape ``(S, A, S)``.

    Args:
        key: PRNG key or int seed.
        counts: ``(S, A, S)`` non-negative transition counts.
        concentration: prior ``alpha_0 > 0``.

    Returns:
        Row-stochastic ``(S, A, S)`` sample of ``Dir(alpha_0 + counts[s, a])`` per row.

    Raises:
        ValueError: on a wrong shape, negative counts or ``concentration <= 0``.
    """
    from bayeskit.random import as_key

    N = check_array(counts, "counts", ndim=3)
    if N.size == 0:
        raise ValueError(f"counts: expected shape (S, A, S) with S, A >= 1, got {N.shape}")
    check_in_range(N, "counts", 0.0, None, closed=(True, False))
    check_scalar(concentration, "concentration", 0.0, None)
    return jax.random.dirichlet(
        as_key(key, "key"), concentration + N.astype(jnp.result_type(float))
    )


def init(key, env, agent: ThompsonSampling, episodes: int) -> ThompsonState:
    """Prior state; the first reference policy is uniformly random.

    Traceable (``run`` calls it under ``jit``): only types and sizes are checked.

    Raises:
        TypeError: if ``env`` is not a TabularMDP, ``agent`` not a ThompsonSampling, ``key``
            not a key or ``episodes`` not an integer.
        ValueError: if ``episodes < 1``.
    """
    from bayeskit.random import as_key

    key = as_key(key, "key")
    if isinstance(env, DuelingBandit):
        raise TypeError("env: ThompsonSampling needs a TabularMDP, got a DuelingBandit")
    _check_env(env)
    check_instance(agent, "agent", ThompsonSampling)
    episodes = check_int(episodes, "episodes", minimum=1)
    S, A, d = env.features.shape
    dtype = env.theta.dtype
    return ThompsonState(
        jnp.zeros(d, dtype),
        jnp.zeros((episodes, d), dtype),
        jnp.zeros(episodes, dtype),
        jnp.zeros(episodes, bool),
        jnp.zeros((S, A, S), dtype),
        agent.lam * jnp.eye(d, dtype=dtype),
        jnp.zeros(d, dtype),
        _random_reference(key, env),
        jnp.zeros((), jnp.int32),
    )


def _reward_posterior(state, agent, scale, link):
    """(mean, precision) of the Gaussian reward posterior in use."""
    if agent.feedback == "numeric":
        mean = jnp.linalg.solve(state.num_precision, state.num_moment)
        return mean, state.num_precision
    prec = _hessian(state.theta_map, state.diffs, state.mask, agent.lam, scale, link)
    return state.theta_map, prec


def build_kernel(env, agent: ThompsonSampling, oracle_link="logistic"):
    """Return ``kernel(key, state, oracle_scale) -> (state, EpisodeInfo)`` for one episode.

    ``oracle_link`` (static) is the link of the simulated labeller; the learner fits with
    ``agent.link`` (the oracle's when ``None``), and likewise for the scale.

    Raises:
        TypeError: if ``env`` is not a TabularMDP, ``agent`` not a ThompsonSampling or
            ``oracle_link`` neither a link name nor a callable.
        ValueError: on an unknown link name.

    Reference: Wu & Sun 2024, Algorithm 2; Novoseller et al. 2020 (DPS) for ``reference="fresh"``.
    """
    if isinstance(env, DuelingBandit):
        raise TypeError("env: ThompsonSampling needs a TabularMDP, got a DuelingBandit")
    _check_env(env)
    check_instance(agent, "agent", ThompsonSampling)
    _check_link_kind(oracle_link, "oracle_link")
    link = oracle_link if agent.link is None else agent.link
    vstar = _policy_value(env, _plan(env).policy)
    phi = env.features

    def sample_policy(key, state, mean, prec):
        k_r, k_p = jax.random.split(key)
        if agent.greedy:
            alpha = agent.concentration + state.counts
            P, theta = alpha / alpha.sum(-1, keepdims=True), mean
        else:
            P = jax.random.dirichlet(k_p, agent.concentration + state.counts)
            theta = _perturb(k_r, mean, prec, agent.inflation)
        return _plan(env, rewards=phi @ theta, transitions=P).policy

    def kernel(key, state, oracle_scale):
        k_pol, k_ref, k1, k0, k_u, k_lab, k_q, k_noise = jax.random.split(key, 8)
        scale = oracle_scale if agent.scale is None else agent.scale
        mean, prec = _reward_posterior(state, agent, scale, link)
        policy = sample_policy(k_pol, state, mean, prec)
        if agent.reference == "fresh":
            ref_policy = sample_policy(k_ref, state, mean, prec)
        else:
            ref_policy = state.reference
        tau1, tau0 = _rollout(k1, env, policy), _rollout(k0, env, ref_policy)
        x = tau1.features - tau0.features
        u = _query_stat_mc(k_u, x, mean, prec, agent.num_query_draws, agent.inflation)
        counts = state.counts
        for tau in (tau1, tau0):
            counts = counts.at[tau.states[:-1], tau.actions, tau.states[1:]].add(1.0)
        if agent.feedback == "numeric":
            # PSRL oracle: noisy per-step rewards of both trajectories, conjugate update.
            feats = jnp.concatenate(
                [phi[tau1.states[:-1], tau1.actions], phi[tau0.states[:-1], tau0.actions]]
            )
            noise = agent.reward_noise * jax.random.normal(k_noise, feats.shape[:1], feats.dtype)
            obs = feats @ env.theta + noise
            w = 1.0 / agent.reward_noise**2
            new = state._replace(
                num_precision=state.num_precision + w * feats.T @ feats,
                num_moment=state.num_moment + w * feats.T @ obs,
            )
            q = jnp.bool_(False)
            o = jnp.zeros((), x.dtype)
            theta_est = jnp.linalg.solve(new.num_precision, new.num_moment)
        else:
            q = _decide(agent, k_q, u, x, state.mask)
            o = _ask(k_lab, env.theta, x, oracle_scale, oracle_link, q)
            diffs = state.diffs.at[state.t].set(x)
            labels = state.labels.at[state.t].set(o)
            mask = state.mask.at[state.t].set(q)
            theta_map = _newton(
                state.theta_map, diffs, labels, mask, agent.lam, scale, agent.newton_steps, link
            )
            new = state._replace(theta_map=theta_map, diffs=diffs, labels=labels, mask=mask)
            theta_est = theta_map
        reference = policy if agent.reference == "previous" else ref_policy
        new = new._replace(counts=counts, reference=reference, t=state.t + 1)
        info = EpisodeInfo(
            vstar - _policy_value(env, policy),
            vstar - _policy_value(env, ref_policy),
            q,
            u,
            _reward_error(env, theta_est),
            tau1,
            tau0,
            o,
        )
        return new, info

    return kernel
