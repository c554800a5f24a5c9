"""Variational inference for SDEs driven by MA-fBM: ELBO and ``fit``.

The posterior over paths is the controlled SDE of :mod:`bayeskit.fbm.sde`; the ELBO is
(Daems et al. 2024, Eq. 13)

    log p(o) >= E_Q[ sum_i log N(o_i | x(t_i), sigma_obs^2) ] - E_Q[ log dQ/dP ],

estimated with one posterior path per sequence in the batch; ``log dQ/dP`` is the path's exact
Girsanov log-ratio (mean ``int |u|^2 / 2 dt``), whose zero-mean part cancels most of the
estimator's noise near the optimum. ``fit`` maximises it jointly over the control network, the
prior drift and diffusion parameters and ``H = sigmoid(h)``.

For a linear drift and a constant diffusion (:func:`~bayeskit.fbm.models.fractional_ou`) the model
is ``guided``: the control adds the exact posterior's time-varying affine control of the solver's
chain (:mod:`bayeskit.fbm.guide`), so that the ELBO equals the exact log-likelihood up to the
solver's discretisation and the learned H is the maximum-likelihood one. A control network alone,
conditioned on the next observations, leaves a gap of several nats per observation at H = 0.3
(the posterior must pin the fast OU states at each observation, which one scalar control held over
a step cannot do) and that gap varies with H, which is why the unguided fit did not learn H.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from bayeskit._progress import progress_range, show_progress
from bayeskit.fbm.guide import Guide, is_linear, linear_guide
from bayeskit.fbm.mafbm import SCHEMES, check_positive_scalar
from bayeskit.fbm.sde import Control, FractionalSDE, SimResult, simulate_path
from bayeskit.parallel import _check_mesh, named_sharding
from bayeskit.random import as_key
from bayeskit.summary import to_inference_data as _to_idata
from bayeskit.validate import (
    check_array,
    check_bool,
    check_choice,
    check_int,
    check_optimizer,
    check_scalar,
)

__all__ = [
    "Observations",
    "LatentSDE",
    "context_dim",
    "observation_context",
    "elbo",
    "FitResult",
    "fit",
]


class Observations(eqx.Module):
    """Noisy observations of ``P`` independent sequences on a shared time grid.

    Attributes:
        times: observation times, shape ``(N,)``, ``N >= 1``, finite, strictly increasing, >= 0.
        values: finite observations, shape ``(P, N, D)``, ``P, D >= 1``.

    Raises:
        TypeError: on non-numeric times or values.
        ValueError: on wrong shapes, NaN or infinite entries, negative or unordered times
            (value checks skipped for traced arrays).
    """

    times: Any
    values: Any

    def __check_init__(self):
        t = check_array(self.times, "times", ndim=1)
        n = t.shape[0]
        if n < 1:
            raise ValueError(f"times: expected at least one observation time, got shape {t.shape}")
        v = check_array(self.values, "values", ndim=3)
        if v.shape[1] != n or v.shape[0] < 1 or v.shape[2] < 1:
            raise ValueError(
                f"values: expected shape (P, {n}, D) with P, D >= 1 to match times of shape "
                f"{t.shape}, got {v.shape}"
            )
        if not isinstance(t, jax.core.Tracer):
            host = np.asarray(jax.device_get(self.times), np.float64)
            if np.any(np.diff(host) <= 0):
                raise ValueError(
                    f"times: expected strictly increasing times, got them out of order: {host[:8]}"
                )
            if host[0] < 0:
                raise ValueError(f"times: expected times >= 0, got {host[0]}")


class LatentSDE(eqx.Module):
    """A fittable model: MA-fBM prior, posterior control and Gaussian observation noise.

    Attributes:
        sde: the :class:`FractionalSDE` prior.
        control: the posterior control (e.g. :class:`Control` with ``context_dim(D)`` inputs).
        x0: known initial state, shape ``(D,)`` (not learned).
        obs_std: observation noise standard deviation (static).
        guided: add the exact affine posterior control of the linear prior
            (:mod:`bayeskit.fbm.guide`; needs a linear drift, a constant diffusion and the
            ``"exact"`` scheme) to ``control`` (static).
    """

    sde: FractionalSDE
    control: Control
    x0: jax.Array
    obs_std: float = eqx.field(static=True)
    guided: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        if not isinstance(self.sde, FractionalSDE):
            raise TypeError(f"sde: expected a FractionalSDE, got {type(self.sde).__name__}")
        if not callable(self.control):
            raise TypeError(f"control: expected a callable, got {type(self.control).__name__}")
        check_array(self.x0, "x0", shape=(self.sde.dim,))
        check_scalar(self.obs_std, "obs_std", 0.0, None)
        check_bool(self.guided, "guided")
        if self.guided and not is_linear(self.sde):
            raise TypeError(
                "guided: the guide needs a linear drift and a constant diffusion (LinearDrift, "
                f"ConstantDiffusion), got {type(self.sde.drift).__name__} and "
                f"{type(self.sde.diffusion).__name__}; use guided=False"
            )

    def parameters(self) -> dict[str, jax.Array]:
        """Named scalar parameters: ``hurst`` plus those the drift and diffusion expose."""
        out = {"hurst": self.sde.hurst}
        for part in (self.sde.drift, self.sde.diffusion):
            if hasattr(part, "parameters"):
                out.update(part.parameters())
        return out


def context_dim(dim: int) -> int:
    """Size ``2 D + 2`` of the features made by :func:`observation_context`."""
    return 2 * check_int(dim, "dim", minimum=1) + 2


def observation_context(times, values, grid, horizon: float):
    """Per-grid-time data features for the control: next two observations and time to the next.

    Args:
        times: observation times, shape ``(N,)``.
        values: one sequence's observations, shape ``(N, D)``.
        grid: solver times, shape ``(S + 1,)``.
        horizon: time scale T used to normalise the gap.

    Returns:
        Array of shape ``(S + 1, 2 D + 2)``: ``[o_next, o_after_next, g, sqrt(g)]`` with the gap
        ``g = (t_next - t) / T``; after the last observation the last one is repeated with a zero
        gap. ``sqrt(g)`` helps the network represent the control's steep growth just before an
        observation (its gain scales like one over the remaining prior variance).

    Raises:
        TypeError: on non-numeric arrays or ``horizon``.
        ValueError: on wrong shapes, non-finite entries, unordered times (value checks skipped
            for traced arrays) or ``horizon <= 0``.
    """
    times = check_array(times, "times", ndim=1)
    n = times.shape[0]
    if n < 1:
        raise ValueError(f"times: expected at least one observation time, got shape {times.shape}")
    if not isinstance(times, jax.core.Tracer) and np.any(np.diff(np.asarray(times)) <= 0):
        raise ValueError("times: expected strictly increasing times")
    values = check_array(values, "values", ndim=2)
    if values.shape[0] != n:
        raise ValueError(
            f"values: expected shape ({n}, D) to match times of shape {times.shape}, got "
            f"{values.shape}"
        )
    grid = check_array(grid, "grid", ndim=1)
    if grid.shape[0] < 1:
        raise ValueError(f"grid: expected at least one time, got shape {grid.shape}")
    horizon = check_scalar(horizon, "horizon", 0.0, None)
    idx = jnp.clip(jnp.searchsorted(times, grid, side="left"), 0, n - 1)
    idx2 = jnp.clip(idx + 1, 0, n - 1)
    gap = jnp.clip(times[idx] - grid, 0.0, None) / horizon
    return jnp.concatenate([values[idx], values[idx2], gap[:, None], jnp.sqrt(gap)[:, None]], -1)


def _interp_weights(times: np.ndarray, dt: float, n_steps: int):
    pos = times / dt
    left = np.clip(np.floor(pos).astype(np.int32), 0, n_steps - 1)
    frac = np.clip(pos - left, 0.0, 1.0)
    return left, frac


def _check_problem(model, data, dt, batch_size=None, scheme="exact"):
    if not isinstance(model, LatentSDE):
        raise TypeError(f"model: expected a LatentSDE, got {type(model).__name__}")
    if not isinstance(data, Observations):
        raise TypeError(f"data: expected an Observations(times, values), got {type(data).__name__}")
    times = check_array(data.times, "data.times", ndim=1)
    values = check_array(data.values, "data.values", ndim=3)
    n = times.shape[0]
    if n < 1 or values.shape[1] != n or values.shape[2] != model.sde.dim:
        raise ValueError(
            f"data.values: expected shape (P, {n}, {model.sde.dim}), got {values.shape}"
        )
    t = np.asarray(times, np.float64)
    if np.any(np.diff(t) <= 0):
        raise ValueError("data.times: expected strictly increasing times, got them out of order")
    if t[0] < 0:
        raise ValueError(f"data.times: expected times in [0, T], got a negative time {t[0]}")
    if t[-1] > model.sde.horizon * (1.0 + 1e-6):
        raise ValueError(
            f"data.times: the last observation time {t[-1]:g} exceeds the model's horizon "
            f"{model.sde.horizon:g}, the interval on which omega(H) is fitted and time is "
            f"normalised; build the model with horizon >= {t[-1]:g} "
            "(e.g. fractional_ou(..., horizon=float(data.times[-1])))"
        )
    if model.guided and scheme != "exact":
        raise ValueError(f"scheme: a guided model needs scheme 'exact', got {scheme!r}")
    dt = check_positive_scalar(dt, "dt")
    n_steps = max(1, math.ceil(t[-1] / dt - 1e-9))
    if batch_size is not None:
        check_int(batch_size, "batch_size", minimum=1)
    return t, values, dt, n_steps


def _prepare(model, data, dt, scheme="exact"):
    """Validated arrays for the ELBO: values ``(P, N, D)``, contexts ``(P, S + 1, C)``, the
    interpolation ``left``/``frac`` ``(N,)``, ``dt``, ``S`` and each observation's nearest grid
    index (a tuple, static for the guide)."""
    t, values, dt, n_steps = _check_problem(model, data, dt, scheme=scheme)
    dtype = jnp.zeros(()).dtype
    grid = jnp.arange(n_steps + 1, dtype=dtype) * dt
    horizon = n_steps * dt
    times = jnp.asarray(t, dtype)
    ctx = jax.vmap(lambda v: observation_context(times, v, grid, horizon))(values.astype(dtype))
    left, frac = _interp_weights(t, dt, n_steps)
    obs_index = tuple(np.clip(np.rint(t / dt), 0, n_steps).astype(int).tolist())
    return (
        values.astype(dtype),
        ctx,
        jnp.asarray(left),
        jnp.asarray(frac, dtype),
        dt,
        n_steps,
        obs_index,
    )


def _posterior_path(key, model, context, dt, n_steps, scheme, omega, guide):
    """One controlled path from the model's known initial state (not learned: gradient stopped)."""
    x0 = jax.lax.stop_gradient(model.x0)
    return simulate_path(
        key,
        model.sde,
        x0,
        dt=dt,
        n_steps=n_steps,
        control=model.control,
        context=context,
        scheme=scheme,
        omega=omega,
        guide=guide,
    )


