"""GP-HM: Gaussian-process PDE solver with spectral-mixture kernels (Fang et al., ICLR 2024)."""

from bayeskit.gp_pde import defaults, kronecker, problems, spectral
from bayeskit.gp_pde.batch import solve_many
from bayeskit.gp_pde.defaults import JitterWarning
from bayeskit.gp_pde.model import objective
from bayeskit.gp_pde.plots import plot_band, plot_solution, plot_spectrum, plot_trace
from bayeskit.gp_pde.problems import FrequencyScaleWarning, PDEProblem, ResolutionWarning, Term
from bayeskit.gp_pde.solution import GPSolution
from bayeskit.gp_pde.solver import solve
from bayeskit.gp_pde.spectral import MixtureParams, Spectrum
from bayeskit.gp_pde.state import SolveInfo, Trace
from bayeskit.gp_pde.uncertainty import AccuracyEstimate

__all__ = [
    "AccuracyEstimate",
    "FrequencyScaleWarning",
    "GPSolution",
    "JitterWarning",
    "MixtureParams",
    "PDEProblem",
    "ResolutionWarning",
    "SolveInfo",
    "Spectrum",
    "Term",
    "Trace",
    "defaults",
    "kronecker",
    "objective",
    "plot_band",
    "plot_solution",
    "plot_spectrum",
    "plot_trace",
    "problems",
    "solve",
    "solve_many",
    "spectral",
]
