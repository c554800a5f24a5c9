"""PDE problems on boxes and the benchmark cases of GP-HM (Fang et al., 2024, Sec. 5).

A problem is ``R[u](x) = sum_t c_t d^{r_t} u / dx_{j_t}^{r_t} + phi(u(x)) = s(x)`` on a box
``[lower_1, upper_1] x ... x [lower_d, upper_d]`` with Dirichlet data ``u = g`` on the boundary,
collocated on an equispaced grid that includes the end points (``grid = (N_1, ..., N_d)``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayeskit.validate import check_array, check_int, check_positive, check_scalar

__all__ = ["Term", "PDEProblem", "ResolutionWarning", "get", "names", "source_from_exact"]


class ResolutionWarning(UserWarning):
    """The grid has fewer than two points per period of the problem's highest frequency."""


class FrequencyScaleWarning(UserWarning):
    """The initial kernel frequencies stop below the solution's highest frequency: the solver
    must then move components up by optimiser steps, slowly (measured: about 1.5 cycles in 300
    steps), so the error stalls far above what the grid allows."""


def warn_low_freq_scale(freq_scale, max_frequency, stacklevel: int = 3) -> None:
    """Warn (:class:`FrequencyScaleWarning`) if ``freq_scale`` is below ``max_frequency`` in a
    dimension; both are scalars or ``(d,)`` (cycles per unit length)."""
    if max_frequency is None:
        return
    mf = np.asarray(max_frequency, dtype=float)
    fs = np.broadcast_to(np.asarray(freq_scale, dtype=float), mf.shape)
    low = np.flatnonzero(fs < mf)
    if low.size:
        j = int(low[0])
        warnings.warn(
            f"freq_scale: {fs[j]:.3g} in dimension {j} is below the problem's max_frequency "
            f"{mf[j]:.3g}; the kernel's initial frequencies do not reach the solution's, so the "
            f"error stalls; pass freq_scale >= {mf[j]:.3g} (e.g. {1.25 * mf[j]:.3g})",
            FrequencyScaleWarning,
            stacklevel=stacklevel,
        )


class _TermFields(NamedTuple):
    coef: float
    dim: int
    order: int


class Term(_TermFields):
    """One derivative term ``coef * d^order u / dx_dim^order`` (``order`` in 0, 1, 2).

    Raises:
        ValueError: on a non-finite ``coef``, a negative ``dim`` or an ``order`` outside 0, 1, 2
            (``dim`` is checked against the problem's dimension by :class:`PDEProblem`).
        TypeError: on a non-numeric ``coef`` or a non-integer ``dim`` / ``order``.
    """

    __slots__ = ()

    def __new__(cls, coef, dim, order):
        # pytree utilities rebuild namedtuples with placeholders (tracers, None, sentinels):
        # check everything else
        placeholder = (
            coef is None
            or isinstance(coef, jax.core.Tracer | jax.ShapeDtypeStruct)
            or type(coef) is object
        )
        if not placeholder:
            coef = check_scalar(coef, "coef")
            dim = check_int(dim, "dim", minimum=0)
            order = check_int(order, "order", minimum=0)
            if order > 2:
                raise ValueError(f"order: expected 0, 1 or 2, got {order}")
        return super().__new__(cls, coef, dim, order)


def _as_terms(terms) -> tuple:
    """``terms`` as a tuple of :class:`Term`, from Terms or ``(coef, dim, order)`` triples."""
    if isinstance(terms, str | bytes) or not isinstance(terms, tuple | list):
        raise TypeError(f"terms: expected a sequence of Term(coef, dim, order), got {terms!r}")
    out = []
    for i, t in enumerate(terms):
        if not isinstance(t, tuple | list) or len(t) != 3:
            raise TypeError(f"terms[{i}]: expected a Term(coef, dim, order), got {t!r}")
        try:
            out.append(Term(*t))
        except (TypeError, ValueError) as err:
            raise type(err)(f"terms[{i}].{err}") from None
    return tuple(out)


def _allen_cahn(u):
    return u * (u**2 - 1.0)


