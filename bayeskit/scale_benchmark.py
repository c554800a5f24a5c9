"""Benchmark ``scale`` (``bayeskit bench scale --json``): Compress++ in bounded memory, against
goodpoints, and each method on two CPU devices against one.

Every measurement runs in a fresh child process (``python -m bayeskit.scale_benchmark PAYLOAD``),
so that its peak resident memory is its own (read by :func:`bayeskit._subprocess.run_python`)
and ``XLA_FLAGS`` is set before JAX starts.

- Memory: KT-Compress++ (``g = 4``, target KT, ``block_size=1024``) on n = 2^20 points of
  N(0, I_2) in float64, Gaussian kernel of lengthscale sqrt(2 d); one call, compilation included.
- Against goodpoints (``compress.compresspp_kt``, the same g, kernel and points) at n = 2^18:
  ours on two seeds, timing the second call (the first compiles), goodpoints on the first of
  them (it compiles nothing). The coresets are scored by their MMD to N(0, I_2) itself, in
  closed form (:func:`bayeskit.thinning.mmd_to_normal`); ours is the mean over its two seeds.
  The ratio moves with the data and seeds: 0.99 and 1.10 in two runs (docs/parallel.md).
- Devices: the same work with ``--xla_force_host_platform_device_count=K`` for K = 1 and 2, and
  ``--xla_cpu_multi_thread_eigen=false``, ``PJRT_NPROC=1`` and ``OPENBLAS_NUM_THREADS=1`` so
  that a device computes on one thread (the flag alone leaves XLA's CPU thread pool at one
  thread per core: one device of a Compress++ level used 1.76 cores; ``PJRT_NPROC`` sizes that
  pool, and XLA's CPU LAPACK calls run in scipy's OpenBLAS); after a first call that compiles,
  three calls are timed and ``speedup_2dev_<method>`` is the ratio of their medians, 1 device
  over 2 (single calls of the thinning workload varied by 25% between runs).

Presets: ``quick`` (the sizes above); ``tiny`` (n = 2^12 and 2^10, small workloads: a check of
the machinery, its keys carry its own sizes).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np

from bayeskit._subprocess import run_python

_PRESETS = {
    "quick": {"log_n_memory": 20, "log_n_peer": 18, "work": "quick"},
    "tiny": {"log_n_memory": 12, "log_n_peer": 10, "work": "tiny"},
}
_D, _G = 2, 4
_CHILD_TIMEOUT_S = 1800.0  # a guard against a hung child; a loaded machine can take minutes


def _points(seed: int, log_n: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2**log_n, _D))


def _kernel():
    from bayeskit.kernels import Gaussian

    return Gaussian(lengthscale=np.sqrt(2.0 * _D))


def _compress(library: str, x: np.ndarray, seed: int) -> np.ndarray:
    if library == "goodpoints":
        from goodpoints import compress

        # goodpoints' "gaussian" is exp(-||x - y||^2 / k_params): k_params = 2 l^2 = 4 d
        k_params = np.array([4.0 * _D])
        return compress.compresspp_kt(x, b"gaussian", k_params=k_params, g=_G, seed=seed)
    from bayeskit.thinning import compresspp

    return np.asarray(compresspp(seed, x, _kernel(), g=_G, block_size=1024))


def _task_compress(library: str, data_seed: int, log_n: int, seeds: list[int]) -> dict[str, Any]:
    """Compress++ of ``library`` on the points of ``data_seed``, once per seed in ``seeds``:
    wall seconds and MMD to N(0, I) of each call, and the coreset size."""
    import jax

    from bayeskit.thinning import mmd_to_normal

    jax.config.update("jax_enable_x64", True)
    x = _points(data_seed, log_n)
    kernel = _kernel()
    seconds, mmds = [], []
    for seed in seeds:
        start = time.perf_counter()
        idx = _compress(library, x, seed)
        seconds.append(time.perf_counter() - start)
        mmds.append(mmd_to_normal(x[idx], kernel))
    return {"seconds": seconds, "mmd": mmds, "size": len(idx)}


def _work_thinning(size: str):
    """KT-Compress++ with each level's halvings split across the devices (``mesh=``), on the
    n = 2^18 points it is compared with goodpoints on. At n = 2^16 the top halving and the final
    KT, whose greedy swap steps run whole on each device, are a larger share: 1.42 there
    (3.54 s on one device, 2.49 s on two, 2026-12-03)."""
    from bayeskit.parallel import device_mesh
    from bayeskit.thinning import compresspp

    log_n, g = {"quick": (18, 4), "tiny": (10, 2)}[size]
    x, kernel, mesh = _points(0, log_n), _kernel(), device_mesh()
    return lambda: compresspp(1, x, kernel, g=g, mesh=mesh)


def _work_smc(size: str):
    """PPG chains (``ppg(..., n_chains=C)``) on the smc benchmark's 1-D LGSSM."""
    from bayeskit.parallel import device_mesh
    from bayeskit.smc import ppg, simulate
    from bayeskit.smc.benchmark import h_sxx, lgssm_1d

    n_chains, t, n = {"quick": (8, 200, 256), "tiny": (2, 20, 16)}[size]
    model, theta = lgssm_1d()
    _, ys = simulate(1, model, theta, t)
    mesh = device_mesh()
    return lambda: (
        ppg(
            2,
            model,
            theta,
            ys,
            h_sxx,
            n_particles=n,
            burn_in=2,
            iterations=4,
            n_chains=n_chains,
            mesh=mesh,
        ).estimate
    )


