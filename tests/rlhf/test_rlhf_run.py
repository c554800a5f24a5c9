import jax
import numpy as np
import pytest

from bayeskit import rlhf


@pytest.fixture(scope="module")
def env():
    # The bandit kernel compiles fastest; the MDP kernels are exercised in the other modules.
    return rlhf.dueling_bandit(0, dim=3, n_arms=4)


def test_runlog_shapes_and_determinism(env):
    agent = rlhf.PRLSVI(sigma_r=0.5, epsilon=0.1)
    a = rlhf.run(3, env, agent, 30, scale=5.0, seeds=2)
    b = rlhf.run(jax.random.key(3), env, agent, 30, scale=5.0, seeds=2)
    assert a.regret.shape == (2, 30) and a.queries.shape == (2, 30)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)  # same key, same result, bit for bit
    single = rlhf.run(3, env, agent, 30, scale=5.0)
    assert single.regret.shape == (30,)
    assert np.all(np.asarray(a.regret) >= -1e-5)
    assert np.all(np.diff(np.asarray(a.queries), axis=-1) >= 0)


def test_progress_matches_single_scan(env):
    agent = rlhf.PRLSVI(sigma_r=0.5, epsilon=0.1)
    a = rlhf.run(4, env, agent, 30, scale=5.0, seeds=2)
    b = rlhf.run(4, env, agent, 30, scale=5.0, seeds=2, progress=True)
    np.testing.assert_allclose(a.regret, b.regret, atol=1e-6)
    np.testing.assert_array_equal(a.queries, b.queries)


def test_baselines_cover_the_study(env):
    names = set(rlhf.baselines(rlhf.riverswim(horizon=3)))
    assert {"always", "active", "uniform", "greedy", "dps", "psrl_numeric"} <= names
    assert set(rlhf.baselines(env)) == {
        "always",
        "active",
        "uniform",
        "greedy",
    }


def test_bad_run_inputs(env):
    agent = rlhf.PRLSVI()
    with pytest.raises(ValueError, match="episodes: expected an integer >= 1"):
        rlhf.run(0, env, agent, 0)
    with pytest.raises(ValueError, match="scale: expected positive"):
        rlhf.run(0, env, agent, 5, scale=-1.0)
    with pytest.raises(ValueError, match="seeds: expected an integer >= 1"):
        rlhf.run(0, env, agent, 5, seeds=0)
    with pytest.raises(TypeError, match="agent: expected PRLSVI or ThompsonSampling"):
        rlhf.run(0, env, "greedy", 5)
