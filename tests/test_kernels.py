"""Tests for bayeskit.kernels: positive definiteness, known values, GPJax interplay, gram."""

import gpjax as gpx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from statkeys import seed

from bayeskit import kernels as K


def _all_kernels(d):
    return {
        "gaussian": K.Gaussian(lengthscale=0.7, variance=1.5),
        "laplace": K.Laplace(lengthscale=0.9),
        "matern12": K.Matern12(lengthscale=1.1),
        "matern32": K.Matern32(lengthscale=0.6),
        "matern52": K.Matern52(lengthscale=jnp.linspace(0.5, 1.0, d)),
        "imq": K.InverseMultiquadric(lengthscale=1.3, power=0.75),
        "sinc": K.Sinc(lengthscale=0.4),
        "spectral_mixture": K.SpectralMixture(
            [1.0, 0.4], jnp.stack([jnp.zeros(d), jnp.linspace(0.5, 2.0, d)]), jnp.full((2, d), 0.3)
        ),
        "student_t_mixture": K.StudentTMixture(
            [0.6, 0.8], jnp.stack([jnp.ones(d), jnp.linspace(0.2, 3.0, d)]), jnp.full((2, d), 0.2)
        ),
    }


@pytest.mark.parametrize("name", list(_all_kernels(2)))
def test_kernels_are_positive_semidefinite(name):
    with jax.enable_x64(True):
        X = jax.random.normal(jax.random.key(1), (60, 2)) * 1.5
        k = _all_kernels(2)[name]
        G = np.asarray(K.gram(k, X))
        np.testing.assert_allclose(G, G.T, atol=1e-12)
        eig = np.linalg.eigvalsh(G)
        assert eig.min() >= -1e-8 * eig.max()


def test_kernel_values_at_known_points():
    x, y = jnp.array([0.0, 0.0]), jnp.array([0.3, 0.4])  # distance 0.5
    np.testing.assert_allclose(
        K.Gaussian(lengthscale=0.5, variance=2.0)(x, y), 2 * np.exp(-0.5), rtol=1e-6
    )
    np.testing.assert_allclose(K.Laplace(lengthscale=0.25)(x, y), np.exp(-2.0), rtol=1e-6)
    np.testing.assert_allclose(K.Matern12()(x, y), np.exp(-0.5), rtol=1e-6)
    s3 = np.sqrt(3) * 0.5
    np.testing.assert_allclose(K.Matern32()(x, y), (1 + s3) * np.exp(-s3), rtol=1e-6)
    s5 = np.sqrt(5) * 0.5
    np.testing.assert_allclose(K.Matern52()(x, y), (1 + s5 + s5**2 / 3) * np.exp(-s5), rtol=1e-6)
    np.testing.assert_allclose(K.InverseMultiquadric(power=0.5)(x, y), 1.25**-0.5, rtol=1e-6)
    expected_sinc = np.sin(0.3) / 0.3 * np.sin(0.4) / 0.4
    np.testing.assert_allclose(K.Sinc()(x, y), expected_sinc, rtol=1e-6)
    for k in _all_kernels(2).values():
        if not isinstance(k, K.SpectralMixture | K.StudentTMixture):
            np.testing.assert_allclose(k(y, y), K.gram(k, y[None])[0, 0], rtol=1e-6)


def test_spectral_mixture_with_zero_mean_is_the_gaussian_kernel():
    ell, var = 0.8, 1.7
    sm = K.SpectralMixture([var], jnp.zeros((1, 3)), jnp.full((1, 3), 1 / (2 * np.pi * ell)))
    X = jax.random.normal(jax.random.key(2), (20, 3))
    np.testing.assert_allclose(
        K.gram(sm, X), K.gram(K.Gaussian(lengthscale=ell, variance=var), X), atol=1e-6
    )


def test_spectral_mixture_value_with_cosine():
    sm = K.SpectralMixture([2.0, 1.0], [0.0, 3.0], [0.5, 0.1])  # 1-D, means given as (Q,)
    t = 0.2
    expected = 2 * np.exp(-2 * np.pi**2 * 0.25 * t**2) + np.exp(
        -2 * np.pi**2 * 0.01 * t**2
    ) * np.cos(2 * np.pi * 3 * t)
    np.testing.assert_allclose(sm(jnp.array([t]), jnp.array([0.0])), expected, rtol=1e-6)