def _work_rlhf(size: str):
    """Thompson-sampling RLHF on RiverSwim (the rlhf benchmark's setting), seeds across devices."""
    from bayeskit.parallel import device_mesh
    from bayeskit.rlhf import ThompsonSampling, riverswim, run
    from bayeskit.rlhf.benchmark import RIVER

    seeds, episodes = {"quick": (8, 300), "tiny": (2, 10)}[size]
    env, mesh = riverswim(horizon=RIVER["horizon"]), device_mesh()
    agent = ThompsonSampling(epsilon=RIVER["ts_epsilon"], scale=RIVER["ts_scale"])
    return lambda: run(3, env, agent, episodes, scale=RIVER["scale"], seeds=seeds, mesh=mesh).regret


def _work_fbm(size: str):
    """The fBM ELBO of many sequences (one posterior path each), the paths across devices."""
    from bayeskit import fbm
    from bayeskit.fbm.exact import sample_fou
    from bayeskit.fbm.models import fractional_ou
    from bayeskit.parallel import device_mesh

    n_paths, dt = {"quick": (256, 0.01), "tiny": (4, 0.05)}[size]
    times, values = sample_fou(0, 0.3, 1.0, 0.5, n_obs=8, obs_dt=0.1, n_paths=n_paths)
    model = fractional_ou(0, hurst=0.5, obs_std=0.05, horizon=1.0, num_speeds=3)
    data, mesh = fbm.Observations(times, values[:, :, None]), device_mesh()
    return lambda: fbm.elbo(1, model, data, dt=dt, mesh=mesh)


def _work_gp_pde(size: str):
    """Independent GP-PDE solves (four seeds of the 1-D Poisson sin(100 x) problem) spread over
    the devices by ``gp_pde.solve_many``, each device in a host thread of its own."""
    import jax

    from bayeskit import gp_pde
    from bayeskit.gp_pde import problems

    grid, steps = {"quick": (200, 15), "tiny": (40, 2)}[size]
    problem = problems.get("poisson_1d_sin100", grid=grid)

    def call():
        sols = gp_pde.solve_many([0, 1, 2, 3], problem, devices=jax.devices(), steps=steps)
        return [s.values for s in sols]

    return call


_WORKLOADS = {
    "thinning": _work_thinning,
    "smc": _work_smc,
    "rlhf": _work_rlhf,
    "fbm": _work_fbm,
    "gp_pde": _work_gp_pde,
}


def _task_speedup(method: str, size: str, devices: int) -> dict[str, float]:
    import jax

    jax.config.update("jax_enable_x64", True)
    if jax.device_count() != devices:
        raise RuntimeError(f"expected {devices} forced CPU devices, got {jax.devices()}")
    call = _WORKLOADS[method](size)
    jax.block_until_ready(call())  # compiles
    cpu0, walls = _cpu_seconds(), []
    for _ in range(3):
        start = time.perf_counter()
        jax.block_until_ready(call())
        walls.append(time.perf_counter() - start)
    # cores in use: above 1 on one device means XLA already spread the work over both cores
    return {"seconds": float(np.median(walls)), "cores": (_cpu_seconds() - cpu0) / sum(walls)}


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_TASKS = {
    "compress": _task_compress,
    "speedup": _task_speedup,
}


def _child(task: str, env: dict[str, str] | None = None, **kwargs: Any) -> dict[str, float]:
    payload = json.dumps({"task": task, **kwargs})
    res = run_python(["-m", "bayeskit.scale_benchmark", payload], env=env, timeout=_CHILD_TIMEOUT_S)
    if res.returncode != 0:
        raise RuntimeError(f"scale benchmark child {payload} failed:\n{res.stderr[-2000:]}")
    return {**json.loads(res.stdout.strip().splitlines()[-1]), "peak_rss_gb": res.peak_rss_gb}


