import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from statkeys import seed

from bayeskit import rlhf


@pytest.fixture(scope="module")
def tiny():
    return rlhf.random_mdp(3, n_states=2, n_actions=2, horizon=3)


def test_plan_matches_brute_force(tiny):
    # Enumerate all (A^S)^H = 64 deterministic Markov policies and evaluate each exactly.
    S, A, H = 2, 2, 3
    pols = jnp.array(list(itertools.product(range(A), repeat=S * H))).reshape(-1, H, S)
    values = np.asarray(jax.jit(jax.vmap(rlhf.policy_value, (None, 0)))(tiny, pols))
    p = rlhf.plan(tiny)
    assert float(tiny.init @ p.values[0]) == pytest.approx(values.max(), rel=1e-5)
    assert float(rlhf.policy_value(tiny, p.policy)) == pytest.approx(values.max(), rel=1e-5)


def test_plan_jit_matches_eager(tiny):
    eager = rlhf.plan(tiny)
    jitted = jax.jit(rlhf.plan)(tiny)
    np.testing.assert_allclose(eager.q, jitted.q, rtol=1e-6)


def test_riverswim_exact_values():
    # Values from an independent numpy DP in the brief (research/rlhf_ts.md, section 4.1).
    env = rlhf.riverswim(horizon=20)
    assert float(rlhf.policy_value(env, rlhf.plan(env).policy)) == pytest.approx(2.039, abs=1e-3)
    left = jnp.zeros((20, 6), int)
    assert float(rlhf.policy_value(env, left)) == pytest.approx(0.10, abs=1e-6)


@pytest.mark.statistical
def test_evaluate_matches_monte_carlo():
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed, worst |z| 2.0
    env = rlhf.random_mdp(seed(0), n_states=3, n_actions=2, horizon=4)
    pol = jax.random.randint(jax.random.key(seed(1)), (4, 3), 0, 2)
    keys = jax.random.split(jax.random.key(seed(2)), 3000)
    trajs = jax.jit(jax.vmap(rlhf.rollout, (0, None, None)))(keys, env, pol)
    returns = np.asarray(trajs.features @ env.theta)
    se = returns.std() / np.sqrt(returns.size)
    # Exact value vs Monte Carlo mean of 3000 iid returns (CLT): 4 standard errors, p = 6e-5.
    assert abs(returns.mean() - float(rlhf.policy_value(env, pol))) < 4 * se


def test_rollout_features_are_visit_sums(tiny):
    tr = rlhf.rollout(jax.random.key(0), tiny, jnp.zeros((3, 2), int))
    want = tiny.features[tr.states[:-1], tr.actions].sum(0)
    np.testing.assert_allclose(tr.features, want)
    assert tr.states.shape == (4,) and tr.actions.shape == (3,)
    assert float(tr.features.sum()) == 3.0  # one-hot: one visit per step


@pytest.mark.statistical
def test_prefer_frequency_matches_bradley_terry():
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed, worst |z| 2.2
    env = rlhf.dueling_bandit(seed(0), dim=3)
    t0 = rlhf.Trajectory(jnp.zeros(2, int), jnp.zeros(1, int), env.arms[0])
    t1 = rlhf.Trajectory(jnp.zeros(2, int), jnp.zeros(1, int), env.arms[1])
    keys = jax.random.split(jax.random.key(seed(5)), 5000)
    labels = np.asarray(jax.vmap(lambda k: rlhf.prefer(k, env, t0, t1, 2.0))(keys))
    p = float(jax.nn.sigmoid(2.0 * (env.arms[1] - env.arms[0]) @ env.theta))
    # Binomial frequency of 5000 iid labels (CLT) within 4 standard errors: p = 6e-5.
    assert abs(labels.mean() - p) < 4 * np.sqrt(p * (1 - p) / labels.size)


