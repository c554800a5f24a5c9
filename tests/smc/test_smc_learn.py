"""Learning: the PPG score against the exact score, MLE progress, the Markov Gaussian smoother
family and Markov score climbing."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from bayeskit.smc import kalman, learn
from bayeskit.smc.paris import _flatten
from bayeskit.smc.ppg import initial_path, ppg_iterations


def test_ppg_score_matches_fisher_score(lg1):
    model, theta, ys = lg1
    ys = ys[:20]
    exact = ravel_pytree(kalman.fisher_score(model, theta, ys))[0]
    h = _flatten(learn.score_functional(model))

    def one(k):
        k1, k2 = jax.random.split(k)
        path, _ = initial_path(k1, model, theta, ys, h, theta, 10, 2, "exact", 1)
        return ppg_iterations(k2, model, theta, ys, h, theta, 10, 2, "exact", 1, 6, path)[0][
            3:
        ].mean(0)

    est = np.asarray(jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(2), 150)))
    se = est.std(0, ddof=1) / np.sqrt(est.shape[0])
    # PPG after burn-in is (nearly) unbiased for the score: each coordinate within 4 SE
    assert np.all(np.abs(est.mean(0) - np.asarray(exact)) < 4 * se), (est.mean(0), exact, se)


def test_mle_climbs_the_likelihood(lg1):
    model, theta, ys = lg1
    theta0 = {"A": jnp.array([[0.2]]), "log_q": jnp.array([0.8]), "log_r": jnp.array([-0.8])}
    ys = ys[:30]
    res = learn.mle(1, model, theta0, ys, steps=60, optimizer=optax.adam(0.05), n_particles=8)
    ll = lambda th: float(kalman.kalman_log_likelihood(ys, model.matrices(th)))  # noqa: E731
    assert res.theta_trace["A"].shape == (61, 1, 1) and res.score_trace["A"].shape == (60, 1, 1)
    # 60 Adam steps of size 0.05 from a poor start: the exact log-likelihood rises by > 3 nats
    assert ll(res.theta_average) > ll(theta0) + 3.0
    assert float(res.theta["A"][0, 0]) > 0.5  # moved toward the data's strong persistence


def test_smoother_family_contains_rts(lg1):
    model, theta, ys = lg1
    mats = model.matrices(theta)
    kf = kalman.kalman_filter(ys, mats)
    rts = kalman.rts_smoother(ys, mats)
    A = float(theta["A"][0, 0])
    G = kf.covs[:-1, 0, 0] * A / kf.pred_covs[1:, 0, 0]
    lam = {
        "a": G[:, None, None],
        "b": (kf.means[:-1, 0] - G * kf.pred_means[1:, 0])[:, None],
        "log_s": 0.5 * jnp.log(kf.covs[:-1, 0, 0] - G**2 * kf.pred_covs[1:, 0, 0])[:, None],
        "m_last": kf.means[-1],
        "log_s_last": 0.5 * jnp.log(kf.covs[-1, 0]),
    }
    means, covs = learn.smoother_marginals(lam)
    # the RTS backward kernels reproduce the RTS marginals exactly (float64 round-off)
    np.testing.assert_allclose(means, rts.means, atol=1e-9)
    np.testing.assert_allclose(covs, rts.covs, atol=1e-9)


def test_msc_approaches_rts(lg1):
    model, theta, ys = lg1
    ys = ys[:10]
    rts = kalman.rts_smoother(ys, model.matrices(theta))
    res = learn.msc(0, model, theta, ys, steps=100, optimizer=optax.adam(0.1), n_particles=16)
    sd = jnp.sqrt(rts.covs[:, 0, 0])
    err0 = float(jnp.mean(jnp.abs(rts.means[:, 0]) / sd))
    err = float(
        jnp.mean(jnp.abs(learn.smoother_marginals(res.lam_average)[0][:, 0] - rts.means[:, 0]) / sd)
    )
    # from zero means, 100 score-climbing steps bring the means within 0.25 sd (start: err0)
    assert err < 0.25 and err < 0.5 * err0, (err, err0)
    assert res.grad_norm_trace.shape == (100,)


def test_learn_bad_inputs(lg1):
    model, theta, ys = lg1
    with pytest.raises(ValueError, match="estimator: expected one of"):
        learn.mle(0, model, theta, ys, steps=2, estimator="em")
    with pytest.raises(ValueError, match="steps: expected an integer >= 1"):
        learn.mle(0, model, theta, ys, steps=0)
    with pytest.raises(TypeError, match="optimizer: expected an optax GradientTransformation"):
        learn.mle(0, model, theta, ys, steps=2, optimizer="adam")
    with pytest.raises(ValueError, match="n_particles: expected an integer >= 2"):
        learn.msc(0, model, theta, ys, steps=2, n_particles=1)
    with pytest.raises(ValueError, match=r"lam0\['b'\]: expected shape \(49, 1\)"):
        lam = learn.init_smoother(50, 1)
        learn.msc(0, model, theta, ys, steps=2, lam0={**lam, "b": jnp.zeros((10, 1))})
    with pytest.raises(ValueError, match="lam: missing fields"):
        learn.smoother_marginals({"a": 1})
    with pytest.raises(ValueError, match="lam: expected a dict"):
        learn.smoother_logpdf_term(1, jnp.zeros(1), jnp.zeros(1), [1.0])
    with pytest.raises(ValueError, match="n_steps: expected an integer >= 2"):
        learn.init_smoother(1, 1)
    with pytest.raises(TypeError, match="model: expected a StateSpaceModel"):
        learn.score_functional("lgssm")
