"""Full-covariance linear Gaussian models: densities, PaRIS and PPG against Kalman, the MSC family
vs RTS."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import exact_smoothing_paths
from scipy.stats import multivariate_normal
from statkeys import seed

from bayeskit.smc import kalman, learn
from bayeskit.smc.paris import FlatFunctional, paris_pass
from bayeskit.smc.ppg import ppg_iterations

T = 20  # the length of the lg3 fixture (conftest)


def test_full_covariance_densities_and_bound(lg3):
    model, theta, _ = lg3
    mats = model.matrices(theta)
    x_prev, x = jnp.array([0.3, -1.0, 0.5]), jnp.array([0.1, 0.2, -0.4])
    ref = multivariate_normal(np.asarray(mats.A @ x_prev), np.asarray(mats.Q)).logpdf(x)
    np.testing.assert_allclose(model.trans_logpdf(x_prev, x, theta), ref, rtol=1e-12)
    y = jnp.array([0.2, -0.3])
    ref_y = multivariate_normal(np.asarray(mats.B @ x), np.asarray(mats.R)).logpdf(y)
    np.testing.assert_allclose(model.obs_logpdf(x, y, theta), ref_y, rtol=1e-12)
    # the bound is the density at the mean, its maximum
    at_mean = model.trans_logpdf(x_prev, mats.A @ x_prev, theta)
    np.testing.assert_allclose(model.trans_log_bound(theta), at_mean, rtol=1e-12)
    np.testing.assert_allclose(mats.Q, theta["chol_q"] @ theta["chol_q"].T, rtol=1e-12)


def _rts_smoother_parameters(model, theta, ys):
    """The MSC family's parameters of the exact smoother: the Kalman backward kernels."""
    mats = model.matrices(theta)
    kf = kalman.kalman_filter(ys, mats)

    def kernel(P, m, P_pred, m_pred):
        G = jnp.linalg.solve(P_pred, mats.A @ P).T  # P A^T P_pred^{-1}
        chol = jnp.linalg.cholesky(P - G @ P_pred @ G.T)
        return G, m - G @ m_pred, chol

    G, b, chol = jax.vmap(kernel)(kf.covs[:-1], kf.means[:-1], kf.pred_covs[1:], kf.pred_means[1:])
    chol_last = jnp.linalg.cholesky(kf.covs[-1])
    return {
        "a": G,
        "b": b,
        "log_s": jnp.log(jnp.diagonal(chol, axis1=1, axis2=2)),
        "l": chol,
        "m_last": kf.means[-1],
        "log_s_last": jnp.log(jnp.diag(chol_last)),
        "l_last": chol_last,
    }


@pytest.mark.parametrize("fixture", ["lg1", "lg3"])
def test_smoother_family_contains_rts(fixture, request):
    model, theta, ys = request.getfixturevalue(fixture)
    rts = kalman.rts_smoother(ys, model.matrices(theta))
    means, covs = learn.smoother_marginals(_rts_smoother_parameters(model, theta, ys))
    # the exact backward kernels reproduce the RTS marginals (float64 round-off)
    np.testing.assert_allclose(means, rts.means, atol=1e-9)
    np.testing.assert_allclose(covs, rts.covs, atol=1e-9)


def _h_moments(t, x_prev, x, y, theta):
    """Sums over t of x_t (3 components) and of x_t[0] x_t[1]."""
    return jnp.concatenate([x, (x[0] * x[1])[None]])


def _moments_truth(model, theta, ys):
    rts = kalman.rts_smoother(ys, model.matrices(theta))
    m, P = np.asarray(rts.means), np.asarray(rts.covs)
    return np.concatenate([m.sum(0), [np.sum(P[:, 0, 1] + m[:, 0] * m[:, 1])]])


