"""Tests for bayeskit.fbm.exact: covariances, samplers, fOU likelihood and MLE."""

import jax
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import gamma as gamma_fn
from scipy.stats import multivariate_normal
from statkeys import seed

from bayeskit.fbm.exact import (
    circulant_eigenvalues,
    fbm_covariance,
    fgn_autocovariance,
    fou_covariance,
    fou_log_likelihood,
    fou_mle,
    sample_fbm,
    sample_fou,
)
from bayeskit.fbm.mafbm import variance_scale


def _rl_reference(t, s, hurst):
    a = hurst + 0.5
    lo, hi = min(t, s), max(t, s)
    if lo == hi:
        return lo ** (2 * a - 1) / (2 * a - 1) / gamma_fn(a) ** 2
    # QUADPACK's algebraic weight integrates the (lo - u)^(a - 1) endpoint singularity exactly
    val = quad(lambda u: (hi - u) ** (a - 1), 0, lo, weight="alg", wvar=(0, a - 1))[0]
    return val / gamma_fn(a) ** 2


@pytest.mark.parametrize("hurst", [0.2, 0.7])
def test_type2_covariance_matches_quadrature(hurst):
    t = np.array([0.1, 0.5, 1.0, 1.7])
    with jax.enable_x64(True):
        cov = np.asarray(fbm_covariance(t, t, np.float64(hurst), kind="type2"))
    ref = np.array([[_rl_reference(a, b, hurst) for b in t] for a in t])
    np.testing.assert_allclose(cov, ref, rtol=1e-5)
    # Var = t^2H / (2H Gamma(H + 1/2)^2), the brief's V_II
    np.testing.assert_allclose(
        np.diag(cov), t ** (2 * hurst) * float(variance_scale(hurst, "type2")), rtol=1e-5
    )


def test_variance_scales_reference_values():
    for h, v1, v2 in [(0.2, 1.9175, 1.4837), (0.7, 0.9951, 0.8473)]:
        assert float(variance_scale(h, "type1")) == pytest.approx(v1, abs=1e-4)
        assert float(variance_scale(h, "type2")) == pytest.approx(v2, abs=1e-4)


def test_standard_and_type1_covariance():
    t = np.linspace(0.0, 2.0, 9)
    h = 0.3
    with jax.enable_x64(True):
        std = np.asarray(fbm_covariance(t, t, np.float64(h)))
        t1 = np.asarray(fbm_covariance(t, t, np.float64(h), kind="type1"))
        scale = float(variance_scale(np.float64(h), "type1"))
    expected = 0.5 * (
        t[:, None] ** (2 * h) + t[None] ** (2 * h) - np.abs(t[:, None] - t[None]) ** (2 * h)
    )
    np.testing.assert_allclose(std, expected, atol=1e-12)
    np.testing.assert_allclose(t1, std * scale, rtol=1e-10)
    np.testing.assert_allclose(
        np.asarray(fgn_autocovariance(np.arange(3), 0.5)), [1, 0, 0], atol=1e-6
    )


def test_circulant_embedding_nonnegative():
    for h in (0.05, 0.3, 0.5, 0.8, 0.95):
        eig = circulant_eigenvalues(h, 128)
        assert eig.min() >= -1e-10 * eig.max()


def _cov_z(x, cov):
    """Sup over the grid of |sample cov - cov| in units of sqrt(2/N) max Var.

    sqrt(2/N) max Var bounds the standard error sqrt((C_aa C_bb + C_ab^2) / N) of every entry, so
    z <= 5 fails with probability <= 528 entries x 5.7e-7 = 3e-4 (Bonferroni over a 33-point grid).
    """
    return np.abs(np.cov(x.T, bias=True) - cov).max() / (np.sqrt(2 / x.shape[0]) * cov.max())


