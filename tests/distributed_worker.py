"""One process of tests/test_distributed.py: joins a two-process JAX job on loopback and saves
what the sharded computations return on this process.

Usage: ``python tests/distributed_worker.py PROCESS_ID PORT OUT.npz``, with
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (two CPU devices per process). The
workloads are in :func:`workloads`, which the test also runs in its own single process.
"""

import sys

import jax
import numpy as np

from bayeskit import parallel

N_PROCESSES = 2
TIMEOUT_S = 60  # the coordinator's wait for both processes; the test's limit is above it


def workloads() -> dict[str, np.ndarray]:
    """The sharded computations on every device of every process (x64 on)."""
    from bayeskit import thinning
    from bayeskit.kernels import Gaussian

    mesh = parallel.device_mesh()
    values = np.arange(32, dtype=np.float64)
    total = jax.jit(lambda v: v.sum())(parallel.shard(values, mesh))
    x = np.random.default_rng(0).standard_normal((4**5, 2))
    coreset = thinning.compresspp(3, x, Gaussian(lengthscale=2.0), g=2, mesh=mesh)
    estimates, paths = _ppg_chains(2, mesh)
    return {"sum": total, "compresspp": coreset, "ppg_estimates": estimates, "ppg_paths": paths}


def _ppg_chains(key, mesh, n_chains=4, n=8, n_iter=4):
    """PPG chains on the smc benchmark's LGSSM, one per device, through ``parallel.replicate``:
    ``smc.ppg(..., n_chains=, mesh=)`` reads its fault flags from an array that spans both
    processes, which fails there (December 2026), so the chains are built from its parts."""
    from bayeskit import smc
    from bayeskit.smc.benchmark import h_sxx, lgssm_1d
    from bayeskit.smc.paris import default_max_trials, flat_functional
    from bayeskit.smc.ppg import initial_path, ppg_iterations

    model, theta = lgssm_1d()
    _, ys = smc.simulate(1, model, theta, 10)
    h_flat, _, _ = flat_functional(h_sxx, model, theta, ys)
    args = (model, theta, ys, h_flat, theta, n, 2, "hybrid", default_max_trials(n))

    def chain(k):
        k_init, k_run = jax.random.split(k)
        path, _ = initial_path(k_init, *args)
        estimates, paths, _, _ = ppg_iterations(k_run, *args, n_iter, path)
        return estimates, paths

    return parallel.replicate(chain, key, n_chains, mesh=mesh, batch_size=1)


def main(process_id: int, port: int, out: str) -> None:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_enable_x64", True)
    address = f"127.0.0.1:{port}"
    jax.distributed.initialize(
        address,
        num_processes=N_PROCESSES,
        process_id=process_id,
        coordinator_bind_address=address,  # loopback only (the default binds every address)
        initialization_timeout=TIMEOUT_S,
    )
    try:
        assert jax.process_count() == N_PROCESSES, jax.process_count()
        results = parallel.gather(workloads())
        np.savez(out, device_count=jax.device_count(), **results)
    finally:
        jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
