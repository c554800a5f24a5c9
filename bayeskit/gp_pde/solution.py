"""The solved PDE: ``GPSolution``, the interpolant and its derivatives at points and on grids,
the learned spectrum and the hand-off to ArviZ."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from bayeskit.gp_pde import kronecker as kr
from bayeskit.gp_pde import spectral as sp
from bayeskit.gp_pde import uncertainty as un
from bayeskit.gp_pde.problems import PDEProblem
from bayeskit.gp_pde.state import SolveInfo, Trace
from bayeskit.summary import to_inference_data
from bayeskit.validate import check_bool, check_finite, check_int, check_positive

__all__ = ["GPSolution"]


def _cross(kind, params, axes, xs, orders):
    """Per-dimension cross matrices ``d^{r_j} k_j(x_j, grid_j)``."""
    return [
        sp.cross_gram(kind, jax.tree.map(lambda a, j=j: a[j], params), x, g, r)
        for j, (x, g, r) in enumerate(zip(xs, axes, orders))
    ]


@functools.partial(jax.jit, static_argnums=(0, 5))  # compiled once per kernel, orders and shapes
def _predict_points(kind, params, axes, alpha, x, orders):
    """``sum_M prod_j d^{r_j} k_j(x_ij, M_j) alpha[M]`` for scattered ``x`` (n, d): O(n N)."""
    mats = _cross(kind, params, axes, [x[:, j] for j in range(x.shape[1])], orders)
    t = mats[0] @ alpha.reshape(alpha.shape[0], -1)
    for m in mats[1:]:
        t = jnp.einsum("nab,na->nb", t.reshape(t.shape[0], m.shape[1], -1), m)
    return t[:, 0]


def _predict_grid(kind, params, axes, alpha, test_axes):
    return kr.kron_mvp(_cross(kind, params, axes, test_axes, (0,) * len(axes)), alpha)


class GPSolution(eqx.Module):
    """A solved PDE: grid values, learned kernel, the interpolant and its derivatives.

    Attributes:
        kernel: kernel name (``spectral.KERNELS``).
        problem: the ``PDEProblem``.
        axes: grid nodes per dimension.
        values: grid values ``U``, shape ``problem.grid``.
        alpha: ``K^{-1} vec(U)`` as a tensor of shape ``problem.grid``.
        params: learned ``MixtureParams`` (fields ``(d, Q)``).
        log_tau, log_v: learned log precisions.
        trace: ``Trace`` of loss and relative L2 error per checkpoint.
        info: ``SolveInfo`` of the last step.
        jitter: the diagonal jitter of each 1-D Gram factor.
        extra: the second ("extra") GP of the two-stage refinement, or ``None``; its interpolant
            is added to this one's.
    """

    kernel: str = eqx.field(static=True)
    problem: PDEProblem = eqx.field(static=True)
    axes: tuple
    values: jax.Array
    alpha: jax.Array
    params: sp.MixtureParams
    log_tau: jax.Array
    log_v: jax.Array
    trace: Trace
    info: SolveInfo
    jitter: float = eqx.field(static=True)
    extra: GPSolution | None = None

    def predict(self, x, return_std: bool = False):
        """The solution ``u(x)`` at points ``x`` of shape ``(n, d)`` (or ``(n,)`` in 1-D).

        With ``return_std`` also the posterior predictive standard deviation at ``x``: the
        Gaussian posterior of the grid values at the learned hyperparameters (Laplace at the
        solution for a nonlinear operator) pushed through the interpolant, plus the prior's
        spread between the nodes (``uncertainty``, docs/gp_pde.md "Posterior uncertainty").
        With the extra GP the first GP is held fixed and the spread is the extra GP's.

        Returns:
            ``(n,)`` mean, or ``(mean, std)`` (each ``(n,)``, float64) with ``return_std``.

        Raises:
            ValueError: if ``x`` has the wrong shape or is not finite, or with ``return_std``
                for an operator with first-order terms on a grid of more than
                ``uncertainty.VAR_DENSE_MAX`` (2500) nodes.
            TypeError: if ``return_std`` is not a bool.
        """
        check_bool(return_std, "return_std")
        mean = self.derivative(x, (0,) * self.problem.ndim)
        if not return_std:
            return mean
        with jax.enable_x64(True):
            return mean, un._predictive_std(
                self if self.extra is None else self.extra, self._points(x)
            )

    def accuracy_estimate(self, n_test: int = 256) -> un.AccuracyEstimate:
        """Error estimates that need no exact solution (``uncertainty.AccuracyEstimate``), on
        ``n_test`` held-out uniform points (fixed seed).

        Raises:
            ValueError: if ``n_test < 2``.
        """
        n_test = check_int(n_test, "n_test", minimum=2)
        with jax.enable_x64(True):
            return un._accuracy_estimate(self, n_test)

    def _points(self, x) -> jax.Array:
        """``x`` checked and shaped ``(n, d)``, float64 (call under ``jax.enable_x64``)."""
        d = self.problem.ndim
        x = jnp.asarray(np.asarray(x, dtype=np.float64))
        if d == 1 and x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != d:
            raise ValueError(f"x: expected shape (n, {d}), got {x.shape}")
        check_finite(x, "x")
        return x

    def derivative(self, x, order) -> jax.Array:
        """A partial derivative of the interpolant at ``x`` (n, d) (``(n,)`` allowed in 1-D).

        Args:
            x: points.
            order: an int (1-D) or a tuple of per-dimension orders, each 0, 1 or 2, e.g.
                ``(0, 2)`` for ``u_yy``.

        Returns:
            ``(n,)`` array.

        Raises:
            ValueError: on a wrong shape of ``x``, non-finite ``x`` or an unsupported order.
        """
        d = self.problem.ndim
        orders = (order,) * 1 if isinstance(order, int) and d == 1 else order
        if isinstance(orders, int) or len(tuple(orders)) != d:
            raise ValueError(f"order: expected a tuple of {d} per-dimension orders, got {order!r}")
        orders = tuple(int(r) for r in orders)
        if any(r not in (0, 1, 2) for r in orders):
            raise ValueError(f"order: expected orders in 0, 1, 2, got {order!r}")
        with jax.enable_x64(True):
            x = self._points(x)
            out = _predict_points(self.kernel, self.params, self.axes, self.alpha, x, orders)
            if self.extra is not None:
                out = out + self.extra.derivative(x, order)
            return out

    def predict_grid(self, axes) -> jax.Array:
        """The solution on the tensor grid spanned by ``axes`` (one 1-D array per dimension)."""
        with jax.enable_x64(True):
            axes = tuple(jnp.asarray(np.asarray(a, dtype=np.float64)) for a in axes)
            out = _predict_grid(self.kernel, self.params, self.axes, self.alpha, axes)
            if self.extra is not None:
                out = out + self.extra.predict_grid(axes)
            return out

    def rel_l2(self, n_test: int = 300) -> float:
        """Relative L2 error against the exact solution on ``n_test`` uniform points per dimension.

        Raises:
            ValueError: if the problem has no exact solution or ``n_test < 2``.
        """
        n_test = check_int(n_test, "n_test", minimum=2)
        with jax.enable_x64(True):
            axes = _test_axes(self.problem, n_test)
            truth = self.problem.exact_values(axes)
            pred = self.predict_grid(axes)
            return float(jnp.linalg.norm(pred - truth) / jnp.linalg.norm(truth))

    def to_inference_data(self):
        """ArviZ ``InferenceData`` with the solution's grid values as ``constant_data``.

        GP-HM finds a point solution (a mode of Eq. 14 over the grid values and the
        hyperparameters), not posterior draws, so there is no ``posterior`` group: the result
        only hands the solution to ArviZ/xarray tooling with named grid coordinates. With the
        extra GP the grid values are the sum of both GPs' (both live on the same grid).

        Returns:
            ``arviz.InferenceData`` with ``constant_data.u`` of shape ``problem.grid`` (float64),
            dimensions ``x0, ..., x{d-1}`` whose coordinates are the grid nodes ``axes``, and
            ``attrs`` naming the kernel and the problem.
        """
        values = np.asarray(self.values)
        if self.extra is not None:
            values = values + np.asarray(self.extra.values)
        names = [f"x{j}" for j in range(self.problem.ndim)]
        return to_inference_data(
            None,
            constant_data={"u": values},
            coords={n: np.asarray(a) for n, a in zip(names, self.axes)},
            dims={"u": names},
            attrs={
                "method": "GP-HM (Fang et al. 2024)",
                "kernel": self.kernel,
                "problem": self.problem.name,
            },
        )

    def spectrum(self, prune_ratio: float = 1e-3) -> sp.Spectrum:
        """Learned weights, frequencies (cycles per unit length) and scales per dimension, with
        ``active`` marking components not pruned (weight >= ``prune_ratio`` x the largest), as
        float64 NumPy arrays of shape ``(d, Q)`` (usable whatever the caller's x64 setting)."""
        check_positive(prune_ratio, "prune_ratio")
        with jax.enable_x64(True):
            spec = sp.spectrum(self.kernel, self.params, prune_ratio)
            return sp.Spectrum(*(np.asarray(a) for a in spec))


def _test_axes(problem: PDEProblem, n_test: int):
    return tuple(jnp.linspace(lo, hi, n_test) for lo, hi in problem.domain)
