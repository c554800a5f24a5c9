"""The hand-written adjoint of ``adjoint.prior_and_derivatives`` against autodiff through the
Cholesky route (``kronecker``), finite differences, and the dense reference objective."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskit.gp_pde import kronecker as kr
from bayeskit.gp_pde import problems
from bayeskit.gp_pde import spectral as sp
from bayeskit.gp_pde.adjoint import prior_and_derivatives
from bayeskit.gp_pde.model import JITTER, _loss_adjoint, objective, objective_dense
from bayeskit.gp_pde.state import _data, _static

SHAPE = (7, 5, 6)
KEYS = ((0, 1), (0, 2), (2, 1))  # two orders on one dimension, none on dimension 1


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _inputs(seed):
    rng = np.random.default_rng(seed)

    def spd(n):
        a = rng.normal(size=(n, n))
        return jnp.asarray(a @ a.T + n * np.eye(n))  # condition number below 10

    grams = tuple(spd(n) for n in SHAPE)
    dgrams = {key: jnp.asarray(rng.normal(size=(SHAPE[key[0]],) * 2)) for key in KEYS}
    return grams, dgrams, jnp.asarray(rng.normal(size=SHAPE))


def _autodiff_route(grams, dgrams, u):
    """The same outputs through ``jnp.linalg.cholesky`` and triangular solves."""
    fac = kr.kron_factor(grams)
    prior = 0.5 * kr.kron_quad(fac, u) + 0.5 * kr.kron_logdet(fac)
    return prior, {
        (j, r): kr.mode_product(u, kr.derivative_map(d, fac.chols[j]), j)
        for (j, r), d in dgrams.items()
    }


def test_adjoint_equals_autodiff():
    args = _inputs(0)
    out, vjp = jax.vjp(prior_and_derivatives, *args)
    ref, vjp_ref = jax.vjp(_autodiff_route, *args)
    rng = np.random.default_rng(1)
    cts = (jnp.asarray(0.7), {key: jnp.asarray(rng.normal(size=SHAPE)) for key in KEYS})
    # the same float64 quantities by two routes on matrices of condition < 10: measured within
    # 4e-16 of the largest entry of each leaf, bounded at 1e-11 of it
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11 * float(jnp.abs(b).max()))
    for a, b in zip(jax.tree.leaves(vjp(cts)), jax.tree.leaves(vjp_ref(cts)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11 * float(jnp.abs(b).max()))


def test_adjoint_matches_finite_differences():
    grams, dgrams, u = _inputs(2)
    rng = np.random.default_rng(3)
    sym = [jnp.asarray(rng.normal(size=g.shape)) for g in grams]
    direction = (  # symmetric in the Gram matrices, as the solver's move
        tuple(s + s.T for s in sym),
        {key: jnp.asarray(rng.normal(size=d.shape)) for key, d in dgrams.items()},
        jnp.asarray(rng.normal(size=SHAPE)),
    )
    weights = {key: jnp.asarray(rng.normal(size=SHAPE)) for key in KEYS}

    def f(*args):
        prior, derivs = prior_and_derivatives(*args)
        return prior + sum(jnp.sum(weights[key] * derivs[key]) for key in KEYS)

    def shifted(eps):
        return f(*jax.tree.map(lambda a, d: a + eps * d, (grams, dgrams, u), direction))

    eps = 1e-4  # central differences: O(eps^2) truncation, measured ~1e-10 relative here
    fd = (shifted(eps) - shifted(-eps)) / (2 * eps)
    grad = jax.grad(f, argnums=(0, 1, 2))(grams, dgrams, u)
    exact = sum(jnp.sum(g * d) for g, d in zip(jax.tree.leaves(grad), jax.tree.leaves(direction)))
    np.testing.assert_allclose(exact, fd, rtol=1e-7)


def _adjoint_objective(problem, values, params, log_tau, log_v, *, kernel):
    """``objective`` through ``_loss_adjoint`` (the joint-Adam path's loss)."""
    static = _static(problem, kernel, 1, 0, JITTER)
    return _loss_adjoint(static, _data(problem), values, params, log_tau, log_v)


@pytest.mark.filterwarnings("ignore::bayeskit.gp_pde.problems.ResolutionWarning")
@pytest.mark.parametrize("route", [objective, _adjoint_objective], ids=["cholesky", "adjoint"])
def test_advection_gradient_equals_dense_autodiff(route):
    # first-order terms in both dimensions, against autodiff through the dense 120 x 120 factor
    prob = problems.get("advection_beta200", grid=(12, 10))
    params = sp.init_params(2, 4, 3.0)
    u = jnp.asarray(np.random.default_rng(1).normal(size=(12, 10)))
    args = (jnp.asarray(0.3), jnp.asarray(-0.2))

    def value_and_grads(fn):
        loss = lambda p, u: fn(prob, u, p, *args, kernel="student_t")  # noqa: E731
        return jax.value_and_grad(loss, (0, 1))(params, u)

    (vk, gk), (vd, gd) = value_and_grads(route), value_and_grads(objective_dense)
    np.testing.assert_allclose(vk, vd, rtol=1e-10)
    # the Gram factors have condition numbers 1.3e4 and 250: measured differences below 6e-11
    # of each leaf's largest entry, bounded at 1e-9 of it
    for a, b in zip(jax.tree.leaves(gk), jax.tree.leaves(gd), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9 * float(jnp.abs(b).max()))
