"""bayeskit.scale_benchmark: the child protocol on a real (small) child, and how run() turns the
children's reports into its metrics (children faked: a real quick run takes minutes)."""

import pytest

from bayeskit import scale_benchmark as sb


def test_a_child_reports_its_calls_and_its_own_peak_memory():
    out = sb._child("compress", library="goodpoints", data_seed=3, log_n=8, seeds=[1, 2])
    assert len(out["seconds"]) == len(out["mmd"]) == 2
    assert out["size"] == 16  # sqrt(2^8)
    assert all(m > 0 for m in out["mmd"]) and out["mmd"][0] != out["mmd"][1]  # two seeds
    assert 0.01 < out["peak_rss_gb"] < 5


def test_a_failing_child_raises_with_its_error():
    with pytest.raises(RuntimeError, match="KeyError: 'nope'"):
        sb._child("nope")


def test_run_assembles_the_metrics(monkeypatch):
    calls = []

    def fake_child(task, env=None, **kw):
        calls.append((task, env, kw))
        if task == "speedup":
            return {
                "seconds": 6.0 / kw["devices"],
                "cores": 0.9 * kw["devices"],
                "peak_rss_gb": 0.5,
            }
        ours, n_seeds = kw["library"] == "bayeskit", len(kw["seeds"])
        return {
            "seconds": ([9.0, 2.0] if ours else [5.0])[:n_seeds],
            "mmd": ([1.0, 2.0] if ours else [3.0])[:n_seeds],
            "size": 32,
            "peak_rss_gb": 1.5 if ours else 2.5,
        }

    monkeypatch.setattr(sb, "_child", fake_child)
    out = sb.run("tiny", key=4)
    assert out["compresspp_peak_rss_gb_2e12"] == 1.5
    assert out["compresspp_seconds_2e12"] == 9.0  # the one call at the memory size
    assert out["compresspp_seconds_2e10"] == 2.0  # the second (compiled) call
    assert out["compresspp_first_call_seconds_2e10"] == 9.0
    assert out["goodpoints_compresspp_seconds_2e10"] == 5.0
    assert out["speedup_vs_goodpoints_2e10"] == 2.5
    assert out["mmd_ratio_vs_goodpoints_2e10"] == 0.5  # our mean 1.5 over 3
    assert out["goodpoints_compresspp_peak_rss_gb_2e10"] == 2.5
    for method in sb._WORKLOADS:
        assert out[f"speedup_2dev_{method}"] == 2.0
        assert out[f"cores_1dev_{method}"] == 0.9 and out[f"cores_2dev_{method}"] == 1.8
    assert out["preset"] == "tiny" and out["seconds"] > 0
    # one compress child per size and library, on the same points; two per method for devices
    compress = [kw for task, _, kw in calls if task == "compress"]
    assert [(kw["library"], kw["log_n"], len(kw["seeds"])) for kw in compress] == [
        ("bayeskit", 12, 1),
        ("bayeskit", 10, 2),
        ("goodpoints", 10, 1),
    ]
    assert len({kw["data_seed"] for kw in compress}) == 1
    assert compress[1]["seeds"][0] == compress[2]["seeds"][0]
    flags = [env["XLA_FLAGS"] for task, env, _ in calls if task == "speedup"]
    assert flags == [
        f"--xla_force_host_platform_device_count={k} --xla_cpu_multi_thread_eigen=false"
        for _ in sb._WORKLOADS
        for k in (1, 2)
    ]
    # the key decides the points and seeds
    first = [kw["data_seed"] for _, _, kw in calls if "data_seed" in kw][0]
    calls.clear()
    sb.run("tiny", key=5)
    assert [kw["data_seed"] for _, _, kw in calls if "data_seed" in kw][0] != first


def test_run_rejects_an_unknown_preset():
    with pytest.raises(ValueError, match="preset: expected one of quick, tiny, got 'paper'"):
        sb.run("paper")
