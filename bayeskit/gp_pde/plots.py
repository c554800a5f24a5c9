"""Plots of a GP-HM solution: solution or pointwise error, predictive band, training trace,
learned spectrum.

Each function draws on ``ax`` (a new figure when ``None``) and returns the matplotlib ``Axes``.
matplotlib is imported inside the functions, so importing :mod:`bayeskit.gp_pde` stays cheap.
ArviZ has no plot of a PDE solution or an optimisation trace, so these use matplotlib directly.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from bayeskit._plotting import target_axes
from bayeskit.gp_pde.solution import GPSolution
from bayeskit.validate import check_bool, check_choice, check_finite, check_int, check_scalar

__all__ = ["plot_solution", "plot_band", "plot_trace", "plot_spectrum"]

TRACE_QUANTITIES = ("rel_l2", "loss")


def _check_solution(solution: Any) -> GPSolution:
    if not isinstance(solution, GPSolution):
        raise TypeError(
            f"solution: expected a GPSolution (from gp_pde.solve), got {type(solution).__name__}"
        )
    return solution


def _grid_values(solution: GPSolution, n_points: int | None):
    """Nodes per dimension and the solution on their tensor grid (float64 NumPy)."""
    if n_points is None:
        axes = tuple(np.asarray(a, dtype=np.float64) for a in solution.axes)
        values = np.asarray(solution.values, dtype=np.float64)
        if solution.extra is not None:
            values = values + np.asarray(solution.extra.values, dtype=np.float64)
        return axes, values
    axes = tuple(np.linspace(lo, hi, n_points) for lo, hi in solution.problem.domain)
    return axes, np.asarray(solution.predict_grid(axes), dtype=np.float64)


def plot_solution(
    solution: Any,
    *,
    n_points: int | None = None,
    exact: bool = True,
    error: bool = False,
    ax: Any = None,
    **kwargs: Any,
):
    """Draw a GP-HM solution, with the exact solution, or its pointwise error.

    In 1-D a line over ``x`` (the exact solution dashed in black when ``exact`` and the problem
    has one); with ``error=True`` the pointwise error ``|u(x) - u*(x)|`` on a log axis. In 2-D a
    colour map of the solution (or of the error, on a log colour scale) with a colour bar;
    ``exact`` is ignored there.

    Args:
        solution: a ``GPSolution`` from :func:`~bayeskit.gp_pde.solve`.
        n_points: ``None`` (default) plots the grid values ``solution.values`` at the grid
            nodes; an int >= 2 evaluates the interpolant at that many uniform points per
            dimension (``predict_grid``), which shows the solution between the nodes.
        exact: also draw the exact solution (1-D, when the problem has one).
        error: plot ``|u - u*|`` instead of ``u`` (needs the exact solution).
        ax: a matplotlib ``Axes``; a new figure when ``None``.
        **kwargs: passed to ``Axes.plot`` (1-D) or ``Axes.pcolormesh`` (2-D); in 1-D ``label``
            defaults to the kernel name.

    Returns:
        The matplotlib ``Axes``.

    Raises:
        TypeError: if ``solution`` is not a ``GPSolution`` or ``ax`` is not an ``Axes``.
        ValueError: for a problem of more than two dimensions, ``n_points < 2``, or
            ``error=True`` on a problem without an exact solution.
    """
    solution = _check_solution(solution)
    d = solution.problem.ndim
    if d > 2:
        raise ValueError(f"solution: plots support 1-D and 2-D problems, got d = {d}")
    if n_points is not None:
        n_points = check_int(n_points, "n_points", minimum=2)
    check_bool(exact, "exact")
    check_bool(error, "error")
    has_exact = solution.problem.exact is not None
    if error and not has_exact:
        raise ValueError(
            f"error: problem {solution.problem.name!r} has no exact solution to compare with"
        )
    ax = target_axes(ax)
    axes, values = _grid_values(solution, n_points)
    truth = None
    if has_exact and (error or (exact and d == 1)):
        with jax.enable_x64(True):
            truth = np.asarray(solution.problem.exact_values(axes), dtype=np.float64)
    shown = np.abs(values - truth) if error else values
    if d == 1:
        kwargs.setdefault("label", solution.kernel)
        ax.plot(axes[0], shown, **kwargs)
        if error:
            ax.set_yscale("log")
        elif exact and truth is not None:
            ax.plot(axes[0], truth, "k--", lw=0.8, label="exact")
        ax.set_xlabel("x")
        ax.set_ylabel("|u(x) - u*(x)|" if error else "u(x)")
    else:
        from matplotlib.colors import LogNorm

        if error:
            kwargs.setdefault("norm", LogNorm())
        kwargs.setdefault("shading", "auto")
        mesh = ax.pcolormesh(axes[0], axes[1], shown.T, **kwargs)
        ax.figure.colorbar(mesh, ax=ax, label="|u - u*|" if error else "u")
        ax.set_xlabel("x0")
        ax.set_ylabel("x1")
    ax.set_title("pointwise error" if error else f"{solution.problem.name} solution")
    return ax


def plot_band(
    solution: Any,
    *,
    n_points: int = 1000,
    n_sd: float = 3.0,
    error: bool = False,
    ax: Any = None,
):
    """Draw a 1-D solution's predictive mean with a band of ``n_sd`` predictive sd
    (``GPSolution.predict(x, return_std=True)``) and the exact solution; with ``error=True``
    the error ``u(x) - u*(x)`` inside the band ``+-n_sd sd`` around zero (the scale on which a
    small error and its band are visible).

    Args:
        solution: a ``GPSolution`` of a 1-D problem.
        n_points: uniform points over the domain, >= 2.
        n_sd: half-width of the band in predictive sd, finite and > 0.
        error: plot the error against the band (needs the exact solution).
        ax: a matplotlib ``Axes``; a new figure when ``None``.

    Returns:
        The matplotlib ``Axes``.

    Raises:
        TypeError: if ``solution`` is not a ``GPSolution`` or ``ax`` is not an ``Axes``.
        ValueError: for a problem that is not 1-D, ``n_points < 2``, ``n_sd <= 0`` or
            ``error=True`` on a problem without an exact solution.
    """
    solution = _check_solution(solution)
    if solution.problem.ndim != 1:
        raise ValueError(
            f"solution: plot_band needs a 1-D problem, got d = {solution.problem.ndim}"
        )
    n_points = check_int(n_points, "n_points", minimum=2)
    check_finite(n_sd, "n_sd")
    n_sd = check_scalar(n_sd, "n_sd", 0.0, None)
    check_bool(error, "error")
    exact = solution.problem.exact
    if error and exact is None:
        raise ValueError(
            f"error: problem {solution.problem.name!r} has no exact solution to compare with"
        )
    ax = target_axes(ax)
    x = np.linspace(*solution.problem.domain[0], n_points)
    mean, sd = (np.asarray(a, dtype=np.float64) for a in solution.predict(x, return_std=True))
    truth = None
    if exact is not None:
        with jax.enable_x64(True):
            truth = np.asarray(jax.vmap(exact)(x[:, None]), dtype=np.float64)
    centre = np.zeros_like(x) if error else mean
    ax.fill_between(x, centre - n_sd * sd, centre + n_sd * sd, alpha=0.3, label=f"+-{n_sd:g} sd")
    if error:
        ax.plot(x, mean - truth, lw=0.8, label="error")
    else:
        ax.plot(x, mean, lw=0.8, label="mean")
        if truth is not None:
            ax.plot(x, truth, "k--", lw=0.8, label="exact")
    ax.set_xlabel("x")
    ax.set_ylabel("u(x) - u*(x)" if error else "u(x)")
    ax.set_title(f"{solution.problem.name}: predictive band")
    return ax


def plot_trace(solution: Any, quantity: str = "rel_l2", *, ax: Any = None, **kwargs: Any):
    """Draw the training trace of a GP-HM solve: relative L2 error or loss per checkpoint.

    Args:
        solution: a ``GPSolution``.
        quantity: ``"rel_l2"`` (relative L2 error against the exact solution, log axis) or
            ``"loss"`` (the negative log joint of Fang et al. 2024, Eq. 14).
        ax: a matplotlib ``Axes``; a new figure when ``None``.
        **kwargs: passed to ``Axes.plot``; ``marker`` defaults to ``"o"``, ``label`` to the
            kernel name.

    Returns:
        The matplotlib ``Axes``.

    Raises:
        TypeError: if ``solution`` is not a ``GPSolution`` or ``ax`` is not an ``Axes``.
        ValueError: for an unknown ``quantity``, or ``"rel_l2"`` on a problem without an exact
            solution (its trace is NaN).
    """
    solution = _check_solution(solution)
    check_choice(quantity, "quantity", TRACE_QUANTITIES)
    values = np.asarray(getattr(solution.trace, quantity), dtype=np.float64)
    if quantity == "rel_l2" and not np.isfinite(values).any():
        raise ValueError(
            f"quantity: problem {solution.problem.name!r} has no exact solution, so its rel_l2 "
            "trace is NaN; use quantity='loss'"
        )
    ax = target_axes(ax)
    kwargs.setdefault("marker", "o")
    kwargs.setdefault("label", solution.kernel)
    ax.plot(np.asarray(solution.trace.step), values, **kwargs)
    if quantity == "rel_l2":
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("relative L2 error" if quantity == "rel_l2" else "loss (negative log joint)")
    return ax


def plot_spectrum(
    solution: Any,
    *,
    dim: int = 0,
    prune_ratio: float = 1e-3,
    reference: float | None = None,
    ax: Any = None,
):
    """Draw the learned spectral-mixture weights against their frequencies in one dimension.

    Active components are stems; pruned ones (weight below ``prune_ratio`` times the largest,
    switched off by the log-domain Jeffreys weights) are crosses.

    Args:
        solution: a ``GPSolution``.
        dim: the input dimension, ``0 <= dim < d``.
        prune_ratio: threshold of :meth:`GPSolution.spectrum`, > 0.
        reference: a frequency (cycles per unit length) to mark with a dotted line, e.g. the
            solution's true frequency; ``None`` draws none.
        ax: a matplotlib ``Axes``; a new figure when ``None``.

    Returns:
        The matplotlib ``Axes``.

    Raises:
        TypeError: if ``solution`` is not a ``GPSolution`` or ``ax`` is not an ``Axes``.
        ValueError: for ``dim`` out of range or ``prune_ratio <= 0``.
    """
    solution = _check_solution(solution)
    d = solution.problem.ndim
    dim = check_int(dim, "dim", minimum=0)
    if dim >= d:
        raise ValueError(f"dim: expected an integer in [0, {d - 1}], got {dim}")
    prune_ratio = check_scalar(prune_ratio, "prune_ratio", 0.0, None)
    if reference is not None:
        reference = check_scalar(reference, "reference")
    ax = target_axes(ax)
    spec = solution.spectrum(prune_ratio)
    w, f, act = (np.asarray(a)[dim] for a in (spec.weights, spec.freqs, spec.active))
    ax.stem(f[act], w[act], label="active")
    ax.plot(f[~act], w[~act], "x", label="pruned")
    if reference is not None:
        ax.axvline(float(reference), ls=":", color="k")
    ax.set_xlabel("frequency (cycles per unit)")
    ax.set_ylabel("weight")
    ax.set_title("learned spectrum")
    return ax
