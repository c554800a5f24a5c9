"""Independent GP-HM solves (seeds, problems) spread over the devices, one host thread each.

A solve is a host loop over jitted chunks of steps, so solves are placed rather than sharded:
device ``j`` of ``D`` runs solves ``j, j + D, ...`` one after the other under
``jax.default_device``, and the ``D`` loops run in threads, which JAX releases while a device
computes. Each solve is the plain :func:`~bayeskit.gp_pde.solver.solve`, so its result is the
one-device result bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import jax

from bayeskit._blas import one_blas_thread
from bayeskit.gp_pde.problems import PDEProblem
from bayeskit.gp_pde.solution import GPSolution
from bayeskit.gp_pde.solver import solve
from bayeskit.parallel import device_mesh
from bayeskit.random import as_key

__all__ = ["solve_many"]


def solve_many(keys, problems, *, devices=None, **options) -> list[GPSolution]:
    """``[solve(keys[i], problems[i], **options) for i]``, the solves spread over ``devices``.

    Args:
        keys: a sequence of ``n`` PRNG keys or int seeds, one per solve (they matter only with
            ``init_noise > 0``).
        problems: one :class:`~bayeskit.gp_pde.problems.PDEProblem` for every solve, or a
            sequence of ``n``.
        devices: devices of this process to use (default ``jax.local_devices()``); on several
            hosts, give each process its own share of the solves.
        **options: keyword arguments of :func:`~bayeskit.gp_pde.solver.solve` (``progress``
            defaults to False here).

    Returns:
        A list of ``n`` :class:`~bayeskit.gp_pde.solution.GPSolution`, in input order, each
        equal bit for bit to the same ``solve`` call on one device.

    Raises:
        TypeError: if ``keys`` or ``problems`` is not a sequence, a problem is not a
            ``PDEProblem``, or ``devices`` holds something other than devices.
        ValueError: if ``keys`` is empty, ``problems`` has another length, ``devices`` is
            empty, repeats a device or names a device of another process; and whatever
            ``solve`` raises for an option.
    """
    if isinstance(keys, str | bytes) or not isinstance(keys, Sequence):
        raise TypeError(
            f"keys: expected a sequence of keys or int seeds, got {type(keys).__name__}"
        )
    keys = [as_key(k, f"keys[{i}]") for i, k in enumerate(keys)]
    n = len(keys)
    if n == 0:
        raise ValueError("keys: expected at least one key, got an empty sequence")
    if isinstance(problems, PDEProblem):
        problems = [problems] * n
    if isinstance(problems, str | bytes) or not isinstance(problems, Sequence):
        raise TypeError(
            f"problems: expected a PDEProblem or a sequence, got {type(problems).__name__}"
        )
    if len(problems) != n:
        raise ValueError(
            f"keys, problems: expected one key per problem, got {n} keys and {len(problems)} problems"
        )
    for i, problem in enumerate(problems):
        if not isinstance(problem, PDEProblem):
            raise TypeError(f"problems[{i}]: expected a PDEProblem, got {type(problem).__name__}")
    devices = list(device_mesh(jax.local_devices() if devices is None else devices).devices)
    remote = [d.id for d in devices if d.process_index != jax.process_index()]
    if remote:
        raise ValueError(f"devices: expected devices of this process, got ids {remote}")
    options.setdefault("progress", False)

    def share(j):
        with jax.default_device(devices[j]):
            return [solve(keys[i], problems[i], **options) for i in range(j, n, len(devices))]

    out = [None] * n
    # held here too, so that the threads' own limits nest inside one and never restore the default
    with one_blas_thread(), ThreadPoolExecutor(len(devices)) as pool:
        for j, sols in enumerate(pool.map(share, range(min(len(devices), n)))):
            out[j :: len(devices)] = sols
    return out
