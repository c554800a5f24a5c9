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
# # PaRIS and Parisian particle Gibbs
#
# PaRIS (Olsson & Westerborn, 2017) estimates smoothed expectations of additive functionals
# $h_T(x_{0:T}) = \sum_t \tilde h_t(x_{t-1}, x_t)$ online, with $O(N)$ memory, by carrying one
# statistic per particle updated with a few draws from the backward kernel. It is
# self-normalised, hence biased by $O(T/N)$. Parisian particle Gibbs (PPG; Cardoso, Janati El
# Idrissi, Le Corff, Moulines & Olsson, ICML 2023) drives PaRIS with conditional SMC: at
# stationarity each sweep is unbiased, so averaging sweeps after a burn-in removes the bias.
#
# Set `BAYESKIT_SMALL=1` for a fast run (the test suite does).

# %%
import os

import arviz as az
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

from bayeskit import smc

SMALL = os.environ.get("BAYESKIT_SMALL") == "1"
T = 50 if SMALL else 500
R = 8 if SMALL else 100
N = 20 if SMALL else 50

# %% [markdown]
# ## 1. Bias and variance against the Kalman truth
# A 1-D linear Gaussian model ($\rho = 0.9$, unit noises), $h = (\sum x_t, \sum x_t x_{t+1})$.
# We compare, over $R$ replications: PaRIS with $N$ particles, PaRIS averaged over
# $k = k_0 + (k - k_0)$ runs (the same number of particle passes as PPG), and PPG with $k_0 = 3$
# burn-in sweeps and $k - k_0 = 6$ averaged sweeps.


# %%
def h_sxx(t, x_prev, x, y, theta):
    """(sum x_t, sum x_t x_{t+1}); x_prev is None at t = 0 (the initial term)."""
    if x_prev is None:
        return jnp.stack([x[0], jnp.zeros_like(x[0])])
    return jnp.stack([x[0], x_prev[0] * x[0]])


K0, KK = 3, 6
with jax.enable_x64(True):
    rho = 0.9
    model = smc.linear_gaussian(1, P0=jnp.array([[1.0 / (1.0 - rho**2)]]))  # stationary start
    theta = {"A": jnp.array([[rho]]), "log_q": jnp.zeros(1), "log_r": jnp.zeros(1)}
    _, ys = smc.simulate(0, model, theta, T)
    truth = float(smc.smoothed_sums(smc.rts_smoother(ys, model.matrices(theta)))[1][0, 0])
    keys = jax.random.split(jax.random.key(1), R * (K0 + KK))
    # many short runs: no progress bar per run
    run = dict(n_particles=N, sampler="exact", progress=False)
    paris_err = np.array(
        [float(smc.paris(k, model, theta, ys, h_sxx, **run).estimate[1]) for k in keys]
    ) - truth  # fmt: skip
    ppg_err = np.array(
        [
            float(smc.ppg(k, model, theta, ys, h_sxx, burn_in=K0, iterations=KK, **run).estimate[1])
            for k in jax.random.split(jax.random.key(2), R)
        ]
    ) - truth  # fmt: skip

