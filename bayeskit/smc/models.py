"""State-space models: the protocol used by every algorithm in :mod:`bayeskit.smc`, and built-ins.

A model is a :class:`StateSpaceModel`: a frozen bundle of single-point callables, all taking the
parameters ``theta`` (any pytree) last. Algorithms ``vmap`` them over particles, so they are written
for one state ``x`` of shape ``(dim_x,)`` and one observation ``y`` of shape ``(dim_y,)``.

References: Olsson & Westerborn (2017), Bernoulli 23(3), Section 2 (hidden Markov model notation:
initial law chi, transition density m, potential g).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from bayeskit.random import as_key
from bayeskit.validate import (
    check_array,
    check_callable,
    check_choice,
    check_in_range,
    check_int,
    check_positive,
    check_scalar,
)

__all__ = [
    "StateSpaceModel",
    "LGSSMMatrices",
    "state_space_model",
    "check_theta_fields",
    "linear_gaussian",
    "stochastic_volatility",
    "chaotic_rnn",
    "simulate",
]

_LOG_2PI = math.log(2.0 * math.pi)


class LGSSMMatrices(NamedTuple):
    """Matrices of a linear Gaussian model ``x' = A x + w, y = B x + v``.

    Fields: ``A (dx, dx)``, ``B (dy, dx)``, ``Q (dx, dx)``, ``R (dy, dy)``, ``m0 (dx,)``,
    ``P0 (dx, dx)``, with ``w ~ N(0, Q)``, ``v ~ N(0, R)``, ``x_0 ~ N(m0, P0)``.
    """

    A: jax.Array
    B: jax.Array
    Q: jax.Array
    R: jax.Array
    m0: jax.Array
    P0: jax.Array


@dataclass(frozen=True, eq=False)
class StateSpaceModel:
    """A hidden Markov model given by single-point samplers and log-densities.

    Instances hash by identity, so they can be passed as static arguments to ``jax.jit``.

    Attributes:
        dim_x: state dimension ``d_x``.
        dim_y: observation dimension ``d_y``.
        init_sample: ``(key, theta) -> x`` of shape ``(d_x,)``, a draw from ``chi_theta``.
        init_logpdf: ``(x, theta) -> scalar``, ``log chi_theta(x)``.
        trans_sample: ``(key, x_prev, theta) -> x``, a draw from ``m_theta(x_prev, .)``.
        trans_logpdf: ``(x_prev, x, theta) -> scalar``, ``log m_theta(x_prev, x)``.
        obs_logpdf: ``(x, y, theta) -> scalar``, ``log g_theta(x, y)``.
        obs_sample: ``(key, x, theta) -> y`` of shape ``(d_y,)``; used by :func:`simulate`.
        trans_log_bound: optional ``theta -> scalar`` with ``log m_theta(x, x') <= bound`` for all
            ``x, x'``; needed by the accept-reject and hybrid backward samplers.
        matrices: optional ``theta -> LGSSMMatrices`` for linear Gaussian models (Kalman truth).
        check_theta: optional ``theta -> None`` that raises ``ValueError``/``TypeError`` naming
            the field of a malformed ``theta`` (called on concrete values before tracing).
        name: a label for reprs and reports.
    """

    dim_x: int
    dim_y: int
    init_sample: Callable[..., jax.Array]
    init_logpdf: Callable[..., jax.Array]
    trans_sample: Callable[..., jax.Array]
    trans_logpdf: Callable[..., jax.Array]
    obs_logpdf: Callable[..., jax.Array]
    obs_sample: Callable[..., jax.Array] | None = None
    trans_log_bound: Callable[..., jax.Array] | None = None
    matrices: Callable[..., LGSSMMatrices] | None = None
    check_theta: Callable[[Any], None] | None = None
    name: str = "model"

    def __post_init__(self):
        # Validated when built, so a malformed model fails here and not inside a jitted filter.
        for field in ("dim_x", "dim_y"):
            object.__setattr__(self, field, check_int(getattr(self, field), field, minimum=1))
        for field in ("init_sample", "init_logpdf", "trans_sample", "trans_logpdf", "obs_logpdf"):
            check_callable(getattr(self, field), field)
        for field in ("obs_sample", "trans_log_bound", "matrices", "check_theta"):
            if getattr(self, field) is not None:
                check_callable(getattr(self, field), field)
        if not isinstance(self.name, str):
            raise TypeError(f"name: expected a string, got {type(self.name).__name__}")

    def __repr__(self) -> str:
        return f"StateSpaceModel({self.name}, dim_x={self.dim_x}, dim_y={self.dim_y})"


def check_theta_fields(theta: Any, shapes: dict[str, tuple[int, ...]]) -> None:
    """Raise a clear error unless ``theta`` is a dict with exactly these fields and shapes.

    Args:
        theta: the parameters given by the user.
        shapes: field name -> required shape.

    Raises:
        TypeError: if ``theta`` is not a dict or a field is not a numeric array, or ``shapes`` is
            not a dict of field name -> shape tuple.
        ValueError: on a missing or unexpected field, a wrong shape or a non-finite entry.
    """
    if not isinstance(shapes, dict) or not all(
        isinstance(k, str) and isinstance(v, tuple) for k, v in shapes.items()
    ):
        raise TypeError(f"shapes: expected a dict of field name -> shape tuple, got {shapes!r}")
    if not isinstance(theta, dict):
        raise TypeError(
            f"theta: expected a dict with fields {sorted(shapes)}, got {type(theta).__name__}"
        )
    missing, extra = set(shapes) - set(theta), set(theta) - set(shapes)
    if missing or extra:
        raise ValueError(
            f"theta: expected fields {sorted(shapes)}, got {sorted(theta)}"
            + (f" (missing {sorted(missing)})" if missing else "")
            + (f" (unexpected {sorted(extra)})" if extra else "")
        )
    for name, shape in shapes.items():
        check_array(theta[name], f"theta[{name!r}]", shape=shape)


def state_space_model(
    dim_x: int,
    dim_y: int,
    *,
    initial: Callable[[Any], Any],
    transition: Callable[[jax.Array, Any], Any],
    observation: Callable[[jax.Array, Any], Any],
    trans_log_bound: Callable[[Any], jax.Array] | None = None,
    check_theta: Callable[[Any], None] | None = None,
    name: str = "model",
) -> StateSpaceModel:
    """A :class:`StateSpaceModel` from three distribution builders instead of seven callables.

    Each builder returns a distribution with ``sample(key)`` and ``log_prob(value)`` over the
    whole vector, e.g. a numpyro ``MultivariateNormal`` or ``Normal(loc, scale).to_event(1)``:

    >>> import numpyro.distributions as dist
    >>> model = state_space_model(
    ...     1, 1,
    ...     initial=lambda th: dist.Normal(jnp.zeros(1), 1.0).to_event(1),
    ...     transition=lambda x, th: dist.Normal(th["phi"] * x, th["sigma"]).to_event(1),
    ...     observation=lambda x, th: dist.Normal(x, 0.5).to_event(1),
    ... )

    Args:
        dim_x, dim_y: state and observation dimensions (>= 1).
        initial: ``theta -> distribution`` of ``x_0``, event shape ``(dim_x,)``.
        transition: ``(x_prev, theta) -> distribution`` of ``x_t``, event shape ``(dim_x,)``.
        observation: ``(x, theta) -> distribution`` of ``y_t``, event shape ``(dim_y,)``.
        trans_log_bound: optional ``theta -> scalar`` bound on the transition log-density (for the
            accept-reject and hybrid backward samplers).
        check_theta: optional validation of ``theta`` (see :class:`StateSpaceModel`).
        name: a label.

    Returns:
        :class:`StateSpaceModel` (with ``obs_sample``, so :func:`simulate` works).

    Raises:
        ValueError: for non-positive dimensions.
        TypeError: if a builder is not callable.
    """
    dx = check_int(dim_x, "dim_x", minimum=1)
    dy = check_int(dim_y, "dim_y", minimum=1)
    for arg, fn in (("initial", initial), ("transition", transition), ("observation", observation)):
        if isinstance(fn, type) or not callable(fn):
            raise TypeError(f"{arg}: expected a callable returning a distribution, got {fn!r}")
    for arg, fn in (("trans_log_bound", trans_log_bound), ("check_theta", check_theta)):
        if fn is not None:
            check_callable(fn, arg)
    return StateSpaceModel(
        dim_x=dx,
        dim_y=dy,
        init_sample=lambda key, theta: initial(theta).sample(key),
        init_logpdf=lambda x, theta: initial(theta).log_prob(x),
        trans_sample=lambda key, x_prev, theta: transition(x_prev, theta).sample(key),
        trans_logpdf=lambda x_prev, x, theta: transition(x_prev, theta).log_prob(x),
        obs_logpdf=lambda x, y, theta: observation(x, theta).log_prob(y),
        obs_sample=lambda key, x, theta: observation(x, theta).sample(key),
        trans_log_bound=trans_log_bound,
        check_theta=check_theta,
        name=name,
    )


def check_model_theta(model: StateSpaceModel, theta: Any, name: str = "theta") -> None:
    """The model's own ``check_theta`` (if any), then finiteness of every leaf of ``theta``.

    ``name`` is the argument's name in the caller (e.g. ``theta0``); a message of the model's
    ``check_theta`` about ``theta`` is reworded to name it.
    """
    if model.check_theta is not None:
        try:
            model.check_theta(theta)
        except (TypeError, ValueError) as err:
            msg = str(err)
            if name != "theta" and msg.startswith("theta"):
                raise type(err)(name + msg[len("theta") :]) from None
            raise
    if theta is None:
        raise TypeError(f"{name}: expected a pytree of parameter arrays, got None")
    for path, leaf in jax.tree_util.tree_leaves_with_path(theta):
        check_array(leaf, f"{name}{jax.tree_util.keystr(path)}")


def _mvn_diag_logpdf(x: jax.Array, mean: jax.Array, log_var: jax.Array) -> jax.Array:
    z = (x - mean) ** 2 * jnp.exp(-log_var)
    return -0.5 * jnp.sum(z + log_var + _LOG_2PI)


def _mvn_logpdf(x: jax.Array, mean: jax.Array, chol: jax.Array) -> jax.Array:
    """``log N(x; mean, chol chol')`` for a lower-triangular ``chol`` (any signs on its diagonal)."""
    z = jax.scipy.linalg.solve_triangular(chol, x - mean, lower=True)
    half_logdet = jnp.sum(jnp.log(jnp.abs(jnp.diag(chol))))
    return -0.5 * (jnp.sum(z**2) + x.shape[-1] * _LOG_2PI) - half_logdet


def linear_gaussian(
    dim_x: int,
    dim_y: int | None = None,
    *,
    B: Any = None,
    m0: Any = None,
    P0: Any = None,
    covariance: str = "diagonal",
) -> StateSpaceModel:
    """Linear Gaussian model ``x_{t+1} = A x_t + w_t``, ``y_t = B x_t + v_t`` (any dimension).

    With ``covariance="diagonal"`` the parameters ``theta`` are a dict
    ``{"A": (dx, dx), "log_q": (dx,), "log_r": (dy,)}``: the transition matrix and the
    log-variances of diagonal noise covariances ``Q`` and ``R``. With ``covariance="full"`` they are
    ``{"A": (dx, dx), "chol_q": (dx, dx), "chol_r": (dy, dy)}``: lower-triangular Cholesky factors,
    ``Q = chol_q chol_q'`` (entries above the diagonal are ignored; the diagonal must be non-zero).
    ``B``, ``m0`` and ``P0`` are fixed (not learned) so that ``theta`` is identifiable.

    Args:
        dim_x: state dimension (>= 1).
        dim_y: observation dimension; defaults to ``dim_x``.
        B: observation matrix ``(dy, dx)``; defaults to the first ``dy`` rows of the identity.
        m0: initial mean ``(dx,)``; defaults to zeros.
        P0: initial covariance ``(dx, dx)``, symmetric positive definite; defaults to the identity.
        covariance: ``"diagonal"`` or ``"full"`` noise covariances.

    Returns:
        A :class:`StateSpaceModel` with ``trans_log_bound``, ``matrices`` and ``check_theta`` set.

    Raises:
        ValueError: on non-positive dimensions, arrays of the wrong shape or an unknown
            ``covariance``.
    """
    dx = check_int(dim_x, "dim_x", minimum=1)
    dy = dx if dim_y is None else check_int(dim_y, "dim_y", minimum=1)
    B_ = jnp.eye(dy, dx) if B is None else check_array(B, "B", shape=(dy, dx))
    m0_ = jnp.zeros(dx) if m0 is None else check_array(m0, "m0", shape=(dx,))
    P0_ = jnp.eye(dx) if P0 is None else check_array(P0, "P0", shape=(dx, dx))
    check_positive(jnp.linalg.eigvalsh(P0_), "P0 eigenvalues")
    full = check_choice(covariance, "covariance", ("diagonal", "full")) == "full"
    chol0 = jnp.linalg.cholesky(P0_)
    q_key, r_key = ("chol_q", "chol_r") if full else ("log_q", "log_r")
    shapes = {"A": (dx, dx), q_key: (dx, dx) if full else (dx,), r_key: (dy, dy) if full else (dy,)}

    def factor(theta, key):
        """Lower-triangular factor of Q (``"chol_q"``/``"log_q"``) or R."""
        value = theta[key]
        return jnp.tril(value) if full else jnp.diag(jnp.exp(0.5 * value))

    def init_sample(key, theta):
        return m0_.astype(theta["A"].dtype) + chol0 @ jax.random.normal(
            key, (dx,), theta["A"].dtype
        )

    def init_logpdf(x, theta):
        return _mvn_logpdf(x, m0_, chol0)

    def trans_sample(key, x_prev, theta):
        noise = jax.random.normal(key, (dx,), x_prev.dtype)
        return theta["A"] @ x_prev + factor(theta, q_key) @ noise

    def trans_logpdf(x_prev, x, theta):
        if full:
            return _mvn_logpdf(x, theta["A"] @ x_prev, factor(theta, q_key))
        return _mvn_diag_logpdf(x, theta["A"] @ x_prev, theta["log_q"])

    def obs_logpdf(x, y, theta):
        if full:
            return _mvn_logpdf(y, B_ @ x, factor(theta, r_key))
        return _mvn_diag_logpdf(y, B_ @ x, theta["log_r"])

    def obs_sample(key, x, theta):
        return B_ @ x + factor(theta, r_key) @ jax.random.normal(key, (dy,), x.dtype)

    def trans_log_bound(theta):
        log_diag = jnp.log(jnp.abs(jnp.diag(factor(theta, q_key))))
        return -jnp.sum(log_diag) - 0.5 * dx * _LOG_2PI

    def matrices(theta):
        dt = theta["A"].dtype
        lq, lr = factor(theta, q_key), factor(theta, r_key)
        return LGSSMMatrices(
            A=theta["A"],
            B=B_.astype(dt),
            Q=lq @ lq.T,
            R=lr @ lr.T,
            m0=m0_.astype(dt),
            P0=P0_.astype(dt),
        )

    def check_theta(theta):
        check_theta_fields(theta, shapes)
        if full:
            for name in (q_key, r_key):
                if not jnp.all(jnp.diag(jnp.asarray(theta[name])) != 0):
                    raise ValueError(
                        f"theta[{name!r}]: expected a Cholesky factor with a non-zero diagonal, "
                        f"got diagonal {jnp.diag(jnp.asarray(theta[name])).tolist()}"
                    )

    return StateSpaceModel(
        dim_x=dx,
        dim_y=dy,
        init_sample=init_sample,
        init_logpdf=init_logpdf,
        trans_sample=trans_sample,
        trans_logpdf=trans_logpdf,
        obs_logpdf=obs_logpdf,
        obs_sample=obs_sample,
        trans_log_bound=trans_log_bound,
        matrices=matrices,
        check_theta=check_theta,
        name=f"linear_gaussian(dx={dx}, dy={dy}, {covariance})",
    )


def stochastic_volatility() -> StateSpaceModel:
    """Stochastic volatility: ``x_{t+1} = phi x_t + sigma e_t``, ``y_t = beta exp(x_t / 2) u_t``.

    ``theta = {"phi": (), "log_sigma": (), "log_beta": ()}``, ``|phi| < 1``; ``x_0`` follows the
    stationary law ``N(0, sigma^2 / (1 - phi^2))``; ``e_t, u_t`` are standard normal; ``d_x = d_y = 1``.
    Reference: Kim, Shephard & Chib (1998), Rev. Econ. Stud. 65, eq. (1).
    """

    def stat_log_var(theta):
        return 2.0 * theta["log_sigma"] - jnp.log1p(-(theta["phi"] ** 2))

    def init_sample(key, theta):
        sd = jnp.exp(0.5 * stat_log_var(theta))
        return sd * jax.random.normal(key, (1,), jnp.result_type(theta["phi"]))

    def init_logpdf(x, theta):
        return _mvn_diag_logpdf(x, 0.0, stat_log_var(theta))

    def trans_sample(key, x_prev, theta):
        return theta["phi"] * x_prev + jnp.exp(theta["log_sigma"]) * jax.random.normal(
            key, (1,), x_prev.dtype
        )

    def trans_logpdf(x_prev, x, theta):
        return _mvn_diag_logpdf(x, theta["phi"] * x_prev, 2.0 * theta["log_sigma"])

    def obs_logpdf(x, y, theta):
        return _mvn_diag_logpdf(y, 0.0, 2.0 * theta["log_beta"] + x)

    def obs_sample(key, x, theta):
        return jnp.exp(theta["log_beta"] + 0.5 * x) * jax.random.normal(key, (1,), x.dtype)

    def trans_log_bound(theta):
        return -0.5 * _LOG_2PI - theta["log_sigma"]

    def check_theta(theta):
        check_theta_fields(theta, {"phi": (), "log_sigma": (), "log_beta": ()})
        # |phi| >= 1 has no stationary initial law (its variance would be negative or infinite)
        check_in_range(theta["phi"], "theta['phi']", -1.0, 1.0)

    return StateSpaceModel(
        dim_x=1,
        dim_y=1,
        init_sample=init_sample,
        init_logpdf=init_logpdf,
        trans_sample=trans_sample,
        trans_logpdf=trans_logpdf,
        obs_logpdf=obs_logpdf,
        obs_sample=obs_sample,
        trans_log_bound=trans_log_bound,
        check_theta=check_theta,
        name="stochastic_volatility",
    )


def chaotic_rnn(dim_x: int = 5, *, gamma: float = 2.5, dt: float = 0.1) -> StateSpaceModel:
    """Chaotic recurrent network: ``x_{t+1} = x_t + dt (-x_t + gamma W tanh(x_t)) + w_t``, ``y_t = x_t + v_t``.

    ``theta = {"W": (dx, dx), "log_q": (dx,), "log_r": (dx,)}`` (diagonal noise log-variances);
    ``x_0 ~ N(0, I)``. With ``W`` having i.i.d. ``N(0, 1/dx)`` entries and ``gamma > 1`` the noise-free
    dynamics are chaotic (Sompolinsky, Crisanti & Sommers 1988); used as a nonlinear smoothing
    benchmark by Campbell et al. (2021), NeurIPS, Section 5.

    Args:
        dim_x: state (and observation) dimension.
        gamma: gain of the recurrent term (> 0).
        dt: Euler step (> 0).
    """
    dx = check_int(dim_x, "dim_x", minimum=1)
    gamma = check_scalar(gamma, "gamma", 0.0, None)
    dt = check_scalar(dt, "dt", 0.0, None)

    def drift(x, theta):
        return x + dt * (-x + gamma * theta["W"] @ jnp.tanh(x))

    def init_sample(key, theta):
        return jax.random.normal(key, (dx,), theta["W"].dtype)

    def init_logpdf(x, theta):
        return _mvn_diag_logpdf(x, 0.0, jnp.zeros(dx, x.dtype))

    def trans_sample(key, x_prev, theta):
        noise = jax.random.normal(key, (dx,), x_prev.dtype)
        return drift(x_prev, theta) + jnp.exp(0.5 * theta["log_q"]) * noise

    def trans_logpdf(x_prev, x, theta):
        return _mvn_diag_logpdf(x, drift(x_prev, theta), theta["log_q"])

    def obs_logpdf(x, y, theta):
        return _mvn_diag_logpdf(y, x, theta["log_r"])

    def obs_sample(key, x, theta):
        return x + jnp.exp(0.5 * theta["log_r"]) * jax.random.normal(key, (dx,), x.dtype)

    def trans_log_bound(theta):
        return -0.5 * jnp.sum(theta["log_q"] + _LOG_2PI)

    def check_theta(theta):
        check_theta_fields(theta, {"W": (dx, dx), "log_q": (dx,), "log_r": (dx,)})

    return StateSpaceModel(
        dim_x=dx,
        dim_y=dx,
        init_sample=init_sample,
        init_logpdf=init_logpdf,
        trans_sample=trans_sample,
        trans_logpdf=trans_logpdf,
        obs_logpdf=obs_logpdf,
        obs_sample=obs_sample,
        trans_log_bound=trans_log_bound,
        check_theta=check_theta,
        name=f"chaotic_rnn(dx={dx})",
    )


def simulate(
    key: Any, model: StateSpaceModel, theta: Any, n_steps: int
) -> tuple[jax.Array, jax.Array]:
    """Draw a state path and observations ``(x_{0:T-1}, y_{0:T-1})`` from ``model`` at ``theta``.

    Args:
        key: an int seed or PRNG key.
        model: the state-space model (needs ``obs_sample``).
        theta: model parameters (pytree).
        n_steps: number of time steps ``T`` (>= 1).

    Returns:
        ``(xs, ys)`` of shapes ``(T, d_x)`` and ``(T, d_y)``.

    Raises:
        ValueError: if ``n_steps < 1``, the model has no ``obs_sample`` or ``theta`` is malformed
            or not finite (see :attr:`StateSpaceModel.check_theta`).
    """
    key = as_key(key, "key")
    n = check_int(n_steps, "n_steps", minimum=1)
    if not isinstance(model, StateSpaceModel):
        raise TypeError(f"model: expected a StateSpaceModel, got {type(model).__name__}")
    if model.obs_sample is None:
        raise ValueError(f"model: {model.name} has no obs_sample, cannot simulate observations")
    check_model_theta(model, theta)
    return _simulate(key, model, theta, n)


@partial(jax.jit, static_argnums=(1, 3))
def _simulate(key, model, theta, n):
    k0, ky0, kscan = jax.random.split(key, 3)
    x0 = model.init_sample(k0, theta)
    y0 = model.obs_sample(ky0, x0, theta)

    def step(x, k):
        kx, ky = jax.random.split(k)
        x_new = model.trans_sample(kx, x, theta)
        return x_new, (x_new, model.obs_sample(ky, x_new, theta))

    _, (xs, ys) = jax.lax.scan(step, x0, jax.random.split(kscan, n - 1))
    return jnp.concatenate([x0[None], xs]), jnp.concatenate([y0[None], ys])
