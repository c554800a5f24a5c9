"""GP-HM: Gaussian-process PDE solver with spectral-mixture kernels (Fang et al., ICLR 2024)."""

from bayeskit.gp_pde import kronecker, problems, spectral
from bayeskit.gp_pde.model import objective
from bayeskit.gp_pde.plots import plot_solution, plot_spectrum, plot_trace
from bayeskit.gp_pde.problems import PDEProblem, ResolutionWarning, Term
from bayeskit.gp_pde.solution import GPSolution
from bayeskit.gp_pde.solver import solve
from bayeskit.gp_pde.spectral import MixtureParams, Spectrum
from bayeskit.gp_pde.state import SolveInfo, Trace

__all__ = [
    "GPSolution",
    "MixtureParams",
    "PDEProblem",
    "ResolutionWarning",
    "SolveInfo",
    "Spectrum",
    "Term",
    "Trace",
    "kronecker",
    "objective",
    "plot_solution",
    "plot_spectrum",
    "plot_trace",
    "problems",
    "solve",
    "spectral",
]
