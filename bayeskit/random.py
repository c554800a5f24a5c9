"""Shared PRNG-key utilities: one way to make and thread keys.

Every random function in bayeskit takes ``key`` as its first argument. Public entry points
call :func:`as_key` once, so users may pass an int seed, a new-style typed key
(``jax.random.key``) or a legacy raw ``uint32[2]`` key (``jax.random.PRNGKey``).
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["as_key", "KeyStream", "split_like"]


def _is_typed_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def as_key(seed_or_key: Any, name: str = "seed_or_key") -> jax.Array:
    """Turn an int seed, a typed key or a raw ``uint32[2]`` key into a typed key.

    Args:
        seed_or_key: a Python or NumPy integer (the seed), a typed key of shape ``()``
            (returned unchanged), or a raw key: an unsigned 32-bit array of shape ``(2,)``.
        name: the argument's name in error messages (public functions pass ``"key"``).

    Returns:
        A typed scalar key (``jax.random.key`` style), shape ``()``.

    Raises:
        TypeError: for anything else (floats, bools, strings, arrays of other dtype or shape),
            naming what was given.
    """
    if isinstance(seed_or_key, bool | np.bool_):
        raise TypeError(f"{name}: expected an int seed or a PRNG key, got a bool")
    if isinstance(seed_or_key, numbers.Integral):
        return jax.random.key(int(seed_or_key))
    if _is_typed_key(seed_or_key):
        if seed_or_key.shape != ():
            raise TypeError(
                f"{name}: expected a single typed key of shape (), got a key array of "
                f"shape {seed_or_key.shape}"
            )
        return seed_or_key
    if isinstance(seed_or_key, jax.Array | np.ndarray):
        if seed_or_key.dtype == jnp.uint32 and seed_or_key.shape == (2,):
            return jax.random.wrap_key_data(jnp.asarray(seed_or_key))
        raise TypeError(
            f"{name}: expected an int seed, a typed key or a raw uint32 key of shape (2,), "
            f"got an array of dtype {seed_or_key.dtype} and shape {seed_or_key.shape}"
        )
    raise TypeError(
        f"{name}: expected an int seed, a typed key or a raw uint32 key of shape (2,), "
        f"got {type(seed_or_key).__name__}"
    )


class KeyStream:
    """Host-side iterator of fresh keys, for notebooks and Python loops.

    ``next(ks)`` or ``ks()`` returns a new key; ``ks.split(n)`` returns ``n`` keys, shape ``(n,)``.
    The stream is deterministic: the same seed gives the same sequence of keys. Do not use inside
    jitted code (it holds Python state); there, split keys explicitly.

    Args:
        seed_or_key: anything :func:`as_key` accepts.
    """

    def __init__(self, seed_or_key: Any):
        self._key = as_key(seed_or_key)

    def __iter__(self) -> KeyStream:
        return self

    def __next__(self) -> jax.Array:
        self._key, sub = jax.random.split(self._key)
        return sub

    def __call__(self) -> jax.Array:
        return next(self)

    def split(self, n: int) -> jax.Array:
        """Return ``n`` fresh independent keys as a key array of shape ``(n,)``.

        Raises:
            ValueError: if ``n`` is not a positive integer.
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n: expected a positive integer, got {n!r}")
        return jax.random.split(next(self), int(n))

    def __repr__(self) -> str:
        return f"KeyStream(state={jax.random.key_data(self._key).tolist()})"


def split_like(key: Any, pytree: Any) -> Any:
    """Split ``key`` into one independent key per leaf of ``pytree``.

    Args:
        key: anything :func:`as_key` accepts (call with a typed key inside ``jit``).
        pytree: any pytree; only its structure is used.

    Returns:
        A pytree with the same structure whose leaves are typed keys of shape ``()``.
    """
    key = as_key(key, "key")
    leaves, treedef = jax.tree_util.tree_flatten(pytree)
    if not leaves:
        return pytree
    keys = jax.random.split(key, len(leaves))
    return jax.tree_util.tree_unflatten(treedef, list(keys))