single = paris_err[:R]
grouped = paris_err[: (len(paris_err) // (K0 + KK)) * (K0 + KK)].reshape(-1, K0 + KK).mean(1)
for name, e in [("PaRIS", single), ("PaRIS, equal cost", grouped), ("PPG", ppg_err)]:
    print(
        f"{name:18s} bias {e.mean():8.2f}  (SE {e.std(ddof=1) / np.sqrt(e.size):5.2f})  sd {e.std(ddof=1):6.2f}"
    )
plt.boxplot([single, grouped, ppg_err])
plt.xticks([1, 2, 3], ["PaRIS", "PaRIS, equal cost", "PPG"])
plt.axhline(0.0, color="k", lw=0.8)
plt.ylabel("error of E[sum x_t x_{t+1} | y]")
plt.show()

# %% [markdown]
# Averaging independent PaRIS runs shrinks the spread but not the bias; PPG shrinks both.
#
# ## 2. Parameter learning
# Maximum likelihood on a 2-D linear Gaussian model: the score is an additive functional (Fisher
# identity), estimated by PPG with the reference path carried from one Adam step to the next.
# The learning curve is measured against the exact MLE of the Kalman likelihood.

# %%
from jax.flatten_util import ravel_pytree  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

T2, STEPS = (100, 25) if SMALL else (1000, 400)
with jax.enable_x64(True):
    c, s = np.cos(0.3), np.sin(0.3)  # A = 0.9 R(0.3), a damped rotation; Q = R = 0.1 I
    model2 = smc.linear_gaussian(2)
    theta2 = {
        "A": 0.9 * jnp.array([[c, -s], [s, c]]),
        "log_q": jnp.full(2, np.log(0.1)),
        "log_r": jnp.full(2, np.log(0.1)),
    }
    _, ys2 = smc.simulate(3, model2, theta2, T2)
    theta0 = {"A": 0.5 * jnp.eye(2), "log_q": jnp.full(2, -1.2), "log_r": jnp.full(2, -1.2)}
    v0, unravel = ravel_pytree(theta0)

    def nll(v):
        return -smc.kalman_log_likelihood(ys2, model2.matrices(unravel(v)))

    vg = jax.jit(jax.value_and_grad(nll))
    opt = minimize(lambda v: tuple(map(np.asarray, vg(v))), np.asarray(v0), jac=True)
    sched = optax.exponential_decay(0.05, max(1, STEPS // 6), 0.5)
    fit = smc.mle(4, model2, theta0, ys2, steps=STEPS, optimizer=optax.adam(sched),
                  n_particles=25, sampler="exact")  # fmt: skip
    trace = np.asarray(jax.vmap(lambda t: ravel_pytree(t)[0])(fit.theta_trace))
rel = np.linalg.norm(trace - opt.x, axis=1) / np.linalg.norm(opt.x)
plt.semilogy(rel)
plt.xlabel("Adam step")
plt.ylabel("relative distance to the exact MLE")
plt.show()
print("relative error of the averaged iterate:",
      np.linalg.norm(np.asarray(ravel_pytree(fit.theta_average)[0]) - opt.x) / np.linalg.norm(opt.x))  # fmt: skip

# %% [markdown]
# ## 3. Stochastic volatility
# A nonlinear model without a closed-form smoother: $x_{t+1} = \phi x_t + \sigma \epsilon_t$,
# $y_t = \beta e^{x_t/2} \eta_t$. Two PPG chains give draws of the whole path; ArviZ summarises
# a few time points (R-hat across the two chains).

# %% tags=["thumbnail"]
T3 = 50 if SMALL else 300
sv = smc.stochastic_volatility()
th_sv = {
    "phi": jnp.array(0.95),
    "log_sigma": jnp.log(jnp.array(0.3)),
    "log_beta": jnp.log(jnp.array(0.7)),
}
xs_sv, ys_sv = smc.simulate(5, sv, th_sv, T3)


def h_mean(t, x_prev, x, y, theta):
    return x  # sum_t x_t


chains = [
    smc.ppg(
        k,
        sv,
        th_sv,
        ys_sv,
        h_mean,
        n_particles=20 if SMALL else 50,
        burn_in=5,
        iterations=10 if SMALL else 200,
    )
    for k in (6, 7)
]
idata = az.concat([c.to_inference_data() for c in chains], dim="chain")
print(az.summary(idata, var_names=["x"], coords={"time": [0, T3 // 2, T3 - 1]}))
post = np.concatenate([np.asarray(c.paths[c.burn_in :, :, 0]) for c in chains])
# the mean of the kept paths of both chains and their 5% and 95% quantiles, against the truth
smc.plot_smoothed(chains, interval="eti", prob=0.9, truth=xs_sv[:, 0])
plt.show()

# %% [markdown]
# ## 4. Ten thousand particles
# The default backward sampler (`"hybrid"`: a few vectorised accept-reject rounds, then exact
# draws for the rows still open) costs $O(N \tilde N)$ per time step, so PaRIS scales linearly
# in $N$; the exact sampler is $O(N^2)$. On the same volatility data: PaRIS at growing $N$ (its
# estimate settles as its $O(T/N)$ bias shrinks), and PPG at $N = 10^4$.

# %%
import time  # noqa: E402

N_GRID = (500, 2000, 10_000)
seconds, estimates, evaluations = [], [], []
for n in N_GRID:
    smc.paris(8, sv, th_sv, ys_sv, h_mean, n_particles=n, progress=False)  # compile once per N
    start = time.perf_counter()
    r = smc.paris(8, sv, th_sv, ys_sv, h_mean, n_particles=n, progress=False)
    r.estimate.block_until_ready()
    seconds.append(time.perf_counter() - start)
    estimates.append(float(r.estimate[0]))
    evaluations.append(float(r.mean_evaluations))
    print(f"N = {n:6d}: {seconds[-1]:6.2f} s, E[sum x_t | y] = {estimates[-1]:8.3f}, "
          f"{evaluations[-1]:5.2f} transition densities per backward draw")  # fmt: skip
big = smc.ppg(9, sv, th_sv, ys_sv, h_mean, n_particles=10_000, burn_in=1,
              iterations=2 if SMALL else 5)  # fmt: skip
print(f"PPG, N = 10^4: E[sum x_t | y] = {float(big.estimate[0]):.3f}; "
      f"long PPG chains above: {float(post.sum(1).mean()):.3f}")  # fmt: skip
plt.loglog(N_GRID, seconds, "o-", label="PaRIS (hybrid), measured")
plt.loglog(N_GRID, seconds[0] * np.array(N_GRID) / N_GRID[0], "k--", label="linear in N")
plt.xlabel("particles N")
plt.ylabel("seconds per run (after compile)")
plt.legend()
plt.show()

# %% [markdown]
# ## Key numbers
# The test suite re-runs this notebook on the small preset and checks that these numbers come
# back (see `tests/test_notebooks.py`): the same lock and keys give the same numbers.

# %%
key_numbers = {
    "paris_bias": float(single.mean()),
    "ppg_bias": float(ppg_err.mean()),
    "mle_rel_error_last": float(rel[-1]),
    "sv_smoothed_mean_mid": float(post.mean(0)[T3 // 2]),
    "sv_paris_sum_n10000": estimates[-1],
    "sv_ppg_sum_n10000": float(big.estimate[0]),
}
for name, value in key_numbers.items():
    print(f"{name:28s} {value:.6g}")