def _guide(model, omega, values, dt, n_steps, obs_index):
    """The batch's guide (``None`` unless ``model.guided``) and its ``vmap`` axes."""
    if not model.guided:
        return None, None
    x0 = jax.lax.stop_gradient(model.x0)
    guide = linear_guide(model.sde, omega, x0, model.obs_std, obs_index, values, dt, n_steps)
    type1 = model.sde.kind == "type1"
    axes = Guide(0, None, None, None, None, 0 if type1 else None, None, None, None)
    return guide, axes


def _map_paths(one, mesh, keys, values, ctx, guide, axes):
    """``vmap`` of ``one(key, values, ctx, guide)`` over the batch of paths; on a mesh, the
    batch (and the guide's per-path fields) is split across its devices and jit partitions the
    rest: the model is replicated and its gradient all-reduced."""
    if mesh is not None:

        def split(x):
            return jax.lax.with_sharding_constraint(x, named_sharding(mesh, x.ndim))

        keys, values, ctx = split(keys), split(values), split(ctx)
        if guide is not None:
            guide = Guide(*[split(g) if a == 0 else g for g, a in zip(guide, axes, strict=True)])
    return jax.vmap(one, in_axes=(0, 0, 0, axes))(keys, values, ctx, guide)


def _elbo_terms(key, model, values, ctx, left, frac, dt, n_steps, scheme, obs_index, mesh=None):
    """Per-sequence (log-likelihood, log-ratio) with one posterior path each; values (B, N, D);
    the batch split across ``mesh`` unless it is ``None``."""
    omega = model.sde.omega()
    keys = jax.random.split(key, values.shape[0])
    guide, guide_axes = _guide(model, omega, values, dt, n_steps, obs_index)

    def one(k, v, c, gd):
        sim = _posterior_path(k, model, c, dt, n_steps, scheme, omega, gd)
        xhat = (1.0 - frac)[:, None] * sim.x[left] + frac[:, None] * sim.x[left + 1]
        var = model.obs_std**2
        ll = -0.5 * jnp.sum((v - xhat) ** 2) / var - 0.5 * v.size * jnp.log(2 * jnp.pi * var)
        return ll, sim.kl[-1]

    return _map_paths(one, mesh, keys, values, ctx, guide, guide_axes)


