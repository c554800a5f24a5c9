"""Tests for bayeskit.fbm.models: ready-made fractional OU and neural SDE models."""

import jax.numpy as jnp
import numpy as np
import pytest

from bayeskit.fbm.models import MLPDiffusion, fractional_ou, neural_sde
from bayeskit.fbm.sde import simulate


def test_fractional_ou_parameters():
    model = fractional_ou(0, hurst=0.3, theta=2.0, sigma=0.5)
    params = {k: float(v) for k, v in model.parameters().items()}
    assert params == pytest.approx({"hurst": 0.3, "theta": 2.0, "sigma": 0.5}, rel=1e-6)
    # the drift is -theta x and the diffusion sigma
    x = jnp.array([1.5])
    assert float(model.sde.drift(0.0, x)[0]) == pytest.approx(-3.0)
    assert float(model.sde.diffusion(0.0, x)[0]) == pytest.approx(0.5)


def test_neural_sde_shapes_and_positive_diffusion():
    model = neural_sde(1, dim=3, width=16, depth=1, num_speeds=3)
    x = jnp.array([0.3, -2.0, 5.0])
    assert model.sde.drift(0.0, x).shape == (3,)
    s = np.asarray(model.sde.diffusion(0.0, x))
    assert s.shape == (3,) and np.all(s > 0)
    sim = simulate(2, model.sde, x0=jnp.zeros(3), dt=0.1, n_steps=4, n_paths=2)
    assert sim.x.shape == (2, 5, 3) and sim.y.shape == (2, 5, 3, 3)
    assert np.all(np.isfinite(np.asarray(sim.x)))


def test_bad_inputs():
    with pytest.raises(ValueError, match="hurst"):
        fractional_ou(0, hurst=1.5)
    with pytest.raises(ValueError, match="num_speeds"):
        fractional_ou(0, num_speeds=0)
    with pytest.raises(ValueError, match="obs_std"):
        fractional_ou(0, obs_std=0.0)
    with pytest.raises(ValueError, match="sigma"):
        fractional_ou(0, sigma=-1.0)
    with pytest.raises(ValueError, match="dim"):
        neural_sde(0, dim=0)
    with pytest.raises(ValueError, match="x0"):
        neural_sde(0, dim=2, x0=jnp.zeros(3))
    with pytest.raises(ValueError, match="floor"):
        MLPDiffusion(0, dim=1, floor=0.0)
