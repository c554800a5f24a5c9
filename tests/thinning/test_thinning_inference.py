"""Tests for bayeskit.thinning.inference: thinning an ArviZ InferenceData."""

import arviz as az
import numpy as np
import pytest

from bayeskit.summary import to_inference_data
from bayeskit.thinning import thin_inference_data


@pytest.fixture(scope="module")
def idata():
    rng = np.random.default_rng(0)
    draws = {"mu": rng.normal(size=(2, 64)), "beta": rng.normal(3.0, 10.0, size=(2, 64, 2))}
    return to_inference_data(draws, coords={"coef": ["a", "b"]}, dims={"beta": ["coef"]})


def test_coreset_is_one_chain_of_original_draws(idata):
    out = thin_inference_data(0, idata, 3)
    post = out.posterior
    assert post.sizes["chain"] == 1 and post.sizes["draw"] == 16
    assert list(post["beta"].coords["coef"].values) == ["a", "b"]
    idx = out.sample_stats["thin_index"].values[0]
    flat_beta = idata.posterior["beta"].values.reshape(128, 2)
    np.testing.assert_array_equal(post["beta"].values[0], flat_beta[idx])
    np.testing.assert_array_equal(
        post["mu"].values[0], idata.posterior["mu"].values.reshape(128)[idx]
    )
    summary = az.summary(out, kind="stats")
    assert set(summary.index) == {"mu", "beta[a]", "beta[b]"}


def test_var_names_subset(idata):
    out = thin_inference_data(1, idata, 2, var_names=["mu"], unique=True)
    assert list(out.posterior.data_vars) == ["mu"]
    assert len(np.unique(out.sample_stats["thin_index"].values)) == 32


def test_thin_inference_data_bad_inputs(idata):
    with pytest.raises(ValueError, match="group: expected one of"):
        thin_inference_data(0, idata, 2, group="prior")
    with pytest.raises(ValueError, match="var_names: expected variables of"):
        thin_inference_data(0, idata, 2, var_names=["sigma"])
    with pytest.raises(TypeError, match="idata: expected an arviz.InferenceData"):
        thin_inference_data(0, {"mu": 1}, 2)
    with pytest.raises(ValueError, match="m: 2\\*\\*m = 256 exceeds"):
        thin_inference_data(0, idata, 8)