@pytest.mark.statistical
def test_paris_weighted_by_its_likelihood_matches_kalman(lg3):
    # PaRIS is self-normalised, so biased (here by up to 18 SE at N = 64, T = 20). But given
    # the particles it is unbiased for forward smoothing, the mean of a backward-sampled path,
    # and Z_N / Z times a backward-sampled path's h is unbiased for E[h | y] (the particle
    # Gibbs extended target, Andrieu, Doucet & Holenstein 2010, with backward sampling): so
    # E[exp(ll_N - ll) * estimate] = truth exactly, at any N, with ll the Kalman likelihood.
    model, theta, ys = lg3
    truth = _moments_truth(model, theta, ys)
    exact_ll = float(kalman.kalman_log_likelihood(ys, model.matrices(theta)))
    h = FlatFunctional(_h_moments)

    def one(k):
        out = paris_pass(k, model, theta, ys, h, theta, 64, 2, "hybrid", 4)
        return out.estimate, out.log_likelihood

    reps = 400
    est, ll = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(seed(33)), reps))
    x = np.exp(np.asarray(ll) - exact_ll)[:, None] * (np.asarray(est) - truth)
    # i.i.d. replicates with finite variance (the weights are bounded for Gaussian observation
    # densities): each of the 4 means within 4 SE of 0 (two-sided 6.3e-5 each, 2.5e-4 for 4)
    z = x.mean(0) / (x.std(0, ddof=1) / np.sqrt(reps))
    assert np.all(np.abs(z) < 4), z
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed; trial runs on 4 data sets gave weighted
    # |z| <= 1.6 where the unweighted PaRIS mean was off by up to 18 SE (the check has power)


@pytest.mark.statistical
def test_ppg_matches_kalman_on_full_covariance_model(lg3):
    model, theta, ys = lg3
    truth = _moments_truth(model, theta, ys)
    h = FlatFunctional(_h_moments)
    n_chains, sweeps = 100, 8

    def one(k, path):
        return ppg_iterations(k, model, theta, ys, h, theta, 16, 2, "exact", 1, sweeps, path)[0]

    k_path, k_run = jax.random.split(jax.random.key(seed(31)))
    paths = exact_smoothing_paths(k_path, model, theta, ys, n_chains)
    ests = jax.jit(jax.vmap(one))(jax.random.split(k_run, n_chains), paths)
    per_chain = np.asarray(ests).mean(1) - truth  # (chains, 4): chains are independent
    se = per_chain.std(0, ddof=1) / np.sqrt(n_chains)
    # from exact starts every PPG sweep is unbiased (Cardoso et al. 2023): each of the 4 means
    # within 3.5 SE of the Kalman truth (two-sided 4.7e-4 each, 1.9e-3 for the 4)
    assert np.all(np.abs(per_chain.mean(0)) <= 3.5 * se), (per_chain.mean(0), se)
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed


@pytest.mark.statistical
def test_msc_fixed_point_is_the_rts_smoother(lg3):
    # MSC follows -E_p[grad log q_lambda(X)], which vanishes where q_lambda = p: at the exact
    # smoother's parameters the mean score over i.i.d. exact smoothing draws is zero within
    # 4.5 standard errors in every coordinate (Bonferroni over ~500 coordinates: family-wise
    # 3.4e-3); with the correlations removed (the diagonal family's best) it is not
    model, theta, ys = lg3
    lam = _rts_smoother_parameters(model, theta, ys)
    draws = exact_smoothing_paths(jax.random.key(seed(32)), model, theta, ys, 4000)

    def score(path, lam_at):
        def logq(p):
            terms = jax.vmap(lambda t: learn.smoother_logpdf_term(t, path[t - 1], path[t], p))(
                jnp.arange(1, T)
            )
            return jnp.sum(terms)

        return jax.flatten_util.ravel_pytree(jax.grad(logq)(lam_at))[0]

    for lam_at, expect_zero in ((lam, True), ({**lam, "l": jnp.zeros_like(lam["l"])}, False)):
        g = np.asarray(jax.jit(jax.vmap(score, in_axes=(0, None)))(draws, lam_at))
        mean, se = g.mean(0), g.std(0, ddof=1) / np.sqrt(g.shape[0])
        z = np.abs(mean) / np.where(se > 0, se, 1.0)
        if expect_zero:
            assert np.all(z < 4.5), z.max()
        else:
            assert z.max() > 10, z.max()
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed
