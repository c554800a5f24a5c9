"""Shared modules on several devices (run by `make multidevice` with 4 forced CPU devices)."""

import jax
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from bayeskit.kernels import Matern52, gram
from bayeskit.random import split_like

pytestmark = pytest.mark.multidevice


def _mesh():
    devices = jax.devices()
    if len(devices) < 4:
        pytest.fail("needs XLA_FLAGS=--xla_force_host_platform_device_count=4 (make multidevice)")
    return Mesh(np.array(devices[:4]), ("rows",))


def test_gram_on_row_sharded_points_equals_single_device():
    mesh = _mesh()
    X = jax.random.normal(jax.random.key(0), (64, 3))
    Y = jax.random.normal(jax.random.key(1), (10, 3))
    k = Matern52(lengthscale=0.8)
    expected = np.asarray(gram(k, X, Y))
    Xs = jax.device_put(X, NamedSharding(mesh, P("rows", None)))
    out = jax.jit(lambda a: gram(k, a, Y))(Xs)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-6)
    assert len(out.sharding.device_set) == 4


def test_split_like_keys_identical_on_sharded_leaves():
    mesh = _mesh()
    tree = {"a": np.zeros(8), "b": np.zeros((4, 2))}
    sharded = jax.tree_util.tree_map(
        lambda v: jax.device_put(v, NamedSharding(mesh, P("rows"))), tree
    )
    for k1, k2 in zip(
        jax.tree_util.tree_leaves(split_like(3, tree)),
        jax.tree_util.tree_leaves(split_like(3, sharded)),
    ):
        np.testing.assert_array_equal(jax.random.key_data(k1), jax.random.key_data(k2))
