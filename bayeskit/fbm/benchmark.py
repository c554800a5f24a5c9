"""Benchmark for ``bayeskit bench fbm``: MA-fBM accuracy, fBM bridge posterior, Hurst recovery.

Daems, Opper, Crevecoeur & Birdal, "Variational Inference for SDEs Driven by Fractional Noise",
ICLR 2024. The paper's own numbers (Fig. 2 is qualitative; the Hurst table was not retrieved) are
not available, so ``PAPER`` is empty and the targets are the exact ground truths computed here.

Presets:
    quick: covariance errors; bridge (type 2, H = 0.7, T = 2, 200 solver steps, batch 32,
        2 x 64 control MLP); Hurst recovery for H = 0.3 and H = 0.7 with identical settings.
    paper: the same bridge trained longer, and Hurst recovery for H in {0.2, 0.3, 0.5, 0.7, 0.8}.

Hurst recovery: 32 exact fOU paths (theta = 1, sigma = 0.5) x 100 observations on [0, 5] with
noise sd 0.05 (known); the VI model starts at H = 0.5, theta = 1, sigma = 1 and is guided
(:mod:`bayeskit.fbm.guide`). Beside the VI estimate: the exact-fBM MLE (``fou_mle``) and the MLE
of the MA-fBM model itself (``mafbm_mle``, the Kalman likelihood), which is what a tight ELBO
approaches; ``elbo_gap_per_obs`` is the exact MA-fBM log-likelihood minus the ELBO at the learned
parameters, in nats per observation, averaged over the fitted H values. The Hurst model is type 2
with K = 7 speeds in [0.01, 100]: exact OU transitions make the fast speeds free (no step-size
limit), and the wider range shrinks the approximation bias (brief 4.2).
"""

from __future__ import annotations

import time

import jax
import numpy as np
import optax

from bayeskit._progress import stage_bar
from bayeskit.fbm.exact import fbm_covariance, fou_mle, sample_fou
from bayeskit.fbm.kalman import linear_parameters, mafbm_log_likelihood, mafbm_mle
from bayeskit.fbm.mafbm import KINDS, check_hurst, ma_covariance, optimal_omega, speed_grid
from bayeskit.fbm.models import fbm_bridge, fractional_ou
from bayeskit.fbm.sde import FractionalSDE
from bayeskit.fbm.vi import Observations, elbo, fit
from bayeskit.random import KeyStream, as_key
from bayeskit.validate import check_array, check_choice, check_instance, check_scalar

__all__ = ["run", "PAPER", "bridge_exact_std", "covariance_error"]

PAPER: dict[str, float] = {}

_PRESETS = {
    "quick": {
        "bridge_steps": 6000,
        "hurst_steps": 800,
        "hursts": (0.3, 0.7),
        "eval_paths": 8192,
    },
    "paper": {
        "bridge_steps": 12000,
        "hurst_steps": 1500,
        "hursts": (0.2, 0.3, 0.5, 0.7, 0.8),
        "eval_paths": 16384,
    },
}


def covariance_error(hurst: float, kind: str, *, num_speeds: int = 5, gamma_max: float = 20.0):
    """Relative sup-norm error ``sup|C_hat - C| / sup|C|`` of MA-fBM on a 21-point grid of [0, 1]."""
    hurst = check_hurst(hurst)
    check_choice(kind, "kind", KINDS)
    g = speed_grid(num_speeds, gamma_max)
    t = np.linspace(0.0, 1.0, 21)
    with jax.enable_x64(True):
        w = np.asarray(optimal_omega(np.float64(hurst), g, kind=kind))
        exact = np.asarray(fbm_covariance(t, t, np.float64(hurst), kind=kind))
        approx = np.asarray(ma_covariance(t, t, w, g, kind=kind))
    return float(np.abs(exact - approx).max() / np.abs(exact).max())


