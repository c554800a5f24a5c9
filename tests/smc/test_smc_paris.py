"""PaRIS: agreement with exact forward smoothing, exact backward laws, bias behaviour, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import h_sxx, nan_model
from scipy import stats

from bayeskit.smc import kalman
from bayeskit.smc.paris import _flatten, backward_sample, paris, paris_pass


def forward_smoothing(model, theta, ys, particles):
    """Exact O(N^2) forward smoothing of h_sxx on a given particle system (the PaRIS limit)."""
    lw = [
        jax.vmap(model.obs_logpdf, in_axes=(0, None, None))(x, y, theta)
        for x, y in zip(particles, ys)
    ]
    tau = jax.vmap(lambda x: h_sxx(0, None, x, ys[0], theta))(particles[0])

    def trans_row(xp, xn):
        return jax.vmap(model.trans_logpdf, in_axes=(0, None, None))(xp, xn, theta)

    def h_rows(t, xp, xn, y):
        return jax.vmap(lambda xq: h_sxx(t, xq, xn, y, theta))(xp)

    for t in range(1, ys.shape[0]):
        xp, x = particles[t - 1], particles[t]
        logits = lw[t - 1][None] + jax.vmap(trans_row, in_axes=(None, 0))(xp, x)
        P = jax.nn.softmax(logits, axis=1)
        hv = jax.vmap(h_rows, in_axes=(None, None, 0, None))(t, xp, x, ys[t])
        tau = jnp.einsum("ij,ijk->ik", P, tau[None] + hv)
    return jax.nn.softmax(lw[-1]) @ tau


def test_many_backward_draws_match_forward_smoothing(lg1):
    model, theta, ys = lg1
    ys = ys[:10]
    run = jax.jit(
        lambda k, nb: paris_pass(
            k, model, theta, ys, _flatten(h_sxx), theta, 8, nb, "exact", 1, keep_path=True
        ),  # fmt: skip
        static_argnums=1,
    )
    out = run(jax.random.key(5), 2000)
    exact = forward_smoothing(model, theta, ys, out.particles)
    # 2000 backward draws per particle: Monte Carlo error about 1/sqrt(2000 * 8) ~ 1% relative
    np.testing.assert_allclose(out.estimate, exact, rtol=2e-2)


@pytest.mark.parametrize(
    "sampler,max_trials", [("exact", None), ("accept_reject", None), ("hybrid", 1)]
)
def test_backward_samplers_draw_exact_law(lg1, sampler, max_trials):
    model, theta, _ = lg1
    x_prev = jnp.array([[-2.0], [-0.5], [0.0], [0.7], [1.5], [3.0]])
    lw = jnp.log(jnp.array([0.1, 0.3, 0.05, 0.25, 0.2, 0.1]))
    x_new = jnp.full((2000, 1), 0.4)
    J, nprop = backward_sample(
        11, model, theta, x_prev, lw, x_new, n_backward=50, sampler=sampler, max_trials=max_trials
    )
    logits = lw + jax.vmap(model.trans_logpdf, in_axes=(0, None, None))(x_prev, x_new[0], theta)
    p = np.asarray(jax.nn.softmax(logits))
    counts = np.bincount(np.asarray(J).ravel(), minlength=6)
    chi2 = np.sum((counts - p * J.size) ** 2 / (p * J.size))
    # 1e5 i.i.d. draws from a 6-cell law: chi-square with 5 dof, reject only below p = 1e-3
    assert stats.chi2.sf(chi2, 5) > 1e-3, (counts, p * J.size)
    if sampler == "exact":
        assert float(nprop) == 0.0
    else:
        assert float(nprop) >= J.size  # at least one proposal per accept-reject draw


def test_sampler_does_not_change_the_filter(lg1):
    model, theta, ys = lg1
    a = paris(0, model, theta, ys, h_sxx, n_particles=16, sampler="exact")
    b = paris(0, model, theta, ys, h_sxx, n_particles=16, sampler="hybrid")
    assert float(a.log_likelihood) == float(b.log_likelihood)
    assert a.ess.shape == (50,)
    assert float(b.mean_proposals) >= 1.0 and float(a.mean_proposals) == 0.0


def test_paris_bias_is_order_one_over_n(lg1):
    model, theta, ys = lg1
    sx, sxx = kalman.smoothed_sums(kalman.rts_smoother(ys, model.matrices(theta)))
    run = jax.jit(
        jax.vmap(
            lambda k, n: (
                paris_pass(k, model, theta, ys, _flatten(h_sxx), theta, n, 2, "exact", 1).estimate
            ),
            in_axes=(0, None),
        ),
        static_argnums=1,
    )
    keys = jax.random.split(jax.random.key(7), 300)
    res = {}
    for n in (10, 40):
        err = np.asarray(run(keys, n))[:, 1] - float(sxx[0, 0])
        res[n] = (err.mean(), err.std(ddof=1) / np.sqrt(err.size))
    (b10, s10), (b40, s40) = res[10], res[40]
    # self-normalisation bias of PaRIS: negative, significant at N = 10 (3 SE) ...
    assert b10 < -3 * s10, res
    # ... and shrinking like 1/N: at 4x the particles it is clearly smaller (expected ratio 1/4)
    assert b40 - b10 > 3 * np.hypot(s10, s40), res
    assert abs(b40) < 0.6 * abs(b10), res


def test_paris_bad_inputs(lg1):
    model, theta, ys = lg1
    with pytest.raises(ValueError, match=r"ys: expected shape \(T, 1\)"):
        paris(0, model, theta, jnp.zeros((10, 3)), h_sxx, n_particles=8)
    with pytest.raises(ValueError, match="n_particles: expected an integer >= 2"):
        paris(0, model, theta, ys, h_sxx, n_particles=1)
    with pytest.raises(ValueError, match="n_backward: expected an integer >= 1"):
        paris(0, model, theta, ys, h_sxx, n_particles=8, n_backward=0)
    with pytest.raises(ValueError, match="ys: expected finite"):
        paris(0, model, theta, ys.at[0, 0].set(jnp.nan), h_sxx, n_particles=8)
    with pytest.raises(ValueError, match="sampler: expected one of"):
        paris(0, model, theta, ys, h_sxx, n_particles=8, sampler="rejection")
    with pytest.raises(TypeError, match="h: expected a callable"):
        paris(0, model, theta, ys, 3.0, n_particles=8)
    from dataclasses import replace

    with pytest.raises(ValueError, match="needs model.trans_log_bound"):
        paris(0, replace(model, trans_log_bound=None), theta, ys, h_sxx, n_particles=8)
    nan_m, dead_m = nan_model()
    with pytest.raises(ValueError, match="paris: a model log-density returned NaN at time step 12"):
        paris(0, nan_m, theta, ys.at[12, 0].set(200.0), h_sxx, n_particles=8)
    with pytest.raises(ValueError, match="paris: all particle weights are zero .* at time step 3"):
        paris(0, dead_m, theta, ys.at[3, 0].set(-200.0), h_sxx, n_particles=8)
    with pytest.raises(ValueError, match=r"x_new: expected shape \(M, 1\)"):
        backward_sample(
            0, model, theta, jnp.zeros((4, 1)), jnp.zeros(4), jnp.zeros(4), n_backward=1
        )
    with pytest.raises(ValueError, match=r"log_w_prev: expected shape \(4,\)"):
        backward_sample(
            0, model, theta, jnp.zeros((4, 1)), jnp.zeros(3), jnp.zeros((2, 1)), n_backward=1
        )