def elbo(key, model: LatentSDE, data: Observations, *, dt: float, scheme: str = "exact", mesh=None):
    """Monte Carlo ELBO of every sequence (one posterior path each).

    Args:
        key: PRNG key or int seed.
        model: a :class:`LatentSDE`.
        data: :class:`Observations` with values of shape ``(P, N, D)``.
        dt: solver step > 0; the solver runs on ``[0, ceil(t_N / dt) dt]``.
        scheme: ``"exact"`` or ``"euler"``.
        mesh: ``None``, or a 1-D ``jax.sharding.Mesh`` (:func:`bayeskit.parallel.device_mesh`)
            to split the sequences' paths across its devices; equal to ``mesh=None`` up to
            float rounding (each device vmaps a narrower batch).

    Returns:
        ``(elbo, log_likelihood, kl)``, each of shape ``(P,)``; ``kl`` is the path's log-ratio
        ``log dQ/dP`` (a one-path KL estimate, see :class:`~bayeskit.fbm.sde.SimResult`).

    Raises:
        ValueError: for NaN data, times out of order or negative, ``dt <= 0``, bad shapes.
        TypeError: if ``model`` or ``data`` has the wrong type.
    """
    key = as_key(key, "key")
    check_choice(scheme, "scheme", SCHEMES)
    mesh = None if mesh is None else _check_mesh(mesh)
    values, ctx, left, frac, dt, n_steps, obs_index = _prepare(model, data, dt, scheme)
    ll, kl = eqx.filter_jit(_elbo_terms)(
        key, model, values, ctx, left, frac, dt, n_steps, scheme, obs_index, mesh
    )
    return ll - kl, ll, kl


