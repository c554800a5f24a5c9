"""ParisResult.to_inference_data: one PaRIS run as one draw, per-run statistics in sample_stats."""

import warnings

import arviz as az
import numpy as np
from conftest import h_sxx

from bayeskit.smc.paris import paris


def test_paris_inference_data_round_trips_the_result(lg1):
    model, theta, ys = lg1
    runs = [paris(k, model, theta, ys, h_sxx, n_particles=8, sampler="exact") for k in (0, 1)]
    idata = runs[0].to_inference_data()
    assert idata.posterior["estimate"].dims == ("chain", "draw", "h_dim")
    np.testing.assert_array_equal(idata.posterior["estimate"].values, runs[0].estimate[None, None])
    stats = idata.sample_stats
    assert stats["ess"].dims == ("chain", "draw", "time")
    np.testing.assert_array_equal(stats["time"].values, np.arange(50))
    np.testing.assert_array_equal(stats["ess"].values[0, 0], runs[0].ess)
    assert stats["marginal_log_likelihood"].values[0, 0] == runs[0].log_likelihood
    for name in ("mean_proposals", "mean_evaluations", "fallback_fraction", "bound_excess"):
        assert stats[name].values[0, 0] == getattr(runs[0], name)
    # independent runs stack along draw; ArviZ then summarises their Monte Carlo spread
    both = az.concat(*(r.to_inference_data() for r in runs), dim="draw", reset_dim=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = az.summary(both, kind="stats", round_to="none")
    ests = np.stack([r.estimate for r in runs])
    np.testing.assert_allclose(table["mean"].values, ests.mean(0), rtol=1e-14)
    np.testing.assert_allclose(table["sd"].values, ests.std(0, ddof=1), rtol=1e-12)