@pytest.mark.statistical
@pytest.mark.parametrize("method", ["davies_harte", "cholesky"])
@pytest.mark.parametrize("hurst", [0.2, 0.7])
def test_samplers_match_exact_covariance(method, hurst):
    n_paths = 20000
    x = sample_fbm(seed(1), hurst, n_steps=32, n_paths=n_paths, method=method)
    x = np.asarray(x, np.float64)
    t = np.linspace(0.0, 1.0, 33)
    cov = np.asarray(fbm_covariance(t, t, hurst), np.float64)
    # sup of the sample covariance error: 5 standard errors sqrt(2/N) max Var (see _cov_z)
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed, worst z 3.86 of 5 (DH, H = 0.2, shift 0)
    assert _cov_z(x, cov) <= 5
    assert np.all(x[:, 0] == 0)


@pytest.mark.statistical
def test_type2_sampler_uses_cholesky_and_matches():
    n_paths = 20000
    x = sample_fbm(seed(2), 0.3, n_steps=32, n_paths=n_paths, kind="type2")
    x = np.asarray(x, np.float64)
    t = np.linspace(0.0, 1.0, 33)
    cov = np.asarray(fbm_covariance(t, t, 0.3, kind="type2"), np.float64)
    # sup of the sample covariance error: 5 standard errors sqrt(2/N) max Var (see _cov_z)
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed, worst z 3.69 of 5 (shift 5000)
    assert _cov_z(x, cov) <= 5


@pytest.mark.statistical
def test_type1_sampler_scale_and_fallback(monkeypatch):
    import bayeskit.fbm.exact as exact

    n_paths = 20000
    x = sample_fbm(seed(1), 0.7, n_steps=32, n_paths=n_paths, kind="type1")
    x = np.asarray(x, np.float64)
    v1 = float(variance_scale(0.7, "type1"))
    # Var B(1) = V_I(H): 5 relative standard errors sqrt(2/N) of a Gaussian sample variance
    # (two-sided 5.7e-7 per check)
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed, worst |z| 2.19 of 5
    se = np.sqrt(2 / n_paths)
    assert abs(x[:, -1].var() / v1 - 1) < 5 * se
    # a (simulated) negative circulant eigenvalue: "auto" falls back to Cholesky, DH refuses
    monkeypatch.setattr(exact, "circulant_eigenvalues", lambda h, n: -np.ones(2 * n))
    y = sample_fbm(seed(1), 0.7, n_steps=32, n_paths=n_paths, kind="type1")
    y = np.asarray(y, np.float64)
    assert abs(y[:, -1].var() / v1 - 1) < 5 * se
    with pytest.raises(ValueError, match="circulant embedding not positive"):
        sample_fbm(1, 0.7, n_steps=32, n_paths=4, method="davies_harte")


def test_fou_covariance_special_cases():
    # theta = 0: X = sigma B_H exactly at the observation times
    with jax.enable_x64(True):
        cov = np.asarray(fou_covariance(0.3, 0.0, 2.0, n_obs=5, obs_dt=0.2, substeps=3))
        t = np.arange(1, 6) * 0.2
        ref = 4.0 * np.asarray(fbm_covariance(t, t, np.float64(0.3)))
        np.testing.assert_allclose(cov, ref, rtol=1e-10)
        # H = 1/2: exponential-Euler OU, Var X_j = sigma^2 h sum_k e^{-2 theta h k}
        h, theta = 0.05, 1.5
        cov = np.asarray(fou_covariance(0.5, theta, 1.0, n_obs=4, obs_dt=h, substeps=1))
    expected = [h * sum(np.exp(-2 * theta * h * k) for k in range(j)) for j in range(1, 5)]
    np.testing.assert_allclose(np.diag(cov), expected, rtol=1e-10)


def test_fou_likelihood_matches_scipy_and_sampler():
    times, values = sample_fou(3, 0.6, 1.0, 0.5, n_obs=8, obs_dt=0.25, n_paths=3, obs_noise=0.1)
    v = np.asarray(values, np.float64)
    with jax.enable_x64(True):
        cov = np.asarray(fou_covariance(0.6, 1.0, 0.5, n_obs=8, obs_dt=0.25))
    ref = multivariate_normal(np.zeros(8), cov + 0.01 * np.eye(8)).logpdf(v).sum()
    got = fou_log_likelihood(v, 0.6, 1.0, 0.5, obs_dt=0.25, obs_noise=0.1)
    assert got == pytest.approx(ref, rel=1e-10)
    np.testing.assert_allclose(np.asarray(times), np.arange(1, 9) * 0.25, rtol=1e-6)