@pytest.mark.statistical
def test_prefer_probit_frequency():
    # key sweep 2026-12-03 (shifts 0, 1000-5000): passed, worst |z| 1.1
    env = rlhf.dueling_bandit(seed(0), dim=3)
    # Return difference exactly 1.5 (theta has unit norm): Phi(1.5) = 0.933, sigmoid(1.5) = 0.818.
    t0 = rlhf.Trajectory(jnp.zeros(2, int), jnp.zeros(1, int), jnp.zeros(3))
    t1 = t0._replace(features=1.5 * env.theta)
    keys = jax.random.split(jax.random.key(seed(6)), 5000)
    labels = np.asarray(jax.vmap(lambda k: rlhf.prefer(k, env, t0, t1, 1.0, link="probit"))(keys))
    p = stats.norm.cdf(1.5)
    se = np.sqrt(p * (1 - p) / labels.size)
    # Binomial frequency within 4 standard errors of Phi (CLT, p = 6e-5); the logistic
    # probability is 0.115 = 33 standard errors away, so a logistic oracle would fail.
    assert abs(labels.mean() - p) < 4 * se


def test_bandit_arms_on_sphere():
    env = rlhf.dueling_bandit(1, dim=4, n_arms=7)
    arms = rlhf.sample_arms(jax.random.key(0), env)
    assert arms.shape == (7, 4)
    np.testing.assert_allclose(jnp.linalg.norm(arms, axis=1), 1.0, rtol=1e-5)
    fixed = rlhf.dueling_bandit(1, dim=4, n_arms=7, fixed=True)
    np.testing.assert_array_equal(rlhf.sample_arms(jax.random.key(0), fixed), fixed.arms)


