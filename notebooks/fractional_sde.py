# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # SDEs driven by fractional noise
#
# Variational inference for SDEs driven by Markov-approximate fractional Brownian motion
# (MA-fBM), after Daems, Opper, Crevecoeur & Birdal (ICLR 2024). fBM with Hurst index $H$ is
# approximated by $K$ Ornstein-Uhlenbeck processes driven by one Brownian motion,
# $\hat B_H(t) = \sum_k \omega_k Y_k(t)$, with the closed-form optimal weights $\omega(H)$. The
# augmented state is Markov, so a controlled SDE gives a posterior over paths whose KL to the
# prior is $\frac12\int u^2\,dt$, and $H$ can be learned with everything else. For linear models
# the augmented state is linear-Gaussian, so a Kalman filter gives the exact likelihood that the
# ELBO bounds.
#
# Set `BAYESKIT_SMALL=1` for a fast run (the test suite does).

# %%
import os

import arviz as az
import jax
import matplotlib.pyplot as plt
import numpy as np
import optax

from bayeskit import fbm

SMALL = os.environ.get("BAYESKIT_SMALL") == "1"

# %% [markdown]
# ## 1. How good is the Markov approximation?
# Exact Riemann-Liouville (type 2) fBM against its MA-fBM approximation with $K = 5$ speeds in
# $[1/20, 20]$: the variance $\mathrm{Var}\,B(t)$ and the covariance with $B(1)$.

# %%
gammas = fbm.speed_grid(5, 20.0)
t = np.linspace(0.0, 1.0, 41)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for h, color in zip((0.2, 0.5, 0.7), ("C0", "C1", "C2"), strict=True):
    with jax.enable_x64(True):
        w = np.asarray(fbm.optimal_omega(np.float64(h), gammas, kind="type2"))
        exact = np.asarray(fbm.fbm_covariance(t, t, np.float64(h), kind="type2"))
        approx = np.asarray(fbm.ma_covariance(t, t, w, gammas, kind="type2"))
    axes[0].plot(t, np.diag(exact), color=color, label=f"exact, H={h}")
    axes[0].plot(t, np.diag(approx), "--", color=color, label=f"MA-fBM, H={h}")
    axes[1].plot(t, exact[:, -1], color=color)
    axes[1].plot(t, approx[:, -1], "--", color=color)
    err = np.abs(exact - approx).max() / np.abs(exact).max()
    print(f"H={h}: relative sup-norm covariance error {err:.4f}")
axes[0].set(xlabel="t", title="Var B(t)")
axes[1].set(xlabel="t", title="Cov(B(t), B(1))")
axes[0].legend(fontsize=7)
plt.show()

# %% [markdown]
# ## 2. An fBM bridge
# Prior $dx = d\hat B_H$ with $H = 0.7$, $x(0) = 0$ and one observation $x(2) = 0$ with noise
# $0.1$. The prior is Gaussian, so the exact posterior std is known; the variational posterior
# (a $2\times64$ control network) should match it.

# %% tags=["thumbnail"]
steps = 200 if SMALL else 3000
dt = 0.05 if SMALL else 0.01
model, bridge_data = fbm.fbm_bridge(0, hurst=0.7, horizon=2.0, obs_std=0.1)
opt = optax.adam(optax.cosine_decay_schedule(2e-3, steps, alpha=0.1))
bridge = fbm.fit(1, model, bridge_data, steps=steps, dt=dt, batch_size=32, optimizer=opt)
paths = bridge.sample_paths(2, 512 if SMALL else 4096)
x = np.asarray(paths.x[0, :, :, 0])
tt = np.asarray(paths.times)
# the model is linear, so the Kalman smoother of the augmented MA-fBM state gives the exact law
exact = fbm.mafbm_smoother(
    np.asarray(bridge_data.times),
    np.asarray(bridge_data.values)[..., 0],
    query_times=tt,
    **fbm.linear_parameters(bridge.model),
)
exact_std = exact.std[0]

fig, ax = plt.subplots(figsize=(7, 3.5))
band = (exact.mean[0] - 2 * exact_std, exact.mean[0] + 2 * exact_std)
ax.fill_between(tt, *band, color="C0", alpha=0.2, label="exact ±2 sd")
fbm.plot_paths(paths, n_lines=20, ax=ax)  # 20 draws, the VI mean and its ±2 sd band
ax.set(title="fBM bridge posterior (H = 0.7)")
ax.legend()
plt.show()

# %% [markdown]
# ## 3. Recovering the Hurst index
# Data: fractional OU paths ($\theta = 1$, $\sigma = 0.5$) observed every $0.05$ with noise
# $0.05$, simulated exactly (Davies-Harte fBM), for several true $H$. Three estimates of $H$:
#
# * the exact-fBM maximum likelihood (`fou_mle`), the baseline;
# * the maximum likelihood of the MA-fBM model itself (`mafbm_mle`: a Kalman filter on the
#   augmented state $(x, y_1, \dots, y_K)$), which is what a tight ELBO approaches;
# * the variational estimate (`fit`): $H$, $\theta$, $\sigma$ and the posterior learned together,
#   from $H = 0.5$, $\theta = 1$, $\sigma = 1$.
#
# `fractional_ou` models are *guided*: the posterior control contains the exact affine control of
# this linear model, so the ELBO can reach the exact log-likelihood and its maximiser in $H$ is the
# MA-fBM MLE.

