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
# # Kernel thinning of a NUTS posterior
#
# Kernel thinning (Dwivedi & Mackey, 2021; 2022) compresses $n$ draws to $\sqrt n$ points whose
# empirical distribution is far closer, in maximum mean discrepancy (MMD), to all $n$ draws than
# $\sqrt n$ i.i.d. or equally spaced draws: MMD $\approx n^{-1/2}$ instead of $n^{-1/4}$.
# Here we fit the eight-schools model (Rubin, 1981; the SAT coaching data) with NumPyro's NUTS,
# compress its 10-dimensional posterior with `bayeskit.thinning`, and compare the coreset with
# i.i.d. subsampling and standard thinning.
#
# Set `BAYESKIT_SMALL=1` for a fast run (the test suite does).

# %%
import os

import arviz as az
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from numpyro.infer import MCMC, NUTS

from bayeskit import thinning
from bayeskit.summary import to_inference_data

SMALL = os.environ.get("BAYESKIT_SMALL") == "1"
CHAINS, DRAWS, WARMUP = (2, 512, 300) if SMALL else (4, 4096, 1000)

# %% [markdown]
# ## 1. The posterior
# Non-centred eight schools: $\mu \sim N(0, 5^2)$, $\tau \sim \mathrm{HalfCauchy}(5)$,
# $\theta_j = \mu + \tau \tilde\theta_j$, $y_j \sim N(\theta_j, \sigma_j^2)$.

# %%
y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
sigma = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def eight_schools(sigma, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("school", len(sigma)):
        eta = numpyro.sample("eta", dist.Normal(0.0, 1.0))
        numpyro.sample("obs", dist.Normal(mu + tau * eta, sigma), obs=y)


mcmc = MCMC(
    NUTS(eight_schools),
    num_warmup=WARMUP,
    num_samples=DRAWS,
    num_chains=CHAINS,
    chain_method="vectorized",
    progress_bar=False,
)
mcmc.run(jax.random.key(0), sigma, y=y)
samples = mcmc.get_samples(group_by_chain=True)
idata = to_inference_data(
    {"mu": samples["mu"], "tau": samples["tau"], "eta": samples["eta"]},
    coords={"school": np.arange(8)},
    dims={"eta": ["school"]},
)
n = CHAINS * DRAWS
print(f"{n} draws of a {2 + 8}-dimensional posterior")

# %% [markdown]
# ## 2. Compress to $\sqrt n$ points
# `thin_inference_data` standardises every coordinate (over all chains), then thins each chain
# with target KT and a Gaussian kernel whose bandwidth comes from the median heuristic. The
# result is an `InferenceData` with the same chains, each $2^m$ times shorter, and the other
# groups (sample stats, log-likelihood, observed data) kept, so ArviZ's R-hat still works.

# %%
m = int(np.log2(n)) // 2
coreset = thinning.thin_inference_data(jax.random.key(1), idata, m)
size = coreset.posterior.sizes["chain"] * coreset.posterior.sizes["draw"]
print(f"coreset of {size} draws (m = {m} halving rounds)")

# %% [markdown]
# For the comparison we rebuild the same standardised matrix and kernel, and draw an i.i.d.
# subsample and a standard-thinning subsample of the same size.

# %%
flat = np.concatenate(
    [samples["mu"].reshape(n, 1), samples["tau"].reshape(n, 1), samples["eta"].reshape(n, 8)],
    axis=1,
)
std = (flat - flat.mean(0)) / flat.std(0)
kernel = thinning.default_kernel(std)
idx = {
    "kernel thinning": coreset.sample_stats["thin_index"].values.ravel(),
    "i.i.d.": np.asarray(thinning.iid(jax.random.key(2), n, size)),
    "standard thinning": np.asarray(thinning.standard_thin(n, size)),
}
mmds = {name: thinning.mmd(std, kernel, idx=i) for name, i in idx.items()}
pd.Series(mmds, name="MMD to all draws")

# %% [markdown]
# The kernel-thinning coreset among all draws, in the population mean and scale $(\mu, \tau)$.

# %%
ax = thinning.plot_coreset(flat, idx["kernel thinning"], labels=("mu", "tau"))

# %% [markdown]
# ## 3. ArviZ summaries side by side
# Posterior means and standard deviations from all draws and from each subsample.


# %%
def subset(i):
    return to_inference_data(
        {k: v.reshape(n, *v.shape[2:])[i][None] for k, v in samples.items() if k != "obs"},
        coords={"school": np.arange(8)},
        dims={"eta": ["school"]},
    )


tables = {"all draws": az.summary(idata, kind="stats")[["mean", "sd"]]}
tables["kernel thinning"] = az.summary(coreset, kind="stats")[["mean", "sd"]]
for name in ("i.i.d.", "standard thinning"):
    tables[name] = az.summary(subset(idx[name]), kind="stats")[["mean", "sd"]]
pd.concat(tables, axis=1).round(2)

# %% [markdown]
# ## 4. MMD against coreset size
# KT's MMD falls roughly like $1/\text{size}$ (slope -1 in coreset size), i.i.d. and standard
# thinning like $1/\sqrt{\text{size}}$ (slope -1/2), on log-log axes.

# %%
ms = range(m - 1 if SMALL else 2, m + 1)
curve = {"kernel thinning": [], "i.i.d.": [], "standard thinning": []}
for mm in ms:
    s = n // 2**mm
    curve["kernel thinning"].append(
        thinning.mmd(std, kernel, idx=thinning.thin(jax.random.key(mm), std, mm, kernel))
    )
    curve["i.i.d."].append(thinning.mmd(std, kernel, idx=thinning.iid(mm, n, s)))
    curve["standard thinning"].append(thinning.mmd(std, kernel, idx=thinning.standard_thin(n, s)))
sizes = [n // 2**mm for mm in ms]
fig, ax = plt.subplots(figsize=(5, 3.5))
thinning.plot_mmd_curves(sizes, curve, ax=ax)
ax.set_ylabel("MMD to all draws")
fig.tight_layout()
slopes = {k: np.polyfit(np.log(sizes), np.log(v), 1)[0] for k, v in curve.items()}
pd.Series(slopes, name="log-log slope")

# %% [markdown]
# `jnp` arrays and NumPy arrays are both accepted everywhere; `thinning.compresspp` gives a
# near-linear-time alternative for very long chains (skipped on the small preset, where it
# would fall back to plain KT anyway):

# %%
if not SMALL:
    cpp = thinning.compresspp(jax.random.key(3), jnp.asarray(std), kernel, g=4)
    print(f"Compress++: {cpp.shape[0]} points, MMD {thinning.mmd(std, kernel, idx=cpp):.4f}")

# %% [markdown]
# ## Key numbers
# The test suite re-runs this notebook on the small preset and checks that these numbers come
# back (see `tests/test_notebooks.py`): the same lock and keys give the same numbers.

# %%
key_numbers = {
    "posterior_mean_mu": float(idata.posterior["mu"].mean()),
    "mmd_kernel_thinning": float(mmds["kernel thinning"]),
    "mmd_iid": float(mmds["i.i.d."]),
    "mmd_standard_thinning": float(mmds["standard thinning"]),
    "slope_kernel_thinning": float(slopes["kernel thinning"]),
}
for name, value in key_numbers.items():
    print(f"{name:28s} {value:.6g}")
