"""The profiled method's step guard: a step that raises the objective by more than
``REJECT_RISE`` is undone and retried at half the scale."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskit.gp_pde import problems
from bayeskit.gp_pde import spectral as sp
from bayeskit.gp_pde.model import JITTER, _loss
from bayeskit.gp_pde.optimize import _initial_state, _profile_optimizer, _profile_step
from bayeskit.gp_pde.state import _data, _static

# 40 nodes are far too few for sin(100 x); the guard does not depend on the solution's accuracy
pytestmark = pytest.mark.filterwarnings("ignore::bayeskit.gp_pde.problems.ResolutionWarning")


@pytest.fixture(scope="module")
def setting():
    """A 1-D Poisson problem on 40 nodes with 4 components: the jitted step, the state after
    one (always accepted) step, and the objective ``L(values, (params, log_tau, log_v))``."""
    with jax.enable_x64(True):
        prob = problems.get("poisson_1d_sin100", grid=40)
        static = _static(prob, "student_t", 1, 0, JITTER)
        data = _data(prob)
        optimizer = _profile_optimizer(10)
        params = sp.init_params(1, 4, 3.0)
        step = jax.jit(lambda s: _profile_step(static, data, optimizer, s))
        state = step(_initial_state(prob.grid, params, optimizer, "profile"))
    return step, state, lambda u, hyper: _loss(static, data, u, *hyper)


def _stepped(acc, scale):
    """The accepted hyperparameters plus ``scale`` times the stored update, in float64 numpy."""
    return jax.tree.map(lambda h, d: np.asarray(h) + scale * np.asarray(d), acc.hyper, acc.update)


def _close(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=0)


def test_first_step_is_accepted_at_full_scale(setting):
    _, state, _ = setting
    acc = state.accepted
    assert int(acc.rejected) == 0 and float(acc.scale) == 1.0 and np.isfinite(float(acc.loss))
    # the trial point is the accepted one plus the full update
    trial = (state.params, state.log_tau, state.log_v)
    _close(trial, _stepped(acc, 1.0))


def test_step_that_raises_the_objective_is_retried_at_half_scale(setting):
    step, state, _ = setting
    acc = state.accepted
    with jax.enable_x64(True):
        # an accepted objective far below the trial's (which is about 60 nats lower here)
        # makes the trial a rise of more than REJECT_RISE
        lowered = state._replace(accepted=acc._replace(loss=acc.loss - 1e6))
        out = step(lowered)
    new = out.accepted
    assert int(new.rejected) == 1 and float(new.scale) == 0.5
    _close((new.values, new.hyper, new.update), (acc.values, acc.hyper, acc.update))
    _close(out.opt_state, state.opt_state)  # the rejected step leaves the optimizer alone
    trial = (out.params, out.log_tau, out.log_v)
    _close(trial, _stepped(acc, 0.5))


def test_non_finite_trial_is_rejected(setting):
    # a NaN objective never compares as acceptable: the state falls back to the accepted point
    step, state, _ = setting
    with jax.enable_x64(True):
        out = step(state._replace(log_v=jnp.asarray(jnp.nan)))
    assert int(out.accepted.rejected) == 1
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(out[:4]))


def test_step_within_the_allowed_rise_is_accepted(setting):
    step, state, loss = setting
    acc = state.accepted
    with jax.enable_x64(True):
        raised = acc._replace(loss=acc.loss + 1e6, scale=jnp.asarray(0.25))
        out = step(state._replace(accepted=raised))
    new = out.accepted
    assert int(new.rejected) == 0 and float(new.scale) == 0.5  # doubles back towards 1
    _close(new.hyper, (state.params, state.log_tau, state.log_v))
    # the accepted record holds the values solved at the accepted point and their objective
    assert not np.allclose(new.values, acc.values)
    with jax.enable_x64(True):
        np.testing.assert_allclose(float(new.loss), float(loss(new.values, new.hyper)), rtol=1e-12)
