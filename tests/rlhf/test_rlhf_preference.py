import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bayeskit import rlhf
from bayeskit.summary import summarize


def _simulate(seed, n, d, scale=1.0, spread=0.5):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=d) / np.sqrt(d)
    X = rng.normal(size=(n, d)) * spread
    y = (rng.random(n) < 1 / (1 + np.exp(-scale * X @ theta))).astype(np.float32)
    return theta, X.astype(np.float32), y


def test_log_likelihood_exact():
    X = np.array([[1.0, 0.0], [0.0, -2.0]], np.float32)
    y = np.array([1.0, 0.0], np.float32)
    th = np.array([0.5, 0.25], np.float32)
    z = 2.0 * X @ th
    want = np.log(1 / (1 + np.exp(-z[0]))) + np.log(1 - 1 / (1 + np.exp(-z[1])))
    got = rlhf.bt_log_likelihood(th, X, y, scale=2.0)
    assert float(got) == pytest.approx(want, rel=1e-5)
    masked = rlhf.bt_log_likelihood(th, X, y, scale=2.0, mask=np.array([True, False]))
    assert float(masked) == pytest.approx(np.log(1 / (1 + np.exp(-z[0]))), rel=1e-5)


def test_mle_recovers_theta_within_fisher_error():
    theta, X, y = _simulate(0, 4000, 5, scale=2.0, spread=1.0)
    res = rlhf.fit_mle(X, y, lam=1e-3, scale=2.0)
    assert float(res.grad_norm) < 1e-2
    err = np.asarray(res.theta) - theta
    # (theta_hat - theta)^T I (theta_hat - theta) is asymptotically chi^2_d: 99.9% quantile.
    assert err @ np.asarray(res.precision) @ err < stats.chi2.ppf(0.999, 5)


def test_mle_is_stationary_and_warm_start_agrees():
    _, X, y = _simulate(1, 200, 3)
    a = rlhf.fit_mle(X, y, lam=1.0)
    b = rlhf.fit_mle(X, y, lam=1.0, init=np.ones(3, np.float32), steps=40)
    np.testing.assert_allclose(a.theta, b.theta, atol=1e-4)
    g = jax.grad(lambda t: -rlhf.bt_log_likelihood(t, X, y) + 0.5 * t @ t)(a.theta)
    assert float(jnp.linalg.norm(g)) < 1e-3


@pytest.mark.slow
def test_laplace_matches_nuts_d12():
    # The brief's check (section 5.1): d = 12, n = 300.
    _, X, y = _simulate(1, 300, 12)
    lap = rlhf.laplace_posterior(X, y, lam=1.0)
    nuts = rlhf.nuts_posterior(0, X, y, lam=1.0, num_warmup=150, num_samples=300, num_chains=4)
    table = summarize(nuts, round_to="none")
    # Split R-hat of 4 x 300 well-mixed draws fluctuates by ~0.005 around 1.
    assert table["r_hat"].max() < 1.02
    assert not np.asarray(nuts.diverging).any()
    # Issue tolerance 0.05; the MC error of the NUTS mean is sd / sqrt(ESS) ~ 0.3 / 40 << 0.05.
    assert np.abs(np.asarray(nuts.mean) - np.asarray(lap.mean)).max() < 0.05
    sd_nuts = np.asarray(nuts.draws).reshape(-1, 12).std(0)
    np.testing.assert_allclose(sd_nuts, np.sqrt(np.diag(np.asarray(lap.cov))), rtol=0.1)


def test_gaussian_posterior_sample_moments():
    post = rlhf.GaussianPosterior(jnp.array([1.0, -1.0]), jnp.array([[4.0, 1.0], [1.0, 2.0]]))
    draws = np.asarray(post.sample(0, 20000))
    # Sample mean within ~5 sd/sqrt(n) of the truth (sd <= 0.76).
    np.testing.assert_allclose(draws.mean(0), [1.0, -1.0], atol=0.03)
    np.testing.assert_allclose(np.cov(draws.T), np.asarray(post.cov), atol=0.02)


def test_bad_labels_and_shapes():
    X = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match=r"labels: expected values in \{0, 1\}"):
        rlhf.fit_mle(X, np.array([0.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"labels: expected shape \(3\)"):
        rlhf.fit_mle(X, np.zeros(2))
    with pytest.raises(ValueError, match=r"theta: expected shape \(2\)"):
        rlhf.bt_log_likelihood(np.zeros(3), X, np.zeros(3))


def test_bad_constants():
    X, y = np.zeros((3, 2), np.float32), np.zeros(3)
    with pytest.raises(ValueError, match="scale: expected positive"):
        rlhf.fit_mle(X, y, scale=0.0)
    with pytest.raises(ValueError, match="lam: expected positive"):
        rlhf.laplace_posterior(X, y, lam=-1.0)
    with pytest.raises(ValueError, match="num_chains"):
        rlhf.nuts_posterior(0, X, y, num_chains=0)
