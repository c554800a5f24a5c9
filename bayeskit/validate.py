"""Shared input checks that raise clear errors, used by every public function.

Each check names the argument, what it received and what it expected. Value checks
(finiteness, ranges) run on concrete arrays only: under ``jit`` the values are tracers and the
value checks are skipped (shape checks still run), so public functions validate before tracing.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import jax
import numpy as np

__all__ = [
    "check_array",
    "check_finite",
    "check_positive",
    "check_in_range",
    "check_scalar",
    "check_int",
    "check_power_of_two",
    "check_choice",
    "check_bool",
    "check_callable",
    "check_instance",
    "check_log_weights",
    "check_optimizer",
    "check_stochastic",
    "check_spd",
    "check_indices",
    "STOCHASTIC_ATOL",
]

# Rows of a stochastic matrix (and probability vectors) must sum to 1 within this absolute
# tolerance (float32 rounding of a sum of a few hundred entries stays far below it).
STOCHASTIC_ATOL = 1e-5


def _is_traced(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def _host(x: Any) -> np.ndarray:
    return np.asarray(jax.device_get(x))


def _is_key_array(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _describe(x: Any) -> str:
    """A short description of ``x`` for an error message: its type, and its value if short."""
    if _is_key_array(x):
        return f"a PRNG key array of shape {x.shape}"
    if isinstance(x, jax.Array | np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    shown = repr(x)
    return f"{type(x).__name__} {shown}" if len(shown) <= 40 else type(x).__name__


def _numeric_host(x: Any, name: str) -> np.ndarray:
    """``x`` as a host NumPy array with a boolean, integer or floating dtype, or ``TypeError``."""
    if _is_key_array(x):
        raise TypeError(f"{name}: expected numeric values, got {_describe(x)}")
    try:
        arr = _host(x)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name}: expected numeric values, got {_describe(x)}") from err
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name}: expected numeric values, got {type(x).__name__} of dtype {arr.dtype}"
        )
    return arr


def check_array(
    x: Any,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
    finite: bool = True,
    numeric: bool = True,
) -> jax.Array:
    """Convert ``x`` to a JAX array and check its rank, shape and values.

    Args:
        x: array-like input.
        name: the argument's name, used in error messages.
        ndim: required rank, or a sequence of allowed ranks.
        shape: required shape; ``None`` entries match any size.
        finite: require every entry finite (skipped for tracers).
        numeric: require a boolean, integer or floating dtype.

    Returns:
        ``jax.numpy.asarray(x)``.

    Raises:
        TypeError: if ``x`` cannot be converted or is not numeric.
        ValueError: on a wrong rank, shape, or non-finite entries.
    """
    import jax.numpy as jnp

    if _is_key_array(x):
        raise TypeError(f"{name}: expected a numeric array, got {_describe(x)}")
    if isinstance(x, jax.Array):
        arr = x
    else:
        try:
            host = np.asarray(x)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name}: expected an array, got {type(x).__name__}") from err
        if host.dtype == object:
            raise TypeError(f"{name}: expected an array, got {type(x).__name__}")
        if numeric and host.dtype.kind not in "biufc":
            raise TypeError(f"{name}: expected a numeric array, got dtype {host.dtype}")
        arr = jnp.asarray(host)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = allowed[0] if len(allowed) == 1 else " or ".join(map(str, allowed))
            raise ValueError(f"{name}: expected an array of rank {want}, got shape {arr.shape}")
    if shape is not None:
        shape = tuple(shape)
        ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape))
        if not ok:
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name}: expected shape {want}, got {arr.shape}")
    if finite:
        check_finite(arr, name)
    return arr


def check_finite(x: Any, name: str) -> None:
    """Raise ``ValueError`` if any entry of ``x`` is NaN or infinite (skipped for tracers), and
    ``TypeError`` if ``x`` is not numeric (e.g. a string, ``None`` or a PRNG key)."""
    if _is_traced(x):
        return
    arr = _numeric_host(x, name)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name}: expected finite values, got {bad} NaN or infinite entries")


def _shown(arr: np.ndarray) -> str:
    return f"{arr.item()}" if arr.size == 1 else f"values in [{arr.min()}, {arr.max()}]"


def check_positive(x: Any, name: str, *, strict: bool = True) -> None:
    """Raise ``ValueError`` unless every entry of ``x`` is > 0 (``strict``) or >= 0, and finite.

    Raises:
        TypeError: if ``x`` is not numeric.
        ValueError: on an entry that is NaN, infinite, or not positive (non-negative).
    """
    if _is_traced(x):
        return
    arr = _numeric_host(x, name)
    ok = np.all(np.isfinite(arr)) and (np.all(arr > 0) if strict else np.all(arr >= 0))
    if not ok:
        want = "positive" if strict else "non-negative"
        shown = arr.item() if arr.size == 1 else f"min {np.min(arr)}"
        if arr.size > 1 and not np.all(np.isfinite(arr)):
            shown = "NaN or infinite entries"
        raise ValueError(f"{name}: expected {want} values, got {shown}")


def _interval(low, high, closed) -> str:
    lo = ("[" if closed[0] else "(") + ("-inf" if low is None else f"{low}")
    hi = ("inf" if high is None else f"{high}") + ("]" if closed[1] else ")")
    return f"{lo}, {hi}"


def _in_range(arr: np.ndarray, low, high, closed) -> bool:
    ok = np.isfinite(arr)
    if low is not None:
        ok &= arr >= low if closed[0] else arr > low
    if high is not None:
        ok &= arr <= high if closed[1] else arr < high
    return bool(np.all(ok))


def check_in_range(
    x: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    closed: tuple[bool, bool] = (False, False),
) -> None:
    """Raise ``ValueError`` unless every entry of ``x`` is finite and lies in (low, high).

    Args:
        x: scalar or array.
        name: argument name.
        low, high: bounds; ``None`` means unbounded on that side (infinite entries still fail).
        closed: whether each bound is included, e.g. ``(True, False)`` for [low, high).

    Raises:
        TypeError: if ``x`` is not numeric.
        ValueError: on an entry outside the interval, NaN or infinite.
    """
    if _is_traced(x):
        return
    arr = _numeric_host(x, name)
    if not _in_range(arr, low, high, closed):
        raise ValueError(
            f"{name}: expected a value in {_interval(low, high, closed)}, got {_shown(arr)}"
        )


def check_scalar(
    x: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    closed: tuple[bool, bool] = (False, False),
) -> Any:
    """Return a real scalar as a Python ``float``, requiring it finite and in (low, high).

    Accepts Python and NumPy numbers and rank-0 arrays (not bools, strings, keys or arrays of
    higher rank). A traced scalar is returned unchanged, with only its rank and dtype checked.

    Args:
        x: the number.
        name: argument name.
        low, high: bounds; ``None`` means unbounded on that side.
        closed: whether each bound is included.

    Raises:
        TypeError: if ``x`` is not a real number.
        ValueError: if ``x`` has a rank above 0, is NaN or infinite, or lies outside the interval.
    """
    if isinstance(x, bool | np.bool_) or (
        isinstance(x, np.ndarray | jax.Array) and not _is_key_array(x) and x.dtype == bool
    ):
        raise TypeError(f"{name}: expected a real number, got {_describe(x)}")
    if _is_traced(x):
        if x.ndim != 0:
            raise ValueError(f"{name}: expected a scalar, got shape {x.shape}")
        return x
    if not isinstance(x, numbers.Real | np.ndarray | jax.Array) or _is_key_array(x):
        raise TypeError(f"{name}: expected a real number, got {_describe(x)}")
    arr = _numeric_host(x, name)
    if arr.ndim != 0:
        raise ValueError(f"{name}: expected a scalar, got shape {arr.shape}")
    value = float(arr)
    if not _in_range(arr, low, high, closed):
        # the wording of check_positive / check_in_range, so messages read the same everywhere
        if low == 0 and high is None:
            want = "positive values" if not closed[0] else "non-negative values"
        elif low is None and high is None:
            want = "a finite number"
        else:
            want = f"a value in {_interval(low, high, closed)}"
        raise ValueError(f"{name}: expected {want}, got {value}")
    return value


def check_int(x: Any, name: str, *, minimum: int | None = None) -> int:
    """Return ``x`` as a Python int, requiring an integer (not bool) >= ``minimum``.

    Raises:
        TypeError: if ``x`` is not an integer.
        ValueError: if ``x < minimum``.
    """
    if isinstance(x, bool | np.bool_) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(x).__name__} {x!r}")
    if minimum is not None and x < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {x}")
    return int(x)


def check_power_of_two(x: Any, name: str) -> int:
    """Return ``x`` as an int, requiring a positive power of two (1, 2, 4, ...)."""
    n = check_int(x, name, minimum=1)
    if n & (n - 1):
        raise ValueError(f"{name}: expected a power of two, got {n}")
    return n


def check_choice(x: Any, name: str, choices: Iterable[str]) -> str:
    """Return ``x`` if it is one of ``choices``; otherwise raise ``ValueError`` listing them."""
    choices = tuple(choices)
    if not isinstance(x, str) or x not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {x!r}")
    return x


def check_bool(x: Any, name: str) -> bool:
    """Return ``x`` if it is a bool; otherwise raise ``TypeError``."""
    if not isinstance(x, bool | np.bool_):
        raise TypeError(f"{name}: expected a bool, got {type(x).__name__} {x!r}")
    return bool(x)


def check_instance(x: Any, name: str, cls: type) -> Any:
    """Return ``x`` if it is an instance of ``cls``.

    Raises:
        TypeError: naming the argument, also when ``x`` is the class itself (``FractionalSDE``
            instead of ``FractionalSDE(...)``).
    """
    if isinstance(x, type):
        raise TypeError(f"{name}: expected a {cls.__name__} instance, got the class {x.__name__}")
    if not isinstance(x, cls):
        raise TypeError(f"{name}: expected a {cls.__name__} instance, got {_describe(x)}")
    return x


def check_callable(x: Any, name: str) -> Any:
    """Return ``x`` if it is a callable object, such as a kernel instance or a function.

    Raises:
        TypeError: if ``x`` is not callable, or is a class (e.g. ``Gaussian`` instead of
            ``Gaussian()``), naming the argument.
    """
    if isinstance(x, type):
        raise TypeError(
            f"{name}: expected an instance or a function, got the class {x.__name__}; "
            f"call it first, e.g. {x.__name__}()"
        )
    if not callable(x):
        raise TypeError(f"{name}: expected a callable, got {_describe(x)}")
    return x


def check_log_weights(x: Any, name: str = "log_weights") -> jax.Array:
    """Check unnormalised log-weights ``(n,)``, ``n >= 1``: ``-inf`` is a zero weight; NaN,
    ``+inf`` and all weights zero raise (value checks skipped for tracers).

    Returns:
        ``jax.numpy.asarray(x)``.

    Raises:
        TypeError: if ``x`` is not a numeric array.
        ValueError: on a rank other than 1, no entries, NaN or ``+inf`` entries, or every entry
            ``-inf``.
    """
    arr = check_array(x, name, ndim=1, finite=False)
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one weight, got shape {arr.shape}")
    if _is_traced(arr):
        return arr
    host = _host(arr)
    if np.any(np.isnan(host)):
        raise ValueError(f"{name}: expected no NaN, got {int(np.isnan(host).sum())} NaN entries")
    if np.any(host == np.inf):
        raise ValueError(f"{name}: expected no +inf, got {int((host == np.inf).sum())} entries")
    if np.all(host == -np.inf):
        raise ValueError(f"{name}: every weight is zero (all log-weights are -inf)")
    return arr


def check_optimizer(x: Any, name: str = "optimizer") -> Any:
    """Return ``x`` if it is an ``optax.GradientTransformation``.

    Raises:
        TypeError: otherwise (e.g. the string ``"adam"``), naming the argument.
    """
    import optax

    if not isinstance(x, optax.GradientTransformation):
        raise TypeError(
            f"{name}: expected an optax GradientTransformation (e.g. optax.adam(1e-3)), got {x!r}"
        )
    return x


def check_stochastic(
    p: Any, name: str, *, normalise: bool = False, atol: float = STOCHASTIC_ATOL
) -> Any:
    """Check that the last axis of ``p`` holds probability vectors: finite, non-negative entries
    summing to 1 within ``atol`` (a vector, or the rows of a stochastic matrix or tensor).

    Args:
        p: array of rank >= 1.
        name: argument name.
        normalise: return the rows rescaled to sum to 1 exactly, computed in float64 (a NumPy
            array); otherwise return ``p`` unchanged.
        atol: tolerance on each row sum.

    Returns:
        ``p``, or its float64 normalised rows. A tracer is returned unchanged (values unchecked).

    Raises:
        TypeError: if ``p`` is not numeric.
        ValueError: on rank 0, an empty last axis, NaN or infinite entries, a negative entry or
            a row sum off 1 by more than ``atol``.
    """
    if _is_traced(p):
        if p.ndim == 0:
            raise ValueError(f"{name}: expected a probability vector or matrix, got a scalar")
        return p
    pn = _numeric_host(p, name).astype(np.float64)
    what = "probability vector" if pn.ndim <= 1 else "stochastic matrix"
    if pn.ndim == 0 or pn.shape[-1] == 0:
        raise ValueError(f"{name}: expected a {what} with at least one entry, got shape {pn.shape}")
    if not np.all(np.isfinite(pn)):
        raise ValueError(f"{name}: expected a {what}, got NaN or infinite entries")
    sums = pn.sum(-1)
    if np.any(pn < 0) or np.any(np.abs(sums - 1.0) > atol):
        if pn.ndim == 1:
            want, got = "non-negative, summing to 1", f"sum {float(sums):.8g}"
        else:
            want, got = "non-negative rows summing to 1", f"row sums in [{sums.min():.8g}, "
            got += f"{sums.max():.8g}]"
        raise ValueError(
            f"{name}: expected a {what} ({want} within {atol:g}), got {got} and min {pn.min():.4g}"
        )
    if normalise:
        return pn / sums[..., None]
    return p


def check_spd(s: Any, name: str, *, semidefinite: bool = False) -> None:
    """Raise ``ValueError`` unless the concrete square matrix ``s`` is symmetric positive definite
    (or, with ``semidefinite``, positive semidefinite: a covariance that may be singular).

    Symmetry is required to ``1e-5`` relative to the largest entry (float32 rounding leaves about
    1e-7); the smallest eigenvalue must exceed ``n * eps * max|eigenvalue|``, the usual numerical
    rank threshold for the matrix's dtype (``-n * eps * max|eigenvalue|`` when semidefinite).
    Skipped for tracers (a Cholesky factor of a matrix that is not positive definite is NaN:
    check its result inside ``jit``).

    Raises:
        TypeError: if ``s`` is not numeric.
        ValueError: if ``s`` is not a finite square matrix, not symmetric or not positive definite.
    """
    if _is_traced(s):
        return
    a = _numeric_host(s, name)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty square matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: expected finite values, got NaN or infinite entries")
    dtype = np.result_type(a.dtype, np.float32)
    a = a.astype(np.float64)
    size = max(1.0, float(np.abs(a).max()))
    asym = float(np.abs(a - a.T).max())
    if asym > 1e-5 * size:
        raise ValueError(
            f"{name}: expected a symmetric positive definite matrix, got max |S - S^T| = {asym:.4g}"
        )
    eig = np.linalg.eigvalsh(0.5 * (a + a.T))
    eps = float(np.finfo(dtype).eps)
    tol = a.shape[0] * eps * max(float(np.abs(eig).max()), np.finfo(np.float64).tiny)
    if semidefinite and not eig.min() >= -tol:
        raise ValueError(
            f"{name}: expected a symmetric positive semidefinite matrix, got smallest eigenvalue "
            f"{eig.min():.4g} (needs >= {-tol:.3g})"
        )
    if not semidefinite and not eig.min() > tol:
        raise ValueError(
            f"{name}: expected a symmetric positive definite matrix, got smallest eigenvalue "
            f"{eig.min():.4g} (needs > {tol:.3g})"
        )


def check_indices(
    x: Any, name: str, n: int, *, shape: Sequence[int | None] | None = None, what: str = "indices"
) -> jax.Array:
    """Check an integer array whose entries lie in ``[0, n)`` (indices, actions, labels).

    Args:
        x: array-like of integers.
        name: argument name.
        n: the exclusive upper bound.
        shape: required shape (``None`` entries match any size).
        what: how the entries are called in messages (e.g. ``"actions"``).

    Returns:
        ``jax.numpy.asarray(x)``; the range check is skipped for a tracer.

    Raises:
        TypeError: if ``x`` is not an integer array (a float array of whole numbers is refused
            too: a silent cast would hide a mix-up of values and indices).
        ValueError: on a wrong shape or an entry outside ``[0, n)``.
    """
    arr = check_array(x, name, shape=shape, finite=False)
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"{name}: expected integer {what} in [0, {n}), got an array of dtype {arr.dtype}"
        )
    if not _is_traced(arr) and arr.size:
        host = _host(arr)
        if host.min() < 0 or host.max() >= n:
            raise ValueError(
                f"{name}: expected integer {what} in [0, {n}), got values in "
                f"[{host.min()}, {host.max()}]"
            )
    return arr
