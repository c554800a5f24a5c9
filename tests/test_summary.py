"""Tests for bayeskit.summary: ArviZ hand-off, weighted particle summaries."""

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from statkeys import seed

from bayeskit.summary import summarize, to_inference_data, weighted_summary


def test_to_inference_data_groups_shapes_and_dims():
    rng = np.random.default_rng(0)
    draws = {"mu": jnp.asarray(rng.normal(size=(2, 50))), "beta": rng.normal(size=(2, 50, 3))}
    idata = to_inference_data(
        draws,
        sample_stats={"diverging": np.zeros((2, 50), bool)},
        log_likelihood={"y": rng.normal(size=(2, 50, 4))},
        observed_data={"y": np.arange(4.0)},
        coords={"coef": ["a", "b", "c"]},
        dims={"beta": ["coef"]},
        attrs={"method": "test"},
    )
    assert set(idata.groups()) >= {"posterior", "sample_stats", "log_likelihood", "observed_data"}
    assert idata.posterior["beta"].dims == ("chain", "draw", "coef")
    assert list(idata.posterior["beta"].coef.values) == ["a", "b", "c"]
    assert idata.posterior.sizes["chain"] == 2 and idata.posterior.sizes["draw"] == 50
    np.testing.assert_allclose(idata.posterior["mu"].values, np.asarray(draws["mu"]))
    assert idata.attrs["method"] == "test"


def test_to_inference_data_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"draws\['x'\]: expected shape \(chain, draw, ...\)"):
        to_inference_data({"x": np.zeros(10)})
    with pytest.raises(ValueError, match=r"draws\['b'\]: \(chain, draw\) = \(2, 9\) does not"):
        to_inference_data({"a": np.zeros((2, 10)), "b": np.zeros((2, 9))})
    with pytest.raises(ValueError, match=r"sample_stats\['lp'\]: \(chain, draw\) = \(1, 10\)"):
        to_inference_data({"a": np.zeros((2, 10))}, sample_stats={"lp": np.zeros((1, 10))})
    with pytest.raises(TypeError, match="draws: expected a dict"):
        to_inference_data(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="draws: expected at least one variable"):
        to_inference_data({})
    with pytest.raises(TypeError, match="observed_data: expected a dict"):
        to_inference_data({"a": np.zeros((2, 10))}, observed_data=[1, 2])


def test_weighted_summary_matches_hand_computation():
    values = np.array([0.0, 1.0, 2.0, 4.0])
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    s = weighted_summary(values, np.log(weights) - 3.0, quantiles=(0.5,))
    w = weights / weights.sum()
    mean = np.sum(w * values)  # 0.2 + 0.6 + 1.6 = 2.4
    np.testing.assert_allclose(s.mean, 2.4)
    np.testing.assert_allclose(s.sd, np.sqrt(np.sum(w * (values - mean) ** 2)))
    np.testing.assert_allclose(s.ess, 1.0 / np.sum(w**2))  # 100 / 30
    # mid-mass CDF points are 0.05, 0.2, 0.45, 0.8: the median lies 5/35 of the way from 2 to 4
    np.testing.assert_allclose(s.quantiles, [2.0 + 2.0 * 0.05 / 0.35])


def test_weighted_summary_equal_weights_agree_with_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 2))
    s = weighted_summary(x, np.zeros(400), quantiles=(0.1, 0.5, 0.9))
    np.testing.assert_allclose(s.mean, x.mean(0))
    np.testing.assert_allclose(s.sd, x.std(0))
    # mid-mass CDF points (i + 0.5) / n are numpy's "hazen" quantiles: an identity. (Against the
    # default "linear" method the gap is a random fraction of an order-statistic spacing, which
    # exceeded the old atol 0.02 on 12% of seeds.)
    hazen = np.quantile(x, [0.1, 0.5, 0.9], axis=0, method="hazen")
    np.testing.assert_allclose(s.quantiles, hazen, rtol=1e-12, atol=1e-12)
    assert s.ess == pytest.approx(400.0)
    assert s.quantiles.shape == (3, 2)


def test_weighted_summary_is_stable_for_very_negative_log_weights():
    values = np.array([1.0, 3.0])
    s = weighted_summary(values, np.array([-1e4, -1e4 + np.log(3.0)]))
    np.testing.assert_allclose(s.mean, 2.5)
    np.testing.assert_allclose(s.ess, 1.0 / (0.25**2 + 0.75**2))
    s_inf = weighted_summary(values, np.array([-np.inf, -1e4]))
    np.testing.assert_allclose(s_inf.mean, 3.0)
    assert s_inf.ess == pytest.approx(1.0)


