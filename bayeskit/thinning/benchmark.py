"""Benchmark: bayeskit kernel thinning and KT-Compress++ against goodpoints, and MMD rates.

Setup (issue 3): P = N(0, I_d), Gaussian kernel with bandwidth sqrt(2d), m = log2 sqrt(n),
delta = 0.5, float64, the same points for both libraries. Timings are wall seconds of one call
after one warm-up call, kernel construction included (goodpoints' ``kt.thin(store_K=True)``
builds its matrix in a Python loop; its warm-up runs at n = 2^8 since it has no compilation).
MMD is measured to the full input. ``mmd_kt`` and ``mmd_goodpoints`` average the timed call and
two more seeds (goodpoints' extra seeds run ``thin_K`` on the same matrix: the same algorithm).

Presets: ``quick``: head-to-head at n = 2^14, d = 2; slopes over n = 2^8 .. 2^14.
``paper``: also d = 10 (keys suffixed ``_d10``), slopes up to n = 2^16 (streaming KT).
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayeskit._progress import stage_bar
from bayeskit.kernels import Gaussian
from bayeskit.random import as_key
from bayeskit.thinning.compress import compresspp
from bayeskit.thinning.kt import iid, thin

# Rates claimed by the papers: MMD ~ n^(-1/2) (up to logs) for KT with sqrt(n) points, versus
# n^(-1/4) for i.i.d. thinning (Dwivedi & Mackey 2021, abstract and section 1).
PAPER = {"slope_kt": -0.5, "slope_iid": -0.25, "mmd_ratio_vs_goodpoints": 1.0}

_PRESETS = {
    "quick": {"dims": (2,), "head": 14, "sizes": (8, 10, 12, 14)},
    "paper": {"dims": (2, 10), "head": 14, "sizes": (8, 10, 12, 14, 16)},
}
_EXTRA_SEEDS = 2
_IID_KEYS = 10
_STREAM_FROM = 15  # n >= 2^15: a dense float64 kernel matrix would need >= 8 GiB


def _points(d: int, log_n: int) -> np.ndarray:
    return np.random.default_rng(12345 + 1000 * d + log_n).standard_normal((2**log_n, d))


def _kmat(x: np.ndarray, d: int) -> np.ndarray:
    sq = (x * x).sum(1)
    # Blocked, in place: avoids an (n, n, d) temporary at n = 2^14.
    out = np.empty((x.shape[0], x.shape[0]))
    for s in range(0, x.shape[0], 2048):
        blk = sq[s : s + 2048, None] + sq[None] - 2 * x[s : s + 2048] @ x.T
        np.exp(-np.maximum(blk, 0) / (4 * d), out=out[s : s + 2048])
    return out


class _Mmd:
    """Exact MMD to the input from a dense kernel matrix (row means cached)."""

    def __init__(self, kmat: np.ndarray):
        self.kmat = kmat
        self.row_mean = kmat.mean(axis=1)
        self.total = self.row_mean.mean()

    def __call__(self, idx: Any) -> float:
        s = np.asarray(idx)
        sq = self.total - 2 * self.row_mean[s].mean() + self.kmat[np.ix_(s, s)].mean()
        return float(np.sqrt(max(sq, 0.0)))


def _timed(fn):
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - start


def _slope(log_n: list[int], values: list[float]) -> float:
    return float(np.polyfit(np.asarray(log_n) * np.log(2), np.log(values), 1)[0])


def _head_to_head(key, d: int, log_n: int) -> dict[str, float]:
    from goodpoints import compress as gp_compress
    from goodpoints import kt as gp_kt

    n, m = 2**log_n, log_n // 2
    x_np = _points(d, log_n)
    x = jnp.asarray(x_np)
    kern = Gaussian(lengthscale=np.sqrt(2.0 * d))
    keys = jax.random.split(key, 2 + _EXTRA_SEEDS)
    seed = int(jax.random.randint(keys[0], (), 0, 2**30))

    def gp_kernel(y, pts):
        return np.exp(-((pts - y) ** 2).sum(-1) / (4.0 * d))

    thin(keys[1], x, m, kern).block_until_ready()  # warm-up: compiles
    kt_idx, kt_s = _timed(lambda: thin(keys[0], x, m, kern))
    small = _points(d, 8)
    gp_kt.thin(small, 4, gp_kernel, gp_kernel, delta=0.5, seed=0, store_K=True)  # warm-up
    gp_idx, gp_s = _timed(
        lambda: gp_kt.thin(x_np, m, gp_kernel, gp_kernel, delta=0.5, seed=seed, store_K=True)
    )
    compresspp(keys[1], x, kern, g=4).block_until_ready()  # warm-up
    cpp_idx, cpp_s = _timed(lambda: compresspp(keys[0], x, kern, g=4))
    k_params = np.array([4.0 * d])  # goodpoints' "gaussian" is exp(-||x-y||^2 / k_params)
    gp_compress.compresspp_kt(small, b"gaussian", k_params=k_params, g=4, seed=0)  # warm-up
    _, gp_cpp_s = _timed(
        lambda: gp_compress.compresspp_kt(x_np, b"gaussian", k_params=k_params, g=4, seed=seed)
    )

    kmat = _kmat(x_np, d)
    mmd = _Mmd(kmat)
    kt_mmds = [mmd(kt_idx)] + [mmd(thin(k, x, m, kern)) for k in keys[2:]]
    gp_mmds = [mmd(gp_idx)] + [
        mmd(gp_kt.thin_K(kmat, kmat, m, delta=0.5, seed=seed + 1 + i)) for i in range(_EXTRA_SEEDS)
    ]
    iid_keys = jax.random.split(keys[1], _IID_KEYS)
    mmd_iid = float(np.mean([mmd(iid(k, n, 2**m)) for k in iid_keys]))
    mmd_kt, mmd_gp = float(np.mean(kt_mmds)), float(np.mean(gp_mmds))
    return {
        "n": n,
        "d": d,
        "mmd_kt": mmd_kt,
        "mmd_iid": mmd_iid,
        "mmd_goodpoints": mmd_gp,
        "mmd_ratio_vs_goodpoints": mmd_kt / mmd_gp,
        "kt_seconds": kt_s,
        "goodpoints_seconds": gp_s,
        "speedup_vs_goodpoints": gp_s / kt_s,
        "mmd_compresspp": mmd(cpp_idx),
        "compresspp_seconds": cpp_s,
        "goodpoints_compresspp_seconds": gp_cpp_s,
        "speedup_vs_goodpoints_compresspp": gp_cpp_s / cpp_s,
    }


def _rates(key, d: int, sizes, head: dict[str, float] | None):
    kern = Gaussian(lengthscale=np.sqrt(2.0 * d))
    kt_curve, iid_curve = [], []
    for log_n in sizes:
        n, m = 2**log_n, log_n // 2
        if head is not None and n == head["n"]:
            kt_curve.append(head["mmd_kt"])
            iid_curve.append(head["mmd_iid"])
            continue
        x_np = _points(d, log_n)
        x = jnp.asarray(x_np)
        block = 2048 if log_n >= _STREAM_FROM else None
        keys = jax.random.split(jax.random.fold_in(key, log_n), 1 + _EXTRA_SEEDS + _IID_KEYS)
        kt_idx = [thin(k, x, m, kern, block_size=block) for k in keys[: 1 + _EXTRA_SEEDS]]
        iid_idx = [iid(k, n, 2**m) for k in keys[1 + _EXTRA_SEEDS :]]
        if block is None:
            mmd = _Mmd(_kmat(x_np, d))
        else:
            from bayeskit.thinning.mmd import mmd as blocked_mmd

            def mmd(idx, x=x, block=block):
                return blocked_mmd(x, kern, idx=idx, block_size=block)

        kt_curve.append(float(np.mean([mmd(i) for i in kt_idx])))
        iid_curve.append(float(np.mean([mmd(i) for i in iid_idx])))
    return kt_curve, iid_curve


def _figure(sizes, curves):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ns = [2**s for s in sizes]
    for label, (kt_curve, iid_curve) in curves.items():
        ax.loglog(ns, kt_curve, "o-", label=f"KT {label}")
        ax.loglog(ns, iid_curve, "s--", label=f"iid {label}")
    ax.set_xlabel("input size n (coreset size sqrt(n))")
    ax.set_ylabel("MMD to the input")
    ax.set_title("Kernel thinning vs i.i.d. thinning")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def run(preset: str = "quick", key: Any = 0) -> dict[str, Any]:
    """Run the thinning benchmark (see the module docstring) and return flat metrics.

    Args:
        preset: ``"quick"`` (under 3 minutes on 2 cores) or ``"paper"``.
        key: PRNG key or int seed.

    Returns:
        Dict with ``n, d, mmd_kt, mmd_iid, mmd_goodpoints, mmd_ratio_vs_goodpoints, kt_seconds,
        goodpoints_seconds, speedup_vs_goodpoints, mmd_compresspp, compresspp_seconds,
        goodpoints_compresspp_seconds, speedup_vs_goodpoints_compresspp, slope_kt, slope_iid``
        (d = 2), the same with suffix ``_d10`` for the paper preset, ``preset``, ``seconds``
        and a ``_figure`` (MMD vs n, log-log).

    Raises:
        ValueError: for an unknown preset.
    """
    if preset not in _PRESETS:
        raise ValueError(f"preset: expected one of {', '.join(_PRESETS)}, got {preset!r}")
    cfg = _PRESETS[preset]
    start = time.perf_counter()
    key = as_key(key, "key")
    out: dict[str, Any] = {"preset": preset}
    curves = {}
    stages = [f"{part}, d = {d}" for d in cfg["dims"] for part in ("head to head", "MMD rates")]
    with jax.enable_x64(True), stage_bar("thinning", stages) as next_stage:
        for d in cfg["dims"]:
            dkey = jax.random.fold_in(key, d)
            next_stage()
            head = _head_to_head(dkey, d, cfg["head"])
            next_stage()
            kt_curve, iid_curve = _rates(dkey, d, cfg["sizes"], head)
            head["slope_kt"] = _slope(cfg["sizes"], kt_curve)
            head["slope_iid"] = _slope(cfg["sizes"], iid_curve)
            suffix = "" if d == 2 else f"_d{d}"
            out.update({f"{k}{suffix}": v for k, v in head.items()})
            curves[f"d={d}"] = (kt_curve, iid_curve)
    out["seconds"] = time.perf_counter() - start
    out["_figure"] = _figure(cfg["sizes"], curves)
    return out
