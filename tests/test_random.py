"""Tests for bayeskit.random: key conversion, streams, per-leaf splitting."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskit.random import KeyStream, as_key, split_like


def _data(key):
    return np.asarray(jax.random.key_data(key))


def test_as_key_accepts_int_typed_and_raw_keys_consistently():
    from_int = as_key(7)
    assert jnp.issubdtype(from_int.dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(_data(from_int), _data(jax.random.key(7)))
    typed = jax.random.key(3)
    assert as_key(typed) is typed
    raw = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(_data(as_key(raw)), _data(typed))
    np.testing.assert_array_equal(_data(as_key(np.int64(7))), _data(from_int))


@pytest.mark.parametrize(
    "bad, message",
    [
        (1.5, "got float"),
        ("0", "got str"),
        (True, "got a bool"),
        (None, "got NoneType"),
        (jnp.zeros(2, jnp.float32), "dtype float32"),
        (jnp.zeros(3, jnp.uint32), r"shape \(3,\)"),
    ],
)
def test_as_key_rejects_other_types_with_message(bad, message):
    with pytest.raises(TypeError, match=rf"seed_or_key: .*{message}"):
        as_key(bad)


def test_as_key_rejects_key_arrays():
    with pytest.raises(TypeError, match=r"shape \(\)"):
        as_key(jax.random.split(jax.random.key(0), 3))


def test_key_stream_is_reproducible_bit_for_bit():
    a, b = KeyStream(11), KeyStream(11)
    for _ in range(5):
        np.testing.assert_array_equal(_data(next(a)), _data(b()))
    np.testing.assert_array_equal(_data(a.split(4)), _data(b.split(4)))
    draws_a = jax.random.normal(next(a), (3,))
    draws_b = jax.random.normal(next(b), (3,))
    np.testing.assert_array_equal(np.asarray(draws_a), np.asarray(draws_b))


def test_key_stream_never_repeats_a_key():
    ks = KeyStream(0)
    singles = [tuple(_data(next(ks))) for _ in range(500)]
    batch = [tuple(row) for row in _data(ks.split(500))]
    everything = singles + batch
    assert len(set(everything)) == len(everything)


def test_key_stream_rejects_bad_seed():
    with pytest.raises(TypeError, match="seed_or_key: .*got float"):
        KeyStream(0.5)


def test_key_stream_split_rejects_bad_counts():
    ks = KeyStream(0)
    for bad in (0, -2, 2.0, True):
        with pytest.raises(ValueError, match="n: expected a positive integer"):
            ks.split(bad)


def test_split_like_matches_structure_and_gives_distinct_keys():
    tree = {"a": jnp.zeros(3), "b": (jnp.ones(2), jnp.ones(()))}
    keys = split_like(0, tree)
    assert jax.tree_util.tree_structure(keys) == jax.tree_util.tree_structure(tree)
    flat = [tuple(_data(k)) for k in jax.tree_util.tree_leaves(keys)]
    assert len(set(flat)) == 3
    again = split_like(jax.random.key(0), tree)
    for k1, k2 in zip(jax.tree_util.tree_leaves(keys), jax.tree_util.tree_leaves(again)):
        np.testing.assert_array_equal(_data(k1), _data(k2))


def test_split_like_works_under_jit():
    tree = {"x": jnp.zeros(2), "y": jnp.zeros(4)}

    def noise(key, t):
        keys = split_like(key, t)
        return jax.tree_util.tree_map(lambda k, v: jax.random.normal(k, v.shape), keys, t)

    key = jax.random.key(5)
    eager = noise(key, tree)
    jitted = jax.jit(noise)(key, tree)
    for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(jitted)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_split_like_rejects_bad_key():
    with pytest.raises(TypeError, match="key: expected an int seed"):
        split_like("seed", {"a": 1.0})