# a fixed irregular design (part of the test's setup, not of its randomness): gaps in [0.02, 0.5]
_TIMES = np.array([0.05, 0.3, 0.32, 0.9, 1.7, 1.75, 2.25])


def _fou_cov_fgn(hurst, theta, sigma, n_obs, obs_dt, substeps):
    """The regular-grid fOU covariance from unit-step fGn (the former implementation), NumPy."""
    n, h = n_obs * substeps, obs_dt / substeps
    lags = np.arange(n)
    r = np.asarray(fgn_autocovariance(lags, np.float64(hurst))) * h ** (2 * hurst)
    gap = (np.arange(1, n_obs + 1) * substeps)[:, None] - 1 - lags[None, :]
    L = np.where(gap >= 0, np.exp(-theta * h * np.maximum(gap, 0)), 0.0)
    return sigma**2 * L @ r[np.abs(lags[:, None] - lags[None, :])] @ L.T


@pytest.mark.parametrize(("hurst", "theta"), [(0.2, 0.5), (0.7, 2.0)])
def test_fou_covariance_times_regular_grid_matches_fgn(hurst, theta):
    with jax.enable_x64(True):
        ref = _fou_cov_fgn(hurst, theta, 1.3, 40, 0.1, 4)
        got = np.asarray(fou_covariance(hurst, theta, 1.3, n_obs=40, obs_dt=0.1, substeps=4))
        by_times = fou_covariance(hurst, theta, 1.3, times=np.arange(1, 41) * 0.1, substeps=4)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_allclose(np.asarray(by_times), got, rtol=1e-12)


def test_fou_covariance_irregular_times():
    # theta = 0: exponential Euler is exact, X = sigma B_H at the times
    with jax.enable_x64(True):
        cov = np.asarray(fou_covariance(0.3, 0.0, 2.0, times=_TIMES, substeps=3))
        ref = 4.0 * np.asarray(fbm_covariance(_TIMES, _TIMES, np.float64(0.3)))
        np.testing.assert_allclose(cov, ref, rtol=1e-10)
        # theta > 0, H > 1/2: the scheme weights exp(-theta (t - s_{k+1})) of dB_u, u in
        # (s_k, s_{k+1}], lie in [1, e^{theta h}] x the exact exp(-theta (t - u)) and the fGn
        # kernel H (2H - 1)|u - v|^{2H - 2} is positive, so exact <= cov_m <= e^{2 theta h_max}
        # exact entrywise (first order in h_max); the 128-substep reference is such a cov too
        theta, h_gap = 2.0, np.diff(_TIMES, prepend=0.0).max()
        ref = np.asarray(fou_covariance(0.7, theta, 1.3, times=_TIMES, substeps=128))
        errs = []
        for m in (8, 16):
            ratio = np.asarray(fou_covariance(0.7, theta, 1.3, times=_TIMES, substeps=m)) / ref
            assert ratio.min() >= np.exp(-2 * theta * h_gap / 128)
            assert ratio.max() <= np.exp(2 * theta * h_gap / m)
            errs.append(np.abs(ratio - 1).max())
    # first order: halving the step halves the error (2 up to the reference's own error)
    assert 1.6 < errs[0] / errs[1] < 2.5


def test_fou_likelihood_irregular_times_matches_scipy():
    times, values = sample_fou(4, 0.4, 1.5, 0.8, times=_TIMES, n_paths=3, obs_noise=0.2)
    v = np.asarray(values, np.float64)
    np.testing.assert_allclose(np.asarray(times), _TIMES, rtol=1e-6)
    with jax.enable_x64(True):
        cov = np.asarray(fou_covariance(0.4, 1.5, 0.8, times=_TIMES, substeps=2))
    ref = multivariate_normal(np.zeros(7), cov + 0.04 * np.eye(7)).logpdf(v).sum()
    got = fou_log_likelihood(v, 0.4, 1.5, 0.8, times=_TIMES, substeps=2, obs_noise=0.2)
    assert got == pytest.approx(ref, rel=1e-10)


