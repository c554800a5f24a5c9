"""Finite-horizon environments for RL from trajectory preferences, with exact planning.

Two kinds of environment are pytrees (``equinox.Module``):

* :class:`TabularMDP`: S states, A actions, stationary transitions ``P[s, a, s']``, a feature
  map ``phi[s, a]`` of dimension d and a true reward parameter ``theta`` with per-step reward
  ``r(s, a) = <phi(s, a), theta>`` (a linear MDP in the sense of Wu & Sun 2024, Assumption 4.1).
  The trajectory feature is ``phi(tau) = sum_h phi(s_h, a_h)``, so the return is linear in it.
* :class:`DuelingBandit`: the H = 1 special case with K arm vectors in R^d, either fresh arms on
  the unit sphere every round (contextual) or a fixed set.

The preference oracle compares returns through a link (a CDF ``F``; Bradley-Terry by default):
``P(o = 1 | tau1, tau0) = F(scale * (R(tau1) - R(tau0)))`` with ``F = sigmoid``.

Reference: R. Wu and W. Sun, "Making RL with preference-based feedback efficient via
randomization", ICLR 2024 (arXiv 2310.14554), Section 3 (setting) and Section 4.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from bayeskit.random import as_key
from bayeskit.rlhf.preference import _cdf, _check_link
from bayeskit.validate import (
    check_array,
    check_bool,
    check_indices,
    check_int,
    check_scalar,
    check_stochastic,
)

# Rows of a transition matrix (and the start distribution) must sum to 1 within
# STOCHASTIC_ATOL (bayeskit.validate); make_mdp then rescales them to sum to 1 exactly (in
# float64, before the cast).

__all__ = [
    "TabularMDP",
    "DuelingBandit",
    "Trajectory",
    "Plan",
    "make_mdp",
    "riverswim",
    "random_mdp",
    "dueling_bandit",
    "plan",
    "evaluate",
    "policy_value",
    "rollout",
    "sample_arms",
    "prefer",
    "reward_error",
]


class TabularMDP(eqx.Module):
    """A finite-horizon tabular MDP with linear rewards ``r(s, a) = phi(s, a) @ theta``.

    Build one with :func:`make_mdp` (which also rescales rows to sum to 1 exactly); a hand-built
    instance is validated as it is, before anything is traced.

    Attributes:
        transitions: ``(S, A, S)`` row-stochastic transition probabilities (non-negative rows
            summing to 1 within ``STOCHASTIC_ATOL``).
        features: ``(S, A, d)`` finite feature map.
        theta: ``(d,)`` finite true reward parameter (never shown to the learner).
        init: ``(S,)`` start distribution.
        horizon: H >= 1, number of steps per episode (static).

    Raises:
        ValueError: on wrong shapes, non-finite features or theta, transitions or a start
            distribution that are not stochastic, or ``horizon < 1`` (value checks skipped for
            traced arrays).
        TypeError: on non-numeric arrays or a non-integer horizon.
    """

    transitions: jax.Array
    features: jax.Array
    theta: jax.Array
    init: jax.Array
    horizon: int = eqx.field(static=True)

    def __check_init__(self):
        P = check_array(self.transitions, "transitions", ndim=3, finite=False)
        S, A, S2 = P.shape
        if S2 != S or S < 1 or A < 1:
            raise ValueError(f"transitions: expected shape (S, A, S), got {P.shape}")
        check_stochastic(P, "transitions")
        phi = check_array(self.features, "features", ndim=3)
        if phi.shape[:2] != (S, A):
            raise ValueError(f"features: expected shape ({S}, {A}, d), got {phi.shape}")
        check_array(self.theta, "theta", shape=(phi.shape[2],))
        check_stochastic(check_array(self.init, "init", shape=(S,), finite=False), "init")
        check_int(self.horizon, "horizon", minimum=1)

    @property
    def rewards(self) -> jax.Array:
        """True per-step rewards, shape ``(S, A)``."""
        return self.features @ self.theta

    @property
    def dim(self) -> int:
        return self.features.shape[-1]


class DuelingBandit(eqx.Module):
    """Linear dueling bandit (H = 1): arms are vectors ``a`` with utility ``a @ theta``.

    Attributes:
        theta: ``(d,)`` finite true utility parameter, unit norm (see :func:`dueling_bandit`).
        arms: ``(K, d)`` finite arms, ``K >= 2``: the fixed arm set (used when ``fixed``;
            otherwise the shape of the arms drawn afresh on the unit sphere every round).
        fixed: whether the same arms are offered every round (static).
        horizon: always 1 (static).

    Raises:
        ValueError: on wrong shapes, non-finite entries, fewer than 2 arms or a horizon other
            than 1 (value checks skipped for traced arrays).
        TypeError: on non-numeric arrays or a non-bool ``fixed``.
    """

    theta: jax.Array
    arms: jax.Array
    fixed: bool = eqx.field(static=True)
    horizon: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        th = check_array(self.theta, "theta", ndim=1)
        if th.shape[0] < 1:
            raise ValueError(f"theta: expected shape (d,) with d >= 1, got {th.shape}")
        arms = check_array(self.arms, "arms", ndim=2)
        if arms.shape[1] != th.shape[0] or arms.shape[0] < 2:
            raise ValueError(
                f"arms: expected shape (K, {th.shape[0]}) with K >= 2 arms (d from theta of "
                f"shape {th.shape}), got {arms.shape}"
            )
        check_bool(self.fixed, "fixed")
        if check_int(self.horizon, "horizon", minimum=1) != 1:
            raise ValueError(f"horizon: a dueling bandit has horizon 1, got {self.horizon}")

    @property
    def dim(self) -> int:
        return self.theta.shape[0]

    @property
    def n_arms(self) -> int:
        return self.arms.shape[0]


class Trajectory(NamedTuple):
    """One episode.

    Attributes:
        states: ``(H + 1,)`` int visited states, the last one the state after step H (all zeros
            for a bandit).
        actions: ``(H,)`` int actions (zeros for a bandit: fresh arms have no identity, so the
            arm is recorded by its vector in ``features``).
        features: ``(d,)`` trajectory feature ``sum_h phi(s_h, a_h)`` (the arm for a bandit).
    """

    states: jax.Array
    actions: jax.Array
    features: jax.Array


class Plan(NamedTuple):
    """Result of backward induction.

    Attributes:
        q: ``(H, S, A)`` action values.
        values: ``(H + 1, S)`` state values, ``values[H] = 0``.
        policy: ``(H, S)`` int greedy deterministic Markov policy (ties to the lowest action).
    """

    q: jax.Array
    values: jax.Array
    policy: jax.Array


def _check_horizon(horizon):
    return check_int(horizon, "horizon", minimum=1)


def make_mdp(transitions, features, theta, init=None, *, horizon) -> TabularMDP:
    """Build a validated :class:`TabularMDP`.

    Args:
        transitions: ``(S, A, S)`` probabilities; each ``transitions[s, a]`` must sum to one
            (within ``STOCHASTIC_ATOL``).
        features: ``(S, A, d)`` features, or ``None`` for one-hot features (d = S * A).
        theta: ``(d,)`` true reward parameter.
        init: ``(S,)`` start distribution; default: start in state 0.
        horizon: H >= 1.

    Returns:
        The MDP.

    Raises:
        ValueError: on a non-stochastic transition matrix, features or theta of the wrong shape,
            an invalid start distribution, or ``horizon < 1``.

    Rows of ``transitions`` and ``init`` must be non-negative and sum to 1 within
    ``STOCHASTIC_ATOL = 1e-5`` (:func:`bayeskit.validate.check_stochastic`); they are then
    rescaled (in float64) to sum to 1 exactly.
    """
    horizon = _check_horizon(horizon)
    P = check_array(transitions, "transitions", ndim=3)
    S, A, S2 = P.shape
    if S2 != S or S < 1 or A < 1:
        raise ValueError(f"transitions: expected shape (S, A, S), got {P.shape}")
    # Normalise from the caller's values (float64 when given so), not from the float32 copy.
    P = check_stochastic(_host64(transitions), "transitions", normalise=True)
    if features is None:
        features = jnp.eye(S * A).reshape(S, A, S * A)
    phi = check_array(features, "features", ndim=3)
    if phi.shape[:2] != (S, A):
        raise ValueError(f"features: expected shape ({S}, {A}, d), got {phi.shape}")
    th = check_array(theta, "theta", shape=(phi.shape[2],))
    if init is None:
        init = np.zeros(S)
        init[0] = 1.0
    check_array(init, "init", shape=(S,))
    mu = check_stochastic(_host64(init), "init", normalise=True)
    dtype = jnp.result_type(float)
    return TabularMDP(
        jnp.asarray(P, dtype), phi.astype(dtype), th.astype(dtype), jnp.asarray(mu, dtype), horizon
    )


def _host64(x) -> np.ndarray:
    return np.asarray(jax.device_get(x), dtype=np.float64)


def riverswim(n_states: int = 6, *, horizon: int = 20, features=None) -> TabularMDP:
    """RiverSwim (Strehl & Littman 2008; the variant of Osband et al. 2013 and DPS).

    Action 0 swims left (always succeeds); action 1 swims right against the current: from the
    interior it moves right w.p. 0.35, stays w.p. 0.6, drifts left w.p. 0.05. Rewards 0.005 for
    staying left at state 0 and 1 for swimming right at the last state; start at state 0.

    Args:
        n_states: S >= 2.
        horizon: H >= 1.
        features: optional ``(S, 2, d)`` features; default one-hot (d = 2 S), in which case
            ``theta`` is the reward table.

    Returns:
        The MDP. With S = 6 and H = 20, ``V*(s0) = 2.039`` and always-left earns 0.10.

    Raises:
        ValueError: on ``n_states < 2`` or ``horizon < 1``.
    """
    S = check_int(n_states, "n_states", minimum=2)
    horizon = _check_horizon(horizon)
    P = np.zeros((S, 2, S))
    r = np.zeros((S, 2))
    for s in range(S):
        P[s, 0, max(s - 1, 0)] = 1.0
        if s == 0:
            P[s, 1, 0], P[s, 1, 1] = 0.4, 0.6
        elif s == S - 1:
            P[s, 1, s - 1], P[s, 1, s] = 0.4, 0.6
        else:
            P[s, 1, s - 1], P[s, 1, s], P[s, 1, s + 1] = 0.05, 0.6, 0.35
    r[0, 0] = 0.005
    r[S - 1, 1] = 0.6
    if features is None:
        return make_mdp(P, None, r.reshape(-1), horizon=horizon)
    phi = check_array(features, "features", ndim=3)
    if phi.shape[:2] != (S, 2):
        raise ValueError(f"features: expected shape ({S}, 2, d), got {phi.shape}")
    # With given features the reward must still be exactly r: fit theta by least squares.
    theta, *_ = np.linalg.lstsq(np.asarray(phi).reshape(S * 2, -1), r.reshape(-1), rcond=None)
    return make_mdp(P, phi, theta, horizon=horizon)


def random_mdp(
    key,
    n_states: int = 10,
    n_actions: int = 5,
    *,
    horizon: int = 10,
    concentration: float = 1.0,
    features=None,
) -> TabularMDP:
    """Random tabular MDP (Osband et al. 2013, DPS): Dirichlet transitions, exponential rewards.

    Args:
        key: PRNG key or int seed.
        n_states, n_actions: S >= 1, A >= 1.
        horizon: H >= 1.
        concentration: Dirichlet concentration (> 0) of every transition row.
        features: optional ``(S, A, d)`` features (theta is the least-squares fit of the
            rewards); default one-hot.

    Returns:
        The MDP, rewards ``r(s, a) ~ Exp(1)`` normalised to mean 1, start state 0.

    Raises:
        ValueError: on non-positive sizes, concentration or horizon, or features of the wrong
            shape.
        TypeError: on a non-integer size or a bad key.
    """
    key = as_key(key, "key")
    S = check_int(n_states, "n_states", minimum=1)
    A = check_int(n_actions, "n_actions", minimum=1)
    horizon = _check_horizon(horizon)
    concentration = check_scalar(concentration, "concentration", 0.0, None)
    if features is not None:
        phi = check_array(features, "features", ndim=3)
        if phi.shape[:2] != (S, A):
            raise ValueError(f"features: expected shape ({S}, {A}, d), got {phi.shape}")
    kp, kr = jax.random.split(key)
    P = jax.random.dirichlet(kp, jnp.full((S, A, S), concentration))
    r = jax.random.exponential(kr, (S, A))
    r = np.asarray(r / r.mean(), dtype=np.float64)
    P = np.asarray(P, dtype=np.float64)
    P = P / P.sum(-1, keepdims=True)
    if features is None:
        return make_mdp(P, None, r.reshape(-1), horizon=horizon)
    theta, *_ = np.linalg.lstsq(np.asarray(phi).reshape(S * A, -1), r.reshape(-1), rcond=None)
    return make_mdp(P, phi, theta, horizon=horizon)


def _unit_rows(x: jax.Array) -> jax.Array:
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


def dueling_bandit(key, dim: int = 10, n_arms: int = 20, *, fixed: bool = False) -> DuelingBandit:
    """Linear dueling bandit with a unit-norm ``theta`` and arms on the unit sphere.

    Args:
        key: PRNG key or int seed.
        dim: d >= 1.
        n_arms: K >= 2.
        fixed: offer the same K arms every round (no context diversity) instead of fresh ones.

    Returns:
        The bandit.

    Raises:
        ValueError: on ``dim < 1`` or ``n_arms < 2``.
    """
    key = as_key(key, "key")
    d = check_int(dim, "dim", minimum=1)
    K = check_int(n_arms, "n_arms", minimum=2)
    kt, ka = jax.random.split(key)
    theta = _unit_rows(jax.random.normal(kt, (d,)))
    arms = _unit_rows(jax.random.normal(ka, (K, d)))
    return DuelingBandit(theta, arms, check_bool(fixed, "fixed"))


def _check_env(env, name="env", kinds=None):
    kinds = (TabularMDP,) if kinds is None else kinds
    if not isinstance(env, kinds):
        want = " or ".join(k.__name__ for k in kinds)
        raise TypeError(f"{name}: expected a {want}, got {type(env).__name__}")


def _check_policy(env: TabularMDP, policy, name="policy") -> jax.Array:
    """``policy`` as an ``(H, S)`` integer array of actions in ``[0, A)`` (range skipped if traced)."""
    S, A = env.features.shape[:2]
    return check_indices(policy, name, A, shape=(env.horizon, S), what="actions")


def _check_rewards(env: TabularMDP, rewards, per_step: bool) -> jax.Array:
    S, A = env.features.shape[:2]
    r = check_array(rewards, "rewards")
    shapes = [(S, A), (env.horizon, S, A)] if per_step else [(S, A)]
    if r.shape not in shapes:
        want = f"(S, A) = ({S}, {A})"
        if per_step:
            want += f" or (H, S, A) = ({env.horizon}, {S}, {A})"
        raise ValueError(f"rewards: expected shape {want}, got {r.shape}")
    return r


def sample_arms(key, env: DuelingBandit) -> jax.Array:
    """The arms offered this round, shape ``(K, d)``: fresh on the unit sphere unless fixed.

    Args:
        key: PRNG key or int seed (typed or raw ``uint32[2]`` key; not an int inside ``jit``).
        env: the bandit.

    Raises:
        TypeError: if ``key`` is not a key or an int seed, or ``env`` is not a DuelingBandit.
    """
    key = as_key(key, "key")
    _check_env(env, kinds=(DuelingBandit,))
    return _sample_arms(key, env)


def _sample_arms(key, env: DuelingBandit) -> jax.Array:
    if env.fixed:
        return env.arms
    return _unit_rows(jax.random.normal(key, env.arms.shape, env.arms.dtype))


def plan(env: TabularMDP, rewards=None, transitions=None) -> Plan:
    """Exact finite-horizon planning by backward induction.

    Args:
        env: the MDP (horizon and, by default, rewards and transitions).
        rewards: optional ``(S, A)`` or ``(H, S, A)`` rewards to plan for (e.g. a sampled or
            estimated reward); default the true rewards.
        transitions: optional ``(S, A, S)`` transitions (e.g. a posterior sample): non-negative
            rows summing to 1 within ``STOCHASTIC_ATOL`` (used as given).

    Returns:
        :class:`Plan` with ``q (H, S, A)``, ``values (H + 1, S)`` and ``policy (H, S)``.

    Raises:
        TypeError: if ``env`` is not a TabularMDP.
        ValueError: on rewards or transitions of the wrong shape, non-finite rewards or
            transitions that are not stochastic (value checks skipped under ``jit``).
    """
    _check_env(env)
    r = None if rewards is None else _check_rewards(env, rewards, per_step=True)
    P = None
    if transitions is not None:
        S, A = env.features.shape[:2]
        P = check_array(transitions, "transitions", finite=False)
        if P.shape != (S, A, S):
            raise ValueError(
                f"transitions: expected shape (S, A, S) = ({S}, {A}, {S}), got {P.shape}"
            )
        check_stochastic(P, "transitions")
    return _plan(env, r, P)


def _plan(env: TabularMDP, rewards=None, transitions=None) -> Plan:
    r = env.rewards if rewards is None else rewards
    P = env.transitions if transitions is None else transitions
    H = env.horizon
    r = jnp.broadcast_to(r, (H, *P.shape[:2]))

    def backup(v_next, r_h):
        q = r_h + P @ v_next
        return q.max(-1), (q, q.max(-1))

    v0 = jnp.zeros(P.shape[0], r.dtype)
    _, (q, v) = jax.lax.scan(backup, v0, r, reverse=True)
    values = jnp.concatenate([v, v0[None]], axis=0)
    return Plan(q, values, jnp.argmax(q, axis=-1))


def evaluate(env: TabularMDP, policy: jax.Array, rewards=None) -> jax.Array:
    """Exact policy evaluation of a deterministic Markov policy.

    Args:
        env: the MDP.
        policy: ``(H, S)`` int actions in ``[0, A)``.
        rewards: optional ``(S, A)`` rewards; default the true rewards.

    Returns:
        ``(H + 1, S)`` values ``V_h^pi(s)``, with ``V_H = 0``.

    Raises:
        TypeError: if ``env`` is not a TabularMDP or ``policy`` is not an integer array.
        ValueError: on a policy or rewards of the wrong shape, actions outside ``[0, A)`` or
            non-finite rewards (value checks skipped under ``jit``).
    """
    _check_env(env)
    pol = _check_policy(env, policy)
    r = None if rewards is None else _check_rewards(env, rewards, per_step=False)
    return _evaluate(env, pol, r)


def _evaluate(env: TabularMDP, policy: jax.Array, rewards=None) -> jax.Array:
    r = env.rewards if rewards is None else rewards
    P = env.transitions
    S = P.shape[0]

    def backup(v_next, pol_h):
        q = r + P @ v_next
        v = q[jnp.arange(S), pol_h]
        return v, v

    v0 = jnp.zeros(S, r.dtype)
    _, v = jax.lax.scan(backup, v0, policy, reverse=True)
    return jnp.concatenate([v, v0[None]], axis=0)


def policy_value(env: TabularMDP, policy: jax.Array) -> jax.Array:
    """Expected return ``E_{s1 ~ init} V_1^pi(s1)`` of a deterministic Markov policy (scalar).

    Args:
        env: the MDP.
        policy: ``(H, S)`` int actions in ``[0, A)``.

    Raises:
        TypeError, ValueError: as :func:`evaluate`.
    """
    _check_env(env)
    return _policy_value(env, _check_policy(env, policy))


def _policy_value(env: TabularMDP, policy: jax.Array) -> jax.Array:
    return env.init @ _evaluate(env, policy)[0]


def rollout(key, env: TabularMDP, policy: jax.Array) -> Trajectory:
    """Sample one trajectory of ``policy`` in the true MDP.

    Args:
        key: PRNG key or int seed (typed or raw ``uint32[2]`` key; not an int inside ``jit``).
        env: the MDP.
        policy: ``(H, S)`` int actions in ``[0, A)``.

    Returns:
        :class:`Trajectory` with ``states (H + 1,)``, ``actions (H,)``, ``features (d,)``.

    Raises:
        TypeError: if ``key`` is not a key or an int seed, ``env`` is not a TabularMDP or
            ``policy`` is not an integer array.
        ValueError: on a policy of the wrong shape or actions outside ``[0, A)`` (the range check
            is skipped under ``jit``).
    """
    key = as_key(key, "key")
    _check_env(env)
    return _rollout(key, env, _check_policy(env, policy))


def _rollout(key, env: TabularMDP, policy: jax.Array) -> Trajectory:
    k0, kt = jax.random.split(key)
    s0 = jax.random.categorical(k0, jnp.log(env.init))

    def step(s, inp):
        k, pol_h = inp
        a = pol_h[s]
        s_next = jax.random.categorical(k, jnp.log(env.transitions[s, a]))
        return s_next, (s, a)

    keys = jax.random.split(kt, env.horizon)
    s_last, (states, actions) = jax.lax.scan(step, s0, (keys, policy))
    feats = env.features[states, actions].sum(0)
    return Trajectory(jnp.append(states, s_last), actions, feats)


def prefer(key, env, traj0: Trajectory, traj1: Trajectory, scale, *, link="logistic") -> jax.Array:
    """Preference oracle over trajectory returns (Bradley-Terry by default).

    Args:
        key: PRNG key (typed or raw).
        env: a :class:`TabularMDP` or :class:`DuelingBandit` (its ``theta`` is the truth).
        traj0, traj1: the two trajectories (only ``features`` is used).
        scale: c > 0, the inverse temperature of the link.
        link: ``"logistic"`` (Bradley-Terry), ``"probit"`` (Thurstone) or a callable CDF ``F``;
            see :func:`bayeskit.rlhf.preference.bt_log_likelihood`.

    Returns:
        A float label ``o`` in {0, 1}: 1 means ``traj1`` is preferred, drawn with probability
        ``F(c * (R(traj1) - R(traj0)))`` (``F = sigmoid`` for the logistic link).

    Raises:
        ValueError: if ``scale <= 0``, the trajectory features do not have shape ``(d,)``, the
            link name is unknown or a callable link is not a CDF.
        TypeError: if ``link`` is neither a name nor a callable.
    """
    key = as_key(key, "key")
    _check_env(env, kinds=(TabularMDP, DuelingBandit))
    scale = check_scalar(scale, "scale", 0.0, None)
    link = _check_link(link)
    d = env.theta.shape[0]
    for name, tr in (("traj0", traj0), ("traj1", traj1)):
        if not isinstance(tr, Trajectory):
            raise TypeError(f"{name}: expected a Trajectory, got {type(tr).__name__}")
        check_array(tr.features, f"{name}.features", shape=(d,))
    return _prefer(key, env.theta, traj1.features - traj0.features, scale, link)


def _arm_trajectory(arm) -> Trajectory:
    """A bandit round as a one-step trajectory whose feature is the arm."""
    return Trajectory(jnp.zeros(2, int), jnp.zeros(1, int), arm)


def _prefer(key, theta, diff, scale, link):
    p = _cdf(link, scale * (diff @ theta))
    return jax.random.bernoulli(key, p).astype(diff.dtype)


def reward_error(env, theta) -> jax.Array:
    """Estimation error of a reward parameter, measured where preferences identify it.

    For a :class:`DuelingBandit` this is ``|theta - theta*|_2``. For a :class:`TabularMDP` with a
    fixed horizon, adding a constant to every ``r(s, a)`` changes no preference, so the error is
    the root-mean-square over (s, a) of the centred reward error ``phi (theta - theta*)``.

    Args:
        env: the environment (holds ``theta*``).
        theta: ``(d,)`` estimate.

    Returns:
        Scalar error.

    Raises:
        TypeError: if ``env`` is neither a TabularMDP nor a DuelingBandit.
        ValueError: if ``theta`` does not have shape ``(d,)`` or is not finite.
    """
    _check_env(env, kinds=(TabularMDP, DuelingBandit))
    th = check_array(theta, "theta", shape=(env.dim,))
    return _reward_error(env, th)


def _reward_error(env, theta) -> jax.Array:
    diff = theta - env.theta
    if isinstance(env, DuelingBandit):
        return jnp.linalg.norm(diff)
    e = env.features @ diff
    return jnp.sqrt(jnp.mean((e - e.mean()) ** 2))