def _speedups(size: str) -> dict[str, float]:
    out = {}
    for method in _WORKLOADS:
        res = {}
        for k in (1, 2):
            flags = f"--xla_force_host_platform_device_count={k} --xla_cpu_multi_thread_eigen=false"
            env = {
                "XLA_FLAGS": flags,
                "JAX_PLATFORMS": "cpu",
                "PJRT_NPROC": "1",
                "OPENBLAS_NUM_THREADS": "1",
            }
            res[k] = _child("speedup", env, method=method, size=size, devices=k)
        for k in (1, 2):
            out[f"seconds_{k}dev_{method}"] = res[k]["seconds"]
            out[f"cores_{k}dev_{method}"] = res[k]["cores"]
        out[f"speedup_2dev_{method}"] = res[1]["seconds"] / res[2]["seconds"]
    return out


def run(preset: str = "quick", key: Any = 0) -> dict[str, Any]:
    """Run the scale benchmark (see the module docstring) and return flat metrics.

    Args:
        preset: ``"quick"`` (n = 2^20 and 2^18) or ``"tiny"`` (n = 2^12 and 2^10, small work).
        key: PRNG key or int seed (the points, and the seeds of both libraries).

    Returns:
        Dict with, for the preset's sizes ``2eB`` (memory) and ``2eP`` (against goodpoints):
        ``compresspp_peak_rss_gb_2eB``, ``compresspp_seconds_2eB`` (one call, compilation
        included); ``compresspp_seconds_2eP`` (the second call),
        ``compresspp_first_call_seconds_2eP``, ``goodpoints_compresspp_seconds_2eP`` (one call),
        ``speedup_vs_goodpoints_2eP``, ``mmd_compresspp_2eP`` (MMD to N(0, I_2), mean of two
        seeds) and ``mmd_goodpoints_2eP`` (one seed),
        ``mmd_ratio_vs_goodpoints_2eP``, the peak RSS of both at 2eP; for each method with a
        sharded workload ``seconds_1dev_<m>``, ``seconds_2dev_<m>`` (medians of three timed
        calls), ``speedup_2dev_<m>`` and ``cores_1dev_<m>``, ``cores_2dev_<m>`` (CPU seconds
        over wall seconds of the timed calls: above 1 on one device, XLA already runs that work
        on several cores); and
        ``preset``, ``seconds``.

    Raises:
        ValueError: for an unknown preset.
        RuntimeError: if a child process fails (its stderr is quoted).
    """
    import jax

    from bayeskit.random import as_key

    if preset not in _PRESETS:
        raise ValueError(f"preset: expected one of {', '.join(_PRESETS)}, got {preset!r}")
    cfg = _PRESETS[preset]
    start = time.perf_counter()
    data_seed, *seeds = (int(s) for s in jax.random.randint(as_key(key, "key"), (4,), 0, 2**30))
    big, peer = cfg["log_n_memory"], cfg["log_n_peer"]
    mem = _child("compress", library="bayeskit", data_seed=data_seed, log_n=big, seeds=seeds[:1])
    # ours twice (the first call compiles), goodpoints once (it compiles nothing)
    ours = _child("compress", library="bayeskit", data_seed=data_seed, log_n=peer, seeds=seeds[1:])
    gp = _child("compress", library="goodpoints", data_seed=data_seed, log_n=peer, seeds=seeds[1:2])
    ours_s, gp_s = ours["seconds"][-1], gp["seconds"][0]
    ours_mmd, gp_mmd = float(np.mean(ours["mmd"])), float(np.mean(gp["mmd"]))
    out: dict[str, Any] = {
        "preset": preset,
        f"compresspp_peak_rss_gb_2e{big}": mem["peak_rss_gb"],
        f"compresspp_seconds_2e{big}": mem["seconds"][0],
        f"compresspp_seconds_2e{peer}": ours_s,
        f"compresspp_first_call_seconds_2e{peer}": ours["seconds"][0],
        f"goodpoints_compresspp_seconds_2e{peer}": gp_s,
        f"speedup_vs_goodpoints_2e{peer}": gp_s / ours_s,
        f"mmd_compresspp_2e{peer}": ours_mmd,
        f"mmd_goodpoints_2e{peer}": gp_mmd,
        f"mmd_ratio_vs_goodpoints_2e{peer}": ours_mmd / gp_mmd,
        f"compresspp_peak_rss_gb_2e{peer}": ours["peak_rss_gb"],
        f"goodpoints_compresspp_peak_rss_gb_2e{peer}": gp["peak_rss_gb"],
        **_speedups(cfg["work"]),
    }
    out["seconds"] = time.perf_counter() - start
    return out


def _main(payload: str) -> None:
    kwargs = json.loads(payload)
    result = _TASKS[kwargs.pop("task")](**kwargs)
    print(json.dumps(result, default=float))


if __name__ == "__main__":
    _main(sys.argv[1])
