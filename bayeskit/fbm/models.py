"""Ready-to-fit models: fractional Ornstein-Uhlenbeck and a neural-drift SDE.

Both return a :class:`bayeskit.fbm.vi.LatentSDE` whose control network sees the observation
context of :func:`bayeskit.fbm.vi.observation_context` (Daems et al. 2024, Sec. 5).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from bayeskit.fbm.mafbm import check_hurst, check_positive_scalar
from bayeskit.fbm.sde import Control, FractionalSDE
from bayeskit.fbm.vi import LatentSDE, Observations, context_dim
from bayeskit.random import as_key
from bayeskit.validate import check_array, check_bool, check_int, check_scalar

__all__ = [
    "LinearDrift",
    "ConstantDiffusion",
    "MLPDrift",
    "MLPDiffusion",
    "fractional_ou",
    "neural_sde",
    "fbm_bridge",
]


def _frozen(x, learn: bool):
    return x if learn else jax.lax.stop_gradient(x)


class LinearDrift(eqx.Module):
    """Drift ``b(t, x) = -theta x`` (an OU pull towards 0).

    Attributes:
        theta: scalar rate (unconstrained).
        learn: whether ``fit`` may change ``theta`` (static).
    """

    theta: jax.Array
    learn: bool = eqx.field(static=True)

    def __init__(self, theta: float = 1.0, *, learn: bool = True):
        self.theta = jnp.asarray(check_scalar(theta, "theta"), jnp.zeros(()).dtype)
        self.learn = check_bool(learn, "learn")

    def __call__(self, t, x):
        return -self.linear_rate() * x

    def linear_rate(self) -> jax.Array:
        """The rate ``theta`` of ``b = -theta x`` (gradient stopped unless ``learn``)."""
        return _frozen(self.theta, self.learn)

    def parameters(self) -> dict[str, jax.Array]:
        """``{"theta": theta}``."""
        return {"theta": self.theta}


class ConstantDiffusion(eqx.Module):
    """Diffusion ``s(t, x) = sigma`` in every dimension, ``sigma = exp(log_sigma)``.

    Attributes:
        log_sigma: scalar.
        learn: whether ``fit`` may change it (static).
    """

    log_sigma: jax.Array
    learn: bool = eqx.field(static=True)

    def __init__(self, sigma: float = 1.0, *, learn: bool = True):
        sigma = check_positive_scalar(sigma, "sigma")
        self.log_sigma = jnp.asarray(np.log(sigma), jnp.zeros(()).dtype)
        self.learn = check_bool(learn, "learn")

    def __call__(self, t, x):
        return self.constant_scale() * jnp.ones_like(x)

    def constant_scale(self) -> jax.Array:
        """The scale ``sigma`` (gradient stopped unless ``learn``)."""
        return jnp.exp(_frozen(self.log_sigma, self.learn))

    def parameters(self) -> dict[str, jax.Array]:
        """``{"sigma": sigma}``."""
        return {"sigma": jnp.exp(self.log_sigma)}


def _check_sizes(dim, width, depth):
    return (
        check_int(dim, "dim", minimum=1),
        check_int(width, "width", minimum=1),
        check_int(depth, "depth", minimum=0),
    )


class MLPDrift(eqx.Module):
    """Neural drift ``b(t, x) = MLP(x)`` (tanh hidden layers), as in the video model of the paper.

    Args:
        key: PRNG key or int seed.
        dim: latent dimension D >= 1 (input and output size).
        width: hidden width >= 1.
        depth: number of hidden layers >= 0.

    Raises:
        TypeError: on a bad key or a non-integer size.
        ValueError: on ``dim < 1``, ``width < 1`` or ``depth < 0``.
    """

    mlp: eqx.nn.MLP

    def __init__(self, key, *, dim: int, width: int = 64, depth: int = 2):
        key = as_key(key, "key")
        dim, width, depth = _check_sizes(dim, width, depth)
        self.mlp = eqx.nn.MLP(dim, dim, width, depth, activation=jnp.tanh, key=key)

    def __call__(self, t, x):
        return self.mlp(x)


class MLPDiffusion(eqx.Module):
    """Diagonal neural diffusion ``s_d(t, x) = softplus(MLP_d(x_d)) + floor``, one net per dim.

    The floor keeps ``s > 0`` (a zero diffusion would make the path KL infinite).

    Args:
        key: PRNG key or int seed.
        dim: latent dimension D >= 1 (one network per dimension).
        width: hidden width >= 1.
        depth: number of hidden layers >= 0.
        floor: the lower bound of ``s``, > 0.

    Raises:
        TypeError: on a bad key or a non-integer size.
        ValueError: on ``dim < 1``, ``width < 1``, ``depth < 0`` or ``floor <= 0``.
    """

    mlps: eqx.nn.MLP
    floor: float = eqx.field(static=True)

    def __init__(self, key, *, dim: int, width: int = 32, depth: int = 2, floor: float = 1e-3):
        key = as_key(key, "key")
        dim, width, depth = _check_sizes(dim, width, depth)
        self.floor = check_positive_scalar(floor, "floor")
        keys = jax.random.split(key, dim)
        self.mlps = eqx.filter_vmap(
            lambda k: eqx.nn.MLP(1, 1, width, depth, activation=jnp.tanh, key=k)
        )(keys)

    def __call__(self, t, x):
        out = eqx.filter_vmap(lambda m, xd: m(xd[None])[0])(self.mlps, x)
        return jax.nn.softplus(out) + self.floor


def _latent(key, sde, *, dim, x0, obs_std, width, depth, horizon, guided=False):
    x0 = check_array(jnp.zeros(dim) if x0 is None else x0, "x0", shape=(dim,))
    obs_std = check_positive_scalar(obs_std, "obs_std")
    control = Control(
        key,
        dim=dim,
        num_speeds=sde.num_speeds,
        context_dim=context_dim(dim),
        width=width,
        depth=depth,
        time_scale=horizon,
    )
    x0 = x0.astype(jnp.zeros(()).dtype)
    return LatentSDE(
        sde=sde, control=control, x0=x0, obs_std=obs_std, guided=check_bool(guided, "guided")
    )


def _prior_kw(hurst, num_speeds, gamma_max, kind, horizon, learn_hurst):
    hurst = check_hurst(hurst)
    check_int(num_speeds, "num_speeds", minimum=1)
    return {
        "hurst": hurst,
        "num_speeds": num_speeds,
        "gamma_max": gamma_max,
        "kind": kind,
        "horizon": horizon,
        "learn_hurst": learn_hurst,
    }


def fractional_ou(
    key,
    *,
    hurst: float = 0.5,
    theta: float = 1.0,
    sigma: float = 1.0,
    learn_hurst: bool = True,
    learn_theta: bool = True,
    learn_sigma: bool = True,
    x0=None,
    obs_std: float = 0.1,
    kind: str = "type2",
    num_speeds: int = 5,
    gamma_max: float = 20.0,
    horizon: float = 1.0,
    width: int = 64,
    depth: int = 2,
    guided: bool = True,
) -> LatentSDE:
    """Fractional OU ``dx = -theta x dt + sigma dB_hat_H`` (one dimension) ready for ``fit``.

    Args:
        key: PRNG key or int seed (control network).
        hurst: initial H in (0, 1).
        theta: initial mean-reversion rate.
        sigma: initial noise scale > 0.
        learn_hurst, learn_theta, learn_sigma: which parameters ``fit`` learns.
        x0: known initial state, shape ``(1,)`` (default 0).
        obs_std: observation noise standard deviation > 0.
        kind: MA-fBM ``"type1"`` or ``"type2"``.
        num_speeds: K >= 1.
        gamma_max: largest OU speed.
        horizon: T used to fit ``omega(H)`` and to normalise time in the control; it must
            cover the data (``fit`` raises otherwise): use the last observation time.
        width, depth: control MLP size.
        guided: add the exact affine posterior control of this linear model
            (:mod:`bayeskit.fbm.guide`) to the network, which makes the ELBO tight and the learned
            H the maximum-likelihood one; ``False`` leaves the network alone (as in the paper).

    Returns:
        :class:`~bayeskit.fbm.vi.LatentSDE`.

    Raises:
        ValueError: for H outside (0, 1), K < 1, non-positive sigma, horizon or obs_std.
    """
    key = as_key(key, "key")
    learn_theta = check_bool(learn_theta, "learn_theta")
    learn_sigma = check_bool(learn_sigma, "learn_sigma")
    sde = FractionalSDE(
        LinearDrift(theta, learn=learn_theta),
        ConstantDiffusion(sigma, learn=learn_sigma),
        dim=1,
        **_prior_kw(hurst, num_speeds, gamma_max, kind, horizon, learn_hurst),
    )
    return _latent(
        key,
        sde,
        dim=1,
        x0=x0,
        obs_std=obs_std,
        width=width,
        depth=depth,
        horizon=horizon,
        guided=guided,
    )


def neural_sde(
    key,
    *,
    dim: int,
    hurst: float = 0.5,
    learn_hurst: bool = True,
    x0=None,
    obs_std: float = 0.1,
    kind: str = "type2",
    num_speeds: int = 5,
    gamma_max: float = 20.0,
    horizon: float = 1.0,
    width: int = 64,
    depth: int = 2,
) -> LatentSDE:
    """Neural SDE ``dx = MLP(x) dt + softplus(MLP_d(x_d)) dB_hat_H`` in ``dim`` dimensions.

    Args:
        key: PRNG key or int seed.
        dim: latent dimension >= 1.
        hurst, learn_hurst, x0, obs_std, kind, num_speeds, gamma_max, horizon, width, depth: as in
            :func:`fractional_ou`; ``width``/``depth`` size the drift and control networks.

    Returns:
        :class:`~bayeskit.fbm.vi.LatentSDE`.

    Raises:
        ValueError: for ``dim < 1``, H outside (0, 1), K < 1, non-positive horizon or obs_std.
    """
    key = as_key(key, "key")
    dim = check_int(dim, "dim", minimum=1)
    width = check_int(width, "width", minimum=1)
    depth = check_int(depth, "depth", minimum=1)
    prior = _prior_kw(hurst, num_speeds, gamma_max, kind, horizon, learn_hurst)
    k_drift, k_diff, k_ctrl = jax.random.split(key, 3)
    sde = FractionalSDE(
        MLPDrift(k_drift, dim=dim, width=width, depth=depth),
        MLPDiffusion(k_diff, dim=dim),
        dim=dim,
        **prior,
    )
    return _latent(
        k_ctrl, sde, dim=dim, x0=x0, obs_std=obs_std, width=width, depth=depth, horizon=horizon
    )


def fbm_bridge(
    key,
    *,
    hurst: float = 0.7,
    horizon: float = 2.0,
    obs_std: float = 0.1,
    kind: str = "type2",
    width: int = 64,
    depth: int = 2,
) -> tuple[LatentSDE, Observations]:
    """The fBM bridge of Daems et al. (2024), Fig. 2: ``dx = dB_hat_H``, ``x(0) = 0``, ``x(T) = 0``.

    Only the control network is learned (H, drift and diffusion are fixed; no guide, so that the
    network alone must find the posterior); the exact posterior is the Gaussian conditional of the
    MA-fBM prior (see :func:`bayeskit.fbm.benchmark.bridge_exact_std`).

    Args:
        key: PRNG key or int seed (control network).
        hurst: H in (0, 1).
        horizon: T > 0, the time of the single observation ``x(T) = 0``.
        obs_std: its noise standard deviation > 0.
        kind: ``"type1"`` or ``"type2"``.
        width, depth: control MLP size.

    Returns:
        ``(model, data)`` ready for :func:`bayeskit.fbm.vi.fit`.

    Raises:
        ValueError: for H outside (0, 1) or non-positive ``horizon`` / ``obs_std``.
    """
    horizon = check_positive_scalar(horizon, "horizon")
    model = fractional_ou(
        key,
        hurst=hurst,
        theta=0.0,
        sigma=1.0,
        learn_hurst=False,
        learn_theta=False,
        learn_sigma=False,
        obs_std=obs_std,
        horizon=horizon,
        kind=kind,
        width=width,
        depth=depth,
        guided=False,
    )
    data = Observations(jnp.array([horizon], jnp.zeros(()).dtype), jnp.zeros((1, 1, 1)))
    return model, data
