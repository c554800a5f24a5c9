"""Active preference queries on a linear dueling bandit: half the labels, similar regret.

Run: ``python examples/rlhf.py`` (under a minute on 2 cores).
"""

import numpy as np

from bayeskit import rlhf

T, SEEDS = 500, 2
env = rlhf.dueling_bandit(0, dim=5, n_arms=10)
for eps in (0.0, 0.1):
    agent = rlhf.PRLSVI(sigma_r=0.5, epsilon=eps)
    log = rlhf.run(1, env, agent, T, scale=3.0, seeds=SEEDS)
    print(
        f"epsilon={eps}: regret {np.mean(log.total_regret):.1f}, "
        f"queries {np.mean(log.total_queries):.0f} of {T}, "
        f"reward error {np.mean(log.reward_error[:, -1]):.3f}"
    )