def test_weighted_summary_rejects_degenerate_weights():
    with pytest.raises(ValueError, match="every weight is zero"):
        weighted_summary(np.ones(3), np.full(3, -np.inf))
    with pytest.raises(ValueError, match="log_weights: expected no NaN, got 1 NaN"):
        weighted_summary(np.ones(3), np.array([0.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match=r"log_weights: expected no \+inf, got 1"):
        weighted_summary(np.ones(3), np.array([0.0, np.inf, 0.0]))
    with pytest.raises(ValueError, match=r"log_weights: expected shape \(3,\)"):
        weighted_summary(np.ones(3), np.zeros(4))
    with pytest.raises(ValueError, match="quantiles: expected levels in"):
        weighted_summary(np.ones(3), np.zeros(3), quantiles=(1.5,))
    with pytest.raises(ValueError, match="values: expected finite"):
        weighted_summary(np.array([1.0, np.nan]), np.zeros(2))


@pytest.mark.statistical
def test_summarize_gaussian_draws_agree_with_arviz():
    # key sweep 2026-12-02 (shifts 0, 1000-5000): passed, worst |z| 2.8 (sd), ESS 1679-2053
    # 4 independent chains of iid N(1, 2^2): R-hat ~ 1 and bulk ESS ~ number of draws
    draws = {"x": 1.0 + 2.0 * jax.random.normal(jax.random.key(seed(0)), (4, 500))}
    table = summarize(draws)
    ref = az.summary(az.from_dict(posterior={"x": np.asarray(draws["x"])}))
    np.testing.assert_allclose(table.loc["x", "mean"], ref.loc["x", "mean"])
    # mean: 4 sd / sqrt(N), p = 6e-5; sd: sample sd of N iid normals has sd 2 / sqrt(2 N) = 0.032,
    # 0.15 is 4.7 of them.
    assert abs(table.loc["x", "mean"] - 1.0) < 4 * 2.0 / np.sqrt(2000)
    assert abs(table.loc["x", "sd"] - 2.0) < 0.15
    # split R-hat, 8 iid half-chains of 250: R-hat - 1 ~ (chi2_7 / 7 - 1) / 500; 1e-4 quantile .006
    assert table.loc["x", "r_hat"] < 1.01
    # ESS of N = 2000 iid draws: measured over 400 seeds mean 1962, sd 114; +-500 is > 4 sd.
    assert 1500 < table.loc["x", "ess_bulk"] < 2500


def test_summarize_accepts_inference_data_and_result_objects():
    idata = to_inference_data({"a": np.random.default_rng(2).normal(size=(2, 100))})

    class Result:
        def to_inference_data(self):
            return idata

    assert summarize(idata).equals(summarize(Result()))
    assert list(summarize(idata, kind="diagnostics").columns)[-1] == "r_hat"
    with pytest.raises(TypeError, match="obj: expected an arviz.InferenceData"):
        summarize(np.zeros((2, 10)))


def test_to_inference_data_without_draws_holds_constant_data():
    idata = to_inference_data(
        None,
        constant_data={"u": np.arange(6.0).reshape(2, 3)},
        coords={"x0": [0.0, 1.0], "x1": [0.0, 0.5, 1.0]},
        dims={"u": ["x0", "x1"]},
    )
    assert idata.groups() == ["constant_data"]
    assert idata.constant_data["u"].dims == ("x0", "x1")
    np.testing.assert_array_equal(idata.constant_data["u"].values, np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match="draws: expected a dict of draws when sample_stats"):
        to_inference_data(None, sample_stats={"lp": np.zeros((2, 5))}, constant_data={"u": 1.0})
    with pytest.raises(ValueError, match="draws: got None and no observed_data or constant_data"):
        to_inference_data(None)
    with pytest.raises(TypeError, match="constant_data: expected a dict"):
        to_inference_data(None, constant_data=np.zeros(3))
    with pytest.raises(TypeError, match="constant_data: variable names must be strings"):
        to_inference_data(None, constant_data={0: np.zeros(3)})


def test_weighted_summary_inference_data_resamples_the_particles():
    rng = np.random.default_rng(4)
    values = rng.normal(size=(10, 2))
    log_w = np.log(np.arange(1.0, 10.0))
    log_w = np.concatenate([[-np.inf], log_w])  # particle 0 has weight zero
    s = weighted_summary(values, log_w)
    np.testing.assert_array_equal(s.values, values)
    np.testing.assert_allclose(s.weights, np.arange(10.0) / 45.0, rtol=1e-14)
    idata = s.to_inference_data(7)
    assert idata.posterior["x"].shape == (4, 10, 2)  # as many draws per chain as particles
    idx = idata.sample_stats["particle_index"].values
    np.testing.assert_array_equal(idata.posterior["x"].values, values[idx])
    assert np.all(idx > 0)  # a zero-weight particle is never drawn
    assert idata.attrs["kish_ess"] == s.ess
    again = s.to_inference_data(7)
    np.testing.assert_array_equal(again.sample_stats["particle_index"].values, idx)
    table = summarize(s, kind="stats", round_to="none")  # default key 0
    draws = s.to_inference_data(0).posterior["x"].values.reshape(-1, 2)
    np.testing.assert_allclose(table["mean"].values, draws.mean(0), rtol=1e-12)
    one = weighted_summary(values, np.where(np.arange(10) == 3, 0.0, -np.inf))
    single = one.to_inference_data(1, chains=2, draws=5).posterior["x"].values
    np.testing.assert_array_equal(single, np.broadcast_to(values[3], (2, 5, 2)))
    with pytest.raises(ValueError, match="chains: expected an integer >= 1"):
        s.to_inference_data(0, chains=0)
    with pytest.raises(TypeError, match="draws: expected an integer"):
        s.to_inference_data(0, draws=2.5)


@pytest.mark.statistical
def test_weighted_summary_resamples_follow_the_weights():
    # key sweep pending: |z| < 5 has p = 6e-7 per coordinate for i.i.d. resamples
    rng = np.random.default_rng(5)
    values = rng.normal(size=(2000, 2))
    s = weighted_summary(values, values[:, 0])  # exponential tilt: weighted mean of x0 near 1
    draws = s.to_inference_data(seed(1)).posterior["x"].values.reshape(-1, 2)
    # 4 x 2000 i.i.d. resamples: the mean's sd is the weighted sd / sqrt(8000)
    assert np.all(np.abs(draws.mean(0) - s.mean) < 5 * s.sd / np.sqrt(draws.shape[0]))


def test_gp_solution_inference_data_holds_the_grid_values():
    from bayeskit.gp_pde import spectral
    from bayeskit.gp_pde.problems import PDEProblem, Term, source_from_exact
    from bayeskit.gp_pde.solution import GPSolution
    from bayeskit.gp_pde.state import SolveInfo, Trace

    def ex(x):
        return jnp.sin(jnp.pi * x[0]) * jnp.sin(jnp.pi * x[1])

    terms = (Term(1.0, 0, 2), Term(1.0, 1, 2))
    prob = PDEProblem(
        "tiny", ((0.0, 1.0), (0.0, 2.0)), (6, 5), terms, source_from_exact(ex, terms), ex
    )
    rng = np.random.default_rng(6)

    # The conversion reads the grid values and nodes only; a hand-built solution spares the
    # ~15 s compile of a real solve (whose values are tested in tests/gp_pde).
    def solution(values, extra=None):
        return GPSolution(
            kernel="student_t",
            problem=prob,
            axes=prob.axes(),
            values=jnp.asarray(values),
            alpha=jnp.asarray(values),
            params=spectral.init_params(2, 1, 1.0),
            log_tau=jnp.zeros(()),
            log_v=jnp.zeros(()),
            trace=Trace(np.zeros(1), np.zeros(1), np.full(1, np.nan)),
            info=SolveInfo(0.0, True),
            jitter=1e-6,
            extra=extra,
        )

    first, second = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    sol = solution(first)
    idata = sol.to_inference_data()
    assert idata.groups() == ["constant_data"]  # a point solution: no posterior to summarise
    u = idata.constant_data["u"]
    assert u.dims == ("x0", "x1") and u.shape == (6, 5)
    np.testing.assert_array_equal(u.values, np.asarray(sol.values))
    np.testing.assert_array_equal(u["x0"].values, np.asarray(sol.axes[0]))
    np.testing.assert_array_equal(u["x1"].values, np.asarray(sol.axes[1]))
    assert idata.attrs["problem"] == "tiny" and idata.attrs["kernel"] == "student_t"
    same = az.convert_to_inference_data(idata)
    assert same.constant_data.equals(idata.constant_data)
    # with the extra GP of the two-stage refinement the grid values are the sum of both GPs'
    summed = solution(first, extra=solution(second)).to_inference_data().constant_data["u"]
    np.testing.assert_array_equal(
        summed.values, np.asarray(jnp.asarray(first)) + np.asarray(jnp.asarray(second))
    )
