"""Two JAX processes of two CPU devices each (gloo collectives, coordinator on loopback) run the
sharded workloads of tests/distributed_worker.py and match this single process (`make
distributed`)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from distributed_worker import N_PROCESSES, TIMEOUT_S, workloads

from bayeskit import parallel

pytestmark = pytest.mark.distributed

WORKER = Path(__file__).with_name("distributed_worker.py")
LIMIT_S = 4 * TIMEOUT_S  # startup, compilation and the workloads on 2 shared cores


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_job(tmp_path: Path) -> list[dict[str, np.ndarray]]:
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    env.pop("JAX_NUM_CPU_DEVICES", None)
    port = _free_port()
    outs = [tmp_path / f"process{i}.npz" for i in range(N_PROCESSES)]
    procs = []
    deadline = time.monotonic() + LIMIT_S
    try:
        for i, out in enumerate(outs):
            cmd = [sys.executable, str(WORKER), str(i), str(port), str(out)]
            procs.append(
                subprocess.Popen(
                    cmd,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,
                )
            )
        logs = [p.communicate(timeout=max(1.0, deadline - time.monotonic()))[0] for p in procs]
    finally:
        for p in procs:  # each worker leads its own process group: stop it and what it started
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    return [dict(np.load(out)) for out in outs]


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """(what each of the two processes computed, the same workloads in this one process)."""
    results = _run_job(tmp_path_factory.mktemp("distributed"))
    # x64 as the workers set it (globally: fbm's host callbacks run on another thread, which
    # does not see the thread-local jax.enable_x64 context)
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        single = parallel.gather(workloads())
    finally:
        jax.config.update("jax_enable_x64", before)
    return results, single


def test_two_processes_see_four_devices(both):
    results, _ = both
    assert [int(r["device_count"]) for r in results] == [4, 4]


@pytest.mark.parametrize(
    "name",
    ["sum", "compresspp", "ppg_estimates", "ppg_paths", "paris_estimates", "rlhf_regret"],
)
def test_sharded_result_matches_one_process(both, name):
    results, single = both
    for r in results:
        np.testing.assert_array_equal(r[name], single[name])


def test_sharded_fbm_elbo_matches_one_process(both):
    results, single = both
    for r in results:
        # float32: each of the 4 devices vmaps 2 paths instead of 8, which rounds differently
        # (measured 2e-6 in tests/test_multidevice.py)
        np.testing.assert_allclose(r["fbm_elbo"], single["fbm_elbo"], rtol=1e-5)