def bridge_exact_std(sde, times, obs_std: float):
    """Exact posterior std of a driftless, unit-diffusion MA-fBM prior given ``x(T) = 0``.

    ``times`` is the grid (shape ``(n,)``) and must end at the observation time ``T``.

    The prior is Gaussian, so the conditional variance is ``C(t,t) - C(t,T)^2 / (C(T,T) + s^2)``
    with ``C`` the exact MA-fBM covariance (:func:`ma_covariance`); the conditional mean is 0.
    """
    check_instance(sde, "sde", FractionalSDE)
    check_array(times, "times", ndim=1)
    t = np.asarray(times, np.float64)
    if t.shape[0] < 1 or np.any(t < 0):
        raise ValueError(f"times: expected a non-empty grid of times >= 0, got {t[:8]}")
    obs_std = check_scalar(obs_std, "obs_std", 0.0, None)
    w = np.asarray(sde.omega(), np.float64)
    with jax.enable_x64(True):
        cov = np.asarray(ma_covariance(t, t, w, np.asarray(sde.gammas), kind=sde.kind))
    var = np.diag(cov) - cov[:, -1] ** 2 / (cov[-1, -1] + obs_std**2)
    return np.sqrt(np.clip(var, 0.0, None))


def _bridge(ks, steps, eval_paths):
    horizon, dt, obs_std = 2.0, 0.01, 0.1
    model, data = fbm_bridge(ks(), hurst=0.7, horizon=horizon, obs_std=obs_std)
    opt = optax.adam(optax.cosine_decay_schedule(2e-3, steps, alpha=0.1))

    # seconds per training step (batch 32, 200 solver steps, 2 x 64 control), after compiling:
    # fit caches its jitted step per optimizer, so a one-step fit compiles and a second fit
    # times steps only
    fit(ks(), model, data, steps=1, dt=dt, batch_size=32, optimizer=opt, progress=False)
    n_timed = 50
    start = time.perf_counter()
    timed = fit(
        ks(), model, data, steps=n_timed, dt=dt, batch_size=32, optimizer=opt, progress=False
    )
    jax.block_until_ready(timed.losses)
    seconds_per_step = (time.perf_counter() - start) / n_timed

    result = fit(ks(), model, data, steps=steps, dt=dt, batch_size=32, optimizer=opt)
    sim = result.sample_paths(ks(), eval_paths)
    x = np.asarray(sim.x[0, :, :, 0], np.float64)
    t = np.asarray(sim.times, np.float64)
    exact_std = bridge_exact_std(result.model.sde, t, obs_std)
    inside = (t >= 0.2 - 1e-9) & (t <= 1.8 + 1e-9)
    rel = x.std(axis=0)[inside] / exact_std[inside] - 1.0  # exact std is 0 at t = 0
    return {
        "bridge_std_rel_err": float(np.abs(rel).max()),
        "bridge_mean_abs_err": float(np.abs(x.mean(axis=0)[inside]).max()),
        "bridge_steps": steps,
        "seconds_per_step": seconds_per_step,
        "_bridge": (t, x.std(axis=0), exact_std, np.asarray(result.losses)),
    }


def _hurst(ks, hurst, steps):
    """Fit one H: returns the VI parameters, both MLEs, the ELBO gap per observation, the trace."""
    obs_dt, n_obs, obs_noise, horizon = 0.05, 100, 0.05, 5.0
    times, values = sample_fou(
        ks(), hurst, 1.0, 0.5, n_obs=n_obs, obs_dt=obs_dt, n_paths=32, obs_noise=obs_noise
    )
    times, values = np.asarray(times, np.float64), np.asarray(values, np.float64)
    mle = fou_mle(values, obs_dt=obs_dt, obs_noise=obs_noise)
    model = fractional_ou(
        ks(),
        hurst=0.5,
        theta=1.0,
        sigma=1.0,
        obs_std=obs_noise,
        horizon=horizon,
        kind="type2",
        num_speeds=7,
        gamma_max=100.0,
    )
    fixed = {
        k: v for k, v in linear_parameters(model).items() if k not in ("hurst", "theta", "sigma")
    }
    ma_mle = mafbm_mle(times, values, **fixed)
    data = Observations(times, values[:, :, None])
    dt = obs_dt / 2
    opt = optax.adam(optax.cosine_decay_schedule(2e-2, steps, alpha=0.1))
    result = fit(ks(), model, data, steps=steps, dt=dt, batch_size=32, optimizer=opt)
    exact = mafbm_log_likelihood(times, values, **linear_parameters(result.model))
    bound = np.asarray(elbo(ks(), result.model, data, dt=dt)[0], np.float64)
    params = {k: float(v) for k, v in result.model.parameters().items()}
    gap = float(np.mean(exact - bound)) / n_obs
    return params, mle, ma_mle, gap, np.asarray(result.hurst)


