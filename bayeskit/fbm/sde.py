"""SDEs driven by Markov-approximate fBM: prior, controlled posterior and simulator.

Each latent dimension ``d`` carries ``K`` OU states ``y_{d,k}`` driven by one Brownian motion
``W_d``; the augmented state ``(x, y)`` is Markov (Daems et al. 2024, Sec. 3-4):

    prior:      dy_{d,k} = -gamma_k y_{d,k} dt + dW_d
                dx_d     = b_d(t, x) dt + s_d(t, x) sum_k omega_k dy_{d,k}
    posterior:  dy_{d,k} = (-gamma_k y_{d,k} + u_d(t, x, y, context)) dt + dW_d

with the same diffusion, so that by Girsanov ``KL(Q || P) = E int_0^T |u|^2 / 2 dt`` (Daems et al.
2024, Eq. 12). Stochastic integrals are Ito: ``b`` and ``s`` are frozen at the start of each step.
The OU bank is advanced either with its exact Gaussian transition for a control held constant over
the step (``scheme="exact"``, stable for any ``gamma dt``) or by Euler-Maruyama.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from bayeskit.fbm.mafbm import (
    KINDS,
    SCHEMES,
    check_gammas,
    check_hurst,
    check_positive_scalar,
    optimal_omega,
    ou_transition,
    speed_grid,
    stationary_sqrt,
)
from bayeskit.random import as_key
from bayeskit.validate import (
    check_array,
    check_bool,
    check_callable,
    check_choice,
    check_instance,
    check_int,
)

__all__ = ["FractionalSDE", "Control", "SimResult", "simulate", "simulate_path"]


class FractionalSDE(eqx.Module):
    """Prior SDE ``dx = b(t, x) dt + s(t, x) dB_hat_H`` on the augmented MA-fBM state.

    Attributes:
        drift: callable ``(t, x) -> (D,)``, the prior drift ``b`` (an equinox module to learn it).
        diffusion: callable ``(t, x) -> (D,)``, the diagonal diffusion ``s`` (shared by the
            posterior).
        hurst_logit: scalar, ``H = sigmoid(hurst_logit)``.
        gammas: OU speeds (static tuple of K floats).
        kind: ``"type1"`` or ``"type2"`` MA-fBM.
        horizon: interval ``[0, T]`` on which ``omega(H)`` is fitted.
        standardize: use weights for ``Var B(t) = t^2H`` (see :func:`optimal_omega`).
        learn_hurst: if False the gradient with respect to ``hurst_logit`` is stopped.
        dim: latent dimension D.
    """

    drift: Callable
    diffusion: Callable
    hurst_logit: jax.Array
    gammas: tuple = eqx.field(static=True)
    kind: str = eqx.field(static=True)
    horizon: float = eqx.field(static=True)
    standardize: bool = eqx.field(static=True)
    learn_hurst: bool = eqx.field(static=True)
    dim: int = eqx.field(static=True)

    def __init__(
        self,
        drift: Callable,
        diffusion: Callable,
        *,
        dim: int,
        hurst: float = 0.5,
        num_speeds: int = 5,
        gamma_max: float = 20.0,
        gammas=None,
        kind: str = "type2",
        horizon: float = 1.0,
        standardize: bool = True,
        learn_hurst: bool = True,
    ):
        """Build the prior.

        Args:
            drift: ``(t, x) -> (D,)``.
            diffusion: ``(t, x) -> (D,)``, positive.
            dim: latent dimension D >= 1.
            hurst: initial Hurst index in (0, 1).
            num_speeds: K >= 1 (ignored if ``gammas`` is given).
            gamma_max: largest speed of the geometric grid (ignored if ``gammas`` is given).
            gammas: explicit OU speeds, shape ``(K,)``, positive.
            kind: ``"type1"`` or ``"type2"``.
            horizon: T > 0 for the weight fit.
            standardize: see :func:`bayeskit.fbm.mafbm.optimal_omega`.
            learn_hurst: let ``fit`` move H.

        Raises:
            ValueError: for H outside (0, 1), K < 1, non-positive speeds or horizon, bad kind.
            TypeError: if ``drift`` or ``diffusion`` is not callable, or a number or flag has
                the wrong type.
        """
        check_callable(drift, "drift")
        check_callable(diffusion, "diffusion")
        check_choice(kind, "kind", KINDS)
        h = check_hurst(hurst)
        self.dim = check_int(dim, "dim", minimum=1)
        g = speed_grid(num_speeds, gamma_max) if gammas is None else check_gammas(gammas)
        self.gammas = tuple(float(v) for v in g)
        self.horizon = check_positive_scalar(horizon, "horizon")
        self.standardize = check_bool(standardize, "standardize")
        self.learn_hurst = check_bool(learn_hurst, "learn_hurst")
        self.kind = kind
        self.drift = drift
        self.diffusion = diffusion
        self.hurst_logit = jnp.asarray(np.log(h / (1.0 - h)), jnp.zeros(()).dtype)

    @property
    def num_speeds(self) -> int:
        """K, the number of OU processes per latent dimension."""
        return len(self.gammas)

    @property
    def hurst(self) -> jax.Array:
        """The Hurst index ``sigmoid(hurst_logit)`` (gradient stopped unless ``learn_hurst``)."""
        logit = self.hurst_logit if self.learn_hurst else jax.lax.stop_gradient(self.hurst_logit)
        return jax.nn.sigmoid(logit)

    def omega(self) -> jax.Array:
        """Weights ``omega(H)``, shape ``(K,)``, differentiable in ``hurst_logit``."""
        return optimal_omega(
            self.hurst,
            np.asarray(self.gammas),
            kind=self.kind,
            horizon=self.horizon,
            standardize=self.standardize,
        )


class Control(eqx.Module):
    """Posterior control ``u(t, x, y, context) -> (D,)``, an MLP with a zero-initialised output.

    With a zero last layer ``u = 0`` at initialisation, so the posterior starts at the prior.

    Attributes:
        mlp: the equinox MLP on ``[t / T, x, y.ravel(), context]``.
        time_scale: ``T`` used to normalise time (static).
    """

    mlp: eqx.nn.MLP
    time_scale: float = eqx.field(static=True)

    def __init__(
        self,
        key,
        *,
        dim: int,
        num_speeds: int,
        context_dim: int = 0,
        width: int = 64,
        depth: int = 2,
        time_scale: float = 1.0,
    ):
        """Build the network.

        Args:
            key: PRNG key or int seed (hidden-layer initialisation).
            dim: latent dimension D >= 1.
            num_speeds: K >= 1.
            context_dim: size >= 0 of the per-time data context.
            width: hidden width >= 1.
            depth: number of hidden layers >= 1.
            time_scale: T > 0 (inputs use ``t / T``).

        Raises:
            ValueError: on invalid sizes.
        """
        key = as_key(key, "key")
        dim = check_int(dim, "dim", minimum=1)
        k = check_int(num_speeds, "num_speeds", minimum=1)
        c = check_int(context_dim, "context_dim", minimum=0)
        width = check_int(width, "width", minimum=1)
        depth = check_int(depth, "depth", minimum=1)
        self.time_scale = check_positive_scalar(time_scale, "time_scale")
        mlp = eqx.nn.MLP(1 + dim * (k + 1) + c, dim, width, depth, activation=jnp.tanh, key=key)
        last = mlp.layers[-1]
        self.mlp = eqx.tree_at(
            lambda m: (m.layers[-1].weight, m.layers[-1].bias),
            mlp,
            (jnp.zeros_like(last.weight), jnp.zeros_like(last.bias)),
        )

    def __call__(self, t, x, y, context):
        feats = [jnp.reshape(t / self.time_scale, (1,)), x, jnp.ravel(y)]
        if context is not None:
            feats.append(context)
        return self.mlp(jnp.concatenate(feats))


class SimResult(NamedTuple):
    """Simulated paths on the grid ``t_j = j dt``.

    Attributes:
        times: shape ``(S + 1,)``.
        x: latent paths, shape ``(..., S + 1, D)``.
        y: OU states, shape ``(..., S + 1, D, K)``.
        kl: running path log-ratio ``log dQ/dP`` on ``[0, t]``, shape ``(..., S + 1)``: a
            one-path estimate of the KL divergence of the posterior from the prior (its mean is
            the KL ``E int |u|^2 / 2 dt``; one path can be negative). 0 for the prior.
    """

    times: jax.Array
    x: jax.Array
    y: jax.Array
    kl: jax.Array


def simulate_path(
    key,
    sde: FractionalSDE,
    x0,
    *,
    dt,
    n_steps,
    control=None,
    context=None,
    scheme="exact",
    omega=None,
    guide=None,
):
    """One path of the (controlled) augmented SDE; traceable core of :func:`simulate`.

    The posterior's noise is drawn in whitened coordinates: each step of dimension ``d`` draws
    ``xi = s + M eps`` with ``eps ~ N(0, I)``, where the prior has ``s = 0, M = I``, a control
    ``u`` adds ``u c`` to ``s`` (``c`` the whitened direction of a constant drift on the Brownian
    motion, ``|c|^2 = dt``) and a :class:`~bayeskit.fbm.guide.Guide` adds its affine shift and sets
    ``M``. The path's log-ratio ``log dQ/dP`` accumulates ``|xi|^2/2 - |eps|^2/2 - log det M``,
    exactly; without a guide this is Girsanov's ``u dW + u^2 dt / 2`` (mean ``int |u|^2/2 dt``).

    Args:
        key: an int seed or PRNG key.
        sde: the prior.
        x0: initial state, shape ``(D,)``.
        dt: step (Python float).
        n_steps: number of steps (Python int).
        control: ``None`` (prior) or a callable ``(t, x, y, context) -> (D,)``.
        context: ``None`` or per-step context, shape ``(n_steps + 1, C)``.
        scheme: ``"exact"`` or ``"euler"`` (no guide).
        omega: precomputed ``sde.omega()`` (to share one host solve across a batch).
        guide: ``None`` or a :class:`~bayeskit.fbm.guide.Guide` for one sequence (exact scheme).

    Returns:
        :class:`SimResult` for one path.

    Raises:
        TypeError: on a bad key, an ``sde`` that is not a FractionalSDE, a non-callable
            ``control``, a ``guide`` that is not a Guide, or non-numeric arrays.
        ValueError: on wrong shapes, ``dt <= 0``, ``n_steps < 1``, an unknown ``scheme`` or a
            guide with the euler scheme (values of traced arrays are not checked).
    """
    key = as_key(key, "key")
    check_instance(sde, "sde", FractionalSDE)
    dt = check_positive_scalar(dt, "dt")
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    check_choice(scheme, "scheme", SCHEMES)
    x0 = check_array(x0, "x0", shape=(sde.dim,))
    if control is not None:
        check_callable(control, "control")
    if context is not None:
        context = check_array(context, "context", ndim=2)
        if context.shape[0] != n_steps + 1:
            raise ValueError(
                f"context: expected shape ({n_steps + 1}, C) for n_steps = {n_steps}, got "
                f"{context.shape}"
            )
    if omega is not None:
        omega = check_array(omega, "omega", shape=(sde.num_speeds,))
    if guide is not None:
        from bayeskit.fbm.guide import Guide

        if not isinstance(guide, Guide):
            raise TypeError(f"guide: expected a Guide or None, got {type(guide).__name__}")
        if scheme != "exact":
            raise ValueError(f"scheme: a guide needs scheme 'exact', got {scheme!r}")
    dim, k = sde.dim, sde.num_speeds
    dtype = jnp.result_type(jnp.asarray(x0).dtype, jnp.float32)
    x0 = jnp.asarray(x0, dtype)
    g = jnp.asarray(sde.gammas, dtype)
    w = (sde.omega() if omega is None else omega).astype(dtype)
    k_init, k_steps = jax.random.split(key)
    lr0 = jnp.zeros((), dtype)
    if sde.kind == "type1":
        root0 = jnp.asarray(stationary_sqrt(np.asarray(sde.gammas)), dtype)
        eps0 = jax.random.normal(k_init, (dim, k), dtype)
        xi0 = eps0
        if guide is not None and guide.init_offset is not None:
            xi0 = guide.init_offset + eps0 @ guide.init_noise.T
            lr0 = _log_ratio(guide.init_offset, eps0 @ guide.init_noise.T, eps0, guide.init_quad)
            lr0 = lr0 - dim * guide.init_logdet
        y0 = xi0 @ root0.T
    else:
        y0 = jnp.zeros((dim, k), dtype)
    if scheme == "exact":
        tr = ou_transition(np.asarray(sde.gammas), dt)
        decay = jnp.asarray(tr.decay, dtype)
        joint = jnp.asarray(tr.joint_sqrt, dtype)  # (K + 1, K + 1)
        direction = joint[-1]  # whitened direction of a unit drift on W, |.|^2 = dt
        width = k + 1
    else:
        direction = jnp.full((1,), np.sqrt(dt), dtype)
        width = 1
    times = jnp.arange(n_steps + 1, dtype=dtype) * dt

    def step(carry, inp):
        x, y, lr = carry
        j, kj = inp
        t = times[j]
        ctx = None if context is None else context[j]
        eps = jax.random.normal(kj, (dim, width), dtype)
        shift = jnp.zeros((dim, width), dtype)
        if control is not None:
            shift = shift + control(t, x, y, ctx)[:, None] * direction
        if guide is None:
            noise, quad, logdet = eps, None, 0.0
        else:
            z = jnp.concatenate([x[:, None], y], axis=1)  # (D, K + 1)
            shift = shift + guide.offset[j] + z @ guide.gain[j].T
            noise, quad, logdet = eps @ guide.noise[j].T, guide.quad[j], guide.logdet[j]
        xi = shift + noise
        if scheme == "exact":
            y_new = decay * y + xi @ joint[:k].T
        else:
            y_new = y - g * y * dt + xi * np.sqrt(dt)
        db = (y_new - y) @ w
        x_new = x + sde.drift(t, x) * dt + sde.diffusion(t, x) * db
        lr_new = lr + _log_ratio(shift, noise, eps, quad) - dim * logdet
        return (x_new, y_new, lr_new), (x_new, y_new, lr_new)

    keys = jax.random.split(k_steps, n_steps)
    init = (x0, y0, lr0)
    _, (xs, ys, lrs) = jax.lax.scan(step, init, (jnp.arange(n_steps), keys))
    return SimResult(
        times=times,
        x=jnp.concatenate([x0[None], xs]),
        y=jnp.concatenate([y0[None], ys]),
        kl=jnp.concatenate([lr0[None], lrs]),
    )


def _log_ratio(shift, noise, eps, quad):
    """``|shift + noise|^2 / 2 - |eps|^2 / 2`` with ``noise = M eps`` (``quad = M'M - I``).

    Expanded so that no large terms cancel: ``|s|^2/2 + s . noise + eps' quad eps / 2``.
    """
    out = 0.5 * jnp.sum(shift**2) + jnp.sum(shift * noise)
    if quad is not None:
        out = out + 0.5 * jnp.sum(eps * (eps @ quad.T))
    return out


@eqx.filter_jit
def _simulate_batch(key, sde, x0, dt, n_steps, n_paths, control, context, scheme):
    omega = sde.omega()
    keys = jax.random.split(key, n_paths)

    def one(kk, ctx):
        return simulate_path(
            kk,
            sde,
            x0,
            dt=dt,
            n_steps=n_steps,
            control=control,
            context=ctx,
            scheme=scheme,
            omega=omega,
        )

    if context is None or context.ndim == 2:
        out = jax.vmap(lambda kk: one(kk, context))(keys)
    else:
        out = jax.vmap(one)(keys, context)
    return out._replace(times=out.times[0])


def simulate(
    key,
    sde: FractionalSDE,
    *,
    x0,
    dt: float,
    n_steps: int,
    n_paths: int,
    control=None,
    context=None,
    scheme: str = "exact",
) -> SimResult:
    """Simulate ``n_paths`` paths of the prior (``control=None``) or of the controlled posterior.

    Args:
        key: PRNG key or int seed.
        sde: a :class:`FractionalSDE`.
        x0: initial state, shape ``(D,)``.
        dt: step > 0.
        n_steps: number of steps >= 1.
        n_paths: number of paths >= 1.
        control: ``None`` or a callable ``(t, x, y, context) -> (D,)`` such as :class:`Control`.
        context: ``None``, shape ``(n_steps + 1, C)`` (shared) or ``(n_paths, n_steps + 1, C)``.
        scheme: ``"exact"`` (exact OU transitions) or ``"euler"`` (Euler-Maruyama).

    Returns:
        :class:`SimResult` with leading axis ``n_paths``.

    Raises:
        ValueError: for ``dt <= 0``, non-finite ``x0``, bad sizes, shapes or ``scheme``.
    """
    key = as_key(key, "key")
    check_instance(sde, "sde", FractionalSDE)
    check_choice(scheme, "scheme", SCHEMES)
    dt = check_positive_scalar(dt, "dt")
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    n_paths = check_int(n_paths, "n_paths", minimum=1)
    x0 = check_array(x0, "x0", shape=(sde.dim,))
    if control is not None:
        check_callable(control, "control")
    if context is not None:
        context = check_array(context, "context", ndim=(2, 3))
        if context.shape[-2] != n_steps + 1 or (context.ndim == 3 and context.shape[0] != n_paths):
            raise ValueError(
                f"context: expected shape ({n_steps + 1}, C) or ({n_paths}, {n_steps + 1}, C), "
                f"got {context.shape}"
            )
    return _simulate_batch(key, sde, x0, dt, n_steps, n_paths, control, context, scheme)
