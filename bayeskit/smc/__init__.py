"""PaRIS smoothing, conditional SMC, Parisian particle Gibbs, and learning with them.

After Olsson & Westerborn (2017), "Efficient particle-based online smoothing in general hidden
Markov models: the PaRIS algorithm", Bernoulli 23(3), and Cardoso, Janati El Idrissi, Le Corff,
Moulines & Olsson (2023), "State and parameter learning with PaRIS particle Gibbs", ICML.
"""

from bayeskit.smc.csmc import CSMCResult, csmc
from bayeskit.smc.filter import FilterResult, bootstrap_filter, ess, resample
from bayeskit.smc.kalman import (
    KalmanResult,
    RTSResult,
    expected_log_joint,
    fisher_score,
    kalman_filter,
    kalman_log_likelihood,
    rts_smoother,
    smoothed_sums,
)
from bayeskit.smc.learn import (
    MLEResult,
    MSCResult,
    init_smoother,
    mle,
    msc,
    score_functional,
    smoother_logpdf_term,
    smoother_marginals,
)
from bayeskit.smc.models import (
    LGSSMMatrices,
    StateSpaceModel,
    chaotic_rnn,
    linear_gaussian,
    simulate,
    state_space_model,
    stochastic_volatility,
)
from bayeskit.smc.paris import ParisResult, backward_sample, paris
from bayeskit.smc.plots import plot_ess, plot_smoothed
from bayeskit.smc.ppg import PPGResult, ppg

__all__ = [
    "StateSpaceModel",
    "LGSSMMatrices",
    "linear_gaussian",
    "state_space_model",
    "stochastic_volatility",
    "chaotic_rnn",
    "simulate",
    "KalmanResult",
    "RTSResult",
    "kalman_filter",
    "rts_smoother",
    "kalman_log_likelihood",
    "smoothed_sums",
    "expected_log_joint",
    "fisher_score",
    "FilterResult",
    "bootstrap_filter",
    "resample",
    "ess",
    "ParisResult",
    "paris",
    "backward_sample",
    "CSMCResult",
    "csmc",
    "PPGResult",
    "ppg",
    "score_functional",
    "MLEResult",
    "mle",
    "MSCResult",
    "msc",
    "init_smoother",
    "smoother_marginals",
    "smoother_logpdf_term",
    "plot_smoothed",
    "plot_ess",
]
