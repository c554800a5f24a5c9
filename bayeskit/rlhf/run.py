"""Run an agent for many episodes (``lax.scan``), batch seeds (``vmap``), log exact regret.

Baselines are configurations of the two agents:

* always-query: ``query="always"``; uniform-random query at a matched budget:
  ``query="uniform", query_rate=Q/T`` of the active run;
* greedy (no randomization): ``PRLSVI(sigma_r=0, sigma_p=0)`` or ``ThompsonSampling(greedy=True)``;
* dueling posterior sampling (Novoseller et al. 2020): ``ThompsonSampling(reference="fresh",
  query="always")``;
* posterior sampling with numeric rewards (the oracle): ``ThompsonSampling(feedback="numeric")``.

:func:`baselines` builds them.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayeskit.random import as_key
from bayeskit.rlhf.envs import DuelingBandit, TabularMDP
from bayeskit.rlhf.lsvi import PRLSVI
from bayeskit.rlhf.thompson import ThompsonSampling
from bayeskit.validate import check_bool, check_int, check_positive

__all__ = ["RunLog", "run", "baselines"]


class RunLog(NamedTuple):
    """Per-episode log; arrays have shape ``(T,)`` or ``(seeds, T)`` when seeds are batched.

    Attributes:
        regret: exact per-episode regret ``V*(s1) - V^{pi_t}(s1)`` of the learner's policy.
        ref_regret: the same for the comparison policy (dueling regret = regret + ref_regret);
            on a fresh-context bandit the previous arm is scored against this round's best arm,
            so it can be negative.
        queries: cumulative number of labels requested.
        query_stat: the query statistic ``u_t``.
        reward_error: reward-estimation error after the episode.
    """

    regret: jax.Array
    ref_regret: jax.Array
    queries: jax.Array
    query_stat: jax.Array
    reward_error: jax.Array

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


@partial(jax.jit, static_argnames=("episodes",))
def _init(keys, env, agent, episodes):
    return jax.vmap(lambda k: agent.init(k, env, episodes))(keys)


@jax.jit
def _scan(keys, state, env, agent, scale):
    kernel = agent.build_kernel(env)

    def one(ks, st):
        return jax.lax.scan(lambda s, k: kernel(k, s, scale), st, ks)

    return jax.vmap(one)(keys, state)


def run(key, env, agent, episodes: int, *, scale=1.0, seeds=None, progress: bool = False) -> RunLog:
    """Run ``agent`` on ``env`` against a Bradley-Terry oracle for ``episodes`` episodes.

    Args:
        key: PRNG key or int seed.
        env: :class:`~bayeskit.rlhf.envs.TabularMDP` or :class:`~bayeskit.rlhf.envs.DuelingBandit`.
        agent: :class:`~bayeskit.rlhf.lsvi.PRLSVI` or
            :class:`~bayeskit.rlhf.thompson.ThompsonSampling`.
        episodes: T >= 1.
        scale: the oracle's link scale c > 0 (also the learner's unless ``agent.scale`` is set).
        seeds: ``None`` for one run, or a number of independent seeds run with ``vmap``.
        progress: show a tqdm bar (the scan then runs in about 20 chunks).

    Returns:
        :class:`RunLog`, with a leading seed axis when ``seeds`` is given.

    Raises:
        TypeError: on an unknown environment or agent type.
        ValueError: on ``episodes < 1``, ``scale <= 0`` or ``seeds < 1``.

    Reference: Wu & Sun 2024, Sec. 3 (regret and query complexity).
    """
    if not isinstance(env, TabularMDP | DuelingBandit):
        raise TypeError(f"env: expected a TabularMDP or DuelingBandit, got {type(env).__name__}")
    if not isinstance(agent, PRLSVI | ThompsonSampling):
        raise TypeError(f"agent: expected PRLSVI or ThompsonSampling, got {type(agent).__name__}")
    T = check_int(episodes, "episodes", minimum=1)
    check_positive(scale, "scale")
    n = 1 if seeds is None else check_int(seeds, "seeds", minimum=1)
    check_bool(progress, "progress")
    key = as_key(key)
    if agent.scale is None:
        agent = dataclasses.replace(agent, scale=float(scale))
    k_init, k_run = jax.random.split(key)
    state = _init(jax.random.split(k_init, n), env, agent, T)
    keys = jax.random.split(k_run, n * T).reshape(n, T)
    scale = jnp.asarray(scale, env.theta.dtype)
    if progress:
        from tqdm.auto import tqdm

        chunk = max(1, math.ceil(T / 20))
        infos = []
        with tqdm(total=T, desc=type(agent).__name__) as bar:
            for start in range(0, T, chunk):
                state, info = _scan(keys[:, start : start + chunk], state, env, agent, scale)
                infos.append(info)
                bar.update(min(chunk, T - start))
        info = jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=1), *infos)
    else:
        state, info = _scan(keys, state, env, agent, scale)
    log = RunLog(
        info.regret,
        info.ref_regret,
        jnp.cumsum(info.queried.astype(jnp.int32), axis=-1),
        info.query_stat,
        info.reward_error,
    )
    if seeds is None:
        log = jax.tree.map(lambda x: x[0], log)
    _check_finite_log(log)
    return log


def _check_finite_log(log: RunLog) -> None:
    """A degenerate posterior must not pass silently as NaN regret."""
    for name in ("regret", "reward_error"):
        arr = np.asarray(getattr(log, name))
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
        Dict with keys ``always``, ``active``, ``uniform``, ``greedy`` and, for an MDP, also
        ``dps`` and ``psrl_numeric``.
    """
    if isinstance(env, DuelingBandit):
        base = dict(sigma_r=sigma_r, sigma_p=sigma_p)
        return {
            "always": PRLSVI(**base, query="always"),
            "active": PRLSVI(**base, epsilon=epsilon),
            "uniform": PRLSVI(**base, query="uniform", query_rate=query_rate),
            "greedy": PRLSVI(sigma_r=0.0, sigma_p=0.0, query="always"),
        }
    return {
        "always": ThompsonSampling(query="always"),
        "active": ThompsonSampling(epsilon=epsilon),
        "uniform": ThompsonSampling(query="uniform", query_rate=query_rate),
        "greedy": ThompsonSampling(greedy=True, query="always"),
        "dps": ThompsonSampling(reference="fresh", query="always"),
        "psrl_numeric": ThompsonSampling(feedback="numeric"),
    }