def test_student_t_mixture_with_zero_mean_is_matern():
    ell = 0.35
    for nu, matern in ((0.5, K.Matern12), (1.5, K.Matern32), (2.5, K.Matern52)):
        st = K.StudentTMixture([1.0], [0.0], [1 / (2 * np.pi * ell)], nu=nu)
        X = jnp.linspace(0, 2, 15)[:, None]
        np.testing.assert_allclose(K.gram(st, X), K.gram(matern(lengthscale=ell), X), atol=1e-6)


def test_student_t_mixture_second_derivative_matches_gp_hm_reference():
    # Matern52 x cos with inverse lengthscale rho = 1.3 and frequency mu = 2: the brief's
    # closed-form values of d^2 k / dx^2 at r = 0 and r = 0.3 (gp_pde.md, section 1.6)
    with jax.enable_x64(True):
        st = K.StudentTMixture([1.0], [2.0], [1.3 / (2 * np.pi)])
        d2 = jax.grad(jax.grad(lambda x, y: st(jnp.array([x]), jnp.array([y]))))
        np.testing.assert_allclose(d2(0.0, 0.0), -160.730337, rtol=1e-8)
        np.testing.assert_allclose(d2(0.3, 0.0), 104.820839, rtol=1e-8)


def test_gram_blocked_equals_dense_jitted_and_not():
    k = K.Matern32(lengthscale=0.5)
    X = jax.random.normal(jax.random.key(3), (37, 4))
    Y = jax.random.normal(jax.random.key(4), (11, 4))
    dense = K.gram(k, X, Y)
    assert dense.shape == (37, 11)
    for bs in (1, 5, 37, 100):
        np.testing.assert_allclose(K.gram(k, X, Y, block_size=bs), dense, atol=1e-6)
    jitted = jax.jit(lambda a, b: K.gram(k, a, b, block_size=8))(X, Y)
    np.testing.assert_allclose(jitted, dense, atol=1e-6)


