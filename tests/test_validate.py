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


def test_check_scalar():
    assert v.check_scalar(np.float32(0.5), "p", 0.0, 1.0) == 0.5
    assert v.check_scalar(3, "c") == 3.0
    for bad, err, msg in [
        (True, TypeError, "c: expected a real number, got bool"),
        ("abc", TypeError, "c: expected a real number, got str"),
        (None, TypeError, "c: expected a real number, got NoneType"),
        (jax.random.key(0), TypeError, "c: expected a real number, got a PRNG key"),
        (np.array([1.0, 2.0]), ValueError, r"c: expected a scalar, got shape \(2,\)"),
        (np.nan, ValueError, "c: expected positive values, got nan"),
        (np.inf, ValueError, "c: expected positive values, got inf"),
        (-1.0, ValueError, "c: expected positive values, got -1.0"),
    ]:
        with pytest.raises(err, match=msg):
            v.check_scalar(bad, "c", 0.0, None)
    with pytest.raises(ValueError, match=r"p: expected a value in \[0.0, 1.0\], got 1.5"):
        v.check_scalar(1.5, "p", 0.0, 1.0, closed=(True, True))
    # traced: only the rank is checked
    assert jax.jit(lambda s: v.check_scalar(s, "s", 0.0, None))(jnp.float32(-1.0)) == -1.0


def test_value_checks_refuse_non_numbers_and_infinities():
    with pytest.raises(TypeError, match="s: expected numeric values, got str"):
        v.check_positive("abc", "s")
    with pytest.raises(TypeError, match="s: expected numeric values, got a PRNG key"):
        v.check_in_range(jax.random.key(0), "s", 0.0, 1.0)
    with pytest.raises(ValueError, match="s: expected positive values, got inf"):
        v.check_positive(np.inf, "s")
    with pytest.raises(ValueError, match=r"s: expected a value in \[0, inf\), got inf"):
        v.check_in_range(np.inf, "s", 0, None, closed=(True, False))
    with pytest.raises(TypeError, match="x: expected a numeric array, got a PRNG key"):
        v.check_array(jax.random.key(0), "x")


def test_check_callable():
    assert v.check_callable(len, "f") is len
    with pytest.raises(TypeError, match=r"k: expected an instance .* got the class int; call it"):
        v.check_callable(int, "k")
    with pytest.raises(TypeError, match="f: expected a callable, got int 3"):
        v.check_callable(3, "f")


def test_check_stochastic():
    p = np.array([[0.5, 0.5], [1.0 + 9e-6, 0.0]])
    assert v.check_stochastic(p, "P") is p  # within the tolerance: returned as given
    out = v.check_stochastic(p, "P", normalise=True)
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-15)
    assert out.dtype == np.float64
    for bad, msg in [
        (np.array([[0.5, 0.6]]), r"P: expected a stochastic matrix .* row sums in \[1.1, 1.1\]"),
        (np.array([1.5, -0.5]), "P: expected a probability vector .* min -0.5"),
        (np.array([0.5, np.nan]), "P: expected a probability vector, got NaN"),
        (np.array(1.0), "P: expected a probability vector with at least one entry"),
    ]:
        with pytest.raises(ValueError, match=msg):
            v.check_stochastic(bad, "P")
    with pytest.raises(TypeError, match="P: expected numeric values"):
        v.check_stochastic(np.array(["a"]), "P")
    traced = jax.jit(lambda q: v.check_stochastic(q, "P").sum())(jnp.full(2, 0.9))
    assert traced == pytest.approx(1.8)  # values are not checked under jit


def test_check_spd():
    v.check_spd(np.eye(2), "S")
    v.check_spd(np.zeros((2, 2)), "S", semidefinite=True)
    for bad, msg in [
        (np.array([[1.0, 0.0], [0.0, -1.0]]), "S: expected a symmetric positive definite .* -1"),
        (np.array([[1.0, 2.0], [0.0, 1.0]]), r"S: expected a symmetric .* max \|S - S\^T\| = 2"),
        (np.zeros((2, 3)), r"S: expected a non-empty square matrix, got shape \(2, 3\)"),
        (np.array([[np.nan]]), "S: expected finite values"),
        (np.zeros((2, 2)), "S: expected a symmetric positive definite .* smallest eigenvalue 0"),
    ]:
        with pytest.raises(ValueError, match=msg):
            v.check_spd(bad, "S")
    with pytest.raises(ValueError, match="S: expected a symmetric positive semidefinite"):
        v.check_spd(-np.eye(2), "S", semidefinite=True)


def test_check_indices():
    out = v.check_indices(np.array([[0, 2]]), "policy", 3, shape=(1, 2), what="actions")
    assert out.shape == (1, 2)
    with pytest.raises(
        ValueError, match=r"policy: expected integer actions in \[0, 3\), got values"
    ):
        v.check_indices(np.array([0, 5]), "policy", 3, what="actions")
    with pytest.raises(TypeError, match=r"idx: expected integer indices in \[0, 3\), got .* float"):
        v.check_indices(np.array([0.0, 1.0]), "idx", 3)
    with pytest.raises(ValueError, match=r"idx: expected shape \(2\), got \(3,\)"):
        v.check_indices(np.arange(3), "idx", 3, shape=(2,))
