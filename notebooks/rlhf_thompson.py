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
# # RL from trajectory preferences with randomization and active queries
#
# After Wu & Sun, "Making RL with preference-based feedback efficient via randomization"
# (ICLR 2024). The agent never sees rewards: each episode it compares a trajectory of its new
# policy with one of its previous policy, and asks a Bradley-Terry oracle for a label only when
# its randomized reward model disagrees about the comparison by more than $\epsilon$:
# $u_t = \mathbb E|\langle\theta-\theta', x_t\rangle| = 2\sigma_r\|x_t\|_{\Sigma^{-1}}/\sqrt\pi$.
# Theory predicts, for $\epsilon = T^{-\beta}$, regret $\tilde O(T^{1-\beta})$ with
# $\tilde O(T^{2\beta})$ queries: regret $\propto Q^{-1/2}$ at fixed $T$.
#
# Set `BAYESKIT_SMALL=1` for a fast run (the test suite does).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from bayeskit import rlhf

SMALL = os.environ.get("BAYESKIT_SMALL") == "1"
T = 300 if SMALL else 3000
SEEDS = 2 if SMALL else 8
EPS_GRID = (0.0, 0.05, 0.1, 0.2)

# %% [markdown]
# ## Linear dueling bandit (H = 1)
# d = 10, 20 fresh arms on the unit sphere each round, link scale c = 3. PR-LSVI reduces to a
# perturbed-MLE bandit; $\epsilon = 0$ queries every informative pair.

# %%
env = rlhf.dueling_bandit(0, dim=10, n_arms=20)
logs = {
    eps: rlhf.run(1, env, rlhf.PRLSVI(sigma_r=0.5, epsilon=eps), T, scale=3.0, seeds=SEEDS)
    for eps in EPS_GRID
}
rate = float(np.mean(logs[0.05].total_queries)) / T
uniform = rlhf.run(
    1, env, rlhf.PRLSVI(sigma_r=0.5, query="uniform", query_rate=rate), T, scale=3.0, seeds=SEEDS
)
for eps, log in logs.items():
    print(
        f"eps={eps:4}: regret {np.mean(log.total_regret):6.1f}, queries {np.mean(log.total_queries):6.0f}"
    )
print(f"uniform at rate {rate:.2f}: regret {np.mean(uniform.total_regret):6.1f}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
for eps, log in logs.items():
    rlhf.plot_run(log, ax=axes[0], label=f"eps={eps}")
    rlhf.plot_run(log, "queries", ax=axes[1], label=f"eps={eps}")
rlhf.plot_run(uniform, ax=axes[0], color="k", ls="--", label="uniform (matched)")
axes[0].set_title("cumulative regret (mean ± 1 se over seeds)")
axes[1].set_title("cumulative queries")
axes[0].legend()
# eps = 0 queries every informative pair: the trade-off is over eps > 0 (theory: slope -0.5)
rlhf.plot_regret_vs_queries({f"eps={e}": logs[e] for e in EPS_GRID[1:]}, ax=axes[2])
axes[2].set_title("regret vs queries")
fig.tight_layout()

# %% [markdown]
# ## RiverSwim with model-based Thompson sampling
# Dirichlet transition posterior, Laplace posterior of the Bayesian logistic reward, exact
# planning in the sampled model, query statistic from 32 posterior pairs. With the oracle's
# true link scale the posterior settles on always-left; a tempered likelihood keeps exploring.

# %%
river = rlhf.riverswim(n_states=4 if SMALL else 6, horizon=8 if SMALL else 20)
TR = 150 if SMALL else 1000
# Tempered likelihood: the learner's link scale is a tenth of the oracle's (see the docs page).
ts_agent = rlhf.ThompsonSampling(epsilon=3.5, scale=0.5)
ts = rlhf.run(2, river, ts_agent, TR, scale=5.0, seeds=SEEDS)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
rlhf.plot_run(ts, "regret", show="each", ax=axes[0], alpha=0.6)
axes[0].set_title("per-episode regret (exact), one line per seed")
rlhf.plot_run(ts, "queries", show="each", ax=axes[1])
axes[1].set_title("cumulative queries")
fig.tight_layout()
print("final per-episode regret per seed:", np.round(np.asarray(ts.regret)[:, -1], 3))

# %% [markdown]
# ## Key numbers
# The test suite re-runs this notebook on the small preset and checks that these numbers come
# back (see `tests/test_notebooks.py`): the same lock and keys give the same numbers.

# %%
key_numbers = {
    "bandit_regret_eps0": float(np.mean(logs[0.0].total_regret)),
    "bandit_regret_eps0.05": float(np.mean(logs[0.05].total_regret)),
    "bandit_queries_eps0.05": float(np.mean(logs[0.05].total_queries)),
    "bandit_regret_uniform": float(np.mean(uniform.total_regret)),
    "riverswim_final_regret": float(np.mean(np.asarray(ts.regret)[:, -1])),
}
for name, value in key_numbers.items():
    print(f"{name:28s} {value:.6g}")