def run(preset: str = "quick", key=0) -> dict:
    """Run the fbm benchmark (see the module docstring); returns flat JSON metrics + ``_figure``."""
    check_choice(preset, "preset", tuple(_PRESETS))
    ks = KeyStream(as_key(key, "key"))
    cfg = _PRESETS[preset]
    start = time.perf_counter()
    out: dict = {
        "cov_rel_err_type2_h02": covariance_error(0.2, "type2"),
        "cov_rel_err_type2_h07": covariance_error(0.7, "type2"),
        "cov_rel_err_type1_h07": covariance_error(0.7, "type1"),
    }
    stages = ["fBM bridge"] + [f"Hurst recovery, H = {h}" for h in cfg["hursts"]]
    # float32 training whatever the caller's global precision (the CLI turns x64 on); the weight
    # solve and the exact likelihood run in float64 internally
    with jax.enable_x64(False), stage_bar("fbm", stages) as next_stage:
        next_stage()
        bridge = _bridge(ks, cfg["bridge_steps"], cfg["eval_paths"])
        traces, gaps, errors = {}, [], []
        for h in cfg["hursts"]:
            next_stage()
            params, mle, ma_mle, gap, trace = _hurst(ks, h, cfg["hurst_steps"])
            traces[h] = trace
            gaps.append(gap)
            errors.append(abs(params["hurst"] - h))
            tag = f"_h{int(round(h * 10)):02d}"
            out.update(
                {
                    f"hurst_vi{tag}": params["hurst"],
                    f"hurst_mle{tag}": mle.hurst,
                    f"hurst_exact_mle{tag}": mle.hurst,
                    f"hurst_mafbm_mle{tag}": ma_mle.hurst,
                    f"theta_vi{tag}": params["theta"],
                    f"sigma_vi{tag}": params["sigma"],
                    f"elbo_gap_per_obs{tag}": gap,
                }
            )
    t, std, exact_std, losses = bridge.pop("_bridge")
    out.update(bridge)
    h_main = 0.7
    tag = "_h07"
    out.update(
        {
            "hurst_true": h_main,
            "hurst_vi": out[f"hurst_vi{tag}"],
            "hurst_abs_err_vi": max(errors),
            "elbo_gap_per_obs": float(np.mean(gaps)),
            "hurst_exact_mle": out[f"hurst_exact_mle{tag}"],
            "hurst_abs_err_exact_mle": abs(out[f"hurst_exact_mle{tag}"] - h_main),
            "steps": cfg["hurst_steps"],
            "preset": preset,
        }
    )
    out["_figure"] = _figure(t, std, exact_std, losses, traces)
    out["seconds"] = time.perf_counter() - start
    return out


def _figure(t, std, exact_std, losses, traces):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(t, exact_std, "k-", label="exact MA-fBM bridge")
    axes[0].plot(t, std, "C1--", label="VI posterior")
    axes[0].set(xlabel="t", ylabel="posterior std", title="fBM bridge, H = 0.7")
    axes[0].legend()
    axes[1].plot(losses, lw=0.5)
    axes[1].set(xlabel="step", ylabel="-ELBO", yscale="symlog", title="bridge training")
    for h, trace in traces.items():
        axes[2].plot(trace, label=f"true H = {h}")
        axes[2].axhline(h, color="gray", lw=0.5)
    axes[2].set(xlabel="step", ylabel="H", title="Hurst recovery (fOU)")
    axes[2].legend()
    fig.tight_layout()
    return fig