@pytest.mark.statistical
def test_sample_fou_irregular_times_matches_covariance():
    n_paths = 20000
    _, values = sample_fou(seed(12), 0.3, 1.0, 0.7, times=_TIMES, n_paths=n_paths, obs_noise=0.1)
    with jax.enable_x64(True):
        cov = np.asarray(fou_covariance(0.3, 1.0, 0.7, times=_TIMES)) + 0.01 * np.eye(7)
    # sup of the sample covariance error: 5 standard errors sqrt(2/N) max Var (see _cov_z; 28
    # entries here, so the Bonferroni bound is 28 x 5.7e-7 = 2e-5)
    # key sweep (shifts 0, 1000, 2000): passed, worst z 1.50 of 5
    assert _cov_z(np.asarray(values, np.float64), cov) <= 5


def _fou_sds(params, n_paths, obs_noise, *, estimate_noise=False, **grid):
    """Asymptotic sds of the joint MLE: sqrt of diag(I^-1), Fisher information of Gaussians
    I_ij = n_paths / 2 tr(S^-1 dS/dp_i S^-1 dS/dp_j), derivatives by central differences.

    The parameters are (H, theta, sigma), plus the noise sd when ``estimate_noise``; ``grid`` is
    ``times=`` or ``n_obs=, obs_dt=`` as for fou_covariance.
    """
    with jax.enable_x64(True):

        def cov(p):
            c = np.asarray(fou_covariance(p[0], p[1], p[2], **grid))
            return c + p[3] ** 2 * np.eye(c.shape[0])

        p0, eps = np.asarray((*params, obs_noise), np.float64), 1e-5
        inv = np.linalg.inv(cov(p0))
        n_par = 4 if estimate_noise else 3
        d = [inv @ (cov(p0 + eps * e) - cov(p0 - eps * e)) / (2 * eps) for e in np.eye(4)[:n_par]]
    info = 0.5 * n_paths * np.array([[np.trace(a @ b) for b in d] for a in d])
    return np.sqrt(np.diag(np.linalg.inv(info)))


@pytest.mark.statistical
def test_fou_mle_recovers_hurst():
    _, values = sample_fou(
        seed(5), 0.7, 1.0, 0.5, n_obs=100, obs_dt=0.05, n_paths=32, obs_noise=0.05
    )
    mle = fou_mle(np.asarray(values), obs_dt=0.05, obs_noise=0.05)
    assert mle.success
    # 4 asymptotic sd of the joint (H, theta, sigma) MLE (Fisher information: sd 0.032 here),
    # two-sided 6e-5 under normality
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed, worst |z| 1.56 of 4
    sd = _fou_sds((0.7, 1.0, 0.5), 32, 0.05, n_obs=100, obs_dt=0.05)[0]
    assert abs(mle.hurst - 0.7) < 4 * sd
    assert mle.log_likelihood >= fou_log_likelihood(
        np.asarray(values), 0.7, 1.0, 0.5, obs_dt=0.05, obs_noise=0.05
    )


# irregular design for the MLE: 60 gaps uniform in [0.02, 0.18] (a fixed design, not a key)
_MLE_TIMES = np.cumsum(np.random.default_rng(0).uniform(0.02, 0.18, 60))


@pytest.mark.statistical
def test_fou_mle_irregular_times_estimates_hurst_and_noise():
    truth, noise = (0.7, 1.0, 0.5), 0.05
    _, values = sample_fou(seed(11), *truth, times=_MLE_TIMES, n_paths=32, obs_noise=noise)
    values = np.asarray(values)
    mle = fou_mle(values, times=_MLE_TIMES)
    assert mle.success
    # 4 asymptotic sd of the joint (H, theta, sigma, noise) MLE (Fisher information: sd 0.059 for
    # H, 0.0031 for the noise here), two-sided 6e-5 each under normality
    # key sweep (shifts 0, 1000, 2000): passed, worst |z| 1.01 (H), 0.87 (noise) of 4
    sd = _fou_sds(truth, 32, noise, estimate_noise=True, times=_MLE_TIMES)
    assert abs(mle.hurst - truth[0]) < 4 * sd[0]
    assert abs(mle.obs_noise - noise) < 4 * sd[3]
    assert mle.log_likelihood >= fou_log_likelihood(
        values, *truth, times=_MLE_TIMES, obs_noise=noise
    )
    # a known noise is passed through
    assert fou_mle(values, times=_MLE_TIMES, obs_noise=noise).obs_noise == noise