NONLINEARITIES: dict[str, Callable] = {"allen_cahn": _allen_cahn}


@dataclasses.dataclass(frozen=True, eq=False)
class PDEProblem:
    """A Dirichlet problem on a box, collocated on a Cartesian grid.

    Args:
        name: label.
        domain: ``((lower_1, upper_1), ..., (lower_d, upper_d))`` with ``lower < upper``.
        grid: points per dimension ``(N_1, ..., N_d)``, each ``>= 3``, end points included.
        terms: ``Term``s of the linear part of the operator.
        source: ``s(x)`` for one point ``x`` of shape ``(d,)``, or an array of shape ``grid``.
        boundary: ``g(x)`` for one point, or an array of shape ``(n_boundary,)`` holding the
            values at the boundary grid nodes in C order (see ``boundary_mask``).
        nonlinearity: ``None`` or ``"allen_cahn"`` (``phi(u) = u (u^2 - 1)``), added pointwise.
        exact: the exact solution ``u(x)`` for one point, if known.
        max_frequency: highest frequency of the solution per dimension (cycles per unit length),
            if known; used to warn about under-resolved grids and for the default ``freq_scale``.
        freq_scale: largest initial kernel frequency (the paper's ``freq_scale``), scalar or
            ``(d,)``; ``None`` (default) lets ``solve`` derive it (``defaults.default_freq_scale``:
            1.25 times ``max_frequency``, or the source's estimated highest frequency).
        boundary_weight: the fixed boundary weight ``lambda_b`` (200 in the paper, 500 for
            advection).

    Raises:
        ValueError: non-box domain, grid sizes below 3, wrong term dimensions or orders, source or
            boundary arrays of the wrong shape or not finite.

    Warns:
        ResolutionWarning: if a dimension has fewer than 2 grid points per period of
            ``max_frequency``.
    """

    name: str
    domain: tuple
    grid: tuple
    terms: tuple
    source: Callable | np.ndarray
    boundary: Callable | np.ndarray
    nonlinearity: str | None = None
    exact: Callable | None = None
    max_frequency: tuple | None = None
    freq_scale: float | tuple | None = None
    boundary_weight: float = 200.0

    def __post_init__(self):
        dom = self.domain
        try:
            dom = tuple((float(lo), float(hi)) for lo, hi in dom)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"domain: expected a box ((lower, upper), ...) per dimension, got {self.domain!r}"
            ) from err
        if not dom or any(
            not (math.isfinite(lo) and math.isfinite(hi) and lo < hi) for lo, hi in dom
        ):
            raise ValueError(
                f"domain: expected a box of finite intervals with lower < upper, got {self.domain!r}"
            )
        object.__setattr__(self, "domain", dom)
        d = len(dom)
        if not isinstance(self.name, str):
            raise TypeError(f"name: expected a string, got {type(self.name).__name__}")
        if isinstance(self.grid, int):
            grid = (self.grid,)
        elif isinstance(self.grid, tuple | list | np.ndarray):
            grid = tuple(self.grid)
        else:
            raise TypeError(f"grid: expected a tuple of sizes (N_1, ..., N_d), got {self.grid!r}")
        if len(grid) != d:
            raise ValueError(f"grid: expected {d} sizes (one per dimension), got {self.grid!r}")
        grid = tuple(check_int(n, "grid", minimum=3) for n in grid)
        object.__setattr__(self, "grid", grid)
        terms = _as_terms(self.terms)
        if not terms:
            raise ValueError("terms: expected at least one derivative term")
        for t in terms:
            if not 0 <= t.dim < d:
                raise ValueError(f"terms: expected dim in [0, {d}), got {t}")
        object.__setattr__(self, "terms", terms)
        if self.nonlinearity is not None and self.nonlinearity not in NONLINEARITIES:
            raise ValueError(
                f"nonlinearity: expected None or one of {sorted(NONLINEARITIES)}, "
                f"got {self.nonlinearity!r}"
            )
        if not callable(self.source):
            check_array(self.source, "source", shape=grid)
        if not callable(self.boundary):
            nb = int(np.sum(boundary_mask(grid)))
            check_array(self.boundary, "boundary", shape=(nb,))
        if self.exact is not None and not callable(self.exact):
            raise TypeError(
                f"exact: expected a callable u(x) or None, got {type(self.exact).__name__}"
            )
        for name in ("source", "boundary", "exact"):
            if callable(getattr(self, name)):
                _check_point_function(getattr(self, name), name, d)
        check_scalar(self.boundary_weight, "boundary_weight", 0.0, None)
        for name in ("freq_scale", "max_frequency"):
            value = getattr(self, name)
            if value is not None:
                check_array(value, name, ndim=(0, 1))
                check_positive(value, name, strict=name == "freq_scale")
                if np.ndim(value) == 1 and np.shape(value) != (d,):
                    raise ValueError(
                        f"{name}: expected a scalar or one value per dimension ({d},), got "
                        f"shape {np.shape(value)}"
                    )
        if self.max_frequency is not None:
            mf = tuple(np.broadcast_to(np.asarray(self.max_frequency, dtype=float), (d,)))
            object.__setattr__(self, "max_frequency", mf)
            if self.freq_scale is not None:
                warn_low_freq_scale(self.freq_scale, mf, stacklevel=4)
            for j, (f, n, (lo, hi)) in enumerate(zip(mf, grid, dom)):
                per_period = (n - 1) / ((hi - lo) * f) if f > 0 else math.inf
                if per_period < 2.0:
                    warnings.warn(
                        f"grid: dimension {j} has {per_period:.2f} points per period of the "
                        f"highest frequency {f:.3g} (needs >= 2, GP-HM needs about 3); "
                        f"use at least {math.ceil(3 * (hi - lo) * f) + 1} points",
                        ResolutionWarning,
                        stacklevel=3,
                    )

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions ``d``."""
        return len(self.domain)

    def with_grid(self, grid) -> PDEProblem:
        """The same problem on another grid (array-valued source or boundary cannot be regridded).

        Raises:
            ValueError: if the source or boundary is an array, or ``grid`` is invalid.
        """
        if not (callable(self.source) and callable(self.boundary)):
            raise ValueError("grid: cannot regrid a problem whose source or boundary is an array")
        grid = (grid,) * self.ndim if isinstance(grid, int) else tuple(grid)
        return dataclasses.replace(self, grid=grid)

    def axes(self) -> tuple:
        """Grid nodes per dimension, a tuple of ``(N_j,)`` arrays (float64 needs x64 enabled)."""
        return tuple(jnp.linspace(lo, hi, n) for (lo, hi), n in zip(self.domain, self.grid))

    def spacing(self) -> tuple:
        """Grid step per dimension."""
        return tuple((hi - lo) / (n - 1) for (lo, hi), n in zip(self.domain, self.grid))

    def points(self) -> jax.Array:
        """All grid nodes, shape ``(N, d)`` in C order."""
        mesh = jnp.meshgrid(*self.axes(), indexing="ij")
        return jnp.stack([m.ravel() for m in mesh], axis=-1)

    def source_values(self) -> jax.Array:
        """``s`` on the grid, shape ``grid``."""
        if callable(self.source):
            return jax.vmap(self.source)(self.points()).reshape(self.grid)
        return jnp.asarray(self.source, dtype=float)

    def boundary_values(self) -> jax.Array:
        """``g`` at the boundary nodes, shape ``(n_boundary,)``."""
        if callable(self.boundary):
            pts = self.points()[np.flatnonzero(boundary_mask(self.grid))]
            return jax.vmap(self.boundary)(pts)
        return jnp.asarray(self.boundary, dtype=float)

    def exact_values(self, axes) -> jax.Array:
        """The exact solution on the tensor grid spanned by ``axes``.

        Raises:
            ValueError: if the problem has no exact solution.
        """
        if self.exact is None:
            raise ValueError(f"exact: problem {self.name!r} has no exact solution")
        mesh = jnp.meshgrid(*axes, indexing="ij")
        pts = jnp.stack([m.ravel() for m in mesh], axis=-1)
        return jax.vmap(self.exact)(pts).reshape(tuple(a.shape[0] for a in axes))


def _check_point_function(f: Callable, name: str, d: int) -> None:
    """Trace ``f`` on abstract points (``jax.eval_shape``, nothing is computed): it must be
    traceable by JAX and map one point ``(d,)`` to a scalar, as the solver vmaps it."""
    points = jax.ShapeDtypeStruct((3, d), jnp.zeros(()).dtype)
    try:
        out = jax.eval_shape(jax.vmap(f), points)
    except Exception as err:  # any tracing failure of user code, reported with its cause
        raise TypeError(
            f"{name}: expected a JAX-traceable function of one point x of shape ({d},) (use "
            f"jax.numpy, not numpy); tracing it failed with {type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}"
        ) from err
    if not hasattr(out, "shape") or out.shape != (3,):
        got = out.shape[1:] if hasattr(out, "shape") else type(out).__name__
        raise ValueError(
            f"{name}: expected a scalar for one point x of shape ({d},), got shape {got}"
        )


def boundary_mask(grid) -> np.ndarray:
    """Boolean mask of shape ``grid``: nodes with any index at either end of its dimension."""
    mask = np.zeros(grid, dtype=bool)
    for j, n in enumerate(grid):
        idx = [slice(None)] * len(grid)
        idx[j] = [0, n - 1]
        mask[tuple(idx)] = True
    return mask


def source_from_exact(exact: Callable, terms, nonlinearity: str | None = None) -> Callable:
    """The source ``s = R[u]`` of an exact solution, by automatic differentiation (as the paper).

    Args:
        exact: ``u(x)`` on one point ``x`` of shape ``(d,)``.
        terms: ``Term``s (or ``(coef, dim, order)`` tuples).
        nonlinearity: ``None`` or a key of ``NONLINEARITIES``.

    Returns:
        ``s(x)``.

    Raises:
        TypeError: if ``exact`` is not callable or ``terms`` is not a sequence of terms.
        ValueError: on an invalid term or an unknown nonlinearity.
    """
    if isinstance(exact, type) or not callable(exact):
        raise TypeError(f"exact: expected a callable u(x), got {type(exact).__name__}")
    terms = _as_terms(terms)
    if nonlinearity is not None and nonlinearity not in NONLINEARITIES:
        raise ValueError(
            f"nonlinearity: expected None or one of {sorted(NONLINEARITIES)}, got {nonlinearity!r}"
        )

    def deriv(x, j, r):
        f = exact
        for _ in range(r):
            f = (lambda g: lambda y: jax.grad(g)(y)[j])(f)
        return f(x)

    def source(x):
        val = sum(t.coef * deriv(x, t.dim, t.order) for t in terms)
        if nonlinearity is not None:
            val = val + NONLINEARITIES[nonlinearity](exact(x))
        return val

    return source


_TWO_PI = 2.0 * math.pi
_LAPLACE_1D = (Term(1.0, 0, 2),)
_LAPLACE_2D = (Term(1.0, 0, 2), Term(1.0, 1, 2))


def _case(name, exact, domain, grid, terms, max_freq, freq_scale, nonlin=None, weight=200.0):
    return dict(
        name=name,
        domain=domain,
        grid=grid,
        terms=terms,
        source=source_from_exact(exact, terms, nonlin),
        boundary=exact,
        nonlinearity=nonlin,
        exact=exact,
        max_frequency=max_freq,
        freq_scale=freq_scale,
        boundary_weight=weight,
    )


def _cases() -> dict:
    s, c = jnp.sin, jnp.cos
    box1 = ((0.0, _TWO_PI),)
    box2 = ((0.0, _TWO_PI), (0.0, _TWO_PI))
    unit1, unit2 = ((0.0, 1.0),), ((0.0, 1.0), (0.0, 1.0))
    f = lambda rad: rad / _TWO_PI  # noqa: E731  (angular -> cycles per unit length)

    def mix(x):
        return s(x) + 0.1 * s(20 * x) + c(100 * x)

    return {
        "poisson_1d_sin100": _case(
            "poisson_1d_sin100", lambda x: s(100 * x[0]), box1, (400,), _LAPLACE_1D, f(100), 20.0
        ),
        "poisson_1d_sin6cos100": _case(
            "poisson_1d_sin6cos100",
            lambda x: s(6 * x[0]) * c(100 * x[0]),
            box1,
            (400,),
            _LAPLACE_1D,
            f(106),
            20.0,
        ),
        "poisson_1d_xsin200": _case(
            "poisson_1d_xsin200",
            lambda x: x[0] * s(200 * x[0]),
            box1,
            (900,),
            _LAPLACE_1D,
            f(200),
            50.0,
        ),
        "poisson_1d_mix": _case(
            "poisson_1d_mix",
            lambda x: s(x[0]) + 0.1 * s(20 * x[0]) + 0.05 * s(100 * x[0]),
            unit1,
            (900,),
            _LAPLACE_1D,
            f(100),
            30.0,
        ),
        "poisson_1d_sin500": _case(
            "poisson_1d_sin500",
            lambda x: s(500 * x[0]) - 2 * (x[0] - 0.5) ** 2,
            unit1,
            (400,),
            _LAPLACE_1D,
            f(500),
            100.0,
        ),
        "allencahn_1d_sin100": _case(
            "allencahn_1d_sin100",
            lambda x: s(100 * x[0]),
            box1,
            (400,),
            _LAPLACE_1D,
            f(100),
            20.0,
            "allen_cahn",
        ),
        "allencahn_1d_sin6cos100": _case(
            "allencahn_1d_sin6cos100",
            lambda x: s(6 * x[0]) * c(100 * x[0]),
            box1,
            (400,),
            _LAPLACE_1D,
            f(106),
            20.0,
            "allen_cahn",
        ),
        "poisson_2d_sin100": _case(
            "poisson_2d_sin100",
            lambda x: s(100 * x[0]) * s(100 * x[1]),
            box2,
            (400, 400),
            _LAPLACE_2D,
            f(100),
            20.0,
        ),
        "poisson_2d_sin6cos20": _case(
            "poisson_2d_sin6cos20",
            lambda x: s(6 * x[0]) * c(20 * x[0]) + s(6 * x[1]) * c(20 * x[1]),
            box2,
            (200, 200),
            _LAPLACE_2D,
            f(26),
            20.0,
        ),
        "allencahn_2d_mix": _case(
            "allencahn_2d_mix",
            lambda x: mix(x[0]) * mix(x[1]),
            unit2,
            (400, 400),
            _LAPLACE_2D,
            f(100),
            30.0,
            "allen_cahn",
        ),
        "advection_beta200": _case(
            "advection_beta200",
            lambda x: s(x[0] - 200.0 * x[1]),
            unit2,
            (200, 200),
            (Term(200.0, 0, 1), Term(1.0, 1, 1)),
            (f(1), f(200)),
            40.0,
            weight=500.0,
        ),
    }


def names() -> tuple:
    """Names of the benchmark problems (Fang et al., 2024, Sec. 5; brief section 2.1)."""
    return tuple(_cases())


def get(name: str, grid=None) -> PDEProblem:
    """A benchmark problem by name, optionally on another grid.

    Args:
        name: one of ``names()``, e.g. ``"poisson_1d_sin100"``.
        grid: ``None`` for the paper's grid, an int (same size per dimension) or a tuple.

    Returns:
        ``PDEProblem`` with source by automatic differentiation of the exact solution.

    Raises:
        ValueError: on an unknown name or an invalid grid.
    """
    cases = _cases()
    if not isinstance(name, str) or name not in cases:
        raise ValueError(f"name: expected one of {', '.join(cases)}, got {name!r}")
    spec = cases[name]
    if grid is not None:
        d = len(spec["domain"])
        if isinstance(grid, bool) or not isinstance(grid, int | tuple | list):
            raise TypeError(f"grid: expected None, an int or a tuple of sizes, got {grid!r}")
        spec["grid"] = (grid,) * d if isinstance(grid, int) else tuple(grid)
    return PDEProblem(**spec)
