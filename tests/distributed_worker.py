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
    return {
        "sum": total,
        "compresspp": coreset,
        "ppg_estimates": estimates,
        "ppg_paths": paths,
        "paris_estimates": _paris_replications(4, mesh),
        "rlhf_regret": _rlhf_seeds(5, mesh),
        "fbm_elbo": _fbm_elbo(6, mesh),
    }


def _ppg_chains(key, mesh, n_chains=4, n=8, n_iter=4):
    """PPG chains on the smc benchmark's LGSSM through ``smc.ppg(..., n_chains=, mesh=)``."""
    from bayeskit import smc
    from bayeskit.smc.benchmark import h_sxx, lgssm_1d

    model, theta = lgssm_1d()
    _, ys = smc.simulate(1, model, theta, 10)
    result = smc.ppg(
        key, model, theta, ys, h_sxx, n_particles=n, burn_in=0, iterations=n_iter, n_chains=n_chains,
        mesh=mesh, progress=False,
    )  # fmt: skip
    return result.estimates, result.paths


def _paris_replications(key, mesh, n_replications=4, n=8):
    """PaRIS replications on the smc benchmark's LGSSM through ``smc.paris(..., mesh=)``."""
    from bayeskit import smc
    from bayeskit.smc.benchmark import h_sxx, lgssm_1d

    model, theta = lgssm_1d()
    _, ys = smc.simulate(1, model, theta, 10)
    result = smc.paris(
        key, model, theta, ys, h_sxx, n_particles=n, n_replications=n_replications, mesh=mesh,
        progress=False,
    )  # fmt: skip
    return result.estimate


def _rlhf_seeds(key, mesh, seeds=4, episodes=6):
    """Regret curves of ``rlhf.run(..., seeds=, mesh=)`` on a small dueling bandit."""
    from bayeskit import rlhf

    env = rlhf.dueling_bandit(0, 3, 4)
    agent = rlhf.PRLSVI(sigma_r=0.5, sigma_p=0.0, epsilon=0.05)
    log = rlhf.run(key, env, agent, episodes, scale=3.0, seeds=seeds, mesh=mesh, progress=False)
    return log.regret


def _fbm_elbo(key, mesh, n_paths=8):
    """Per-sequence ELBO terms of ``fbm.elbo(..., mesh=)`` (the paths split across devices)."""
    from bayeskit import fbm
    from bayeskit.fbm.exact import sample_fou
    from bayeskit.fbm.models import fractional_ou

    times, values = sample_fou(0, 0.3, 1.0, 0.5, n_obs=4, obs_dt=0.1, n_paths=n_paths)
    model = fractional_ou(0, hurst=0.5, obs_std=0.05, horizon=0.5, num_speeds=3)
    data = fbm.Observations(times, values[:, :, None])
    return fbm.elbo(key, model, data, dt=0.05, mesh=mesh)[0]


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
