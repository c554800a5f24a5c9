"""Learning: the PPG score against the exact score, MLE progress, the Markov Gaussian smoother
family and Markov score climbing."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import exact_smoothing_paths
from jax.flatten_util import ravel_pytree
from scipy import optimize, stats
from statkeys import seed

from bayeskit.smc import kalman, learn
from bayeskit.smc.paris import FlatFunctional
from bayeskit.smc.ppg import ppg_iterations


@pytest.mark.statistical
def test_ppg_score_matches_fisher_score(lg1):
    model, theta, ys = lg1
    ys = ys[:20]
    exact = ravel_pytree(kalman.fisher_score(model, theta, ys))[0]
    h = FlatFunctional(learn.score_functional(model))

    def one(k, path):
        return ppg_iterations(k, model, theta, ys, h, theta, 10, 2, "exact", 1, 6, path)[0][
            3:
        ].mean(0)

    # chains start at stationarity (exact smoothing draws), where every PPG sweep is unbiased for
    # the score; from a PaRIS path 3 sweeps left |z| up to 11 on one data set (shift 1000)
    k_path, k_run = jax.random.split(jax.random.key(seed(2)))
    paths = exact_smoothing_paths(k_path, model, theta, ys, 150)
    est = np.asarray(jax.jit(jax.vmap(one))(jax.random.split(k_run, 150), paths))
    se = est.std(0, ddof=1) / np.sqrt(est.shape[0])
    # PPG at stationarity is unbiased for the score; 150 i.i.d. replicates, so each of the
    # 3 coordinates within 4 SE (t with 149 dof: two-sided 1e-4 each, 3e-4 for the 3)
    z = np.abs(est.mean(0) - np.asarray(exact)) / se
    assert np.all(z < 4), (est.mean(0), exact, se)
    # key sweep 2026-12-02 (shifts 0, 1000-6000): passed from exact starts (from PaRIS starts
    # shift 1000 failed with |z| 5.4, 6.9, 11.0; the other shifts gave |z| <= 2.1)


def _exact_mle(model, ys, starts):
    """The exact maximum-likelihood log-likelihood (Kalman, float64), best of a few BFGS starts."""
    flat0, unravel = ravel_pytree(starts[0])
    nll = jax.jit(
        jax.value_and_grad(lambda v: -kalman.kalman_log_likelihood(ys, model.matrices(unravel(v))))
    )

    def fg(v):
        f, g = nll(jnp.asarray(v))
        return float(f), np.asarray(g)

    return max(
        -optimize.minimize(fg, np.asarray(ravel_pytree(s)[0]), jac=True, method="BFGS").fun
        for s in starts
    )


@pytest.mark.statistical
def test_mle_climbs_the_likelihood(lg1):
    model, theta, ys = lg1
    theta0 = {"A": jnp.array([[0.2]]), "log_q": jnp.array([0.8]), "log_r": jnp.array([-0.8])}
    ys = ys[:30]
    res = learn.mle(seed(1), model, theta0, ys, steps=60, optimizer=optax.adam(0.05), n_particles=8)
    ll = lambda th: float(kalman.kalman_log_likelihood(ys, model.matrices(th)))  # noqa: E731
    assert res.theta_trace["A"].shape == (61, 1, 1) and res.score_trace["A"].shape == (60, 1, 1)
    # the exact MLE's 99.9% likelihood-ratio confidence region {2 (l_max - l) < chi2_3 quantile
    # 16.3} is the data's own sampling error (Wilks): 60 Adam steps of size 0.05 from a poor start
    # bring the Polyak average inside it (was "rises > 3 nats" and "A > 0.5": data-dependent
    # guesses; on shift 2000's data the start is only 0.9 nats below the maximum)
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed, worst 2 (l_max - l) = 4.8 (shift 4000)
    l_max = _exact_mle(model, ys, [theta0, theta])
    q = stats.chi2.ppf(0.999, 3)
    lr0, lr = 2 * (l_max - ll(theta0)), 2 * (l_max - ll(res.theta_average))
    assert lr < q, (lr0, lr, q)


@pytest.mark.statistical
def test_msc_approaches_rts(lg1):
    model, theta, ys = lg1
    ys = ys[:10]
    rts = kalman.rts_smoother(ys, model.matrices(theta))
    sd, var = jnp.sqrt(rts.covs[:, 0, 0]), rts.covs[:, 0, 0]
    # start from the data, not the zero default: means x_t ~ y_t (a = 0, unit scales), so the
    # start sits ~0.5-1.2 sd from the RTS means for every key, however far the data sit from 0
    lam0 = {**learn.init_smoother(10, 1, ys.dtype), "b": ys[:-1], "m_last": ys[-1]}
    steps, opt = 400, optax.adam(optax.cosine_decay_schedule(0.1, 400, alpha=0.05))
    res = learn.msc(
        seed(0), model, theta, ys, steps=steps, optimizer=opt, n_particles=16, lam0=lam0
    )

    def errors(lam):  # mean |mean error| in RTS sd, mean |log variance ratio|
        m, P = learn.smoother_marginals(lam)
        return (
            float(jnp.mean(jnp.abs(m[:, 0] - rts.means[:, 0]) / sd)),
            float(jnp.mean(jnp.abs(jnp.log(P[:, 0, 0] / var)))),
        )

    (err0, verr0), (err, verr) = errors(lam0), errors(res.lam_average)
    # optimisation-convergence criterion (no theory fixes it): the averaged smoother must bring
    # the means within 0.25 sd and at least halve their start error, and halve the variances'
    # log error (verr0 = 0.71 for every key: RTS covariances do not depend on the data); the
    # worst seen (err 0.12, verr 0.19) leaves about 2x margin over the Monte Carlo noise
    assert err < 0.25 and err < 0.5 * err0, (err, err0)
    assert verr < 0.5 * verr0, (verr, verr0)
    # key sweep 2026-12-02 (shifts 0, 1000-5000; also 6000-9000): passed, worst err 0.12
    # (shift 1000, err0 1.14), worst verr 0.11 (shift 6000); also shift 19000 (data farthest
    # from 0 of 1000 keys): err 0.10, verr 0.19
    assert res.grad_norm_trace.shape == (steps,)


def test_mle_learns_only_the_chosen_fields(lg1):
    model, theta, ys = lg1
    theta0 = {"A": jnp.array([[0.2]]), "log_q": jnp.array([0.8]), "log_r": jnp.array([-0.8])}
    res = learn.mle(0, model, theta0, ys[:20], steps=4, n_particles=8, learn=["A"])
    for name in ("log_q", "log_r"):  # fixed fields never move
        np.testing.assert_array_equal(res.theta_trace[name], np.broadcast_to(theta0[name], (5, 1)))
    assert float(jnp.abs(res.theta["A"] - theta0["A"]).max()) > 0  # the chosen one does
    with pytest.raises(ValueError, match=r"learn: expected a non-empty subset of the fields"):
        learn.mle(0, model, theta0, ys, steps=1, learn=["B"])


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
    for t in (0, 50):  # the smoother of T = 50 steps has terms t = 1 .. 49
        with pytest.raises(ValueError, match=rf"t: expected a value in \[1, 49\], got {t}"):
            learn.smoother_logpdf_term(t, jnp.zeros(1), jnp.zeros(1), learn.init_smoother(50, 1))
    with pytest.raises(ValueError, match="n_steps: expected an integer >= 2"):
        learn.init_smoother(1, 1)
    with pytest.raises(TypeError, match="model: expected a StateSpaceModel"):
        learn.score_functional("lgssm")
