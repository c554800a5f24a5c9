"""Plots of particle smoothing: the PPG smoothed path with a credible band, ESS over time.

Each function draws on ``ax`` (a new figure when ``None``) and returns the matplotlib ``Axes``.
The credible band is ArviZ's ``plot_hdi``. matplotlib and ArviZ are imported inside the
functions, so importing :mod:`bayeskit.smc` stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bayeskit._plotting import target_axes
from bayeskit.smc.paris import ParisResult
from bayeskit.smc.ppg import PPGResult
from bayeskit.validate import check_array, check_choice, check_int, check_scalar

__all__ = ["plot_smoothed", "plot_ess"]

INTERVALS = ("hdi", "eti")


def _kept_draws(results: Any, dim: int) -> np.ndarray:
    """The post-burn-in paths of one or several PPG chains, pooled: ``(draws, T)``."""
    chains = [results] if isinstance(results, PPGResult) else results
    named = hasattr(chains, "_fields")  # another result type (a NamedTuple is a Sequence)
    if named or not isinstance(chains, Sequence) or isinstance(chains, str) or not chains:
        raise TypeError(
            f"results: expected a PPGResult or a non-empty sequence of them, got "
            f"{type(results).__name__}"
        )
    for i, chain in enumerate(chains):
        if not isinstance(chain, PPGResult):
            raise TypeError(f"results[{i}]: expected a PPGResult, got {type(chain).__name__}")
    shapes = {np.shape(c.paths)[1:] for c in chains}
    if len(shapes) != 1:
        raise ValueError(
            f"results: chains have paths of different shapes (T, dx): {sorted(shapes)}"
        )
    dx = shapes.pop()[1]
    dim = check_int(dim, "dim", minimum=0)
    if dim >= dx:
        raise ValueError(f"dim: expected an integer in [0, {dx - 1}], got {dim}")
    draws = np.concatenate([np.asarray(c.paths[c.burn_in :, :, dim]) for c in chains])
    if draws.shape[0] < 2:
        raise ValueError(f"results: expected at least 2 draws after burn-in, got {draws.shape[0]}")
    return draws


def plot_smoothed(
    results: Any,
    *,
    dim: int = 0,
    prob: float = 0.9,
    interval: str = "hdi",
    truth: Any = None,
    ax: Any = None,
):
    """Draw the smoothed mean of the state paths of PPG chains with a credible band.

    The draws are the reference paths after burn-in (``PPGResult.paths[burn_in:]``), pooled
    over the chains; the band is drawn by ``arviz.plot_hdi``.

    Args:
        results: a ``PPGResult`` or a sequence of them (chains of the same model and data).
        dim: the state coordinate, ``0 <= dim < dx``.
        prob: probability mass of the band, in (0, 1).
        interval: ``"hdi"`` (highest-density interval at each time, ArviZ's default) or
            ``"eti"`` (equal-tailed: the ``(1 - prob) / 2`` and ``(1 + prob) / 2`` quantiles).
        truth: optional true path of shape ``(T,)``, or ``(T, dx)`` of which ``dim`` is drawn,
            as a black line (``"truth"``).
        ax: a matplotlib ``Axes``; a new figure when ``None``.

    Returns:
        The matplotlib ``Axes``: the mean line (``"PPG smoothed mean"``), the band (a
        ``PolyCollection``, ``"{prob} HDI"`` or ``"{prob} ETI"``) and the truth if given.

    Raises:
        TypeError: if ``results`` holds anything but ``PPGResult`` or ``ax`` is not an ``Axes``.
        ValueError: for ``dim`` out of range, ``prob`` outside (0, 1), an unknown ``interval``,
            chains of different shapes, fewer than two kept draws or a ``truth`` of the wrong
            shape.
    """
    draws = _kept_draws(results, dim)
    prob = check_scalar(prob, "prob", 0.0, 1.0)
    check_choice(interval, "interval", INTERVALS)
    n_t = draws.shape[1]
    if truth is not None:
        check_array(truth, "truth", ndim=(1, 2))
        truth = np.asarray(truth)
        if truth.shape[0] != n_t:
            raise ValueError(f"truth: expected {n_t} time steps, got shape {truth.shape}")
        if truth.ndim == 2:
            truth = truth[:, dim]
    import arviz as az

    ax = target_axes(ax)
    t = np.arange(n_t)
    if truth is not None:
        ax.plot(t, truth, "k", lw=1, label="truth")
    ax.plot(t, draws.mean(0), "C1", label="PPG smoothed mean")
    if interval == "hdi":
        band = np.asarray(az.hdi(draws[None], hdi_prob=prob))  # (T, 2)
    else:
        band = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0).T
    az.plot_hdi(
        t,
        hdi_data=band,
        color="C1",
        smooth=False,
        fill_kwargs={"alpha": 0.3, "label": f"{prob:g} {interval.upper()}"},
        ax=ax,
    )
    ax.set_xlabel("time t")
    ax.set_ylabel(f"x[{dim}]")
    ax.legend()
    return ax


def plot_ess(result: Any, *, n_particles: int | None = None, ax: Any = None, **kwargs: Any):
    """Draw the effective sample size of the PaRIS filter weights at each time step.

    Args:
        result: a ``ParisResult``.
        n_particles: the run's ``N``; when given, a dotted line marks it (the largest possible
            ESS).
        ax: a matplotlib ``Axes``; a new figure when ``None``.
        **kwargs: passed to ``Axes.plot`` (e.g. ``label``).

    Returns:
        The matplotlib ``Axes``.

    Raises:
        TypeError: if ``result`` is not a ``ParisResult`` or ``ax`` is not an ``Axes``.
        ValueError: if ``n_particles < 1``.
    """
    if not isinstance(result, ParisResult):
        raise TypeError(
            f"result: expected a ParisResult (from smc.paris), got {type(result).__name__}"
        )
    if n_particles is not None:
        n_particles = check_int(n_particles, "n_particles", minimum=1)
    ess = np.asarray(result.ess)
    ax = target_axes(ax)
    ax.plot(np.arange(ess.shape[0]), ess, **kwargs)
    if n_particles is not None:
        ax.axhline(n_particles, ls=":", color="k", label=f"N = {n_particles}")
    ax.set_xlabel("time t")
    ax.set_ylabel("ESS")
    return ax
