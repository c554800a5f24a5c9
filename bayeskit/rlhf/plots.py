"""Plots of RLHF runs: regret, queries and reward error over episodes; regret against queries.

Each function draws on ``ax`` (a new figure when ``None``) and returns the matplotlib ``Axes``.
matplotlib is imported inside the functions, so importing :mod:`bayeskit.rlhf` stays cheap.
ArviZ has no plot of a learning curve, so these use matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bayeskit._plotting import target_axes
from bayeskit.rlhf.run import RunLog
from bayeskit.validate import check_bool, check_choice

__all__ = ["plot_run", "plot_regret_vs_queries"]

# quantity -> y-axis label
QUANTITIES = {
    "cumulative_regret": "cumulative regret",
    "regret": "regret per episode",
    "queries": "cumulative queries",
    "reward_error": "reward error",
    "query_stat": "query statistic u_t",
}
SHOW = ("mean", "each")


def _check_log(log: Any, name: str) -> None:
    if not isinstance(log, RunLog):
        raise TypeError(f"{name}: expected a RunLog (from rlhf.run), got {type(log).__name__}")


def plot_run(
    log: Any,
    quantity: str = "cumulative_regret",
    *,
    show: str = "mean",
    ax: Any = None,
    **kwargs: Any,
):
    """Draw one per-episode quantity of a run against the episode number.

    Args:
        log: a ``RunLog`` from :func:`~bayeskit.rlhf.run`, of one seed (``(T,)`` fields) or
            several (``(seeds, T)``).
        quantity: ``"cumulative_regret"``, ``"regret"`` (exact per-episode regret),
            ``"queries"`` (cumulative labels requested), ``"reward_error"`` or ``"query_stat"``.
        show: ``"mean"`` draws the mean over seeds with a band of +-1 standard error (no band
            for one seed); ``"each"`` draws one line per seed.
        ax: a matplotlib ``Axes``; a new figure when ``None``.
        **kwargs: passed to ``Axes.plot`` (e.g. ``label``, ``color``, ``ls``).

    Returns:
        The matplotlib ``Axes``: the mean line (and the band, a ``PolyCollection``), or one line
        per seed.

    Raises:
        TypeError: if ``log`` is not a ``RunLog`` or ``ax`` is not an ``Axes``.
        ValueError: for an unknown ``quantity`` or ``show``.
    """
    _check_log(log, "log")
    check_choice(quantity, "quantity", QUANTITIES)
    check_choice(show, "show", SHOW)
    values = np.asarray(getattr(log, quantity), dtype=np.float64)
    values = values.reshape(-1, values.shape[-1])  # (seeds, T)
    episodes = np.arange(1, values.shape[1] + 1)
    ax = target_axes(ax)
    if show == "each":
        for row in values:
            ax.plot(episodes, row, **kwargs)
    else:
        (line,) = ax.plot(episodes, values.mean(0), **kwargs)
        n = values.shape[0]
        if n > 1:
            se = values.std(0, ddof=1) / np.sqrt(n)
            mean = values.mean(0)
            ax.fill_between(episodes, mean - se, mean + se, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("episode")
    ax.set_ylabel(QUANTITIES[quantity])
    return ax


def plot_regret_vs_queries(
    logs: Mapping[Any, Any], *, slope: bool = True, ax: Any = None, **kwargs: Any
):
    """Draw total regret against queries used, log-log, one point per run (mean over seeds).

    With ``epsilon = T^-beta`` the theory gives regret ``~ T^(1 - beta)`` with ``T^(2 beta)``
    queries: a slope of -1/2 at fixed ``T`` (Wu & Sun 2024).

    Args:
        logs: run name (e.g. its ``epsilon``) to ``RunLog``; the points are joined in this
            order and annotated with the names.
        slope: append the least-squares log-log slope to the line's label (needs two runs or
            more).
        ax: a matplotlib ``Axes``; a new figure when ``None``.
        **kwargs: passed to ``Axes.loglog`` (e.g. ``label``, ``color``).

    Returns:
        The matplotlib ``Axes`` with one ``"o-"`` line and an annotation per run.

    Raises:
        TypeError: if ``logs`` is not a mapping of ``RunLog`` or ``ax`` is not an ``Axes``.
        ValueError: on an empty mapping, a run with no query or no regret (not drawable on
            log axes), or ``slope=True`` with a single run.
    """
    if not isinstance(logs, Mapping):
        raise TypeError(f"logs: expected a mapping name -> RunLog, got {type(logs).__name__}")
    if not logs:
        raise ValueError("logs: expected at least one run, got an empty mapping")
    check_bool(slope, "slope")
    if slope and len(logs) < 2:
        raise ValueError(f"slope: a slope needs at least 2 runs in logs, got {len(logs)}")
    qs, rs = [], []
    for name, log in logs.items():
        _check_log(log, f"logs[{name!r}]")
        q = float(np.mean(log.total_queries))
        r = float(np.mean(log.total_regret))
        if q <= 0 or r <= 0:
            raise ValueError(
                f"logs[{name!r}]: expected positive queries and regret for log axes, got "
                f"queries {q:g}, regret {r:g}"
            )
        qs.append(q)
        rs.append(r)
    ax = target_axes(ax)
    label = kwargs.pop("label", None)
    if slope:
        fit = f"slope {np.polyfit(np.log(qs), np.log(rs), 1)[0]:.2f}"
        label = fit if label is None else f"{label} ({fit})"
    ax.loglog(qs, rs, "o-", label=label, **kwargs)
    for name, q, r in zip(logs, qs, rs):
        ax.annotate(str(name), (q, r), textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel("queries")
    ax.set_ylabel("total regret")
    if label is not None:
        ax.legend()
    return ax
