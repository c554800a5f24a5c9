"""Run an agent for many episodes (``lax.scan``), batch seeds (``vmap``), log exact regret.

Baselines are configurations of the two agents, and a policy that ignores all feedback:

* always-query: ``query="always"``; uniform-random query at a matched budget:
  ``query="uniform", query_rate=Q/T`` of the active run;
* greedy (no randomization): ``PRLSVI(sigma_r=0, sigma_p=0)`` or ``ThompsonSampling(greedy=True)``;
* dueling posterior sampling (Novoseller et al. 2020): ``ThompsonSampling(reference="fresh",
  query="always")``;
* posterior sampling with numeric rewards (the oracle): ``ThompsonSampling(feedback="numeric")``;
* uniformly random actions (linear regret, the floor every learner must beat): ``RandomPolicy()``.

:func:`baselines` builds them.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from bayeskit._progress import progress_bar, show_progress
from bayeskit.parallel import _check_mesh, gather, map_sharded
from bayeskit.random import as_key
from bayeskit.rlhf.envs import (
    DuelingBandit,
    TabularMDP,
    Trajectory,
    _arm_trajectory,
    _plan,
    _policy_value,
    _reward_error,
    _rollout,
    _sample_arms,
)
from bayeskit.rlhf.lsvi import PRLSVI, EpisodeInfo, _random_reference
from bayeskit.rlhf.preference import _check_link
from bayeskit.rlhf.thompson import ThompsonSampling
from bayeskit.validate import check_int, check_scalar

__all__ = ["Preferences", "RandomPolicy", "RandomPolicyState", "RunLog", "run", "baselines"]


class Preferences(NamedTuple):
    """The comparisons of a run, one row per episode (a leading seed axis when seeds are batched).

    Only rows with ``queried`` are labelled data; refit a reward model with
    ``fit_mle(p.diffs, p.labels, mask=p.queried, scale=c, link=...)``.

    Attributes:
        traj1: :class:`~bayeskit.rlhf.envs.Trajectory` of the learner's policy, with ``states``
            ``(T, H + 1)``, ``actions`` ``(T, H)`` and ``features`` ``(T, d)`` (for a bandit the
            features are the arms played and states and actions are zeros).
        traj0: the comparison trajectories, same shapes.
        labels: ``(T,)`` 1.0 if ``traj1`` was preferred, 0.0 if ``traj0`` was or if no label was
            requested.
        queried: ``(T,)`` bool, whether the label was requested.
    """

    traj1: Trajectory
    traj0: Trajectory
    labels: jax.Array
    queried: jax.Array

    @property
    def diffs(self) -> jax.Array:
        """Feature differences ``phi(traj1) - phi(traj0)``, shape ``(T, d)``."""
        return self.traj1.features - self.traj0.features


class RunLog(NamedTuple):
    """Per-episode log and what the run leaves behind; ``seeds`` adds a leading axis to all.

    Attributes:
        regret: ``(T,)`` exact per-episode regret ``V*(s1) - V^{pi_t}(s1)`` of the learner.
        ref_regret: ``(T,)`` the same for the comparison policy (dueling regret = regret +
            ref_regret); on a fresh-context bandit the previous arm is scored against this
            round's best arm, so it can be negative.
        queries: ``(T,)`` cumulative number of labels requested.
        query_stat: ``(T,)`` the query statistic ``u_t``.
        reward_error: ``(T,)`` reward-estimation error after the episode.
        preferences: :class:`Preferences`, the compared trajectories and the labels received.
        state: the agent's final state (``PRLSVIState``, ``ThompsonState`` or
            :class:`RandomPolicyState`), e.g. ``state.theta_hat`` of PR-LSVI.
    """

    regret: jax.Array
    ref_regret: jax.Array
    queries: jax.Array
    query_stat: jax.Array
    reward_error: jax.Array
    preferences: Preferences
    state: NamedTuple

    @property
    def cumulative_regret(self) -> jax.Array:
        """Cumulative learner regret, same shape as ``regret``."""
        return jnp.cumsum(self.regret, axis=-1)

    @property
    def total_regret(self) -> jax.Array:
        """Final cumulative learner regret, shape ``()`` or ``(seeds,)``."""
        return self.regret.sum(-1)

    @property
    def total_queries(self) -> jax.Array:
        """Final number of queries, shape ``()`` or ``(seeds,)``."""
        return self.queries[..., -1]


class RandomPolicyState(NamedTuple):
    """State of :class:`RandomPolicy`.

    Attributes:
        reference: the previous episode's policy ``(H, S)`` or arm ``(d,)``.
    """

    reference: jax.Array


class RandomPolicy(eqx.Module):
    """Baseline that acts uniformly at random and never asks for a label.

    Each episode it plays a fresh deterministic Markov policy whose actions ``pi(h, s)`` are
    i.i.d. uniform (on a bandit, a uniform arm of the round's offer); since each (h, s) is visited
    at most once per episode, its trajectories have the law of the uniform stochastic policy, so
    its expected per-episode regret is ``V* - V^uniform`` whatever t is: linear regret. It is
    compared with the previous episode's policy; ``reward_error`` is that of the prior mean 0.
    """

    def init(self, key, env, episodes: int) -> RandomPolicyState:
        return RandomPolicyState(_random_reference(key, env))

    def build_kernel(self, env, oracle_link="logistic"):
        """Return ``kernel(key, state, oracle_scale) -> (state, EpisodeInfo)``; it asks nothing."""
        dtype = env.theta.dtype
        zero = jnp.zeros((), dtype)
        error = _reward_error(env, jnp.zeros_like(env.theta))
        if isinstance(env, DuelingBandit):

            def kernel(key, state, oracle_scale):
                k_arms, k_pick = jax.random.split(key)
                arms = _sample_arms(k_arms, env)
                arm = arms[jax.random.randint(k_pick, (), 0, arms.shape[0])]
                best = (arms @ env.theta).max()
                info = EpisodeInfo(
                    best - arm @ env.theta,
                    best - state.reference @ env.theta,
                    jnp.bool_(False),
                    zero,
                    error,
                    _arm_trajectory(arm),
                    _arm_trajectory(state.reference),
                    zero,
                )
                return RandomPolicyState(arm), info

            return kernel
        vstar = _policy_value(env, _plan(env).policy)

        def kernel(key, state, oracle_scale):
            k_pol, k1, k0 = jax.random.split(key, 3)
            policy = _random_reference(k_pol, env)
            info = EpisodeInfo(
                vstar - _policy_value(env, policy),
                vstar - _policy_value(env, state.reference),
                jnp.bool_(False),
                zero,
                error,
                _rollout(k1, env, policy),
                _rollout(k0, env, state.reference),
                zero,
            )
            return RandomPolicyState(policy), info

        return kernel


_AGENTS = (PRLSVI, ThompsonSampling, RandomPolicy)


def _over_seeds(fn, mesh, *args):
    """``vmap`` over the seed axis; on a mesh, each device runs its seeds one at a time, the same
    compiled code for any number of devices (so results match a one-device mesh bit for bit)."""
    if mesh is None:
        return jax.vmap(fn)(*args)
    return map_sharded(fn, *args, mesh=mesh, batch_size=1)


@partial(jax.jit, static_argnames=("episodes", "mesh"))
def _init(keys, env, agent, episodes, mesh=None):
    return _over_seeds(lambda k: agent.init(k, env, episodes), mesh, keys)


@partial(jax.jit, static_argnames=("link", "mesh"))
def _scan(keys, state, env, agent, scale, link, mesh=None):
    kernel = agent.build_kernel(env, link)

    def one(ks, st):
        return jax.lax.scan(lambda s, k: kernel(k, s, scale), st, ks)

    return _over_seeds(one, mesh, keys, state)


def run(
    key,
    env,
    agent,
    episodes: int,
    *,
    scale=1.0,
    link="logistic",
    seeds=None,
    mesh=None,
    progress: bool | None = None,
) -> RunLog:
    """Run ``agent`` on ``env`` against a simulated preference oracle for ``episodes`` episodes.

    Args:
        key: PRNG key or int seed.
        env: :class:`~bayeskit.rlhf.envs.TabularMDP` or :class:`~bayeskit.rlhf.envs.DuelingBandit`.
        agent: :class:`~bayeskit.rlhf.lsvi.PRLSVI`,
            :class:`~bayeskit.rlhf.thompson.ThompsonSampling` or :class:`RandomPolicy`.
        episodes: T >= 1.
        scale: the oracle's link scale c > 0 (also the learner's unless ``agent.scale`` is set).
        link: the oracle's link, ``"logistic"`` (Bradley-Terry), ``"probit"`` or a callable CDF
            (also the learner's unless ``agent.link`` is set); a new link compiles anew.
        seeds: ``None`` for one run, or a number of independent seeds run with ``vmap``.
        mesh: ``None``, or a 1-D ``jax.sharding.Mesh`` (:func:`bayeskit.parallel.device_mesh`)
            to split the seeds across its devices (padded to a multiple of the device count).
            Each device then runs its seeds one at a time, so the log is the same bit for bit
            on any number of devices; it can differ from ``mesh=None`` (one ``vmap`` over all
            seeds) in the last bits of the floats.
        progress: show a tqdm bar (the scan then runs in about 20 chunks, same results); ``None``
            (default) shows one when run interactively (a Jupyter kernel or a terminal;
            ``BAYESKIT_PROGRESS=0``/``1`` overrides).

    Returns:
        :class:`RunLog` with per-episode ``(T,)`` arrays, the :class:`Preferences` collected
        (``(T, ...)`` rows) and the agent's final state, all with a leading ``(seeds,)`` axis
        when ``seeds`` is given.

    Raises:
        TypeError: on an unknown environment or agent type, or a link that is neither a name
            nor a callable.
        ValueError: on ``episodes < 1``, ``scale <= 0``, ``seeds < 1``, an unknown link name,
            a callable link that is not a CDF, or a mesh that is not 1-D.
        FloatingPointError: if a regret or reward error became non-finite during the run (a
            degenerate reward posterior; the checked result of the jitted scan).

    Reference: Wu & Sun 2024, Sec. 3 (regret and query complexity).
    """
    key = as_key(key, "key")
    if not isinstance(env, TabularMDP | DuelingBandit):
        raise TypeError(f"env: expected a TabularMDP or DuelingBandit, got {type(env).__name__}")
    if not isinstance(agent, _AGENTS):
        raise TypeError(
            f"agent: expected PRLSVI, ThompsonSampling or RandomPolicy, got {type(agent).__name__}"
        )
    T = check_int(episodes, "episodes", minimum=1)
    check_scalar(scale, "scale", 0.0, None)
    link = _check_link(link)
    n = 1 if seeds is None else check_int(seeds, "seeds", minimum=1)
    progress = show_progress(progress)
    mesh = None if mesh is None else _check_mesh(mesh)
    if not isinstance(agent, RandomPolicy):
        # No budget is a budget of T, never binding: budgeted and unbudgeted runs share one
        # compilation (the budget is traced).
        learner = {"scale": float(scale), "link": link, "max_queries": T}
        fill = {name: value for name, value in learner.items() if getattr(agent, name) is None}
        agent = dataclasses.replace(agent, **fill)
    k_init, k_run = jax.random.split(key)
    state = _init(jax.random.split(k_init, n), env, agent, T, mesh)
    keys = jax.random.split(k_run, n * T).reshape(n, T)
    scale = jnp.asarray(scale, env.theta.dtype)
    if progress:
        chunk = max(1, math.ceil(T / 20))
        infos = []
        with progress_bar(T, type(agent).__name__, True) as bar:
            for start in range(0, T, chunk):
                chunk_keys = keys[:, start : start + chunk]
                state, info = _scan(chunk_keys, state, env, agent, scale, link, mesh)
                infos.append(info)
                bar.update(min(chunk, T - start))
        info = jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=1), *infos)
    else:
        state, info = _scan(keys, state, env, agent, scale, link, mesh)
    log = RunLog(
        info.regret,
        info.ref_regret,
        jnp.cumsum(info.queried.astype(jnp.int32), axis=-1),
        info.query_stat,
        info.reward_error,
        Preferences(info.traj1, info.traj0, info.label, info.queried),
        state,
    )
    if seeds is None:
        log = jax.tree.map(lambda x: x[0], log)
    _check_finite_log(log)
    return log


def _check_finite_log(log: RunLog) -> None:
    """A degenerate posterior must not pass silently as NaN regret."""
    for name, arr in zip(("regret", "reward_error"), gather((log.regret, log.reward_error))):
        if not np.all(np.isfinite(arr)):
            raise FloatingPointError(
                f"run: non-finite {name} ({np.size(arr) - np.isfinite(arr).sum()} entries); the "
                "reward posterior became degenerate, try a larger lam or float64"
            )


def baselines(env, *, epsilon=0.05, sigma_r=0.5, sigma_p=0.5, query_rate=0.5) -> dict:
    """The standard comparison arms for ``env``, as a dict name -> agent.

    Args:
        env: the environment (PR-LSVI arms for a bandit, Thompson-sampling arms for an MDP).
        epsilon: threshold of the active arm (>= 0).
        sigma_r, sigma_p: PR-LSVI perturbation scales (bandit arms).
        query_rate: rate of the uniform arm (set it to the active arm's realised Q/T).

    Returns:
        Dict with keys ``always``, ``active``, ``uniform``, ``greedy``, ``random`` and, for an
        MDP, also ``dps`` and ``psrl_numeric``.

    Raises:
        TypeError: if ``env`` is neither a TabularMDP nor a DuelingBandit, or a number is not a
            real number.
        ValueError: on a negative ``epsilon``, ``sigma_r`` or ``sigma_p``, or a ``query_rate``
            outside [0, 1].
    """
    if not isinstance(env, TabularMDP | DuelingBandit):
        raise TypeError(f"env: expected a TabularMDP or DuelingBandit, got {type(env).__name__}")
    for name, value in (("epsilon", epsilon), ("sigma_r", sigma_r), ("sigma_p", sigma_p)):
        check_scalar(value, name, 0.0, None, closed=(True, False))
    check_scalar(query_rate, "query_rate", 0.0, 1.0, closed=(True, True))
    if isinstance(env, DuelingBandit):
        base = dict(sigma_r=sigma_r, sigma_p=sigma_p)
        return {
            "always": PRLSVI(**base, query="always"),
            "active": PRLSVI(**base, epsilon=epsilon),
            "uniform": PRLSVI(**base, query="uniform", query_rate=query_rate),
            "greedy": PRLSVI(sigma_r=0.0, sigma_p=0.0, query="always"),
            "random": RandomPolicy(),
        }
    return {
        "always": ThompsonSampling(query="always"),
        "active": ThompsonSampling(epsilon=epsilon),
        "uniform": ThompsonSampling(query="uniform", query_rate=query_rate),
        "greedy": ThompsonSampling(greedy=True, query="always"),
        "dps": ThompsonSampling(reference="fresh", query="always"),
        "psrl_numeric": ThompsonSampling(feedback="numeric"),
        "random": RandomPolicy(),
    }
