"""Shared by the methods' ``plots`` modules (matplotlib is imported only when a plot is drawn)."""

from __future__ import annotations

from typing import Any


def target_axes(ax: Any):
    """``ax`` if it is a matplotlib ``Axes``, a new figure's axes if ``None``.

    Raises:
        TypeError: for anything else.
    """
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if ax is None:
        return plt.subplots()[1]
    if not isinstance(ax, Axes):
        raise TypeError(f"ax: expected a matplotlib Axes or None, got {type(ax).__name__}")
    return ax
