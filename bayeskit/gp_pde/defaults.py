"""Defaults of ``solve`` derived from the problem: the initial frequency scale (from
``max_frequency`` or the source's spectrum), the frequencies' step size and the jitter.

Measurements in docs/gp_pde_measurements.md ("Defaults derived from the problem").
"""

from __future__ import annotations

import numpy as np

from bayeskit.validate import check_array, check_positive, check_scalar

__all__ = [
    "JitterWarning",
    "source_frequency",
    "default_freq_scale",
    "default_jitter",
    "freq_step",
]

MARGIN = 1.25  # initial frequencies reach this multiple of the solution's highest frequency
ENERGY = 0.999  # fraction of the source's (windowed) spectral energy the estimate covers
FREQ_STEP = 0.01  # peak frequency step at and below freq_scale 20 (tuned on the paper's cases)
JITTER_COARSE, JITTER_FINE = 1e-6, 1e-10  # jitter up to 4 and from 8 points per period on
PER_PERIOD_COARSE, PER_PERIOD_FINE = 4.0, 8.0


def _check_problem(problem) -> None:
    from bayeskit.gp_pde.problems import PDEProblem  # here: problems imports this module

    if not isinstance(problem, PDEProblem):
        raise TypeError(f"problem: expected a PDEProblem, got {type(problem).__name__}")


def _check_freq_scale(freq_scale) -> None:
    check_array(freq_scale, "freq_scale", ndim=(0, 1))
    check_positive(freq_scale, "freq_scale")


class JitterWarning(UserWarning):
    """The jitter keeps the interpolant from the grid values at the nodes by more than
    ``solver.JITTER_WARN`` (relative): the error may be limited by it, a smaller jitter helps."""


def source_frequency(problem, energy: float = ENERGY) -> np.ndarray:
    """Highest frequency of the source per dimension, estimated from its values on the grid.

    Along each dimension the source is multiplied by a Hann window (so the non-periodic ends do
    not leak energy to high frequencies), Fourier transformed and its power summed over the
    other dimensions; the estimate is the lowest frequency below which ``energy`` of the power
    lies. The resolution is one FFT bin, ``1 / (N_j h_j)`` (about one cycle per domain length);
    the Hann window widens a line by about two bins. Call under ``jax.enable_x64(True)`` for float64 source values.

    Args:
        problem: a ``PDEProblem``.
        energy: fraction of the power to cover, in (0, 1).

    Returns:
        ``(d,)`` frequencies in cycles per unit length (at least one bin).
    """
    _check_problem(problem)
    check_scalar(energy, "energy", 0.0, 1.0)
    values = np.asarray(problem.source_values(), dtype=float)
    out = []
    for j, ((lo, hi), n) in enumerate(zip(problem.domain, problem.grid, strict=True)):
        lines = np.moveaxis(values, j, 0).reshape(n, -1)
        lines = lines - lines.mean(axis=0)
        power = (np.abs(np.fft.rfft(lines * np.hanning(n)[:, None], axis=0)) ** 2).sum(axis=1)
        freqs = np.fft.rfftfreq(n, d=(hi - lo) / (n - 1))
        total = power.sum()
        if total == 0.0:  # a constant source: no frequency to resolve, one bin
            out.append(freqs[1])
            continue
        cut = int(np.searchsorted(np.cumsum(power) / total, energy))
        out.append(max(freqs[min(cut, freqs.size - 1)], freqs[1]))
    return np.asarray(out)


def default_freq_scale(problem) -> np.ndarray:
    """``freq_scale`` when neither ``solve`` nor the problem gives one: ``MARGIN`` times the
    problem's ``max_frequency``, or times ``source_frequency(problem)`` without it; ``(d,)``."""
    _check_problem(problem)
    if problem.max_frequency is not None:
        return MARGIN * np.asarray(problem.max_frequency, dtype=float)
    return MARGIN * source_frequency(problem)


def freq_step(freq_scale) -> float:
    """Peak step size of the frequencies (cycles per unit length): ``FREQ_STEP`` (0.01, as
    measured on the paper's cases at ``freq_scale`` 20 and below) scaled up with the largest
    ``freq_scale`` above 20, so components move the same fraction of their initial spacing
    ``freq_scale / (Q - 1)`` at larger scales."""
    _check_freq_scale(freq_scale)
    return FREQ_STEP * max(float(np.max(freq_scale)) / 20.0, 1.0)


def default_jitter(problem, freq_scale) -> float:
    """Jitter from the grid and the frequency scale: ``JITTER_COARSE`` (the paper's 1e-6) up to
    ``PER_PERIOD_COARSE`` grid points per period of ``freq_scale`` in the finest-sampled
    dimension, falling log-linearly to ``JITTER_FINE`` at ``PER_PERIOD_FINE`` and beyond.

    At the nodes the interpolant is ``U - jitter * K^{-1} U`` (in 1-D), and a finely sampled
    solution has a nearly singular Gram matrix, so a large ``K^{-1} U``: there 1e-6 floors the
    error (issue 20: 2-4e-4 at 20 points per period, 9.8e-7 with 1e-10). On coarse grids the
    paper's value keeps the tested results."""
    _check_problem(problem)
    _check_freq_scale(freq_scale)
    spacing = np.asarray(problem.spacing(), dtype=float)
    fs = np.broadcast_to(np.asarray(freq_scale, dtype=float), spacing.shape)
    per_period = float(np.max(1.0 / (spacing * fs)))
    frac = np.clip(
        (per_period - PER_PERIOD_COARSE) / (PER_PERIOD_FINE - PER_PERIOD_COARSE), 0.0, 1.0
    )
    return float(np.exp((1 - frac) * np.log(JITTER_COARSE) + frac * np.log(JITTER_FINE)))
