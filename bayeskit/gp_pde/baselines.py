"""Classical references for 1-D Dirichlet Poisson problems: Chebyshev collocation and 2nd-order
finite differences (the honest upper and lower bars beside GP-HM, brief section 4.2)."""

from __future__ import annotations

import numpy as np

from bayeskit.validate import check_callable, check_int, check_scalar


def _check_args(source, exact, lower, upper, n_points) -> tuple[float, float, int]:
    check_callable(source, "source")
    check_callable(exact, "exact")
    lower, upper = check_scalar(lower, "lower"), check_scalar(upper, "upper")
    if not lower < upper:
        raise ValueError(f"upper: expected upper > lower = {lower}, got {upper}")
    return lower, upper, check_int(n_points, "n_points", minimum=3)


__all__ = ["chebyshev_poisson_1d", "fd_poisson_1d"]


def _cheb_diff(n: int):
    """Chebyshev points ``cos(pi k / n)`` and the first-derivative matrix (Trefethen 2000, ch. 6)."""
    k = np.arange(n + 1)
    x = np.cos(np.pi * k / n)
    c = np.where((k == 0) | (k == n), 2.0, 1.0) * (-1.0) ** k
    dx = x[:, None] - x[None, :]
    d = np.outer(c, 1.0 / c) / (dx + np.eye(n + 1))
    return x, d - np.diag(d.sum(axis=1))


def chebyshev_poisson_1d(source, exact, lower: float, upper: float, n_points: int):
    """Solve ``u'' = source`` on ``[lower, upper]`` with ``u = exact`` at both ends by Chebyshev
    collocation on ``n_points`` nodes.

    Args:
        source, exact: vectorised callables on NumPy arrays.
        lower, upper: the interval.
        n_points: number of nodes (>= 3).

    Returns:
        ``(nodes, u, rel_l2)``: nodes (n_points,), solution at the nodes and its relative L2 error
        against ``exact`` at the nodes.

    Raises:
        ValueError: if ``n_points < 3``.
    """
    lower, upper, n_points = _check_args(source, exact, lower, upper, n_points)
    t, d = _cheb_diff(n_points - 1)
    x = lower + (upper - lower) * (t + 1.0) / 2.0
    d2 = (d @ d) * (2.0 / (upper - lower)) ** 2
    rhs = np.asarray(source(x), dtype=float)
    d2[[0, -1]] = 0.0
    d2[0, 0] = d2[-1, -1] = 1.0
    rhs[[0, -1]] = exact(x[[0, -1]])
    u = np.linalg.solve(d2, rhs)
    truth = exact(x)
    return x, u, float(np.linalg.norm(u - truth) / np.linalg.norm(truth))


def fd_poisson_1d(source, exact, lower: float, upper: float, n_points: int):
    """The same problem by second-order central differences on an equispaced grid.

    Returns:
        ``(nodes, u, rel_l2)`` as ``chebyshev_poisson_1d``.

    Raises:
        ValueError: if ``n_points < 3``.
    """
    lower, upper, n_points = _check_args(source, exact, lower, upper, n_points)
    x = np.linspace(lower, upper, n_points)
    h = x[1] - x[0]
    m = n_points - 2
    lap = np.diag(-2.0 * np.ones(m)) + np.diag(np.ones(m - 1), 1) + np.diag(np.ones(m - 1), -1)
    rhs = np.asarray(source(x[1:-1]), dtype=float) * h**2
    ends = exact(x[[0, -1]])
    rhs[0] -= ends[0]
    rhs[-1] -= ends[1]
    u = np.concatenate([[ends[0]], np.linalg.solve(lap, rhs), [ends[1]]])
    truth = exact(x)
    return x, u, float(np.linalg.norm(u - truth) / np.linalg.norm(truth))
