"""bayeskit.parallel on whatever devices the process has (one in the normal suite): the mapped
results equal plain vmap, and bad inputs raise errors that name the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskit import parallel


def _draw(k, scale):
    return {"z": jax.random.normal(k, (3,)) * scale, "i": jax.random.randint(k, (), 0, 100)}


def test_mesh_spans_all_devices_on_one_named_axis():
    mesh = parallel.device_mesh()
    assert mesh.axis_names == (parallel.AXIS,) and mesh.size == len(jax.devices())
    s = parallel.named_sharding(mesh, 3, axis=1)
    assert tuple(s.spec) == (None, parallel.AXIS, None)


def test_map_sharded_and_replicate_equal_vmap_one_element_at_a_time():
    keys = jax.random.split(jax.random.key(4), 5)
    scale = jnp.arange(5.0)
    out = parallel.map_sharded(_draw, keys, scale, batch_size=1)
    for j in range(5):
        one = jax.jit(_draw)(keys[j], scale[j])
        np.testing.assert_array_equal(out["z"][j], one["z"])
        assert int(out["i"][j]) == int(one["i"])
    rep = parallel.replicate(lambda k: _draw(k, 2.0), 4, 5)
    ref = jax.vmap(lambda k: _draw(k, 2.0))(jax.random.split(jax.random.key(4), 5))
    np.testing.assert_allclose(rep["z"], ref["z"], rtol=1e-6)
    np.testing.assert_array_equal(rep["i"], ref["i"])
    assert parallel.gather(rep)["z"].shape == (5, 3)


def test_map_sharded_inside_jit_and_padding_count():
    f = jax.jit(lambda a: parallel.map_sharded(jnp.sum, a).sum())
    assert float(f(jnp.ones((7, 2)))) == 14.0
    mesh = parallel.device_mesh()
    assert parallel.padded_length(7, mesh) % mesh.size == 0
    assert 7 <= parallel.padded_length(7, mesh) < 7 + mesh.size


@pytest.mark.parametrize(
    "call, err, name",
    [
        (lambda: parallel.device_mesh([]), ValueError, "devices"),
        (lambda: parallel.device_mesh(["cpu"]), TypeError, "devices"),
        (lambda: parallel.device_mesh(axis_name=3), TypeError, "axis_name"),
        (lambda: parallel.device_mesh(axis_name=""), ValueError, "axis_name"),
        (lambda: parallel.named_sharding("mesh"), TypeError, "mesh"),
        (lambda: parallel.named_sharding(None, 2, axis=2), ValueError, "axis"),
        (lambda: parallel.named_sharding(None, 0), ValueError, "ndim"),
        (lambda: parallel.shard({"a": np.zeros(3)}, axis=1), ValueError, "tree"),
        (lambda: parallel.shard({}), ValueError, "tree"),
        (lambda: parallel.padded_length(0), ValueError, "n"),
        (lambda: parallel.map_sharded(3, np.zeros(4)), TypeError, "fn"),
        (lambda: parallel.map_sharded(jnp.sum), ValueError, "args"),
        (lambda: parallel.map_sharded(jnp.add, np.zeros(4), np.zeros(5)), ValueError, "args"),
        (lambda: parallel.map_sharded(jnp.sum, np.zeros(())), ValueError, "args"),
        (lambda: parallel.map_sharded(jnp.sum, "abc"), TypeError, "args"),
        (lambda: parallel.map_sharded(jnp.sum, np.zeros(4), batch_size=0), ValueError, "batch"),
        (lambda: parallel.map_sharded(jnp.sum, np.zeros(4), pad=1), TypeError, "pad"),
        (lambda: parallel.replicate(jnp.sum, 0, 0), ValueError, "n"),
        (lambda: parallel.replicate(jnp.sum, 0.5, 2), TypeError, "key"),
        (lambda: parallel.replicate(None, 0, 2), TypeError, "fn"),
        (lambda: parallel.gather([]), ValueError, "tree"),
    ],
)
def test_bad_inputs_name_the_argument(call, err, name):
    with pytest.raises(err, match=name):
        call()