class FitResult(NamedTuple):
    """Result of :func:`fit`.

    Attributes:
        model: the trained :class:`LatentSDE`.
        losses: negative ELBO per sequence at each step, shape ``(steps,)``.
        hurst: Hurst index at each step (before the update), shape ``(steps,)``.
        data: the :class:`Observations` fitted.
        dt: solver step.
        scheme: solver scheme.
        key: key reserved for :meth:`to_inference_data` draws.
    """

    model: LatentSDE
    losses: jax.Array
    hurst: jax.Array
    data: Observations
    dt: float
    scheme: str
    key: jax.Array

    def sample_paths(self, key, n: int) -> SimResult:
        """Draw ``n`` posterior paths for every sequence.

        Args:
            key: PRNG key or int seed.
            n: paths per sequence >= 1.

        Returns:
            :class:`SimResult` with ``x`` of shape ``(P, n, S + 1, D)`` (and ``y``, ``kl`` alike).

        Raises:
            ValueError: if ``n < 1``.
        """
        key = as_key(key, "key")
        n = check_int(n, "n", minimum=1)
        values, ctx, _, _, dt, n_steps, obs_index = _prepare(
            self.model, self.data, self.dt, self.scheme
        )
        p = values.shape[0]
        sim = _sample_all(key, self.model, values, ctx, dt, n_steps, n, self.scheme, obs_index)
        return SimResult(
            times=sim.times[0],
            x=sim.x.reshape(p, n, *sim.x.shape[1:]),
            y=sim.y.reshape(p, n, *sim.y.shape[1:]),
            kl=sim.kl.reshape(p, n, -1),
        )

    def to_inference_data(self, n_draws: int = 100):
        """ArviZ ``InferenceData``: posterior path draws and the learned (point) parameters.

        Paths are drawn with the key stored in the result; the learned parameters are point
        estimates, repeated across draws (their posterior sd is 0 by construction).

        Args:
            n_draws: posterior paths per sequence >= 1.

        Returns:
            ``arviz.InferenceData`` with posterior ``x`` of shape ``(1, n_draws, P, S + 1, D)``,
            each parameter of shape ``(1, n_draws)``, ``observed_data`` ``y`` and sample stats
            ``kl``.
        """
        sim = self.sample_paths(self.key, n_draws)
        draws = {"x": np.moveaxis(np.asarray(sim.x), 1, 0)[None]}
        for name, val in self.model.parameters().items():
            draws[name] = np.full((1, n_draws), float(val))
        p = sim.x.shape[0]
        return _to_idata(
            draws,
            sample_stats={"kl": np.asarray(sim.kl[:, :, -1]).T[None]},
            observed_data={"y": np.asarray(self.data.values)},
            coords={"time": np.asarray(sim.times), "sequence": np.arange(p)},
            dims={"x": ["sequence", "time", "latent"], "kl": ["sequence"]},
            attrs={"method": "MA-fBM variational inference (Daems et al. 2024)"},
        )


