"""Shared modules and the methods' sharded axes on several devices (run by `make multidevice`
with 4 forced CPU devices): each result equals the one-device result."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from bayeskit import fbm, gp_pde, parallel, rlhf
from bayeskit.fbm.exact import sample_fou
from bayeskit.fbm.models import fractional_ou
from bayeskit.gp_pde.problems import source_from_exact
from bayeskit.kernels import Matern52, gram
from bayeskit.random import split_like
from bayeskit.smc import bootstrap_filter, linear_gaussian, paris, ppg, simulate
from bayeskit.thinning import compresspp, mmd

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


# ------------------------------------------------------------------ bayeskit.parallel itself
def test_parallel_mesh_shard_and_pad():
    mesh = parallel.device_mesh()
    assert mesh.size == len(jax.devices()) >= 4
    placed = parallel.shard({"a": np.arange(8.0), "b": np.zeros((4, 3))}, mesh)
    assert all(len(v.sharding.device_set) == mesh.size for v in placed.values())
    with pytest.raises(ValueError, match="multiple of the"):
        parallel.shard(np.zeros(mesh.size + 1), mesh)
    with pytest.raises(ValueError, match="multiple of the"):
        parallel.map_sharded(np.sum, np.zeros((mesh.size + 1, 2)), mesh=mesh, pad=False)
    x = np.arange(14.0).reshape(7, 2)  # 7 rows on 4 devices: padded to 8, one output dropped
    out = parallel.map_sharded(lambda r, s: r.sum() * s, x, np.arange(7.0), mesh=mesh)
    np.testing.assert_array_equal(parallel.gather(out), x.sum(1) * np.arange(7.0))


def _draw(k, scale):
    return {"z": jax.random.normal(k, (3,)) * scale, "i": jax.random.randint(k, (), 0, 100)}


def test_parallel_map_sharded_on_four_devices_equals_one():
    mesh4, mesh1 = parallel.device_mesh(), parallel.device_mesh(jax.devices()[:1])
    keys = jax.random.split(jax.random.key(2), 8)
    scale = np.arange(8.0, dtype=np.float32)
    out4 = parallel.map_sharded(_draw, keys, scale, mesh=mesh4, batch_size=1)
    out1 = parallel.map_sharded(_draw, keys, scale, mesh=mesh1, batch_size=1)
    assert len(out4["z"].sharding.device_set) == mesh4.size
    for a, b in zip(jax.tree_util.tree_leaves(out4), jax.tree_util.tree_leaves(out1)):
        np.testing.assert_array_equal(a, b)  # one element at a time: the same code on each
    # whole blocks vmapped: another vectorised width, equal to float32 rounding
    rep = parallel.replicate(lambda k: _draw(k, 3.0), 5, 10, mesh=mesh4)
    ref = jax.vmap(lambda k: _draw(k, 3.0))(jax.random.split(jax.random.key(5), 10))
    np.testing.assert_allclose(rep["z"], ref["z"], rtol=1e-6)
    np.testing.assert_array_equal(rep["i"], ref["i"])


# --------------------------------------------------------------- thinning: Compress++ buckets
@pytest.mark.parametrize("n, g, block_size, exact", [(4**5, 0, None, False), (3000, 1, 64, True)])
def test_compresspp_buckets_on_four_devices_equal_one_device(n, g, block_size, exact):
    x = jax.random.normal(jax.random.key(n), (n, 2))
    kw = dict(g=g, block_size=block_size)
    one = compresspp(1, x, mesh=parallel.device_mesh(jax.devices()[:1]), **kw)
    four = compresspp(1, x, mesh=parallel.device_mesh(), **kw)
    if exact:  # the same coreset, index for index
        np.testing.assert_array_equal(four, one)
    # otherwise the rounding of another compiled width flips a tie (compresspp's docstring):
    # another draw of the same algorithm, of the same size and quality
    assert four.shape == one.shape
    assert abs(mmd(x, idx=one) - mmd(x, idx=four)) < 0.5 * mmd(x, idx=one)


# One halving (Compress++'s top level, its final KT) with its kernel rows split across devices:
# each device computes its rows by the same code and every minimum is the first one, so the
# coreset is the one-device coreset index for index, also when the rows do not split evenly
# (three devices; compresspp on four is tested above).
@pytest.mark.parametrize("devices", [2, 3])
@pytest.mark.parametrize("n, m, unique, block_size", [(3001, 3, True, 100), (2048, 4, False, 64)])
def test_streamed_kt_with_rows_across_devices_equals_one_device(devices, n, m, unique, block_size):
    from bayeskit.thinning.compress import _on_every_device
    from bayeskit.thinning.kt import _thin_core

    _mesh()
    x = jax.random.normal(jax.random.key(n), (n, 2))
    kernel = Matern52(lengthscale=1.0)

    def kt(key, pts, axis=None):
        return _thin_core(key, pts, kernel, None, m, 0.5, True, unique, block_size, axis)

    mesh = parallel.device_mesh(jax.devices()[:devices])
    one = jax.jit(kt)(jax.random.key(1), x)
    split = jax.jit(lambda k, pts: _on_every_device(kt, mesh, k, pts))(jax.random.key(1), x)
    np.testing.assert_array_equal(split, one)


# -------------------------------------------------------- smc: PPG chains, PaRIS replications
def _lgssm():
    model = linear_gaussian(1)
    theta = {"A": np.array([[0.9]]), "log_q": np.zeros(1), "log_r": np.zeros(1)}
    _, ys = simulate(0, model, theta, 20)
    return model, theta, ys


def _h(t, x_prev, x, y, theta):
    return x[0] if x_prev is None else x_prev[0] * x[0]


def test_ppg_chains_on_four_devices_equal_one_device_and_single_runs():
    model, theta, ys = _lgssm()
    kw = dict(n_particles=16, burn_in=1, iterations=2)
    four = ppg(7, model, theta, ys, _h, n_chains=6, **kw)  # 6 chains on 4 devices: padded
    one = ppg(
        7, model, theta, ys, _h, n_chains=6, mesh=parallel.device_mesh(jax.devices()[:1]), **kw
    )
    for a, b in zip(four[:4], one[:4]):
        np.testing.assert_array_equal(a, b)
    chain5 = ppg(jax.random.split(jax.random.key(7), 6)[5], model, theta, ys, _h, **kw)
    np.testing.assert_array_equal(four.paths[5], chain5.paths)
    np.testing.assert_array_equal(four.estimates[5], chain5.estimates)


def test_paris_replications_on_four_devices_equal_one_device_and_single_runs():
    model, theta, ys = _lgssm()
    four = paris(3, model, theta, ys, _h, n_particles=32, n_replications=8)
    one = paris(
        3, model, theta, ys, _h, n_particles=32, n_replications=8,
        mesh=parallel.device_mesh(jax.devices()[:1]),
    )  # fmt: skip
    for a, b in zip(four, one):
        np.testing.assert_array_equal(a, b)
    rep2 = paris(jax.random.split(jax.random.key(3), 8)[2], model, theta, ys, _h, n_particles=32)
    np.testing.assert_array_equal(four.estimate[2], rep2.estimate)
    np.testing.assert_array_equal(four.ess[2], rep2.ess)
    assert four.to_inference_data().posterior["estimate"].shape == (8, 1, 1)  # R chains, 1 draw


@pytest.mark.parametrize("resampling", ["multinomial", "systematic"])
def test_bootstrap_filter_particles_on_four_devices_equal_one_device(resampling):
    model, theta, ys = _lgssm()
    mesh = parallel.device_mesh()
    with jax.enable_x64(True):
        plain = bootstrap_filter(5, model, theta, ys, n_particles=256, resampling=resampling)
        split = bootstrap_filter(
            5, model, theta, ys, n_particles=256, resampling=resampling, mesh=mesh
        )
    assert len(split.particles.sharding.device_set) == 4
    # the same uniforms and ancestors; only the weights' sums run in another order, which moves
    # the log-likelihood and ESS by float64 rounding (a few ulps per step over 20 steps)
    np.testing.assert_array_equal(np.asarray(split.particles), np.asarray(plain.particles))
    np.testing.assert_allclose(float(split.log_likelihood), float(plain.log_likelihood), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(split.ess), np.asarray(plain.ess), rtol=1e-12)


def _rlhf_case():
    env = rlhf.dueling_bandit(0, 3, 4)
    return env, rlhf.PRLSVI(sigma_r=0.5, sigma_p=0.0, epsilon=0.05)


def test_rlhf_seeds_on_four_devices_equal_one_device():
    env, agent = _rlhf_case()
    four = rlhf.run(
        1, env, agent, 12, scale=3.0, seeds=8, mesh=parallel.device_mesh(), progress=False
    )
    one = parallel.device_mesh(jax.devices()[:1])
    ref = rlhf.run(1, env, agent, 12, scale=3.0, seeds=8, mesh=one, progress=False)
    assert len(four.regret.sharding.device_set) == 4
    for a, b in zip(jax.tree.leaves(four), jax.tree.leaves(ref), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # mesh=None vmaps all 8 seeds at once: the same keys, float32 rounding only
    plain = rlhf.run(1, env, agent, 12, scale=3.0, seeds=8, progress=False)
    np.testing.assert_allclose(np.asarray(four.regret), np.asarray(plain.regret), atol=1e-5)


def _fbm_case():
    times, values = sample_fou(0, 0.3, 1.0, 0.5, n_obs=8, obs_dt=0.1, n_paths=8, obs_noise=0.05)
    model = fractional_ou(0, hurst=0.5, obs_std=0.05, horizon=1.0, gamma_max=20.0, num_speeds=3)
    return model, fbm.Observations(times, values[:, :, None])


def test_fbm_elbo_and_fit_on_four_devices_equal_one_device():
    model, data = _fbm_case()
    mesh = parallel.device_mesh()
    ref, sharded = fbm.elbo(1, model, data, dt=0.05), fbm.elbo(1, model, data, dt=0.05, mesh=mesh)
    assert len(sharded[1].sharding.device_set) == 4
    # float32: each device vmaps 2 paths instead of 8, which rounds differently (measured 2e-6)
    for a, b in zip(ref, sharded, strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5)
    opt = optax.adam(2e-2)
    kw = dict(steps=3, dt=0.05, batch_size=8, optimizer=opt, progress=False)
    plain, dp = fbm.fit(2, model, data, **kw), fbm.fit(2, model, data, mesh=mesh, **kw)
    # the gradient is all-reduced over the 4 blocks of the batch: the same steps up to rounding
    np.testing.assert_allclose(np.asarray(dp.losses), np.asarray(plain.losses), rtol=1e-5)
    np.testing.assert_allclose(float(dp.model.sde.hurst), float(plain.model.sde.hurst), rtol=1e-5)


@pytest.mark.filterwarnings("ignore::bayeskit.gp_pde.JitterWarning")
def test_gp_pde_solves_on_two_devices_equal_one_device():
    def exact(x):
        return jnp.prod(jnp.sin(2 * jnp.pi * x))

    terms = [gp_pde.Term(1.0, 0, 2)]
    problem = gp_pde.PDEProblem(
        "lowfreq",
        ((0.0, 1.0),),
        (16,),
        terms,
        source_from_exact(exact, terms),
        exact,
        exact=exact,
        freq_scale=3.0,
    )
    kw = dict(n_components=2, steps=4, init_noise=0.05)
    sols = gp_pde.solve_many([0, 1], problem, devices=jax.devices()[:2], **kw)
    assert [list(s.values.devices())[0] for s in sols] == jax.devices()[:2]
    ref = gp_pde.solve(1, problem, progress=False, **kw)  # on the default device
    assert np.asarray(sols[1].values).tobytes() == np.asarray(ref.values).tobytes()
    np.testing.assert_array_equal(sols[1].trace.loss, ref.trace.loss)
    assert not np.array_equal(np.asarray(sols[0].values), np.asarray(ref.values))  # keys matter
