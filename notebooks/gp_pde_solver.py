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
# # Solving a high-frequency Poisson problem with GP-HM
#
# GP-HM (Fang, Cooley, Long, Li, Kirby & Zhe, ICLR 2024) puts a GP prior with a Student-t
# spectral-mixture kernel on the solution values at a grid, adds boundary and PDE-residual
# likelihoods, and learns the kernel's spectrum with everything else. Log-domain mixture weights
# (a Jeffreys prior) prune components that the solution does not need.
#
# We solve $u'' = f$ on $[0, 2\pi]$ with $u = \sin(100x)$, compare with the plain
# squared-exponential GP (the paper's negative control) and a second-order finite-difference
# solution on the same grid. Set `BAYESKIT_SMALL=1` for a fast run (the test suite does): it
# solves $u = \sin(20x)$ on a coarser grid with fewer steps.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from bayeskit import gp_pde
from bayeskit.gp_pde import baselines

small = os.environ.get("BAYESKIT_SMALL") == "1"
freq, n_grid, steps = (20.0, 160, 60) if small else (100.0, 400, 300)

# %%
problem = gp_pde.problems.get("poisson_1d_sin100")
if small:
    from bayeskit.gp_pde.problems import PDEProblem, Term, source_from_exact

    def exact(x):
        import jax.numpy as jnp

        return jnp.sin(freq * x[0])

    terms = [Term(1.0, 0, 2)]
    problem = PDEProblem(
        "poisson_1d_sin20",
        ((0.0, 2 * np.pi),),
        (n_grid,),
        terms,
        source_from_exact(exact, terms),
        exact,
        exact=exact,
        max_frequency=freq / (2 * np.pi),
        freq_scale=5.0,
    )
sol = gp_pde.solve(0, problem, steps=steps, n_components=10 if small else 30)
rbf = gp_pde.solve(0, problem, kernel="rbf", steps=steps, n_components=10 if small else 30)
print(f"GP-HM (Student-t mixture) rel L2: {sol.rel_l2():.2e}")
print(f"GP-SE (no cosine)          rel L2: {rbf.rel_l2():.2e}")

# %% [markdown]
# Finite differences on the same grid (second order) for comparison.

# %%
_, _, fd_err = baselines.fd_poisson_1d(
    lambda x: -(freq**2) * np.sin(freq * x), lambda x: np.sin(freq * x), 0.0, 2 * np.pi, n_grid
)
print(f"finite differences         rel L2: {fd_err:.2e}")

# %% [markdown]
# Solution, pointwise error and the learned spectrum. Crosses mark pruned components (weight
# below 1e-3 of the largest); the dotted line is the true frequency $100/2\pi$ cycles per unit.

# %%
fig, ax = plt.subplots(1, 3, figsize=(14, 3.5))
gp_pde.plot_solution(sol, n_points=3000, exact=False, ax=ax[0], lw=0.6)
ax[0].set_title("GP-HM solution")
gp_pde.plot_solution(sol, n_points=3000, error=True, ax=ax[1], lw=0.5, label="GP-HM")
gp_pde.plot_solution(rbf, n_points=3000, error=True, ax=ax[1], lw=0.5, label="GP-SE")
ax[1].legend()
gp_pde.plot_spectrum(sol, reference=freq / (2 * np.pi), ax=ax[2])
ax[2].legend()
fig.tight_layout()
act = np.asarray(sol.spectrum().active)[0]  # components not pruned, counted below

# %% [markdown]
# The error per checkpoint shows how the learned spectrum improves the fit.

# %%
fig, ax = plt.subplots(figsize=(5, 3))
gp_pde.plot_trace(sol, ax=ax, label="GP-HM")
gp_pde.plot_trace(rbf, ax=ax, marker="s", label="GP-SE")
ax.legend()

# %% [markdown]
# ## Posterior uncertainty on a held-out problem
# `predict(x, return_std=True)` also returns the posterior predictive standard deviation: the
# Gaussian posterior of the grid values at the learned hyperparameters, pushed through the
# interpolant (docs/gp_pde.md, "Posterior uncertainty"). We check it on a problem used nowhere
# else, $u = \sin(2\pi \cdot 9.3 x + 0.4) + 0.3 x^2$ on $[0, 1]$, solved with the defaults: the
# error should lie inside the band of 3 sd at nearly every test point. `accuracy_estimate()`
# gives the error the posterior expects (and the PDE residual between the nodes) without the
# exact solution.

# %%
import jax.numpy as jnp  # noqa: E402


def held_out_exact(x):
    return jnp.sin(2 * np.pi * 9.3 * x[0] + 0.4) + 0.3 * x[0] ** 2


laplace = [gp_pde.Term(1.0, 0, 2)]
held_out = gp_pde.PDEProblem(
    "held_out_1d",
    ((0.0, 1.0),),
    (80 if small else 120,),
    laplace,
    gp_pde.problems.source_from_exact(held_out_exact, laplace),
    held_out_exact,
    exact=held_out_exact,
    max_frequency=9.3,
)
sol_ho = gp_pde.solve(0, held_out, steps=steps)
x_test = np.random.default_rng(0).uniform(0.0, 1.0, 1000)
mean_ho, sd_ho = (np.asarray(a) for a in sol_ho.predict(x_test, return_std=True))
err_ho = np.abs(mean_ho - (np.sin(2 * np.pi * 9.3 * x_test + 0.4) + 0.3 * x_test**2))
coverage = float(np.mean(err_ho <= 3 * sd_ho))
est = sol_ho.accuracy_estimate()
print(f"rel L2 {sol_ho.rel_l2():.2e}; posterior's expected rel L2 {est.rel_l2_sd:.2e}")
print(f"fraction of 1000 test points with |error| <= 3 sd: {coverage:.3f}")

fig, ax = plt.subplots(1, 2, figsize=(12, 3.5))
gp_pde.plot_band(sol_ho, ax=ax[0])
ax[0].legend()
gp_pde.plot_band(sol_ho, error=True, ax=ax[1])
ax[1].legend()
fig.tight_layout()

# %% [markdown]
# ## Key numbers
# The test suite re-runs this notebook on the small preset and checks that these numbers come
# back (see `tests/test_notebooks.py`): the same lock and keys give the same numbers.

# %%
key_numbers = {
    "rel_l2_gp_hm": float(sol.rel_l2()),
    "rel_l2_gp_se": float(rbf.rel_l2()),
    "rel_l2_finite_differences": float(fd_err),
    "active_components": float(act.sum()),
    "coverage_3sd_held_out": coverage,
}
for name, value in key_numbers.items():
    print(f"{name:28s} {value:.6g}")
