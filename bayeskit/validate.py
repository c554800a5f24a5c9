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
    "check_int",
    "check_power_of_two",
    "check_choice",
    "check_bool",
    "check_log_weights",
    "check_optimizer",
]


def _is_traced(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def _host(x: Any) -> np.ndarray:
    return np.asarray(jax.device_get(x))


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
    ``TypeError`` if ``x`` is not numeric (e.g. a string)."""
    if _is_traced(x):
        return
    arr = _host(x)
    if arr.dtype.kind not in "biufc":
        raise TypeError(
            f"{name}: expected numeric values, got {type(x).__name__} of dtype {arr.dtype}"
        )
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name}: expected finite values, got {bad} NaN or infinite entries")


def check_positive(x: Any, name: str, *, strict: bool = True) -> None:
    """Raise ``ValueError`` unless every entry of ``x`` is > 0 (``strict``) or >= 0."""
    if _is_traced(x):
        return
    arr = _host(x)
    ok = np.all(arr > 0) if strict else np.all(arr >= 0)
    if not ok:
        want = "positive" if strict else "non-negative"
        shown = arr.item() if arr.size == 1 else f"min {arr.min()}"
        raise ValueError(f"{name}: expected {want} values, got {shown}")


def check_in_range(
    x: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    closed: tuple[bool, bool] = (False, False),
) -> None:
    """Raise ``ValueError`` unless every entry of ``x`` lies in the interval (low, high).

    Args:
        x: scalar or array.
        name: argument name.
        low, high: bounds; ``None`` means unbounded on that side.
        closed: whether each bound is included, e.g. ``(True, False)`` for [low, high).
    """
    if _is_traced(x):
        return
    arr = _host(x)
    ok = np.ones(arr.shape, bool)
    if low is not None:
        ok &= arr >= low if closed[0] else arr > low
    if high is not None:
        ok &= arr <= high if closed[1] else arr < high
    ok &= ~np.isnan(arr) if arr.dtype.kind in "fc" else True
    if not np.all(ok):
        lo = ("[" if closed[0] else "(") + ("-inf" if low is None else f"{low}")
        hi = ("inf" if high is None else f"{high}") + ("]" if closed[1] else ")")
        shown = arr.item() if arr.size == 1 else f"values in [{arr.min()}, {arr.max()}]"
        raise ValueError(f"{name}: expected a value in {lo}, {hi}, got {shown}")


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
