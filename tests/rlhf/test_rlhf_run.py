import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm
from statkeys import seed

from bayeskit import rlhf


@pytest.fixture(scope="module")
def env():
    # The bandit kernel compiles fastest; the MDP kernels are exercised in the other modules.
    return rlhf.dueling_bandit(0, dim=3, n_arms=4)


@pytest.fixture(scope="module")
def active_log(env):
    return rlhf.run(3, env, rlhf.PRLSVI(sigma_r=0.5, epsilon=0.1), 30, scale=5.0, seeds=2)


def test_runlog_shapes_and_determinism(env, active_log):
    agent = rlhf.PRLSVI(sigma_r=0.5, epsilon=0.1)
    a = active_log
    b = rlhf.run(jax.random.key(3), env, agent, 30, scale=5.0, seeds=2)
    assert a.regret.shape == (2, 30) and a.queries.shape == (2, 30)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)  # same key, same result, bit for bit
    single = rlhf.run(3, env, agent, 30, scale=5.0)
    assert single.regret.shape == (30,) and single.state.theta_hat.shape == (3,)
    assert single.preferences.traj1.features.shape == (30, 3)
    assert np.all(np.asarray(a.regret) >= -1e-5)
    assert np.all(np.diff(np.asarray(a.queries), axis=-1) >= 0)


def test_runlog_returns_preferences_and_final_state(active_log):
    p, state = active_log.preferences, active_log.state
    assert p.traj1.features.shape == p.traj0.features.shape == (2, 30, 3)
    assert p.labels.shape == p.queried.shape == (2, 30)
    queried = np.asarray(p.queried)
    np.testing.assert_array_equal(queried.sum(-1), active_log.total_queries)
    np.testing.assert_array_equal(queried, state.mask)
    np.testing.assert_array_equal(p.diffs, state.diffs)
    assert np.all(np.asarray(p.labels)[~queried] == 0)  # labels never requested are not data
    # The agent's bandit reference is the previous round's arm.
    np.testing.assert_array_equal(p.traj0.features[:, 1:], p.traj1.features[:, :-1])
    for i in range(2):
        # Refitting the returned preferences reproduces the agent's warm-started estimate.
        refit = rlhf.fit_mle(p.diffs[i], p.labels[i], mask=p.queried[i], lam=1.0, scale=5.0)
        np.testing.assert_allclose(refit.theta, state.theta_hat[i], atol=1e-4)


def test_query_budget_is_never_exceeded(env):
    # epsilon = 0 asks about every informative pair, so the budget is what stops the queries.
    # The budget is traced: these runs share active_log's compilation.
    for budget in (5, 0):
        agent = rlhf.PRLSVI(sigma_r=0.5, max_queries=budget)
        log = rlhf.run(3, env, agent, 30, scale=5.0, seeds=2)
        assert np.all(np.asarray(log.queries) <= budget)
        np.testing.assert_array_equal(log.total_queries, [budget, budget])
        assert int(np.asarray(log.preferences.labels).sum()) <= 2 * budget
        assert np.all(np.isfinite(np.asarray(log.regret)))  # it keeps acting
    # With no label the estimate stays at the prior mean.
    np.testing.assert_array_equal(log.state.theta_hat, 0.0)


@pytest.mark.statistical
def test_probit_link_in_simulation_and_likelihood(env):
    # key sweep 2026-12-03 (shifts 0, 1000-5000): passed, worst calibration |z| 1.1, refit
    # distances <= 2e-6 (probit) and >= 0.55 (logistic)
    c = 3.0
    log = rlhf.run(seed(5), env, rlhf.PRLSVI(sigma_r=0.5), 500, scale=c, link="probit", seeds=4)
    p = log.preferences
    q = np.asarray(p.queried)
    z = c * np.asarray(p.diffs)[q] @ np.asarray(env.theta)
    o = np.asarray(p.labels)[q]

    def calibration(F):
        return np.sum(np.sign(z) * (o - F)) / np.sqrt(np.sum(F * (1 - F)))

    # Oracle: given the pairs, sum sign(z)(o - F(z)) is a martingale with variance
    # sum F(1 - F) when F is the oracle's link, so ~N(0, 1) (CLT); 4 sd: p = 6e-5.
    assert abs(calibration(norm.cdf(z))) < 4
    # Power: probit labels are more decisive than logistic ones at the same logit, so the
    # logistic version is shifted by sum |Phi - sigmoid| / sd (measured 6.6-8.7 over 6 keys).
    assert calibration(1 / (1 + np.exp(-z))) > 4
    # Learner: its estimate is the probit refit of its data, far from the logistic one.
    for i in range(4):
        fits = {
            link: rlhf.fit_mle(p.diffs[i], p.labels[i], mask=p.queried[i], scale=c, link=link)
            for link in ("probit", "logistic")
        }
        theta = np.asarray(log.state.theta_hat[i])
        assert np.linalg.norm(theta - np.asarray(fits["probit"].theta)) < 1e-4
        assert np.linalg.norm(theta - np.asarray(fits["logistic"].theta)) > 0.1


