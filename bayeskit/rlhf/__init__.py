"""Thompson-sampling RLHF: PR-LSVI and model-based Thompson sampling from trajectory preferences.

Reference: R. Wu and W. Sun, "Making RL with preference-based feedback efficient via
randomization", ICLR 2024 (arXiv 2310.14554).
"""

from bayeskit.rlhf.envs import (
    DuelingBandit,
    Plan,
    TabularMDP,
    Trajectory,
    dueling_bandit,
    evaluate,
    make_mdp,
    plan,
    policy_value,
    prefer,
    random_mdp,
    reward_error,
    riverswim,
    rollout,
    sample_arms,
)
from bayeskit.rlhf.lsvi import PRLSVI, EpisodeInfo, PRLSVIState, lsvi, query_statistic
from bayeskit.rlhf.plots import plot_regret_vs_queries, plot_run
from bayeskit.rlhf.preference import (
    GaussianPosterior,
    MLEResult,
    NUTSPosterior,
    bt_log_likelihood,
    fit_mle,
    laplace_posterior,
    nuts_posterior,
)
from bayeskit.rlhf.run import (
    Preferences,
    RandomPolicy,
    RandomPolicyState,
    RunLog,
    baselines,
    run,
)
from bayeskit.rlhf.thompson import (
    ThompsonSampling,
    ThompsonState,
    query_statistic_mc,
    sample_transitions,
)

__all__ = [
    "DuelingBandit",
    "EpisodeInfo",
    "GaussianPosterior",
    "MLEResult",
    "NUTSPosterior",
    "PRLSVI",
    "PRLSVIState",
    "Plan",
    "Preferences",
    "RandomPolicy",
    "RandomPolicyState",
    "RunLog",
    "TabularMDP",
    "ThompsonSampling",
    "ThompsonState",
    "Trajectory",
    "baselines",
    "bt_log_likelihood",
    "dueling_bandit",
    "evaluate",
    "fit_mle",
    "laplace_posterior",
    "lsvi",
    "make_mdp",
    "nuts_posterior",
    "plan",
    "plot_regret_vs_queries",
    "plot_run",
    "policy_value",
    "prefer",
    "query_statistic",
    "query_statistic_mc",
    "random_mdp",
    "reward_error",
    "riverswim",
    "rollout",
    "run",
    "sample_arms",
    "sample_transitions",
]
