"""State and configuration types of a GP-HM run: the public ``Trace`` and ``SolveInfo``, the
private per-step state, and the static configuration and data built from a problem."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayeskit.gp_pde import spectral as sp
from bayeskit.gp_pde.problems import boundary_mask
from bayeskit.validate import check_finite

__all__ = ["Trace", "SolveInfo"]


class Trace(NamedTuple):
    """Per-checkpoint history: ``step``, ``loss`` (negative log joint) and ``rel_l2`` (NaN when
    the problem has no exact solution), each of shape ``(n_checkpoints,)``."""

    step: np.ndarray
    loss: np.ndarray
    rel_l2: np.ndarray


class SolveInfo(NamedTuple):
    """Diagnostics: ``inner_residual`` (relative residual of the last inner solve, 0 for a
    direct solve), ``finite`` (all state entries finite), ``rejected_steps`` (steps of
    ``method="profile"`` that raised the objective and were retried at half the scale; 0 for
    ``"adam"``) and ``jitter_misfit`` (``|U - m(nodes)| / |U|``, how far the jitter keeps the
    interpolant ``m`` from the grid values ``U``; above ``solver.JITTER_WARN`` it warns)."""

    inner_residual: float
    finite: bool
    rejected_steps: int = 0
    jitter_misfit: float = 0.0


class _Static(NamedTuple):
    """Hashable configuration of a run (static under ``jit``)."""

    kind: str
    grid: tuple
    spacing: tuple
    terms: tuple
    nonlinearity: str | None
    boundary_weight: float
    n_newton: int
    cg_iters: int
    jitter: float


class _Accepted(NamedTuple):
    """The profiled method's last accepted step: grid values solved at ``hyper``, the
    objective there, the optimizer's (unscaled) update taken from it, the step scale, and how
    many steps were rejected so far."""

    values: jax.Array
    hyper: tuple  # (params, log_tau, log_v)
    loss: jax.Array
    update: tuple  # like ``hyper``
    scale: jax.Array
    rejected: jax.Array


class _State(NamedTuple):
    values: jax.Array
    params: sp.MixtureParams
    log_tau: jax.Array
    log_v: jax.Array
    opt_state: object
    inner_residual: jax.Array
    accepted: _Accepted | None = None  # ``method="profile"`` only


class _Data(NamedTuple):
    source: jax.Array  # grid shape
    bidx: jax.Array  # (N_b,) flat indices of boundary nodes
    bvals: jax.Array  # (N_b,)


def _static(problem, kernel, n_newton, cg_iters, jitter):
    return _Static(
        kind=kernel,
        grid=problem.grid,
        spacing=problem.spacing(),
        terms=problem.terms,
        nonlinearity=problem.nonlinearity,
        boundary_weight=float(problem.boundary_weight),
        n_newton=n_newton,
        cg_iters=cg_iters,
        jitter=float(jitter),
    )


def _data(problem):
    source = problem.source_values()
    check_finite(source, "source")
    bvals = problem.boundary_values()
    check_finite(bvals, "boundary")
    bidx = jnp.asarray(np.flatnonzero(boundary_mask(problem.grid)))
    return _Data(source=source, bidx=bidx, bvals=bvals)
