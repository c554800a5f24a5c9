"""Tests for bayeskit.thinning.inference: thinning an ArviZ InferenceData chain by chain."""

import warnings

import arviz as az
import numpy as np
import pytest

from bayeskit.summary import to_inference_data
from bayeskit.thinning import thin_inference_data


@pytest.fixture(scope="module")
def idata():
    rng = np.random.default_rng(0)
    draws = {"mu": rng.normal(size=(2, 64)), "beta": rng.normal(3.0, 10.0, size=(2, 64, 2))}
    return to_inference_data(
        draws,
        sample_stats={"lp": rng.normal(size=(2, 64))},
        log_likelihood={"y": rng.normal(size=(2, 64, 5))},
        observed_data={"y": np.arange(5.0)},
        constant_data={"x": np.linspace(0.0, 1.0, 5)},
        coords={"coef": ["a", "b"]},
        dims={"beta": ["coef"]},
        attrs={"source": "test"},
    )


def test_each_chain_is_thinned_and_paired_groups_follow(idata):
    out = thin_inference_data(0, idata, 3)
    assert set(out.groups()) == set(idata.groups())
    post = out.posterior
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 8
    assert list(post["beta"].coords["coef"].values) == ["a", "b"]
    idx = out.sample_stats["thin_index"].values
    assert idx.shape == (2, 8)
    # flat index chain * 64 + draw: chain c keeps its own draws, in MCMC order
    assert np.all(idx[0] < 64) and np.all(idx[1] >= 64)
    assert np.all(np.diff(idx, axis=1) >= 0)

    def rows(group, name):
        arr = idata[group][name].values
        return arr.reshape(128, *arr.shape[2:])[idx]

    np.testing.assert_array_equal(post["beta"].values, rows("posterior", "beta"))
    np.testing.assert_array_equal(post["mu"].values, rows("posterior", "mu"))
    np.testing.assert_array_equal(out.log_likelihood["y"].values, rows("log_likelihood", "y"))
    np.testing.assert_array_equal(out.sample_stats["lp"].values, rows("sample_stats", "lp"))
    assert out.observed_data.equals(idata.observed_data)
    assert out.constant_data.equals(idata.constant_data)
    assert out.attrs["source"] == "test" and out.attrs["thinning_m"] == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # two chains of 8 draws: no shape warning from ArviZ
        summary = az.summary(out)
    assert set(summary.index) == {"mu", "beta[a]", "beta[b]"}
    assert np.all(np.isfinite(summary["r_hat"]))
    assert np.all(np.isfinite(az.rhat(out).to_array().values))


def test_same_key_same_coreset_and_var_names_subset(idata):
    a = thin_inference_data(1, idata, 2, var_names=["mu"], unique=True)
    b = thin_inference_data(1, idata, 2, var_names=["mu"], unique=True)
    assert list(a.posterior.data_vars) == ["mu"]
    idx = a.sample_stats["thin_index"].values
    np.testing.assert_array_equal(idx, b.sample_stats["thin_index"].values)
    assert all(len(np.unique(row)) == 16 for row in idx)


def test_size_is_an_alternative_to_m(idata):
    by_size = thin_inference_data(1, idata, size=16, var_names=["mu"])
    by_m = thin_inference_data(1, idata, 2, var_names=["mu"])
    assert by_size.posterior.sizes["draw"] == 16 and by_size.attrs["thinning_m"] == 2
    np.testing.assert_array_equal(
        by_size.sample_stats["thin_index"].values, by_m.sample_stats["thin_index"].values
    )
    with pytest.raises(ValueError, match=r"size: expected n // 2\*\*m .* n = 64, .*got 20"):
        thin_inference_data(0, idata, size=20)
    with pytest.raises(ValueError, match="m, size: expected exactly one .* got both"):
        thin_inference_data(0, idata, 2, size=16)
    with pytest.raises(ValueError, match="m, size: expected exactly one .* got neither"):
        thin_inference_data(0, idata)


def test_prior_group_thins_its_own_side():
    rng = np.random.default_rng(3)
    prior = az.from_dict(
        prior={"mu": rng.normal(size=(2, 16))},
        prior_predictive={"y": rng.normal(size=(2, 16, 3))},
        posterior={"mu": rng.normal(size=(2, 32))},
    )
    out = thin_inference_data(0, prior, 1, group="prior")
    idx = out.sample_stats_prior["thin_index"].values
    flat_y = prior.prior_predictive["y"].values.reshape(32, 3)
    np.testing.assert_array_equal(out.prior_predictive["y"].values, flat_y[idx])
    assert out.posterior.equals(prior.posterior)


def test_thin_inference_data_bad_inputs(idata):
    with pytest.raises(ValueError, match=r"group: expected one of \['posterior', 'log_likelih"):
        thin_inference_data(0, idata, 2, group="prior")
    with pytest.raises(ValueError, match="group: expected one of"):
        thin_inference_data(0, idata, 2, group="observed_data")
    with pytest.raises(ValueError, match="var_names: expected variables of"):
        thin_inference_data(0, idata, 2, var_names=["sigma"])
    with pytest.raises(TypeError, match="idata: expected an arviz.InferenceData"):
        thin_inference_data(0, {"mu": 1}, 2)
    with pytest.raises(ValueError, match=r"m: 2\*\*m = 128 exceeds the 64 draws per chain"):
        thin_inference_data(0, idata, 7)
    bad = idata.copy()
    bad.log_likelihood = bad.log_likelihood.isel(draw=slice(0, 10))
    with pytest.raises(ValueError, match=r"idata: group 'log_likelihood' has \(chain, draw\)"):
        thin_inference_data(0, bad, 2)
