"""PR-LSVI: preference-based randomized least-squares value iteration with active queries.

Each episode t (Wu & Sun 2024, Algorithm 1):

1. reward MLE ``theta_hat`` from the queried preferences (Newton, warm-started);
2. perturbed reward ``theta~ ~ N(theta_hat, sigma_r^2 Sigma^{-1})`` where
   ``Sigma = lam I + sum_{queried} x x^T`` is the design matrix of queried feature differences;
3. randomized LSVI: for h = H..1, ridge-regress ``V_{h+1}(s')`` on ``phi(s, a)``, add
   ``xi_h ~ N(0, sigma_P^2 Lambda_h^{-1})``, ``Q_h = phi (theta~ + w_h + xi_h)`` clipped to
   ``+-(H - h + 1) * clip``; the new policy is greedy in ``Q``;
4. compare a trajectory of the new policy with one of an older policy (the previous one by
   default) and ask the oracle only if the randomized disagreement
   ``u_t = E |<theta - theta', x>| = 2 sigma_r |x|_{Sigma^{-1}} / sqrt(pi)`` exceeds epsilon
   (``theta, theta'`` i.i.d. from the randomized reward distribution; paper Eq. (2)) and the
   label budget ``max_queries`` is not spent.

Transitions of both trajectories always enter the regression (they are free; only labels count
as queries). Because every environment here has a finite state space, the regression over all
past transitions is computed exactly from visit counts ``N_h(s, a, s')`` (a sufficient
statistic), so an episode costs ``O(H S^2 A d + H d^3)`` whatever t is.

For the H = 1 linear dueling bandit the value step vanishes and the algorithm is the perturbed
MLE bandit of the brief's pilot: play ``argmax_a <a, theta~>`` against the previous round's arm.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from bayeskit.rlhf.envs import (
    DuelingBandit,
    TabularMDP,
    Trajectory,
    _arm_trajectory,
    _check_env,
    _plan,
    _policy_value,
    _prefer,
    _reward_error,
    _rollout,
    _sample_arms,
)
from bayeskit.rlhf.preference import _check_link, _check_link_kind, _gaussian_draws, _newton
from bayeskit.validate import (
    check_array,
    check_choice,
    check_in_range,
    check_instance,
    check_int,
    check_scalar,
    check_spd,
)

__all__ = [
    "PRLSVI",
    "PRLSVIState",
    "EpisodeInfo",
    "query_statistic",
    "lsvi",
    "init",
    "build_kernel",
]

QUERY_RULES = ("active", "always", "uniform")


class EpisodeInfo(NamedTuple):
    """What one episode reports (shared by every agent).

    Attributes:
        regret: exact ``V*(s1) - V^{pi_t}(s1)`` of the new policy (true model, not sampled).
        ref_regret: the same for the comparison (reference) policy.
        queried: bool, whether a label was requested.
        query_stat: the query statistic ``u_t``.
        reward_error: :func:`bayeskit.rlhf.envs.reward_error` of the current reward estimate.
        traj1: :class:`~bayeskit.rlhf.envs.Trajectory` of the new policy.
        traj0: the comparison trajectory.
        label: 1.0 if ``traj1`` was preferred, 0.0 if ``traj0`` was or if no label was requested.
    """

    regret: jax.Array
    ref_regret: jax.Array
    queried: jax.Array
    query_stat: jax.Array
    reward_error: jax.Array
    traj1: Trajectory
    traj0: Trajectory
    label: jax.Array


class PRLSVIState(NamedTuple):
    """PR-LSVI state with fixed-size buffers (one row per episode).

    Attributes:
        theta_hat: ``(d,)`` reward MLE.
        design: ``(d, d)`` ``Sigma = lam I + sum_queried x x^T``.
        diffs: ``(T, d)`` feature differences of every episode.
        labels: ``(T,)`` labels (0 where not queried).
        mask: ``(T,)`` bool, queried episodes.
        counts: ``(H, S, A, S)`` transition counts per step (``(1, 1, 1, 1)`` for a bandit).
        reference: the comparison policy ``(H, S)`` (MDP) or the previous arm ``(d,)`` (bandit).
        t: episode index.
    """

    theta_hat: jax.Array
    design: jax.Array
    diffs: jax.Array
    labels: jax.Array
    mask: jax.Array
    counts: jax.Array
    reference: jax.Array
    t: jax.Array


class PRLSVI(eqx.Module):
    """Configuration of PR-LSVI (numbers are traced, so grids over them reuse one compilation).

    Attributes:
        sigma_r: reward perturbation scale (>= 0; 0 is the greedy MLE): the perturbed reward is
            ``N(theta_hat, sigma_r^2 Sigma^{-1})``.
        sigma_p: value perturbation scale (>= 0).
        epsilon: query threshold for ``query="active"`` (>= 0; default 0, which asks about every
            informative pair while ``sigma_r > 0``). A label is requested when ``u_t``, the mean
            absolute disagreement about ``R(tau^1) - R(tau^0)`` between two independent draws of
            the randomized reward, exceeds it. ``u_t`` and epsilon are in units of the reward the
            learner fits (the true reward's when ``scale`` is the oracle's; ``c / scale`` times
            it otherwise), the convention of ``ThompsonSampling.epsilon`` too. After ``n``
            informative labels ``u_t ~ 2 sigma_r sqrt(d / (pi n))``, so about
            ``4 sigma_r^2 d / (pi epsilon^2)`` labels are asked in all; none once epsilon exceeds
            ``2 sigma_r max|x| / sqrt(pi lam)`` (docs/rlhf.md).
        lam: ridge for both the reward MLE and LSVI (> 0).
        scale: link scale c assumed by the learner; ``None`` takes the oracle's in ``run``.
        clip: per-step reward bound; ``Q_h`` is clipped to ``+-(H - h + 1) * clip`` (> 0).
        query_rate: probability of a query per episode for ``query="uniform"`` in [0, 1].
        max_queries: hard label budget (int >= 0, or ``None`` for none): once spent, no label is
            requested and the agent keeps acting on its current estimate.
        query: "active" (``u_t > epsilon``), "always" or "uniform" (static).
        reference: "previous" (pi_{t-1}) or "initial" (a fixed random pi_0) (static).
        newton_steps: warm-started Newton steps per episode (static).
        link: the learner's link, "logistic", "probit" or a callable CDF (static); ``None`` takes
            the oracle's in ``run``.
    """

    sigma_r: float = 0.5
    sigma_p: float = 0.5
    epsilon: float = 0.0
    lam: float = 1.0
    scale: float | None = None
    clip: float = 1.0
    query_rate: float = 1.0
    max_queries: int | None = None
    query: str = eqx.field(static=True, default="active")
    reference: str = eqx.field(static=True, default="previous")
    newton_steps: int = eqx.field(static=True, default=3)
    link: Callable | str | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        check_scalar(self.sigma_r, "sigma_r", 0.0, None, closed=(True, False))
        check_scalar(self.sigma_p, "sigma_p", 0.0, None, closed=(True, False))
        check_scalar(self.epsilon, "epsilon", 0.0, None, closed=(True, False))
        check_scalar(self.lam, "lam", 0.0, None)
        if self.scale is not None:
            check_scalar(self.scale, "scale", 0.0, None)
        check_scalar(self.clip, "clip", 0.0, None)
        check_scalar(self.query_rate, "query_rate", 0.0, 1.0, closed=(True, True))
        _check_agent_budget_and_link(self)
        check_choice(self.query, "query", QUERY_RULES)
        check_choice(self.reference, "reference", ("previous", "initial"))
        check_int(self.newton_steps, "newton_steps", minimum=1)

    def init(self, key, env, episodes: int) -> PRLSVIState:
        return init(key, env, self, episodes)

    def build_kernel(self, env, oracle_link="logistic"):
        return build_kernel(env, self, oracle_link)


def _check_agent_budget_and_link(agent):
    if agent.max_queries is not None:
        check_int(agent.max_queries, "max_queries", minimum=0)
    if agent.link is not None:
        _check_link(agent.link)


def query_statistic(diff, design, sigma_r) -> jax.Array:
    """Closed-form query statistic ``E |<theta - theta', x>| = 2 sigma_r |x|_{Sigma^{-1}} / sqrt(pi)``.

    ``theta, theta'`` are i.i.d. ``N(m, sigma_r^2 Sigma^{-1})``, so ``<theta - theta', x>`` is
    ``N(0, 2 sigma_r^2 |x|^2_{Sigma^{-1}})`` and its absolute mean is ``sqrt(2 / pi)`` times the sd.

    Args:
        diff: ``(d,)`` feature difference ``phi(tau^0) - phi(tau^1)`` (sign irrelevant).
        design: ``(d, d)`` symmetric positive definite design matrix ``Sigma``.
        sigma_r: perturbation scale >= 0.

    Returns:
        Scalar ``u``. Under ``jit`` the design cannot be checked; a design that is not positive
        definite then gives NaN (the Cholesky factor fails), never a finite wrong value.

    Raises:
        ValueError: on wrong shapes, non-finite entries, ``sigma_r < 0`` or a concrete design
            that is not symmetric positive definite.

    Reference: Wu & Sun 2024, Eq. (2).
    """
    x = check_array(diff, "diff", ndim=1)
    if x.shape[0] < 1:
        raise ValueError(f"diff: expected shape (d,) with d >= 1, got {x.shape}")
    S = check_array(design, "design", shape=(x.shape[0], x.shape[0]))
    check_scalar(sigma_r, "sigma_r", 0.0, None, closed=(True, False))
    check_spd(S, "design")
    dtype = jnp.result_type(x.dtype, S.dtype, float)
    x, S = x.astype(dtype), S.astype(dtype)
    chol = jnp.linalg.cholesky(S)
    z = jax.scipy.linalg.solve_triangular(chol, x, lower=True)
    return 2.0 * sigma_r * jnp.sqrt(z @ z) / math.sqrt(math.pi)


def _query_stat(x, design, sigma_r):
    return 2.0 * sigma_r * jnp.sqrt(x @ jnp.linalg.solve(design, x)) / math.sqrt(math.pi)


def _decide(agent, key, u, x, mask):
    """Query decision of ``agent``'s rule given the query buffer ``mask``.

    A pair with identical features carries no information and is never asked, nor is any pair
    once ``agent.max_queries`` labels have been asked.
    """
    informative = jnp.any(x != 0)
    if agent.query == "active":
        q = u > agent.epsilon
    elif agent.query == "always":
        q = jnp.bool_(True)
    else:
        q = jax.random.bernoulli(key, agent.query_rate)
    if agent.max_queries is not None:
        q = q & (mask.sum() < agent.max_queries)
    return q & informative


def _random_reference(key, env):
    """A uniformly random deterministic policy ``(H, S)``, or a random arm of a fresh offer."""
    if isinstance(env, DuelingBandit):
        k_arms, k_pick = jax.random.split(key)
        arms = _sample_arms(k_arms, env)
        return arms[jax.random.randint(k_pick, (), 0, arms.shape[0])]
    S, A = env.features.shape[:2]
    return jax.random.randint(key, (env.horizon, S), 0, A)


def _perturb(key, mean, precision, sigma):
    """One draw of ``N(mean, sigma^2 precision^{-1})`` (``mean`` itself when sigma = 0)."""
    z = _gaussian_draws(key, jnp.zeros_like(mean), precision, 1)[0]
    return mean + sigma * z


def _count_transitions(counts, traj):
    H = traj.actions.shape[0]
    return counts.at[jnp.arange(H), traj.states[:-1], traj.actions, traj.states[1:]].add(1.0)


def _lsvi(key, features, theta_r, counts, lam, sigma_p, clip):
    H, S, A, _ = counts.shape
    d = features.shape[-1]
    n_sa = counts.sum(-1)
    gram = jnp.einsum("hsa,sad,sae->hde", n_sa, features, features)
    lams = gram + lam * jnp.eye(d, dtype=features.dtype)
    z = jax.random.normal(key, (H, d), features.dtype)
    bounds = (H - jnp.arange(H)) * clip

    def backup(v_next, inp):
        lam_h, n_h, z_h, bound = inp
        # Ridge regression of V_{h+1}(s') on phi(s, a) over all past transitions at step h.
        b = jnp.einsum("sad,sat,t->d", features, n_h, v_next)
        chol = jnp.linalg.cholesky(lam_h)
        w = jax.scipy.linalg.cho_solve((chol, True), b)
        xi = sigma_p * jax.scipy.linalg.solve_triangular(chol.T, z_h, lower=False)
        q = jnp.clip(features @ (theta_r + w + xi), -bound, bound)
        return q.max(-1), q

    _, q = jax.lax.scan(
        backup, jnp.zeros(S, features.dtype), (lams, counts, z, bounds), reverse=True
    )
    return q


def lsvi(key, env: TabularMDP, theta_r, counts, *, lam=1.0, sigma_p=0.0, clip=1.0) -> jax.Array:
    """Randomized least-squares value iteration from transition counts.

    Args:
        key: PRNG key (value perturbations).
        env: the MDP (features and horizon; its transitions are not used).
        theta_r: ``(d,)`` reward parameter to plan for.
        counts: ``(H, S, A, S)`` transition counts ``N_h(s, a, s')``.
        lam: ridge > 0.
        sigma_p: value perturbation scale >= 0.
        clip: per-step reward bound > 0.

    Returns:
        ``(H, S, A)`` perturbed, clipped Q-values; the policy is their argmax over actions.

    Raises:
        TypeError: if ``env`` is not a TabularMDP.
        ValueError: on wrong shapes, non-finite entries, negative counts or out-of-range
            constants.

    Reference: Wu & Sun 2024, Algorithm 1; Zanette et al. 2020 (RLSVI with clipping).
    """
    from bayeskit.random import as_key

    key = as_key(key, "key")
    _check_env(env)
    S, A, d = env.features.shape
    th = check_array(theta_r, "theta_r", shape=(d,))
    N = check_array(counts, "counts", shape=(env.horizon, S, A, S))
    check_in_range(N, "counts", 0.0, None, closed=(True, False))
    check_scalar(lam, "lam", 0.0, None)
    check_scalar(sigma_p, "sigma_p", 0.0, None, closed=(True, False))
    check_scalar(clip, "clip", 0.0, None)
    return _lsvi(key, env.features, th, N.astype(env.features.dtype), lam, sigma_p, clip)


def init(key, env, agent: PRLSVI, episodes: int) -> PRLSVIState:
    """Empty PR-LSVI state; the first reference is a random policy (MDP) or random arm (bandit).

    Traceable (``run`` calls it under ``jit``): only types and sizes are checked.

    Raises:
        TypeError: if ``env`` is not a TabularMDP or DuelingBandit, ``agent`` not a PRLSVI,
            ``key`` not a key or ``episodes`` not an integer.
        ValueError: if ``episodes < 1``.
    """
    from bayeskit.random import as_key

    key = as_key(key, "key")
    _check_env(env, kinds=(TabularMDP, DuelingBandit))
    check_instance(agent, "agent", PRLSVI)
    episodes = check_int(episodes, "episodes", minimum=1)
    d = env.dim
    dtype = env.theta.dtype
    if isinstance(env, DuelingBandit):
        counts = jnp.zeros((1, 1, 1, 1), dtype)
    else:
        S, A = env.features.shape[:2]
        counts = jnp.zeros((env.horizon, S, A, S), dtype)
    return PRLSVIState(
        jnp.zeros(d, dtype),
        agent.lam * jnp.eye(d, dtype=dtype),
        jnp.zeros((episodes, d), dtype),
        jnp.zeros(episodes, dtype),
        jnp.zeros(episodes, bool),
        counts,
        _random_reference(key, env),
        jnp.zeros((), jnp.int32),
    )


def _record(state, x, label, q, agent, scale, link):
    """Store the pair, update the design matrix and refit the MLE (warm start)."""
    diffs = state.diffs.at[state.t].set(x)
    labels = state.labels.at[state.t].set(label)
    mask = state.mask.at[state.t].set(q)
    design = state.design + jnp.where(q, 1.0, 0.0) * jnp.outer(x, x)
    theta = _newton(
        state.theta_hat, diffs, labels, mask, agent.lam, scale, agent.newton_steps, link
    )
    return state._replace(theta_hat=theta, design=design, diffs=diffs, labels=labels, mask=mask)


def _ask(key, theta, x, oracle_scale, oracle_link, q):
    """The oracle's label of the pair if it is requested, else 0."""
    return jnp.where(q, _prefer(key, theta, x, oracle_scale, oracle_link), 0.0).astype(x.dtype)


def build_kernel(env, agent: PRLSVI, oracle_link="logistic"):
    """Return ``kernel(key, state, oracle_scale) -> (state, EpisodeInfo)`` for one episode.

    ``oracle_link`` (static) is the link of the simulated labeller; the learner fits with
    ``agent.link`` (the oracle's when ``None``), and likewise for the scale.

    Raises:
        TypeError: if ``env`` is not a TabularMDP or DuelingBandit, ``agent`` not a PRLSVI or
            ``oracle_link`` neither a link name nor a callable.
        ValueError: on an unknown link name.

    Reference: Wu & Sun 2024, Algorithm 1.
    """
    _check_env(env, kinds=(TabularMDP, DuelingBandit))
    check_instance(agent, "agent", PRLSVI)
    _check_link_kind(oracle_link, "oracle_link")
    link = oracle_link if agent.link is None else agent.link
    if isinstance(env, DuelingBandit):
        return _bandit_kernel(env, agent, oracle_link, link)
    vstar = _policy_value(env, _plan(env).policy)

    def kernel(key, state, oracle_scale):
        k_r, k_p, k1, k0, k_lab, k_q = jax.random.split(key, 6)
        scale = oracle_scale if agent.scale is None else agent.scale
        theta_r = _perturb(k_r, state.theta_hat, state.design, agent.sigma_r)
        q_values = _lsvi(
            k_p, env.features, theta_r, state.counts, agent.lam, agent.sigma_p, agent.clip
        )
        policy = jnp.argmax(q_values, axis=-1)
        ref_policy = state.reference
        tau1, tau0 = _rollout(k1, env, policy), _rollout(k0, env, ref_policy)
        x = tau1.features - tau0.features
        u = _query_stat(x, state.design, agent.sigma_r)
        q = _decide(agent, k_q, u, x, state.mask)
        o = _ask(k_lab, env.theta, x, oracle_scale, oracle_link, q)
        new = _record(state, x, o, q, agent, scale, link)
        counts = _count_transitions(_count_transitions(state.counts, tau1), tau0)
        reference = policy if agent.reference == "previous" else ref_policy
        new = new._replace(counts=counts, reference=reference, t=state.t + 1)
        info = EpisodeInfo(
            vstar - _policy_value(env, policy),
            vstar - _policy_value(env, ref_policy),
            q,
            u,
            _reward_error(env, new.theta_hat),
            tau1,
            tau0,
            o,
        )
        return new, info

    return kernel


def _bandit_kernel(env: DuelingBandit, agent: PRLSVI, oracle_link, link):
    def kernel(key, state, oracle_scale):
        k_arms, k_r, k_lab, k_q = jax.random.split(key, 4)
        scale = oracle_scale if agent.scale is None else agent.scale
        arms = _sample_arms(k_arms, env)
        theta_r = _perturb(k_r, state.theta_hat, state.design, agent.sigma_r)
        arm = arms[jnp.argmax(arms @ theta_r)]
        x = arm - state.reference
        u = _query_stat(x, state.design, agent.sigma_r)
        q = _decide(agent, k_q, u, x, state.mask)
        o = _ask(k_lab, env.theta, x, oracle_scale, oracle_link, q)
        new = _record(state, x, o, q, agent, scale, link)
        reference = arm if agent.reference == "previous" else state.reference
        new = new._replace(reference=reference, t=state.t + 1)
        utilities = arms @ env.theta
        best = utilities.max()
        info = EpisodeInfo(
            best - arm @ env.theta,
            best - state.reference @ env.theta,
            q,
            u,
            _reward_error(env, new.theta_hat),
            _arm_trajectory(arm),
            _arm_trajectory(state.reference),
            o,
        )
        return new, info

    return kernel
