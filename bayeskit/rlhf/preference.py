"""Bradley-Terry reward models from pairwise preferences: MLE, Laplace and NUTS posteriors.

A label ``o_i in {0, 1}`` compares two trajectories with feature difference
``x_i = phi(tau_i^1) - phi(tau_i^0)``; under the Bradley-Terry (logistic) link
``P(o_i = 1) = sigmoid(c * <theta, x_i>)``. With the Gaussian prior ``theta ~ N(0, I / lam)`` the
negative log posterior is convex, so Newton's method finds the MAP (the regularised MLE of
Wu & Sun 2024, Algorithm 1 line 3) and the Laplace approximation ``N(MAP, H^{-1})`` uses the
Hessian ``H = lam I + c^2 sum_i p_i (1 - p_i) x_i x_i^T`` (Novoseller et al. 2020, Sec. 4).

All functions accept a boolean ``mask`` so that fixed-size buffers can be used inside
``lax.scan`` (rows with ``mask = False`` are ignored).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayeskit.random import as_key
from bayeskit.summary import to_inference_data
from bayeskit.validate import check_array, check_int, check_positive

__all__ = [
    "bt_log_likelihood",
    "fit_mle",
    "laplace_posterior",
    "nuts_posterior",
    "MLEResult",
    "GaussianPosterior",
    "NUTSPosterior",
]


class MLEResult(NamedTuple):
    """Regularised Bradley-Terry MLE.

    Attributes:
        theta: ``(d,)`` the maximiser of ``loglik - lam/2 |theta|^2``.
        precision: ``(d, d)`` Hessian of the negative penalised log-likelihood at ``theta``
            (the observed Fisher information plus ``lam I``).
        grad_norm: scalar, norm of the gradient at ``theta`` (convergence check).
    """

    theta: jax.Array
    precision: jax.Array
    grad_norm: jax.Array


class GaussianPosterior(NamedTuple):
    """Gaussian (Laplace) posterior ``N(mean, precision^{-1})``.

    Attributes:
        mean: ``(d,)``.
        precision: ``(d, d)``.
    """

    mean: jax.Array
    precision: jax.Array

    @property
    def cov(self) -> jax.Array:
        """``(d, d)`` covariance."""
        return jnp.linalg.inv(self.precision)

    def sample(self, key, n: int) -> jax.Array:
        """``n`` draws, shape ``(n, d)``."""
        return _gaussian_draws(as_key(key), self.mean, self.precision, n)


class NUTSPosterior(NamedTuple):
    """Draws of a NUTS run.

    Attributes:
        draws: ``(chains, draws, d)`` posterior draws of theta.
        diverging: ``(chains, draws)`` bool divergence flags.
    """

    draws: jax.Array
    diverging: jax.Array

    @property
    def mean(self) -> jax.Array:
        """``(d,)`` posterior mean over all chains."""
        return self.draws.mean(axis=(0, 1))

    def to_inference_data(self):
        """ArviZ ``InferenceData`` (posterior ``theta``, sample_stats ``diverging``)."""
        return to_inference_data(
            {"theta": self.draws},
            sample_stats={"diverging": self.diverging},
            dims={"theta": ["theta_dim"]},
        )


def _logits(theta, diffs, scale):
    return scale * (diffs @ theta)


def _loglik(theta, diffs, labels, scale, mask):
    z = _logits(theta, diffs, scale)
    # log sigmoid(z) for o = 1 and log sigmoid(-z) for o = 0, written stably.
    ll = labels * jax.nn.log_sigmoid(z) + (1.0 - labels) * jax.nn.log_sigmoid(-z)
    return jnp.sum(jnp.where(mask, ll, 0.0))


_STEP_SIZES = (1.0, 0.5, 0.25, 0.0625, 0.0)


def _objective(theta, diffs, labels, mask, lam, scale):
    return -_loglik(theta, diffs, labels, scale, mask) + 0.5 * lam * theta @ theta


def _newton_step(theta, diffs, labels, mask, lam, scale):
    """One safeguarded Newton step on the negative penalised log-likelihood.

    A full Newton step can overshoot far from the optimum (it did in float32 on a bandit run),
    so the best of a few step sizes is taken, including 0: the objective never increases. Near
    the optimum the objective's rounding hides the decrease (float32, n = 4000: the step's
    decrease 1e-5 against a resolution of 1e-4 at 1732, so step 0 won and Newton stalled at
    gradient norm 0.12); once the quadratic model's decrease g^T H^-1 g / 2, which is the step's
    squared length in the Hessian norm over 2, is below that resolution, the full step is taken.
    Returns (theta, Hessian at the old theta).
    """
    p = jax.nn.sigmoid(_logits(theta, diffs, scale))
    w = jnp.where(mask, 1.0, 0.0).astype(diffs.dtype)
    g = scale * diffs.T @ (w * (p - labels)) + lam * theta
    hess = _hessian(theta, diffs, mask, lam, scale, p)
    direction = jnp.linalg.solve(hess, g)
    steps = jnp.asarray(_STEP_SIZES, theta.dtype)
    candidates = theta - steps[:, None] * direction
    values = jax.vmap(lambda th: _objective(th, diffs, labels, mask, lam, scale))(candidates)
    values = jnp.where(jnp.isfinite(values), values, jnp.inf)
    resolution = 16 * jnp.finfo(theta.dtype).eps * (jnp.abs(values[-1]) + 1.0)
    below_rounding = 0.5 * g @ direction < resolution
    return jnp.where(below_rounding, theta - direction, candidates[jnp.argmin(values)]), hess


def _hessian(theta, diffs, mask, lam, scale, p=None):
    if p is None:
        p = jax.nn.sigmoid(_logits(theta, diffs, scale))
    w = jnp.where(mask, p * (1.0 - p), 0.0) * scale**2
    d = theta.shape[0]
    return (diffs * w[:, None]).T @ diffs + lam * jnp.eye(d, dtype=diffs.dtype)


def _newton(theta, diffs, labels, mask, lam, scale, steps):
    def body(_, th):
        return _newton_step(th, diffs, labels, mask, lam, scale)[0]

    return jax.lax.fori_loop(0, steps, body, theta)


def _gaussian_draws(key, mean, precision, n):
    # x = mean + L^{-T} z with precision = L L^T has covariance precision^{-1}.
    chol = jnp.linalg.cholesky(precision)
    z = jax.random.normal(key, (n, mean.shape[0]), mean.dtype)
    return mean + jax.scipy.linalg.solve_triangular(chol.T, z.T, lower=False).T


def _check_data(diffs, labels, mask):
    X = check_array(diffs, "diffs", ndim=2)
    y = check_array(labels, "labels", shape=(X.shape[0],))
    yv = jax.device_get(y)
    if not ((yv == 0) | (yv == 1)).all():
        raise ValueError("labels: expected values in {0, 1}")
    if mask is None:
        m = jnp.ones(X.shape[0], bool)
    else:
        m = check_array(mask, "mask", shape=(X.shape[0],)).astype(bool)
    dtype = jnp.result_type(float)
    return X.astype(dtype), y.astype(dtype), m


def bt_log_likelihood(theta, diffs, labels, *, scale=1.0, mask=None) -> jax.Array:
    """Bradley-Terry log-likelihood of preference labels.

    Args:
        theta: ``(d,)`` reward parameter.
        diffs: ``(n, d)`` feature differences ``phi(tau^1) - phi(tau^0)``.
        labels: ``(n,)`` labels in {0, 1} (1: ``tau^1`` preferred).
        scale: link scale c > 0.
        mask: optional ``(n,)`` bool; rows with False are ignored.

    Returns:
        Scalar ``sum_i log P(o_i | theta)``.

    Raises:
        ValueError: on shape mismatches, labels outside {0, 1} or ``scale <= 0``.
    """
    X, y, m = _check_data(diffs, labels, mask)
    th = check_array(theta, "theta", shape=(X.shape[1],))
    check_positive(scale, "scale")
    return _loglik(th.astype(X.dtype), X, y, scale, m)


def fit_mle(
    diffs, labels, *, lam=1.0, scale=1.0, mask=None, init=None, steps: int = 25
) -> MLEResult:
    """Regularised Bradley-Terry MLE by Newton's method (the objective is strictly convex).

    Args:
        diffs: ``(n, d)`` feature differences.
        labels: ``(n,)`` labels in {0, 1}.
        lam: ridge ``lam > 0`` (the Gaussian prior precision).
        scale: link scale c > 0.
        mask: optional ``(n,)`` bool.
        init: optional ``(d,)`` warm start (default zeros).
        steps: number of Newton steps (>= 1).

    Returns:
        :class:`MLEResult`.

    Raises:
        ValueError: on bad shapes or labels, ``lam <= 0``, ``scale <= 0`` or ``steps < 1``.

    Reference: Wu & Sun 2024, Algorithm 1 (reward MLE step).
    """
    X, y, m = _check_data(diffs, labels, mask)
    check_positive(lam, "lam")
    check_positive(scale, "scale")
    steps = check_int(steps, "steps", minimum=1)
    d = X.shape[1]
    th0 = jnp.zeros(d, X.dtype) if init is None else check_array(init, "init", shape=(d,))
    return _fit_mle_jit(th0.astype(X.dtype), X, y, m, lam, scale, steps)


@partial(jax.jit, static_argnames=("steps",))
def _fit_mle_jit(th0, X, y, m, lam, scale, steps):
    th = _newton(th0, X, y, m, lam, scale, steps)
    p = jax.nn.sigmoid(_logits(th, X, scale))
    g = scale * X.T @ (jnp.where(m, p - y, 0.0)) + lam * th
    return MLEResult(th, _hessian(th, X, m, lam, scale, p), jnp.linalg.norm(g))


def laplace_posterior(
    diffs, labels, *, lam=1.0, scale=1.0, mask=None, steps: int = 25
) -> GaussianPosterior:
    """Laplace approximation ``N(MAP, H^{-1})`` of the Bayesian logistic reward posterior.

    Args:
        diffs, labels, lam, scale, mask, steps: as in :func:`fit_mle` (prior ``N(0, I/lam)``).

    Returns:
        :class:`GaussianPosterior` with the MAP as mean and the Hessian as precision.

    Raises:
        ValueError: as :func:`fit_mle`.

    Reference: Novoseller et al. 2020 (DPS), Sec. 4.2; Wu & Sun 2024, Sec. 5.
    """
    res = fit_mle(diffs, labels, lam=lam, scale=scale, mask=mask, steps=steps)
    return GaussianPosterior(res.theta, res.precision)


def nuts_posterior(
    key,
    diffs,
    labels,
    *,
    lam=1.0,
    scale=1.0,
    num_warmup: int = 500,
    num_samples: int = 1000,
    num_chains: int = 4,
) -> NUTSPosterior:
    """NUTS draws from the Bayesian logistic reward posterior (numpyro, vectorised chains).

    Args:
        key: PRNG key or int seed.
        diffs: ``(n, d)`` feature differences.
        labels: ``(n,)`` labels in {0, 1}.
        lam: prior precision > 0 (``theta ~ N(0, I / lam)``).
        scale: link scale c > 0.
        num_warmup, num_samples: per chain, >= 1.
        num_chains: >= 1 (use >= 2 for R-hat).

    Returns:
        :class:`NUTSPosterior`; ``.to_inference_data()`` feeds ``arviz.summary``.

    Raises:
        ValueError: on bad data, ``lam <= 0``, ``scale <= 0`` or non-positive counts.

    Reference: Hoffman & Gelman 2014 (NUTS); the gold-standard check of the Laplace posterior.
    """
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    key = as_key(key)
    X, y, _ = _check_data(diffs, labels, None)
    check_positive(lam, "lam")
    check_positive(scale, "scale")
    nw = check_int(num_warmup, "num_warmup", minimum=1)
    ns = check_int(num_samples, "num_samples", minimum=1)
    nc = check_int(num_chains, "num_chains", minimum=1)
    d = X.shape[1]
    prior_sd = float(lam) ** -0.5

    def model(X, y):
        th = numpyro.sample("theta", dist.Normal(0.0, prior_sd).expand([d]).to_event(1))
        numpyro.sample("o", dist.Bernoulli(logits=scale * (X @ th)), obs=y)

    mcmc = MCMC(
        NUTS(model),
        num_warmup=nw,
        num_samples=ns,
        num_chains=nc,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key_data(key), X, y, extra_fields=("diverging",))
    draws = mcmc.get_samples(group_by_chain=True)["theta"]
    div = mcmc.get_extra_fields(group_by_chain=True)["diverging"]
    return NUTSPosterior(draws, div)