def test_pairwise_gaussian_fast_path_equals_generic_evaluation():
    x = jax.random.normal(jax.random.key(3), (50, 3))
    y = jax.random.normal(jax.random.key(4), (40, 3))
    k = K.Gaussian(lengthscale=jnp.array([0.7, 1.3, 2.0]), variance=1.5)
    generic = jax.vmap(lambda a: jax.vmap(lambda b: k(a, b))(y))(x)
    # the fused path sums squared differences per coordinate: equal up to float32 rounding
    np.testing.assert_allclose(K.pairwise(k, x, y), generic, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(K.gram(k, x, y, block_size=7), generic, rtol=1e-5, atol=1e-6)
    m = K.Matern32(lengthscale=0.8)
    np.testing.assert_allclose(
        K.pairwise(m, x, y), jax.vmap(lambda a: jax.vmap(lambda b: m(a, b))(y))(x), rtol=1e-6
    )


def test_pairwise_rejects_bad_shapes_and_kernel():
    x = jnp.zeros((4, 2))
    with pytest.raises(ValueError, match=r"X, Y: expected shapes \(n, d\) and \(m, d\)"):
        K.pairwise(K.Gaussian(), x, jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"got \(4,\) and \(4, 2\)"):
        K.pairwise(K.Gaussian(), jnp.zeros(4), x)
    with pytest.raises(TypeError, match="k: expected a kernel callable"):
        K.pairwise(1.0, x, x)


def test_gram_rejects_bad_input():
    k = K.Gaussian()
    with pytest.raises(ValueError, match=r"X: expected an array of rank 2, got shape \(5,\)"):
        K.gram(k, jnp.zeros(5))
    with pytest.raises(ValueError, match=r"Y: expected 2 columns to match X"):
        K.gram(k, jnp.zeros((4, 2)), jnp.zeros((4, 3)))
    with pytest.raises(ValueError, match="block_size: expected an integer >= 1, got 0"):
        K.gram(k, jnp.zeros((4, 2)), block_size=0)
    with pytest.raises(TypeError, match="k: expected a kernel callable"):
        K.gram("gaussian", jnp.zeros((4, 2)))
    with pytest.raises(TypeError, match="k: expected a kernel instance, got the class Gaussian"):
        K.gram(K.Gaussian, jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="X: expected finite values, got 1 NaN"):
        K.gram(k, jnp.zeros((4, 2)).at[1, 0].set(jnp.nan))


def test_radial_kernels_reject_bad_parameters():
    with pytest.raises(ValueError, match="lengthscale: expected positive values, got -1.0"):
        K.Gaussian(lengthscale=-1.0)
    with pytest.raises(ValueError, match="variance: expected positive values, got 0.0"):
        K.Matern32(variance=0.0)
    with pytest.raises(ValueError, match="lengthscale: expected finite values"):
        K.Laplace(lengthscale=np.nan)
    with pytest.raises(ValueError, match="lengthscale: expected an array of rank 0 or 1"):
        K.Sinc(lengthscale=np.ones((2, 2)))
    with pytest.raises(ValueError, match="variance: expected an array of rank 0"):
        K.Matern52(variance=[1.0, 2.0])


def test_mixture_kernels_reject_bad_parameters():
    with pytest.raises(ValueError, match=r"means: expected shape \(2, d\) to match weights"):
        K.SpectralMixture([1.0, 1.0], [[0.0]], [[1.0]])
    with pytest.raises(ValueError, match=r"scales: expected shape \(2, 1\) to match means"):
        K.SpectralMixture([1.0, 1.0], [0.0, 1.0], [[1.0, 1.0]])
    with pytest.raises(ValueError, match="weights: expected positive values"):
        K.SpectralMixture([1.0, -1.0], [0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="scales: expected positive values"):
        K.StudentTMixture([1.0], [0.0], [0.0])
    with pytest.raises(ValueError, match="weights: expected finite values"):
        K.StudentTMixture([np.nan], [0.0], [1.0])
    with pytest.raises(ValueError, match="nu: expected one of 0.5, 1.5, 2.5, got 3.0"):
        K.StudentTMixture([1.0], [0.0], [1.0], nu=3.0)
    with pytest.raises(ValueError, match="power: expected positive values"):
        K.InverseMultiquadric(power=-0.5)
    with pytest.raises(ValueError, match="nu: expected one of"):
        K.matern_profile(1.0, jnp.ones(2))


def _fit_test_nll(kernel):
    # y = sin(2 pi 1.0 x) + 0.5 sin(2 pi 3.5 x): extrapolate from x in [0, 3] to x in [3, 4]
    x = jnp.linspace(0.0, 4.0, 81)[:, None]
    f = jnp.sin(2 * jnp.pi * x) + 0.5 * jnp.sin(2 * jnp.pi * 3.5 * x)
    y = f + 0.05 * jax.random.normal(jax.random.key(seed(5)), f.shape)
    train, test = x[:, 0] <= 3.0, x[:, 0] > 3.0
    data = gpx.Dataset(X=x[train], y=y[train])
    prior = gpx.gps.Prior(mean_function=gpx.mean_functions.Zero(), kernel=kernel)
    posterior = prior * gpx.likelihoods.Gaussian(obs_stddev=0.1)
    posterior, _ = gpx.fit(
        model=posterior,
        objective=lambda p, d: -gpx.objectives.conjugate_mll(p, d),
        train_data=data,
        optim=optax.adam(0.05),
        num_iters=60,
        verbose=False,
        key=jax.random.key(seed(0)),
    )
    latent = posterior.predict(x[test], train_data=data)
    pred = posterior.likelihood(latent)
    return float(-jnp.mean(pred.log_prob(y[test, 0])))


@pytest.mark.statistical
def test_spectral_mixture_beats_rbf_on_two_sinusoids_in_gpjax():
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed, NLL gap >= 35 nats
    # The noise (sd 0.05) moves the joint NLL of the 20 test points by ~ sqrt(20 / 2) = 3 nats in
    # both models alike; the gap is the RBF's extrapolation misfit (measured ~40 nats >> 0.5).
    with jax.enable_x64(True):
        sm = K.SpectralMixture([0.5, 0.2], [[0.9], [3.3]], [[0.05], [0.05]])
        rbf = K.Gaussian(lengthscale=0.3)
        nll_sm, nll_rbf = _fit_test_nll(sm), _fit_test_nll(rbf)
    assert np.isfinite(nll_sm) and nll_sm < nll_rbf - 0.5
