"""fBM SDE inference: Markov-approximate fractional Brownian motion and variational inference.

After Daems, Opper, Crevecoeur & Birdal, "Variational Inference for SDEs Driven by Fractional
Noise", ICLR 2024. Modules: :mod:`~bayeskit.fbm.exact` (exact fBM, samplers, fOU likelihood),
:mod:`~bayeskit.fbm.mafbm` (Markov approximation), :mod:`~bayeskit.fbm.kalman` (exact likelihood
and posterior of the MA-fBM fOU), :mod:`~bayeskit.fbm.sde` (prior, control, simulator),
:mod:`~bayeskit.fbm.guide` (exact affine control of linear models), :mod:`~bayeskit.fbm.vi` (ELBO
and ``fit``), :mod:`~bayeskit.fbm.models`, :mod:`~bayeskit.fbm.plots`.
"""

from bayeskit.fbm.exact import (
    FouMLE,
    circulant_eigenvalues,
    fbm_covariance,
    fgn_autocovariance,
    fou_covariance,
    fou_log_likelihood,
    fou_mle,
    sample_fbm,
    sample_fou,
)
from bayeskit.fbm.kalman import (
    MAfBMMLE,
    MAfBMPosterior,
    linear_parameters,
    mafbm_log_likelihood,
    mafbm_mle,
    mafbm_smoother,
)
from bayeskit.fbm.mafbm import (
    OUTransition,
    approximation_cost,
    ma_covariance,
    optimal_omega,
    ou_transition,
    sample_mafbm,
    speed_grid,
    stationary_sqrt,
    variance_scale,
)
from bayeskit.fbm.models import (
    ConstantDiffusion,
    LinearDrift,
    MLPDiffusion,
    MLPDrift,
    fbm_bridge,
    fractional_ou,
    neural_sde,
)
from bayeskit.fbm.plots import plot_paths, plot_trace
from bayeskit.fbm.sde import Control, FractionalSDE, SimResult, simulate, simulate_path
from bayeskit.fbm.vi import (
    FitResult,
    LatentSDE,
    Observations,
    context_dim,
    elbo,
    fit,
    observation_context,
)

__all__ = [
    "FouMLE",
    "circulant_eigenvalues",
    "fbm_covariance",
    "fgn_autocovariance",
    "fou_covariance",
    "fou_log_likelihood",
    "fou_mle",
    "sample_fbm",
    "sample_fou",
    "MAfBMMLE",
    "MAfBMPosterior",
    "linear_parameters",
    "mafbm_log_likelihood",
    "mafbm_mle",
    "mafbm_smoother",
    "OUTransition",
    "approximation_cost",
    "ma_covariance",
    "optimal_omega",
    "ou_transition",
    "sample_mafbm",
    "speed_grid",
    "stationary_sqrt",
    "variance_scale",
    "ConstantDiffusion",
    "LinearDrift",
    "MLPDiffusion",
    "MLPDrift",
    "fbm_bridge",
    "fractional_ou",
    "neural_sde",
    "Control",
    "FractionalSDE",
    "SimResult",
    "simulate",
    "simulate_path",
    "FitResult",
    "LatentSDE",
    "Observations",
    "context_dim",
    "elbo",
    "fit",
    "observation_context",
    "plot_paths",
    "plot_trace",
]
