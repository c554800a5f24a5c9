"""Plots of kernel thinning: a coreset over its input, and MMD against coreset size.

Each function draws on ``ax`` (a new figure when ``None``) and returns the matplotlib ``Axes``.
matplotlib is imported inside the functions, so importing :mod:`bayeskit.thinning` stays cheap.
ArviZ has no coreset or MMD plot, so these use matplotlib directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bayeskit._plotting import target_axes
from bayeskit.validate import check_array, check_bool, check_int

__all__ = ["plot_coreset", "plot_mmd_curves"]


def plot_coreset(
    x: Any,
    idx: Any,
    *,
    dims: tuple[int, int] = (0, 1),
    labels: tuple[str, str] | None = None,
    ax: Any = None,
):
    """Scatter the input points in two coordinates and mark the coreset among them.

    Args:
        x: the thinned input, shape ``(n, d)`` with ``d >= 2``.
        idx: coreset row indices into ``x`` (e.g. from :func:`~bayeskit.thinning.thin`),
            shape ``(size,)``, each in ``[0, n)``.
        dims: the two coordinates to draw, distinct, each in ``[0, d)``.
        labels: axis labels; default ``("x[i]", "x[j]")`` for ``dims = (i, j)``.
        ax: a matplotlib ``Axes``; a new figure when ``None``.

    Returns:
        The matplotlib ``Axes``, with two ``PathCollection`` s: all points in light grey
        (``"input (n)"``) and the coreset in red (``"coreset (size)"``).

    Raises:
        TypeError: for a non-numeric ``x`` or ``idx``, or ``ax`` not an ``Axes``.
        ValueError: for a wrong shape, an index out of range or bad ``dims``.
    """
    check_array(x, "x", ndim=2)  # validation only: it would cast float64 to float32
    x = np.asarray(x)
    n, d = x.shape
    if n < 1:
        raise ValueError(f"x: expected at least one row, got shape {x.shape}")
    if d < 2:
        raise ValueError(f"x: expected at least 2 columns to scatter, got shape {x.shape}")
    check_array(idx, "idx", ndim=1)
    idx = np.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"idx: expected integer row indices, got dtype {idx.dtype}")
    if idx.size == 0:
        raise ValueError("idx: expected at least one coreset index, got none")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"idx: expected indices in [0, {n}), got [{idx.min()}, {idx.max()}]")
    if not isinstance(dims, tuple | list) or len(dims) != 2:
        raise ValueError(f"dims: expected two coordinates (i, j), got {dims!r}")
    i, j = (check_int(k, "dims", minimum=0) for k in dims)
    if i == j or max(i, j) >= d:
        raise ValueError(f"dims: expected two distinct coordinates in [0, {d}), got {dims!r}")
    if labels is None:
        labels = (f"x[{i}]", f"x[{j}]")
    elif (
        not isinstance(labels, tuple | list)
        or len(labels) != 2
        or not all(isinstance(s, str) for s in labels)
    ):
        raise TypeError(f"labels: expected two axis labels (strings), got {labels!r}")
    ax = target_axes(ax)
    ax.scatter(x[:, i], x[:, j], s=4, color="0.75", label=f"input ({n})")
    ax.scatter(x[idx, i], x[idx, j], s=16, color="C3", label=f"coreset ({idx.size})")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.legend()
    return ax


def plot_mmd_curves(sizes: Any, curves: Mapping[str, Any], *, slopes: bool = False, ax: Any = None):
    """Draw MMD against coreset size on log-log axes, one line per method.

    Kernel thinning's MMD falls like ``size^-1`` (up to log factors), i.i.d. and standard
    thinning like ``size^-1/2`` (Dwivedi & Mackey 2021, Thm. 1).

    Args:
        sizes: coreset sizes, shape ``(k,)``, positive.
        curves: method name to its MMDs at ``sizes`` (each shape ``(k,)``, positive).
        slopes: append the least-squares log-log slope to each legend entry (needs ``k >= 2``).
        ax: a matplotlib ``Axes``; a new figure when ``None``.

    Returns:
        The matplotlib ``Axes``, one ``"o-"`` line per entry of ``curves``, labelled by name.

    Raises:
        TypeError: if ``curves`` is not a mapping or ``ax`` is not an ``Axes``.
        ValueError: on empty curves, wrong lengths, non-positive values or ``slopes=True``
            with fewer than two sizes.
    """
    check_array(sizes, "sizes", ndim=1)
    sizes = np.asarray(sizes, dtype=np.float64)
    if not sizes.size or np.any(sizes <= 0):
        raise ValueError(f"sizes: expected positive coreset sizes, got {sizes.tolist()}")
    if not isinstance(curves, Mapping):
        raise TypeError(f"curves: expected a mapping name -> MMDs, got {type(curves).__name__}")
    if not curves:
        raise ValueError("curves: expected at least one curve, got an empty mapping")
    check_bool(slopes, "slopes")
    if slopes and sizes.size < 2:
        raise ValueError(f"slopes: a slope needs at least 2 sizes, got {sizes.size}")
    rows = {}
    for name, values in curves.items():
        check_array(values, f"curves[{name!r}]", shape=(sizes.size,))
        values = np.asarray(values, dtype=np.float64)
        if np.any(values <= 0):
            raise ValueError(f"curves[{name!r}]: expected positive MMDs, got {values.tolist()}")
        rows[name] = values
    ax = target_axes(ax)
    for name, values in rows.items():
        label = str(name)
        if slopes:
            label += f" (slope {np.polyfit(np.log(sizes), np.log(values), 1)[0]:.2f})"
        ax.loglog(sizes, values, "o-", label=label)
    ax.set_xlabel("coreset size")
    ax.set_ylabel("MMD to all points")
    ax.legend()
    return ax
