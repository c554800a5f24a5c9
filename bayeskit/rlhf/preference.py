"""Reward models from pairwise preferences (Bradley-Terry and others): MLE, Laplace, NUTS.

A label ``o_i in {0, 1}`` compares two trajectories with feature difference
``x_i = phi(tau_i^1) - phi(tau_i^0)``; under a link ``F`` (a CDF) ``P(o_i = 1) = F(z_i)`` with logit
``z_i = c * <theta, x_i>``. ``link="logistic"`` (the default) is Bradley-Terry, ``F = sigmoid``;
``link="probit"`` is Thurstone's model, ``F = Phi`` (the standard normal CDF); any symmetric
callable CDF can be given (swapping the pair must swap the probabilities). With the Gaussian prior
``theta ~ N(0, I / lam)`` and a log-concave link (logistic, probit) the negative log posterior is
convex, so Newton's method finds the MAP (the regularised MLE of Wu & Sun 2024, Algorithm 1
line 3) and the Laplace approximation ``N(MAP, H^{-1})`` uses the Fisher information
``H = lam I + c^2 sum_i w_i x_i x_i^T`` with
``w_i = F'(z_i)^2 / (F(z_i) (1 - F(z_i)))`` (Novoseller et al. 2020, Sec. 4). For the logistic link
``w_i = p_i (1 - p_i)`` is also the observed Hessian and the steps are Newton's; for other links
the expected information replaces the Hessian (Fisher scoring), which keeps ``H`` positive
definite for any increasing ``F``.

All functions accept a boolean ``mask`` so that fixed-size buffers can be used inside
``lax.scan`` (rows with ``mask = False`` are ignored).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayeskit.random import as_key
from bayeskit.summary import to_inference_data
from bayeskit.validate import check_array, check_choice, check_int, check_scalar

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
        precision: ``(d, d)`` ``lam I`` plus the Fisher information at ``theta``; for the logistic
            link this is the Hessian of the negative penalised log-likelihood.
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
        return _gaussian_draws(as_key(key, "key"), self.mean, self.precision, n)


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


LINKS = ("logistic", "probit")


def _check_link_kind(link, name="link"):
    """The cheap, trace-safe part of :func:`_check_link`: a known name or a callable."""
    if isinstance(link, str):
        return check_choice(link, name, LINKS)
    if isinstance(link, type) or not callable(link):
        raise TypeError(
            f"{name}: expected 'logistic', 'probit' or a callable CDF, got "
            f"{type(link).__name__} {link!r}"
        )
    return link


def _check_link(link, name="link"):
    """Return ``link`` if it is one of ``LINKS`` or a callable CDF; raise otherwise.

    A callable is evaluated (with its derivative) on logits in [-4, 4] before any tracing: it must
    map a float array elementwise to values in (0, 1), be non-decreasing, not constant, and
    symmetric, ``F(-z) = 1 - F(z)``: swapping the two trajectories must swap the probabilities.
    """
    if isinstance(_check_link_kind(link, name), str):
        return link
    z = jnp.linspace(-4.0, 4.0, 17)
    try:
        F, dF = jax.jvp(link, (z,), (jnp.ones_like(z),))
    except Exception as err:  # any failure of user code is reported as a bad argument
        raise TypeError(
            f"{name}: expected a callable CDF that JAX can differentiate elementwise; calling it "
            f"on logits of shape (17,) raised {type(err).__name__}: {err}"
        ) from err
    F, dF = np.asarray(F), np.asarray(dF)
    if F.shape != z.shape:
        raise ValueError(
            f"{name}: expected a callable CDF mapping logits elementwise, got output shape "
            f"{F.shape} for input shape {z.shape}"
        )
    ok = np.all(np.isfinite(F)) and np.all(np.isfinite(dF)) and np.all((F > 0) & (F < 1))
    if not (ok and np.all(np.diff(F) >= 0) and F[-1] > F[0]):
        raise ValueError(
            f"{name}: expected a callable CDF (finite values in (0, 1), non-decreasing, not "
            f"constant) on logits in [-4, 4], got values from {F[0]:.4g} to {F[-1]:.4g} "
            f"(min {np.nanmin(F):.4g}, max {np.nanmax(F):.4g})"
        )
    asymmetry = float(np.max(np.abs(F + F[::-1] - 1.0)))
    if asymmetry > 1e-4:
        raise ValueError(
            f"{name}: expected a symmetric CDF, F(-z) = 1 - F(z) (swapping the trajectories swaps "
            f"the probabilities), got |F(z) + F(-z) - 1| up to {asymmetry:.3g} on [-4, 4]"
        )
    return link


def _cdf(link, z):
    """``F(z)``, the probability of label 1 at logit ``z``."""
    if link == "logistic":
        return jax.nn.sigmoid(z)
    if link == "probit":
        return jax.scipy.stats.norm.cdf(z)
    return link(z)


def _link_parts(link, z):
    """``(log F, log(1 - F), F, r)`` at logits ``z``, with ``r = F' / (F (1 - F))``.

    The score of a label ``o`` in the logit is ``(o - F) r`` and its Fisher information is
    ``F (1 - F) r^2``; the logistic link is canonical (``r = 1``). Logistic and probit are
    evaluated in log space, so they stay finite far in the tails. A callable's upper tail is
    ``1 - F(z) = F(-z)`` (symmetry, no cancellation) and its logs are floored at the smallest
    normal number, so a saturated callable gives finite values and gradients, not NaN.
    """
    if link == "logistic":
        return jax.nn.log_sigmoid(z), jax.nn.log_sigmoid(-z), jax.nn.sigmoid(z), jnp.ones_like(z)
    if link == "probit":
        norm = jax.scipy.stats.norm
        log_F, log_S = norm.logcdf(z), norm.logcdf(-z)
        return log_F, log_S, norm.cdf(z), jnp.exp(norm.logpdf(z) - log_F - log_S)
    F, dF = jax.jvp(link, (z,), (jnp.ones_like(z),))
    tiny = jnp.finfo(F.dtype).tiny
    log_F, log_S = jnp.log(jnp.maximum(F, tiny)), jnp.log(jnp.maximum(link(-z), tiny))
    r = jnp.where(dF > 0, jnp.exp(jnp.log(jnp.maximum(dF, tiny)) - log_F - log_S), 0.0)
    return log_F, log_S, F, r


def _logits(theta, diffs, scale):
    return scale * (diffs @ theta)


def _loglik(theta, diffs, labels, scale, mask, link):
    log_F, log_S, _, _ = _link_parts(link, _logits(theta, diffs, scale))
    # where, not a product with the label: a saturated link's -inf times a zero label is NaN.
    ll = jnp.where(labels == 1, log_F, log_S)
    return jnp.sum(jnp.where(mask, ll, 0.0))


_STEP_SIZES = (1.0, 0.5, 0.25, 0.0625, 0.0)


def _objective(theta, diffs, labels, mask, lam, scale, link):
    return -_loglik(theta, diffs, labels, scale, mask, link) + 0.5 * lam * theta @ theta


def _gradient_and_information(theta, diffs, labels, mask, lam, scale, link):
    """Gradient of the negative penalised log-likelihood and its Fisher information matrix."""
    _, _, p, r = _link_parts(link, _logits(theta, diffs, scale))
    w = jnp.where(mask, 1.0, 0.0).astype(diffs.dtype)
    g = scale * diffs.T @ (w * (p - labels) * r) + lam * theta
    return g, _information(diffs, mask, lam, scale, p, r)


def _information(diffs, mask, lam, scale, p, r):
    w = jnp.where(mask, p * (1.0 - p) * r * r, 0.0) * scale**2
    d = diffs.shape[1]
    return (diffs * w[:, None]).T @ diffs + lam * jnp.eye(d, dtype=diffs.dtype)


def _hessian(theta, diffs, mask, lam, scale, link):
    """``lam I`` plus the Fisher information at ``theta`` (the Laplace precision)."""
    _, _, p, r = _link_parts(link, _logits(theta, diffs, scale))
    return _information(diffs, mask, lam, scale, p, r)


def _newton_step(theta, diffs, labels, mask, lam, scale, link):
    """One safeguarded Newton (Fisher scoring) step on the negative penalised log-likelihood.

    A full Newton step can overshoot far from the optimum (it did in float32 on a bandit run),
    so the best of a few step sizes is taken, including 0: the objective never increases. Near
    the optimum the objective's rounding hides the decrease (float32, n = 4000: the step's
    decrease 1e-5 against a resolution of 1e-4 at 1732, so step 0 won and Newton stalled at
    gradient norm 0.12); once the quadratic model's decrease g^T H^-1 g / 2, which is the step's
    squared length in the Hessian norm over 2, is below that resolution, the full step is taken.
    """
    g, hess = _gradient_and_information(theta, diffs, labels, mask, lam, scale, link)
    direction = jnp.linalg.solve(hess, g)
    steps = jnp.asarray(_STEP_SIZES, theta.dtype)
    candidates = theta - steps[:, None] * direction
    values = jax.vmap(lambda th: _objective(th, diffs, labels, mask, lam, scale, link))(candidates)
    values = jnp.where(jnp.isfinite(values), values, jnp.inf)
    resolution = 16 * jnp.finfo(theta.dtype).eps * (jnp.abs(values[-1]) + 1.0)
    below_rounding = 0.5 * g @ direction < resolution
    return jnp.where(below_rounding, theta - direction, candidates[jnp.argmin(values)])


def _newton(theta, diffs, labels, mask, lam, scale, steps, link):
    def body(_, th):
        return _newton_step(th, diffs, labels, mask, lam, scale, link)

    return jax.lax.fori_loop(0, steps, body, theta)


def _gaussian_draws(key, mean, precision, n):
    # x = mean + L^{-T} z with precision = L L^T has covariance precision^{-1}.
    chol = jnp.linalg.cholesky(precision)
    z = jax.random.normal(key, (n, mean.shape[0]), mean.dtype)
    return mean + jax.scipy.linalg.solve_triangular(chol.T, z.T, lower=False).T


def _check_data(diffs, labels, mask):
    X = check_array(diffs, "diffs", ndim=2)
    n = X.shape[0]
    y = check_array(labels, "labels", ndim=1)
    if y.shape != (n,):
        raise ValueError(f"labels: expected shape ({n},) to match diffs {X.shape}, got {y.shape}")
    yv = jax.device_get(y)
    if not ((yv == 0) | (yv == 1)).all():
        raise ValueError("labels: expected values in {0, 1}")
    if mask is None:
        m = jnp.ones(n, bool)
    else:
        m = check_array(mask, "mask", ndim=1)
        if m.shape != (n,):
            raise ValueError(f"mask: expected shape ({n},) to match diffs {X.shape}, got {m.shape}")
        if m.dtype != bool and not np.isin(np.asarray(jax.device_get(m)), (0, 1)).all():
            raise ValueError("mask: expected bools (or 0/1), got other values")
        m = m.astype(bool)
    dtype = jnp.result_type(float)
    return X.astype(dtype), y.astype(dtype), m


def bt_log_likelihood(theta, diffs, labels, *, scale=1.0, mask=None, link="logistic") -> jax.Array:
    """Log-likelihood of preference labels, ``sum_i log P(o_i | theta)``.

    Args:
        theta: ``(d,)`` reward parameter.
        diffs: ``(n, d)`` feature differences ``phi(tau^1) - phi(tau^0)``.
        labels: ``(n,)`` labels in {0, 1} (1: ``tau^1`` preferred).
        scale: link scale c > 0.
        mask: optional ``(n,)`` bool; rows with False are ignored.
        link: ``"logistic"`` (Bradley-Terry, ``P(o = 1) = sigmoid(z)``), ``"probit"``
            (``Phi(z)``) or a symmetric callable CDF ``F`` (``F(-z) = 1 - F(z)``) applied
            elementwise to the logits ``z = c <theta, x>`` (e.g. ``jax.scipy.stats.norm.cdf``).

    Returns:
        Scalar ``sum_i [o_i log F(z_i) + (1 - o_i) log(1 - F(z_i))]``.

    Raises:
        ValueError: on shape mismatches, labels outside {0, 1}, ``scale <= 0``, an unknown link
            name or a callable that is not a CDF.
        TypeError: if ``link`` is neither a name nor a callable.
    """
    X, y, m = _check_data(diffs, labels, mask)
    th = check_array(theta, "theta", ndim=1)
    if th.shape != (X.shape[1],):
        raise ValueError(
            f"theta: expected shape ({X.shape[1]},) to match diffs {X.shape}, got {th.shape}"
        )
    check_scalar(scale, "scale", 0.0, None)
    link = _check_link(link)
    return _loglik(th.astype(X.dtype), X, y, scale, m, link)


def fit_mle(
    diffs, labels, *, lam=1.0, scale=1.0, mask=None, init=None, steps: int = 25, link="logistic"
) -> MLEResult:
    """Regularised preference MLE by Newton's method (strictly convex for a log-concave link).

    Args:
        diffs: ``(n, d)`` feature differences.
        labels: ``(n,)`` labels in {0, 1}.
        lam: ridge ``lam > 0`` (the Gaussian prior precision).
        scale: link scale c > 0.
        mask: optional ``(n,)`` bool.
        init: optional ``(d,)`` warm start (default zeros).
        steps: number of Newton steps (>= 1; Fisher scoring steps for a non-logistic link).
        link: as in :func:`bt_log_likelihood`.

    Returns:
        :class:`MLEResult`.

    Raises:
        ValueError: on bad shapes or labels, ``lam <= 0``, ``scale <= 0``, ``steps < 1`` or a
            bad ``link``.
        TypeError: if ``link`` is neither a name nor a callable.

    Reference: Wu & Sun 2024, Algorithm 1 (reward MLE step).
    """
    X, y, m = _check_data(diffs, labels, mask)
    check_scalar(lam, "lam", 0.0, None)
    check_scalar(scale, "scale", 0.0, None)
    steps = check_int(steps, "steps", minimum=1)
    link = _check_link(link)
    d = X.shape[1]
    th0 = jnp.zeros(d, X.dtype) if init is None else check_array(init, "init", ndim=1)
    if th0.shape != (d,):
        raise ValueError(f"init: expected shape ({d},) to match diffs {X.shape}, got {th0.shape}")
    return _fit_mle_jit(th0.astype(X.dtype), X, y, m, lam, scale, steps, link)


@partial(jax.jit, static_argnames=("steps", "link"))
def _fit_mle_jit(th0, X, y, m, lam, scale, steps, link):
    th = _newton(th0, X, y, m, lam, scale, steps, link)
    g, info = _gradient_and_information(th, X, y, m, lam, scale, link)
    return MLEResult(th, info, jnp.linalg.norm(g))


def laplace_posterior(
    diffs, labels, *, lam=1.0, scale=1.0, mask=None, steps: int = 25, link="logistic"
) -> GaussianPosterior:
    """Laplace approximation ``N(MAP, H^{-1})`` of the Bayesian reward posterior.

    Args:
        diffs, labels, lam, scale, mask, steps, link: as in :func:`fit_mle` (prior
            ``N(0, I/lam)``).

    Returns:
        :class:`GaussianPosterior` with the MAP as mean and ``lam I`` plus the Fisher information
        (the Hessian, for the logistic link) as precision.

    Raises:
        ValueError, TypeError: as :func:`fit_mle`.

    Reference: Novoseller et al. 2020 (DPS), Sec. 4.2; Wu & Sun 2024, Sec. 5.
    """
    res = fit_mle(diffs, labels, lam=lam, scale=scale, mask=mask, steps=steps, link=link)
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
    link="logistic",
) -> NUTSPosterior:
    """NUTS draws from the Bayesian reward posterior (numpyro, vectorised chains).

    Args:
        key: PRNG key or int seed.
        diffs: ``(n, d)`` feature differences.
        labels: ``(n,)`` labels in {0, 1}.
        lam: prior precision > 0 (``theta ~ N(0, I / lam)``).
        scale: link scale c > 0.
        num_warmup, num_samples: per chain, >= 1.
        num_chains: >= 1 (use >= 2 for R-hat).
        link: as in :func:`bt_log_likelihood`.

    Returns:
        :class:`NUTSPosterior`; ``.to_inference_data()`` feeds ``arviz.summary``.

    Raises:
        ValueError: on bad data, ``lam <= 0``, ``scale <= 0``, non-positive counts or a bad
            ``link``.
        TypeError: if ``link`` is neither a name nor a callable.

    Reference: Hoffman & Gelman 2014 (NUTS); the gold-standard check of the Laplace posterior.
    """
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    key = as_key(key, "key")
    X, y, m = _check_data(diffs, labels, None)
    check_scalar(lam, "lam", 0.0, None)
    check_scalar(scale, "scale", 0.0, None)
    link = _check_link(link)
    nw = check_int(num_warmup, "num_warmup", minimum=1)
    ns = check_int(num_samples, "num_samples", minimum=1)
    nc = check_int(num_chains, "num_chains", minimum=1)
    d = X.shape[1]
    prior_sd = float(lam) ** -0.5

    def model(X, y):
        th = numpyro.sample("theta", dist.Normal(0.0, prior_sd).expand([d]).to_event(1))
        numpyro.factor("o", _loglik(th, X, y, scale, m, link))

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