@pytest.mark.statistical
def test_random_policy_regret_is_the_uniform_policys():
    # key sweep 2026-12-03 (shifts 0, 1000-5000): passed, worst |z| 1.6
    env = rlhf.random_mdp(seed(3), n_states=2, n_actions=2, horizon=3)
    pols = jnp.array(list(itertools.product(range(2), repeat=6))).reshape(-1, 3, 2)
    values = np.asarray(jax.jit(jax.vmap(rlhf.policy_value, (None, 0)))(env, pols))
    vstar = float(rlhf.policy_value(env, rlhf.plan(env).policy))
    # Each episode plays one of the 64 deterministic policies uniformly at random, so the
    # per-episode regret has mean V* - mean(V^pi) (the uniform policy's regret) and sd values.std().
    log = rlhf.run(seed(4), env, rlhf.RandomPolicy(), 500, seeds=2)
    r = np.asarray(log.regret)
    assert int(np.asarray(log.total_queries).max()) == 0
    assert log.preferences.traj1.states.shape == (2, 500, 4)
    # Linear regret: both halves (500 iid episodes each) keep the uniform policy's mean
    # regret within 4 standard errors (CLT; 2 checks, p < 1.3e-4).
    for half in (r[:, :250], r[:, 250:]):
        se = values.std() / np.sqrt(half.size)
        assert abs(half.mean() - (vstar - values.mean())) < 4 * se


@pytest.mark.statistical
def test_random_policy_on_fixed_arms():
    # key sweep 2026-12-03 (shifts 0, 1000-5000): passed, worst |z| 1.8
    env = rlhf.dueling_bandit(seed(6), dim=3, n_arms=4, fixed=True)
    utilities = np.asarray(env.arms @ env.theta)
    log = rlhf.run(seed(7), env, rlhf.RandomPolicy(), 500, seeds=2)
    r = np.asarray(log.regret)
    # A uniform arm of four each round: iid regret, mean best - mean utility, sd utilities.std();
    # 1000 rounds within 4 standard errors (CLT): p = 6e-5.
    se = utilities.std() / np.sqrt(r.size)
    assert abs(r.mean() - (utilities.max() - utilities.mean())) < 4 * se
    np.testing.assert_array_equal(log.ref_regret[:, 1:], log.regret[:, :-1])  # previous arm


def test_progress_matches_single_scan(env):
    agent = rlhf.PRLSVI(sigma_r=0.5, epsilon=0.1)
    a = rlhf.run(4, env, agent, 30, scale=5.0, seeds=2)
    b = rlhf.run(4, env, agent, 30, scale=5.0, seeds=2, progress=True)
    np.testing.assert_allclose(a.regret, b.regret, atol=1e-6)
    np.testing.assert_array_equal(a.queries, b.queries)
    np.testing.assert_array_equal(a.preferences.queried, b.preferences.queried)


def test_baselines_cover_the_study(env):
    names = set(rlhf.baselines(rlhf.riverswim(horizon=3)))
    assert {"always", "active", "uniform", "greedy", "dps", "psrl_numeric", "random"} <= names
    assert set(rlhf.baselines(env)) == {"always", "active", "uniform", "greedy", "random"}


def test_bad_run_inputs(env):
    agent = rlhf.PRLSVI()
    with pytest.raises(ValueError, match="episodes: expected an integer >= 1"):
        rlhf.run(0, env, agent, 0)
    with pytest.raises(ValueError, match="scale: expected positive"):
        rlhf.run(0, env, agent, 5, scale=-1.0)
    with pytest.raises(ValueError, match="seeds: expected an integer >= 1"):
        rlhf.run(0, env, agent, 5, seeds=0)
    with pytest.raises(TypeError, match="agent: expected PRLSVI, ThompsonSampling or RandomPolicy"):
        rlhf.run(0, env, "greedy", 5)
    with pytest.raises(ValueError, match="link: expected one of 'logistic', 'probit', got 'logit'"):
        rlhf.run(0, env, agent, 5, link="logit")
    with pytest.raises(TypeError, match="link: expected 'logistic', 'probit' or a callable CDF"):
        rlhf.run(0, env, agent, 5, link=None)


def test_bad_agent_budget_and_link():
    with pytest.raises(ValueError, match="max_queries: expected an integer >= 0, got -1"):
        rlhf.PRLSVI(max_queries=-1)
    with pytest.raises(TypeError, match="max_queries: expected an integer, got float"):
        rlhf.ThompsonSampling(max_queries=2.5)
    with pytest.raises(ValueError, match=r"link: expected a callable CDF \(finite values in"):
        rlhf.ThompsonSampling(link=lambda z: z)  # not a probability
