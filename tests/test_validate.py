"""Tests for bayeskit.validate: each check passes good input and names the argument otherwise."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bayeskit import validate as v


def test_check_array_returns_jax_array_and_checks_rank_and_shape():
    out = v.check_array([[1.0, 2.0]], "x", ndim=2, shape=(1, None))
    assert isinstance(out, jax.Array) and out.shape == (1, 2)
    with pytest.raises(ValueError, match=r"x: expected an array of rank 2, got shape \(3,\)"):
        v.check_array(np.zeros(3), "x", ndim=2)
    with pytest.raises(ValueError, match=r"x: expected an array of rank 1 or 2"):
        v.check_array(np.zeros((1, 1, 1)), "x", ndim=(1, 2))
    with pytest.raises(ValueError, match=r"y: expected shape \(\*, 3\), got \(2, 2\)"):
        v.check_array(np.zeros((2, 2)), "y", shape=(None, 3))


def test_check_array_finite_and_type():
    with pytest.raises(ValueError, match="x: expected finite values, got 2 NaN or infinite"):
        v.check_array([1.0, np.nan, np.inf], "x")
    v.check_array([1.0, np.nan], "x", finite=False)
    with pytest.raises(TypeError, match="x: expected a numeric array"):
        v.check_array(np.array(["a"]), "x")
    with pytest.raises(TypeError, match="x: expected an array, got dict"):
        v.check_array({"a": 1}, "x")


def test_value_checks_are_skipped_for_tracers():
    @jax.jit
    def f(x):
        v.check_finite(x, "x")
        v.check_positive(x, "x")
        v.check_in_range(x, "x", 0.0, 1.0)
        return x

    assert np.isnan(f(jnp.array(np.nan)))


def test_check_positive():
    v.check_positive(np.array([0.1, 2.0]), "scale")
    v.check_positive(0.0, "scale", strict=False)
    with pytest.raises(ValueError, match="scale: expected positive values, got 0.0"):
        v.check_positive(0.0, "scale")
    with pytest.raises(ValueError, match="scale: expected non-negative values, got min -1"):
        v.check_positive(np.array([1, -1]), "scale", strict=False)


def test_check_in_range():
    v.check_in_range(0.5, "hurst", 0.0, 1.0)
    v.check_in_range(1.0, "p", 0.0, 1.0, closed=(True, True))
    with pytest.raises(ValueError, match=r"hurst: expected a value in \(0.0, 1.0\), got 1.0"):
        v.check_in_range(1.0, "hurst", 0.0, 1.0)
    with pytest.raises(ValueError, match=r"hurst: expected a value in \(0.0, 1.0\), got nan"):
        v.check_in_range(np.nan, "hurst", 0.0, 1.0)
    with pytest.raises(ValueError, match=r"eps: expected a value in \[0, inf\)"):
        v.check_in_range(-1.0, "eps", 0, None, closed=(True, False))


def test_check_int():
    assert v.check_int(np.int32(4), "m", minimum=0) == 4
    with pytest.raises(TypeError, match="m: expected an integer, got float 2.0"):
        v.check_int(2.0, "m")
    with pytest.raises(TypeError, match="m: expected an integer, got bool"):
        v.check_int(True, "m")
    with pytest.raises(ValueError, match="K: expected an integer >= 1, got 0"):
        v.check_int(0, "K", minimum=1)


def test_check_power_of_two():
    assert [v.check_power_of_two(n, "n") for n in (1, 2, 64)] == [1, 2, 64]
    with pytest.raises(ValueError, match="n: expected a power of two, got 12"):
        v.check_power_of_two(12, "n")
    with pytest.raises(ValueError, match="n: expected an integer >= 1"):
        v.check_power_of_two(0, "n")


def test_check_choice_and_bool():
    assert v.check_choice("root", "variant", ("target", "root")) == "root"
    with pytest.raises(ValueError, match="variant: expected one of 'target', 'root', got 'x'"):
        v.check_choice("x", "variant", ("target", "root"))
    assert v.check_bool(np.bool_(True), "swap") is True
    with pytest.raises(TypeError, match="swap: expected a bool, got int 1"):
        v.check_bool(1, "swap")


def test_check_finite_refuses_non_numeric_and_check_optimizer():
    with pytest.raises(TypeError, match="x: expected numeric values, got str"):
        v.check_finite("abc", "x")
    opt = optax.adam(1e-3)
    assert v.check_optimizer(opt) is opt
    with pytest.raises(
        TypeError, match=r"opt: expected an optax GradientTransformation .* got 'adam'"
    ):
        v.check_optimizer("adam", "opt")


def test_check_log_weights():
    out = v.check_log_weights(np.array([0.0, -np.inf, 1.0]))
    assert out.shape == (3,)
    for bad, msg in [
        (np.array([np.nan, 0.0]), "lw: expected no NaN, got 1 NaN entries"),
        (np.array([np.inf, 0.0]), r"lw: expected no \+inf, got 1 entries"),
        (np.full(2, -np.inf), r"lw: every weight is zero \(all log-weights are -inf\)"),
        (np.zeros(0), r"lw: expected at least one weight, got shape \(0,\)"),
        (np.zeros((2, 2)), "lw: expected an array of rank 1"),
    ]:
        with pytest.raises(ValueError, match=msg):
            v.check_log_weights(bad, "lw")
    with pytest.raises(TypeError, match="lw: expected a numeric array"):
        v.check_log_weights(np.array(["a"]), "lw")
    # under tracing only the shape is checked; the values are the caller's job
    assert jax.jit(lambda w: v.check_log_weights(w).sum())(jnp.zeros(2)) == 0.0
