"""Shared device helpers: a 1-D mesh over every device of every process, named shardings along
its one axis, and a sharded ``vmap`` over a replication axis. Knows no method.

A method shards its natural axis (replications, chains, kernel rows) by calling
:func:`map_sharded` or :func:`replicate`; a user passes ``mesh=device_mesh()`` (the default) or a
mesh over a subset of devices. Each device maps ``fn`` over its contiguous block of the axis, so
results equal the one-device ``jax.vmap`` up to the rounding of another compiled width (see
``batch_size`` of :func:`map_sharded` for bit-identical runs).

Many processes: call ``jax.distributed.initialize`` first; ``jax.devices()`` then lists the
devices of all processes, every process makes the same calls with the same inputs, and
:func:`gather` brings a sharded result back to every process as NumPy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from bayeskit.random import as_key
from bayeskit.validate import check_bool, check_int

__all__ = [
    "AXIS",
    "device_mesh",
    "named_sharding",
    "shard",
    "padded_length",
    "map_sharded",
    "replicate",
    "gather",
]

AXIS = "devices"
"""The name of the one axis of :func:`device_mesh`."""


def device_mesh(devices: Sequence[jax.Device] | None = None, *, axis_name: str = AXIS) -> Mesh:
    """A 1-D mesh over ``devices`` (default ``jax.devices()``: all devices of all processes).

    Args:
        devices: a non-empty sequence of distinct ``jax.Device``, or ``None`` for all.
        axis_name: the name of the mesh axis.

    Returns:
        ``jax.sharding.Mesh`` of shape ``(len(devices),)`` with axis ``axis_name``.

    Raises:
        TypeError: if ``devices`` holds something other than devices or ``axis_name`` is not a
            string.
        ValueError: if ``devices`` is empty or repeats a device, or ``axis_name`` is empty.
    """
    if not isinstance(axis_name, str):
        raise TypeError(f"axis_name: expected a string, got {type(axis_name).__name__}")
    if not axis_name:
        raise ValueError("axis_name: expected a non-empty string")
    if devices is None:
        devices = jax.devices()
    if isinstance(devices, str | bytes) or not isinstance(devices, Sequence | np.ndarray):
        raise TypeError(
            f"devices: expected a sequence of jax devices, got {type(devices).__name__}"
        )
    devices = list(np.asarray(devices, dtype=object).ravel())
    if not devices:
        raise ValueError("devices: expected at least one device, got none")
    bad = [d for d in devices if not isinstance(d, jax.Device)]
    if bad:
        raise TypeError(f"devices: expected jax devices, got {type(bad[0]).__name__}")
    if len({d.id for d in devices}) != len(devices):
        raise ValueError(f"devices: expected distinct devices, got ids {[d.id for d in devices]}")
    return Mesh(np.array(devices, dtype=object), (axis_name,))


def _check_mesh(mesh: Any) -> Mesh:
    if mesh is None:
        return device_mesh()
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh: expected a jax.sharding.Mesh, got {type(mesh).__name__}")
    if len(mesh.axis_names) != 1:
        raise ValueError(f"mesh: expected a 1-D mesh, got axes {mesh.axis_names}")
    return mesh


def named_sharding(mesh: Mesh | None = None, ndim: int = 1, *, axis: int = 0) -> NamedSharding:
    """The sharding that splits dimension ``axis`` of a rank-``ndim`` array across ``mesh``.

    Args:
        mesh: a 1-D mesh (default :func:`device_mesh`).
        ndim: rank of the arrays it will place (>= 1).
        axis: the sharded dimension, ``0 <= axis < ndim`` (negative counts from the end).

    Returns:
        ``NamedSharding(mesh, P(None, ..., name, ...))``; other dimensions are replicated.
    """
    mesh = _check_mesh(mesh)
    ndim = check_int(ndim, "ndim", minimum=1)
    axis = check_int(axis, "axis")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis: expected an axis of a rank-{ndim} array, got {axis}")
    spec = [None] * ndim
    spec[axis % ndim] = mesh.axis_names[0]
    return NamedSharding(mesh, P(*spec))


def _leaves(tree: Any, name: str) -> list[Any]:
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        raise ValueError(f"{name}: expected at least one array, got an empty pytree")
    for leaf in leaves:
        if not hasattr(leaf, "shape") or not hasattr(leaf, "dtype"):
            raise TypeError(f"{name}: expected arrays, got {type(leaf).__name__}")
    return leaves


def _leading_length(tree: Any, name: str, axis: int = 0) -> int:
    lengths = set()
    for leaf in _leaves(tree, name):
        if leaf.ndim <= axis:
            raise ValueError(f"{name}: expected arrays with an axis {axis}, got shape {leaf.shape}")
        lengths.add(leaf.shape[axis])
    if len(lengths) != 1:
        raise ValueError(f"{name}: expected one length along axis {axis}, got {sorted(lengths)}")
    return lengths.pop()


def _place(x: Any, sharding: NamedSharding) -> Any:
    if isinstance(x, jax.core.Tracer):
        return jax.lax.with_sharding_constraint(x, sharding)
    if jax.process_count() > 1 and isinstance(x, jax.Array) and x.is_fully_addressable:
        # a process-local array is the same value on every process: place it from the host
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            impl = jax.random.key_impl(x)
            data = jax.device_put(np.asarray(jax.random.key_data(x)), sharding)
            return jax.random.wrap_key_data(data, impl=impl)
        x = np.asarray(x)
    return jax.device_put(x, sharding)


def shard(tree: Any, mesh: Mesh | None = None, *, axis: int = 0) -> Any:
    """Place every array of ``tree`` with dimension ``axis`` split across ``mesh``.

    Args:
        tree: a pytree of arrays (NumPy, JAX, typed keys), each of rank > ``axis``, whose length
            along ``axis`` is a multiple of the number of devices (see :func:`padded_length`).
        mesh: a 1-D mesh (default :func:`device_mesh`).
        axis: the sharded dimension (>= 0).

    Returns:
        The same pytree of ``jax.Array``, each sharded by :func:`named_sharding`.

    Raises:
        ValueError: if a length along ``axis`` is not a multiple of the device count.
    """
    mesh = _check_mesh(mesh)
    axis = check_int(axis, "axis", minimum=0)
    for leaf in _leaves(tree, "tree"):
        if leaf.ndim <= axis or leaf.shape[axis] % mesh.size:
            raise ValueError(
                f"tree: expected arrays whose axis {axis} is a multiple of the {mesh.size} "
                f"devices, got shape {leaf.shape} (pad to padded_length(n, mesh))"
            )
    return jax.tree_util.tree_map(
        lambda x: _place(x, named_sharding(mesh, x.ndim, axis=axis)), tree
    )


def padded_length(n: int, mesh: Mesh | None = None) -> int:
    """The smallest multiple of ``mesh.size`` that is >= ``n`` (``n >= 1``)."""
    mesh = _check_mesh(mesh)
    n = check_int(n, "n", minimum=1)
    return -(-n // mesh.size) * mesh.size


def _pad_leading(x: Any, m: int) -> Any:
    n = x.shape[0]
    if n == m:
        return x
    # repeat the last element rather than zeros, so padded lanes see a valid input
    tail = jnp.broadcast_to(x[-1:], (m - n, *x.shape[1:]))
    return jnp.concatenate([jnp.asarray(x), tail])


def _map_blocks(args: tuple, fn: Callable, mesh: Mesh, batch_size: int | None) -> Any:
    spec = P(mesh.axis_names[0])

    def block(a):
        if batch_size is None:
            return jax.vmap(lambda e: fn(*e))(a)
        return jax.lax.map(lambda e: fn(*e), a, batch_size=batch_size)

    # no collectives inside: method code need not track varying manual axes (check_vma)
    mapped = jax.shard_map(block, mesh=mesh, in_specs=(spec,), out_specs=spec, check_vma=False)
    return mapped(args)


_map_sharded_jit = jax.jit(_map_blocks, static_argnames=("fn", "mesh", "batch_size"))


def map_sharded(
    fn: Callable,
    *args: Any,
    mesh: Mesh | None = None,
    pad: bool = True,
    batch_size: int | None = None,
) -> Any:
    """``jax.vmap(fn)(*args)`` with the leading axis of ``args`` split across the devices.

    The leading axis of every argument is sharded: each device maps ``fn`` over its contiguous
    block (``shard_map``) and the output's leading axis is sharded the same way. Constants go in
    ``fn`` by closure or ``functools.partial``. Called eagerly, ``fn`` is the jit cache key (pass
    the same object to reuse the compiled code); inside ``jit`` any closure is fine.

    Args:
        fn: maps one slice of each argument (pytrees of arrays, leading axis removed) to a
            pytree of arrays.
        *args: pytrees of arrays that share the leading length ``n`` (the replication axis).
        mesh: a 1-D mesh (default :func:`device_mesh`).
        pad: if ``n`` is not a multiple of the device count, repeat the last slice up to
            :func:`padded_length` and drop those outputs; if False, raise instead.
        batch_size: ``None`` vmaps each device's whole block; an int maps it with
            ``jax.lax.map`` in chunks of ``batch_size`` (vmapped), bounding memory. A device's
            share is compiled at its own width, and XLA may round another width differently;
            ``batch_size=1`` keeps every element at width one, and PaRIS and PPG run that way
            are bit-identical on 1, 2 and 4 devices (tested), though XLA does not promise it.

    Returns:
        The pytree ``fn`` returns, each leaf with a leading axis ``n``: sharded across ``mesh``
        when ``n`` is a multiple of the device count, else the padded output trimmed (whatever
        layout the slice gives; use :func:`gather` to read it on any process).

    Raises:
        TypeError: if ``fn`` is not callable or an argument is not a pytree of arrays.
        ValueError: if the leading lengths differ or are 0, ``batch_size < 1``, or ``n`` is not
            a multiple of the device count and ``pad`` is False.
    """
    if not callable(fn):
        raise TypeError(f"fn: expected a callable, got {type(fn).__name__}")
    mesh = _check_mesh(mesh)
    pad = check_bool(pad, "pad")
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", minimum=1)
    if not args:
        raise ValueError("args: expected at least one batched argument, got none")
    n = _leading_length(args, "args")
    if n == 0:
        raise ValueError("args: expected a leading length >= 1, got 0")
    m = padded_length(n, mesh)
    if m != n and not pad:
        raise ValueError(
            f"args: expected a leading length that is a multiple of the {mesh.size} devices, "
            f"got {n} (pass pad=True, or use padded_length(n, mesh))"
        )
    args = jax.tree_util.tree_map(lambda x: _pad_leading(x, m), args)
    out = _map_sharded_jit(shard(args, mesh), fn, mesh, batch_size)
    return out if m == n else jax.tree_util.tree_map(lambda y: y[:n], out)


def replicate(
    fn: Callable, key: Any, n: int, *, mesh: Mesh | None = None, batch_size: int | None = None
) -> Any:
    """``n`` independent replications ``fn(k)`` for ``k`` in ``jax.random.split(key, n)``,
    the replication axis sharded across the devices.

    Equal to ``jax.vmap(fn)(jax.random.split(key, n))``: every process splits the same keys,
    so replication ``i`` does not depend on the device count. ``n`` need not be a multiple of
    the device count (see :func:`map_sharded`, which this calls).

    Args:
        fn: ``fn(key) -> pytree of arrays``.
        key: anything :func:`bayeskit.random.as_key` accepts (a traced key inside ``jit``).
        n: number of replications (>= 1).
        mesh: a 1-D mesh (default :func:`device_mesh`).
        batch_size: as in :func:`map_sharded`.

    Returns:
        ``fn``'s pytree, each leaf with a leading axis ``n`` (laid out as in :func:`map_sharded`).

    Raises:
        TypeError: if ``fn`` is not callable or ``key`` is not a key or seed.
        ValueError: if ``n < 1`` or ``batch_size < 1``.
    """
    if not callable(fn):
        raise TypeError(f"fn: expected a callable, got {type(fn).__name__}")
    key = as_key(key, "key")
    n = check_int(n, "n", minimum=1)
    keys = jax.random.split(key, n)
    return map_sharded(fn, keys, mesh=mesh, batch_size=batch_size)


def gather(tree: Any) -> Any:
    """Every array of ``tree`` as a NumPy array on the host of every process.

    A sharded array spanning several processes is all-gathered; one that this process holds
    entirely is copied. Typed keys come back as their ``key_data``.
    """

    def one(x: Any) -> np.ndarray:
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    _leaves(tree, "tree")
    return jax.tree_util.tree_map(one, tree)