@eqx.filter_jit
def _sample_all(key, model, values, ctx, dt, n_steps, n, scheme, obs_index):
    p = ctx.shape[0]
    omega = model.sde.omega()
    guide, axes = _guide(model, omega, jnp.repeat(values, n, axis=0), dt, n_steps, obs_index)
    keys = jax.random.split(key, p * n)

    def one(k, c, gd):
        return _posterior_path(k, model, c, dt, n_steps, scheme, omega, gd)

    return jax.vmap(one, in_axes=(0, 0, axes))(keys, jnp.repeat(ctx, n, axis=0), guide)


_DEFAULT_OPTIMIZER = optax.adam(1e-3)  # one object, so that fits with the default share a compile


@functools.lru_cache(maxsize=8)
def _make_step(optimizer, dt, n_steps, batch_size, scheme, obs_index, mesh=None):
    """The jitted training step (cached so that repeated ``fit`` calls reuse the compile)."""

    def loss_fn(model, key, values, ctx, left, frac):
        args = (dt, n_steps, scheme, obs_index, mesh)
        ll, kl = _elbo_terms(key, model, values, ctx, left, frac, *args)
        return -jnp.mean(ll - kl)

    @eqx.filter_jit
    def step(model, opt_state, key, values, ctx, left, frac):
        k_batch, k_sim = jax.random.split(key)
        p = values.shape[0]
        idx = jax.random.choice(k_batch, p, (batch_size,), replace=p < batch_size)
        hurst = model.sde.hurst
        loss, grads = eqx.filter_value_and_grad(loss_fn)(
            model, k_sim, values[idx], ctx[idx], left, frac
        )
        updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        model = eqx.apply_updates(model, updates)
        return model, opt_state, loss, hurst

    return step