# %%
true_hursts = (0.3, 0.7) if SMALL else (0.2, 0.3, 0.5, 0.7, 0.8)
n_paths, n_obs, hurst_steps = (8, 40, 100) if SMALL else (32, 100, 800)
obs_dt, obs_noise, horizon = 0.05, 0.05, n_obs * 0.05
opt = optax.adam(optax.cosine_decay_schedule(2e-2, hurst_steps, alpha=0.1))
rows, fits = [], {}
for i, h in enumerate(true_hursts):
    times, values = fbm.sample_fou(
        10 + i, h, 1.0, 0.5, n_obs=n_obs, obs_dt=obs_dt, n_paths=n_paths, obs_noise=obs_noise
    )
    times, values = np.asarray(times, np.float64), np.asarray(values, np.float64)
    fou = fbm.fractional_ou(
        4, hurst=0.5, obs_std=obs_noise, horizon=horizon, num_speeds=7, gamma_max=100.0
    )
    data = fbm.Observations(times, values[:, :, None])
    result = fbm.fit(
        5, fou, data, steps=hurst_steps, dt=obs_dt / 2, batch_size=n_paths, optimizer=opt
    )
    fixed = {"obs_std": obs_noise, "gammas": np.asarray(fou.sde.gammas), "horizon": horizon}
    ma_mle = fbm.mafbm_mle(times, values, **fixed)
    mle = fbm.fou_mle(values, obs_dt=obs_dt, obs_noise=obs_noise)
    exact_ll = fbm.mafbm_log_likelihood(times, values, **fbm.linear_parameters(result.model))
    bound = np.asarray(fbm.elbo(6, result.model, data, dt=obs_dt / 2)[0])
    fits[h] = (result, ma_mle.log_likelihood / n_paths)
    rows.append(
        (
            h,
            mle.hurst,
            ma_mle.hurst,
            float(result.model.sde.hurst),
            (exact_ll - bound).mean() / n_obs,
        )
    )
    print(
        f"true H {h}: exact MLE {mle.hurst:.3f}, MA-fBM MLE {ma_mle.hurst:.3f}, "
        f"VI {rows[-1][3]:.3f}; ELBO gap {rows[-1][4]:.4f} nats per observation"
    )

# %% [markdown]
# The left panel puts the three estimates against the truth; the right one shows the ELBO per
# sequence during training approaching the MA-fBM model's maximised log-likelihood (dotted).

# %%
rows_arr = np.array(rows)
by_h = {row[0]: row for row in rows}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
axes[0].plot([0.1, 0.9], [0.1, 0.9], color="gray", lw=0.8)
axes[0].plot(rows_arr[:, 0], rows_arr[:, 1], "s", label="exact-fBM MLE")
axes[0].plot(rows_arr[:, 0], rows_arr[:, 2], "^", label="MA-fBM MLE (Kalman)")
axes[0].plot(rows_arr[:, 0], rows_arr[:, 3], "o", mfc="none", ms=10, label="VI")
axes[0].set(xlabel="true H", ylabel="estimated H", title="Hurst recovery")
axes[0].legend()
for h, (result, best) in fits.items():
    fbm.plot_trace(result, "elbo", ax=axes[1], lw=0.8, label=f"ELBO, H = {h}")
    axes[1].axhline(best, color=axes[1].get_lines()[-1].get_color(), ls=":")
axes[1].set(ylabel="nats per sequence", title="ELBO vs maximised log-likelihood")
axes[1].set_ylim(min(best for _, best in fits.values()) - 60, None)
axes[1].legend(fontsize=7)
plt.show()

# %% [markdown]
# ## 4. ArviZ
# The fit at $H = 0.7$: the learned parameters are point estimates (their draws are constant); the
# posterior paths are genuine draws from the variational posterior.

# %%
result = fits[0.7][0]
idata = result.to_inference_data(n_draws=50)
az.summary(idata, var_names=["hurst", "theta", "sigma"], kind="stats")

# %% [markdown]
# ## Key numbers
# The test suite re-runs this notebook on the small preset and checks that these numbers come
# back (see `tests/test_notebooks.py`): the same lock and keys give the same numbers.

# %%
key_numbers = {
    "bridge_vi_sd_at_t1": float(x.std(0)[np.argmin(np.abs(tt - 1.0))]),
    "bridge_exact_sd_at_t1": float(exact_std[np.argmin(np.abs(tt - 1.0))]),
    "hurst_mle_h03": float(by_h[0.3][1]),
    "hurst_mafbm_mle_h03": float(by_h[0.3][2]),
    "hurst_vi_h03": float(by_h[0.3][3]),
    "hurst_vi_h07": float(by_h[0.7][3]),
    # the ELBO itself, not its gap to the exact log-likelihood: the gap (~1e-4 nats) is a difference
    # of two numbers ~1e4 times larger, so its float32 rounding differs from CPU to CPU by ~1%
    "elbo_per_obs_h03": float(-np.asarray(fits[0.3][0].losses)[-1] / n_obs),
}
for name, value in key_numbers.items():
    print(f"{name:28s} {value:.6g}")