def test_reward_error_ignores_constant_shift():
    env = rlhf.riverswim(horizon=5)
    assert float(rlhf.reward_error(env, env.theta + 3.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(rlhf.reward_error(env, env.theta.at[0].add(1.0))) > 0.1


def test_bad_transitions():
    P = np.full((2, 1, 2), 0.3)
    with pytest.raises(ValueError, match="transitions: expected a stochastic matrix"):
        rlhf.make_mdp(P, None, np.zeros(2), horizon=2)


def test_bad_features_shape():
    P = np.full((2, 1, 2), 0.5)
    with pytest.raises(ValueError, match=r"features: expected shape \(2, 1, d\)"):
        rlhf.make_mdp(P, np.zeros((3, 1, 4)), np.zeros(4), horizon=2)
    with pytest.raises(ValueError, match="theta: expected shape"):
        rlhf.make_mdp(P, np.zeros((2, 1, 4)), np.zeros(3), horizon=2)


def test_bad_horizon():
    with pytest.raises(ValueError, match="horizon: expected an integer >= 1"):
        rlhf.riverswim(horizon=0)
    with pytest.raises(ValueError, match="horizon"):
        rlhf.random_mdp(0, horizon=0)


def test_bad_scale_and_trajectory_shape():
    env = rlhf.dueling_bandit(0, dim=3)
    t = rlhf.Trajectory(jnp.zeros(2, int), jnp.zeros(1, int), env.arms[0])
    with pytest.raises(ValueError, match="scale: expected positive"):
        rlhf.prefer(0, env, t, t, 0.0)
    bad = t._replace(features=jnp.zeros(4))
    with pytest.raises(ValueError, match=r"traj1.features: expected shape \(3\)"):
        rlhf.prefer(0, env, t, bad, 1.0)
    with pytest.raises(ValueError, match="link: expected one of 'logistic', 'probit'"):
        rlhf.prefer(0, env, t, t, 1.0, link="normal")


def test_bad_bandit_sizes():
    with pytest.raises(ValueError, match="n_arms"):
        rlhf.dueling_bandit(0, dim=3, n_arms=1)


@pytest.fixture(scope="module")
def river():
    return rlhf.riverswim(horizon=5)  # S = 6, A = 2, d = 12


@pytest.mark.parametrize("fn", ["policy_value", "evaluate", "rollout"])
def test_policy_out_of_range_or_short_is_refused(river, fn):
    call = getattr(rlhf, fn)
    args = (0, river) if fn == "rollout" else (river,)
    # All 5s with 3 actions used to be valued as "always the last action" (silent clamping).
    with pytest.raises(
        ValueError, match=r"policy: expected integer actions in \[0, 2\), got values"
    ):
        call(*args, jnp.full((5, 6), 5))
    with pytest.raises(ValueError, match=r"policy: expected shape \(5, 6\), got \(4, 6\)"):
        call(*args, jnp.zeros((4, 6), int))
    with pytest.raises(TypeError, match="policy: expected integer actions .* dtype float32"):
        call(*args, jnp.zeros((5, 6), jnp.float32))


def test_transitions_within_tolerance_are_normalised(river):
    P = np.asarray(river.transitions, np.float64).copy()
    P[0, 1] *= 1 + 9e-6
    env = rlhf.make_mdp(P, None, np.asarray(river.theta), horizon=5)
    # float64 normalisation, then the float32 cast: row sums exact to float32 rounding.
    np.testing.assert_allclose(np.asarray(env.transitions, np.float64).sum(-1), 1.0, atol=1e-7)
    with pytest.raises(ValueError, match=r"transitions: .*summing to 1 within 1e-05\), got row"):
        rlhf.make_mdp(P * (1 + 2e-5), None, np.asarray(river.theta), horizon=5)
    with pytest.raises(ValueError, match=r"init: expected a probability vector"):
        rlhf.make_mdp(P, None, np.asarray(river.theta), init=np.full(6, 0.2), horizon=5)


def test_plan_refuses_non_stochastic_transitions_and_bad_shapes(river):
    # Transitions with rows summing to 3 used to give Q near 729 without complaint.
    P = 3.0 * river.transitions
    with pytest.raises(ValueError, match=r"transitions: expected a stochastic matrix"):
        rlhf.plan(river, transitions=P)
    with pytest.raises(ValueError, match=r"transitions: .*\(6, 2, 6\), got \(6, 1, 6\)"):
        rlhf.plan(river, transitions=river.transitions[:, :1])
    with pytest.raises(ValueError, match=r"rewards: expected shape \(S, A\) = \(6, 2\) or"):
        rlhf.plan(river, rewards=jnp.zeros(3))
    with pytest.raises(ValueError, match=r"rewards: expected shape \(S, A\) = \(6, 2\), got"):
        rlhf.evaluate(river, jnp.zeros((5, 6), int), rewards=jnp.zeros((5, 6, 2)))
    with pytest.raises(TypeError, match="env: expected a TabularMDP, got DuelingBandit"):
        rlhf.plan(rlhf.dueling_bandit(0, dim=3))


def test_reward_error_shape(river):
    with pytest.raises(ValueError, match=r"theta: expected shape \(12\), got \(3,\)"):
        rlhf.reward_error(river, jnp.zeros(3))
    with pytest.raises(ValueError, match=r"theta: expected shape \(3\), got \(4,\)"):
        rlhf.reward_error(rlhf.dueling_bandit(0, dim=3), jnp.zeros(4))


def test_rollout_and_sample_arms_accept_every_key_form(river):
    pol = jnp.ones((5, 6), int)
    typed = rlhf.rollout(jax.random.key(3), river, pol)
    np.testing.assert_array_equal(rlhf.rollout(3, river, pol).states, typed.states)
    np.testing.assert_array_equal(
        rlhf.rollout(jax.random.PRNGKey(3), river, pol).states, typed.states
    )
    env = rlhf.dueling_bandit(1, dim=4, n_arms=7)
    arms = rlhf.sample_arms(jax.random.key(5), env)
    np.testing.assert_array_equal(rlhf.sample_arms(5, env), arms)
    np.testing.assert_array_equal(rlhf.sample_arms(jax.random.PRNGKey(5), env), arms)
    with pytest.raises(TypeError, match="key: expected an int seed"):
        rlhf.sample_arms(1.5, env)
    with pytest.raises(TypeError, match="env: expected a DuelingBandit, got TabularMDP"):
        rlhf.sample_arms(0, river)