def fit(
    key,
    model: LatentSDE,
    data: Observations,
    *,
    steps: int,
    dt: float,
    batch_size: int = 32,
    optimizer: optax.GradientTransformation | None = None,
    scheme: str = "exact",
    mesh=None,
    progress: bool | None = None,
) -> FitResult:
    """Fit the control, prior parameters and Hurst index by maximising the ELBO with ``optax``.

    Each step draws ``batch_size`` sequences (with replacement when there are fewer sequences
    than the batch, e.g. a single bridge observation) and one posterior path per drawn sequence.

    The jitted step is cached: a second call with the same ``optimizer`` object, ``dt``,
    ``batch_size``, ``scheme``, ``mesh`` and observation grid does not compile again (so a
    one-step call followed by a timed call measures the seconds per step).

    Args:
        key: PRNG key or int seed.
        model: a :class:`LatentSDE` (see :mod:`bayeskit.fbm.models`).
        data: :class:`Observations`, times ``(N,)`` in ``[0, T]`` and values ``(P, N, D)``.
        steps: optimisation steps >= 1.
        dt: solver step > 0 (the solver covers ``[0, ceil(t_N / dt) dt]``).
        batch_size: paths per step >= 1.
        optimizer: any ``optax.GradientTransformation``; default ``optax.adam(1e-3)`` (suited to
            training a control network). A guided model's ELBO is nearly deterministic in
            ``(H, theta, sigma)``, so a larger step learns them faster: the benchmark uses
            ``adam(cosine_decay_schedule(2e-2, steps, alpha=0.1))`` for 800-1500 steps.
        scheme: ``"exact"`` OU transitions or ``"euler"``.
        mesh: ``None``, or a 1-D ``jax.sharding.Mesh`` (:func:`bayeskit.parallel.device_mesh`)
            to split each step's batch of paths across its devices (data-parallel gradients:
            the mean over the batch all-reduces them); the losses equal ``mesh=None``'s up to
            float rounding (each device vmaps a narrower batch, and the mean sums in another
            order), which training can amplify over many steps.
        progress: show a tqdm bar; ``None`` (default) shows one when run interactively (a
            Jupyter kernel or a terminal; ``BAYESKIT_PROGRESS=0``/``1`` overrides).

    Returns:
        :class:`FitResult`.

    Raises:
        ValueError: for NaN data, observation times out of order or negative, ``dt <= 0``,
            ``steps < 1`` or bad shapes.
        TypeError: for a model or data of the wrong type.
        FloatingPointError: if the ELBO became non-finite (the step is named; lower the
            learning rate or ``dt``).
    """
    key = as_key(key, "key")
    steps = check_int(steps, "steps", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    check_choice(scheme, "scheme", SCHEMES)
    show = show_progress(progress)
    _check_problem(model, data, dt, batch_size, scheme)
    optimizer = _DEFAULT_OPTIMIZER if optimizer is None else check_optimizer(optimizer)
    mesh = None if mesh is None else _check_mesh(mesh)
    values, ctx, left, frac, dt, n_steps, obs_index = _prepare(model, data, dt, scheme)
    step = _make_step(optimizer, dt, n_steps, int(batch_size), scheme, obs_index, mesh)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))
    key, k_draws = jax.random.split(key)
    keys = jax.random.split(key, steps)
    losses, hursts = [], []
    for i in progress_range(steps, show, "fbm.fit"):
        model, opt_state, loss, hurst = step(model, opt_state, keys[i], values, ctx, left, frac)
        losses.append(loss)
        hursts.append(hurst)
    losses = jnp.stack(losses)
    if not bool(jnp.all(jnp.isfinite(losses))):
        bad = int(np.argmax(~np.isfinite(np.asarray(losses))))
        raise FloatingPointError(
            f"fit: the ELBO became non-finite at step {bad}; lower the learning rate or dt"
        )
    return FitResult(model, losses, jnp.stack(hursts), data, dt, scheme, k_draws)
