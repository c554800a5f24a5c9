"""Plots of MA-fBM variational inference: posterior paths with their band, training traces.

Each function draws on ``ax`` (a new figure when ``None``) and returns the matplotlib ``Axes``.
matplotlib is imported inside the functions, so importing :mod:`bayeskit.fbm` stays cheap.
ArviZ has no plot of an optimisation trace, nor a mean-and-sd band, so these use matplotlib.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayeskit._plotting import target_axes
from bayeskit.fbm.sde import SimResult
from bayeskit.fbm.vi import FitResult
from bayeskit.validate import check_choice, check_int, check_scalar

__all__ = ["plot_paths", "plot_trace"]

TRACE_QUANTITIES = ("elbo", "loss", "hurst")


def plot_paths(
    paths: Any,
    *,
    sequence: int = 0,
    latent: int = 0,
    n_lines: int = 20,
    n_sd: float = 2.0,
    ax: Any = None,
):
    """Draw posterior sample paths, their mean and a mean +- ``n_sd`` sd band.

    Args:
        paths: a ``SimResult`` from :meth:`FitResult.sample_paths` (``x`` of shape
            ``(P, n, S + 1, D)``) or from :func:`~bayeskit.fbm.simulate` with several paths
            (``x`` of shape ``(n, S + 1, D)``).
        sequence: which observed sequence ``0 <= sequence < P`` (4-D ``x`` only).
        latent: which latent coordinate ``0 <= latent < D``.
        n_lines: sample paths drawn in grey, ``0 <= n_lines`` (at most ``n``).
        n_sd: half-width of the band in posterior standard deviations, > 0 (the sd is over all
            ``n`` paths at each time).

    Returns:
        The matplotlib ``Axes``: ``n_lines`` grey lines, then the mean (``"posterior mean"``)
        and the two dashed band edges (``"posterior ±2 sd"`` for ``n_sd = 2``).

    Raises:
        TypeError: if ``paths`` is not a ``SimResult`` or ``ax`` is not an ``Axes``.
        ValueError: for an index out of range, ``n_lines < 0``, ``n_sd <= 0`` or fewer than
            two paths.
    """
    if not isinstance(paths, SimResult):
        raise TypeError(
            "paths: expected a SimResult (e.g. FitResult.sample_paths(key, n)), got "
            f"{type(paths).__name__}"
        )
    x = np.asarray(paths.x)
    sequence = check_int(sequence, "sequence", minimum=0)
    if x.ndim == 4:
        if sequence >= x.shape[0]:
            raise ValueError(
                f"sequence: expected an integer in [0, {x.shape[0] - 1}], got {sequence}"
            )
        x = x[sequence]
    if x.ndim != 3:
        raise ValueError(
            f"paths: expected x of shape (P, n, S + 1, D) or (n, S + 1, D), got {x.shape}"
        )
    latent = check_int(latent, "latent", minimum=0)
    if latent >= x.shape[2]:
        raise ValueError(f"latent: expected an integer in [0, {x.shape[2] - 1}], got {latent}")
    n_lines = check_int(n_lines, "n_lines", minimum=0)
    n_sd = check_scalar(n_sd, "n_sd", 0.0, None)
    if x.shape[0] < 2:
        raise ValueError(f"paths: expected at least 2 paths for a band, got {x.shape[0]}")
    x = x[:, :, latent]
    t = np.asarray(paths.times)
    ax = target_axes(ax)
    if n_lines:
        ax.plot(t, x[:n_lines].T, color="gray", lw=0.5)
    mean, sd = x.mean(0), x.std(0)
    ax.plot(t, mean, "C1", lw=1.0, label="posterior mean")
    ax.plot(t, mean + n_sd * sd, "C1--", label=f"posterior ±{n_sd:g} sd")
    ax.plot(t, mean - n_sd * sd, "C1--")
    ax.set_xlabel("t")
    ax.set_ylabel("x(t)")
    ax.legend()
    return ax


def plot_trace(result: Any, quantity: str = "elbo", *, ax: Any = None, **kwargs: Any):
    """Draw a training trace of :func:`~bayeskit.fbm.fit` against the step.

    Args:
        result: a ``FitResult``.
        quantity: ``"elbo"`` (ELBO per sequence, ``-result.losses``), ``"loss"`` (its
            negative) or ``"hurst"`` (the Hurst index before each update).
        ax: a matplotlib ``Axes``; a new figure when ``None``.
        **kwargs: passed to ``Axes.plot`` (e.g. ``label``, ``lw``).

    Returns:
        The matplotlib ``Axes``.

    Raises:
        TypeError: if ``result`` is not a ``FitResult`` or ``ax`` is not an ``Axes``.
        ValueError: for an unknown ``quantity``.
    """
    if not isinstance(result, FitResult):
        raise TypeError(f"result: expected a FitResult (from fbm.fit), got {type(result).__name__}")
    check_choice(quantity, "quantity", TRACE_QUANTITIES)
    if quantity == "hurst":
        values, ylabel = np.asarray(result.hurst), "Hurst index H"
    else:
        values = np.asarray(result.losses)
        values, ylabel = (-values, "ELBO per sequence") if quantity == "elbo" else (values, "loss")
    ax = target_axes(ax)
    ax.plot(np.arange(values.shape[0]), values, **kwargs)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    return ax