def test_bad_inputs():
    with pytest.raises(ValueError, match="hurst"):
        fbm_covariance(np.ones(2), np.ones(2), 1.0)
    with pytest.raises(ValueError, match="kind"):
        fbm_covariance(np.ones(2), np.ones(2), 0.5, kind="type3")
    with pytest.raises(ValueError, match="t"):
        fbm_covariance(np.array([-1.0]), np.ones(2), 0.5)
    with pytest.raises(ValueError, match="n_steps"):
        sample_fbm(0, 0.5, n_steps=0, n_paths=2)
    with pytest.raises(ValueError, match="method"):
        sample_fbm(0, 0.5, n_steps=4, n_paths=2, kind="type2", method="davies_harte")
    with pytest.raises(ValueError, match="hurst"):
        sample_fbm(0, -0.1, n_steps=4, n_paths=2)
    with pytest.raises(ValueError, match="horizon"):
        sample_fbm(0, 0.5, n_steps=4, n_paths=2, horizon=0.0)
    with pytest.raises(ValueError, match="values"):
        fou_mle(np.array([[0.1, np.nan, 0.2]]), obs_dt=0.1)
    with pytest.raises(ValueError, match="obs_dt"):
        fou_log_likelihood(np.zeros((1, 3)), 0.5, 1.0, 1.0, obs_dt=0.0)
    with pytest.raises(ValueError, match="sigma"):
        fou_covariance(0.5, 1.0, -1.0, n_obs=3, obs_dt=0.1)
    with pytest.raises(ValueError, match="n_obs"):
        sample_fou(0, 0.5, 1.0, 1.0, n_obs=0, obs_dt=0.1, n_paths=1)
    with pytest.raises(ValueError, match="times: expected strictly increasing"):
        fou_covariance(0.5, 1.0, 1.0, times=np.array([0.1, 0.3, 0.2]))
    with pytest.raises(ValueError, match="times: expected a positive first time"):
        sample_fou(0, 0.5, 1.0, 1.0, times=np.array([0.0, 0.3]), n_paths=1)
    with pytest.raises(ValueError, match="times: expected finite"):
        fou_covariance(0.5, 1.0, 1.0, times=np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="times: expected an array of rank 1"):
        fou_covariance(0.5, 1.0, 1.0, times=np.ones((2, 2)))
    with pytest.raises(ValueError, match="times, obs_dt: expected exactly one.*got both"):
        fou_mle(np.zeros((1, 3)), times=np.array([0.1, 0.2, 0.3]), obs_dt=0.1)
    with pytest.raises(ValueError, match="times, obs_dt: expected exactly one.*got neither"):
        fou_log_likelihood(np.zeros((1, 3)), 0.5, 1.0, 1.0)
    with pytest.raises(ValueError, match="n_obs: expected None when times is given"):
        fou_covariance(0.5, 1.0, 1.0, times=np.array([0.1]), n_obs=1)
    with pytest.raises(ValueError, match=r"times: expected length values.shape\[1\] = 3, got 2"):
        fou_log_likelihood(np.zeros((1, 3)), 0.5, 1.0, 1.0, times=np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="obs_noise: expected non-negative values, got -0.1"):
        fou_mle(np.ones((1, 3)), obs_dt=0.1, obs_noise=-0.1)
    with pytest.raises(ValueError, match="obs_noise: expected non-negative"):
        sample_fou(0, 0.5, 1.0, 1.0, times=np.array([0.1]), n_paths=1, obs_noise=-1.0)
    with pytest.raises(ValueError, match="values: expected observations that vary"):
        fou_mle(np.ones((2, 3)), obs_dt=0.1)
