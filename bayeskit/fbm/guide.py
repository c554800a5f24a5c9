"""The optimal affine control of a linear MA-fBM model: the guide of :func:`bayeskit.fbm.vi.fit`.

For a linear drift ``-theta x`` and a constant diffusion ``sigma`` the solver's chain on the grid
``t_j = j dt`` is linear-Gaussian in the augmented state ``z = (x, y_1..y_K)``:
``z_{j+1} = A z_j + N xi_j`` with ``xi_j ~ N(0, I_{K+1})`` the whitened joint noise of the OU bank
and the Brownian increment (:attr:`~bayeskit.fbm.mafbm.OUTransition.joint_sqrt`). Its exact
posterior given the observations is again such a chain with the noise replaced by

    xi_j = a_j + B_j z_j + M_j eps_j,    eps_j ~ N(0, I),

where ``(B_j, M_j)`` depend on the model and the observation times only and the offsets ``a_j``
are linear in the observations. They follow from a backward information filter
``beta_j(z) = p(o_{t >= t_j} | z_j) ~ exp(-z' H_j z / 2 + eta_j' z)``:
``Lambda = I + N' H_{j+1} N``, ``M_j = chol(Lambda)^{-T}``, ``B_j = -Lambda^{-1} N' H_{j+1} A``,
``a_j = Lambda^{-1} N' eta_{j+1}``. This family is a time-varying affine control in the augmented
state; with it the ELBO equals the exact log-likelihood of the solver's chain (the MA-fBM model up
to the Euler step of ``x``) for every path, so that maximising it over ``(H, theta, sigma)`` is
maximum likelihood. Observations are attached to the nearest grid time (exact when the observation
times lie on the grid).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayeskit.fbm.mafbm import ou_transition, stationary_sqrt
from bayeskit.validate import check_array, check_indices, check_instance, check_int, check_scalar

__all__ = ["Guide", "is_linear", "linear_guide"]


class Guide(NamedTuple):
    """Per-step coefficients of the posterior noise ``xi_j = a_j + B_j z_j + M_j eps_j``.

    Shapes for ``S`` solver steps, ``D`` latent dimensions and ``K`` OU speeds (``n = K + 1``):

    Attributes:
        offset: ``a_j``, shape ``(S, D, n)`` (one sequence).
        gain: ``B_j``, shape ``(S, n, n)``, acting on ``z = (x_d, y_d)`` of each dimension.
        noise: ``M_j``, shape ``(S, n, n)``.
        quad: ``M_j' M_j - I``, shape ``(S, n, n)`` (for the path's log-ratio).
        logdet: ``log det M_j``, shape ``(S,)``.
        init_offset: type 1 only, the posterior of the initial OU states in whitened
            coordinates: offset ``(D, K)``; ``None`` for type 2 (the states start at zero).
        init_noise: ``(K, K)`` or ``None``.
        init_quad: ``(K, K)`` or ``None``.
        init_logdet: scalar or ``None``.
    """

    offset: jax.Array
    gain: jax.Array
    noise: jax.Array
    quad: jax.Array
    logdet: jax.Array
    init_offset: jax.Array | None
    init_noise: jax.Array | None
    init_quad: jax.Array | None
    init_logdet: jax.Array | None


def is_linear(sde) -> bool:
    """Whether the prior has a linear drift and a constant diffusion (the guide's models).

    Raises:
        TypeError: if ``sde`` is not a :class:`~bayeskit.fbm.sde.FractionalSDE`.
    """
    from bayeskit.fbm.sde import FractionalSDE

    check_instance(sde, "sde", FractionalSDE)
    drift, diffusion = getattr(sde, "drift", None), getattr(sde, "diffusion", None)
    return hasattr(drift, "linear_rate") and hasattr(diffusion, "constant_scale")


def _chain(sde, omega, dt, dtype):
    """``A`` and ``N`` of the solver's step ``z' = A z + N xi`` (exact OU scheme, Euler ``x``)."""
    tr = ou_transition(np.asarray(sde.gammas), dt)
    k = sde.num_speeds
    theta, sigma, w = sde.drift.linear_rate(), sde.diffusion.constant_scale(), omega
    decay = jnp.asarray(tr.decay, dtype)
    root_y = jnp.asarray(tr.joint_sqrt[:k], dtype)  # (K, K + 1)
    top = jnp.concatenate([(1.0 - theta * dt)[None], sigma * w * (decay - 1.0)])
    bottom = jnp.concatenate([jnp.zeros((k, 1), dtype), jnp.diag(decay)], axis=1)
    a = jnp.concatenate([top[None], bottom]).astype(dtype)
    n = jnp.concatenate([(sigma * w @ root_y)[None], root_y]).astype(dtype)
    return a, n


def _posterior_step(h, n):
    """Cholesky factor of ``Lambda = I + N' H N`` and ``C = Lambda^{-1} N'``."""
    lam = jnp.eye(n.shape[1], dtype=n.dtype) + n.T @ h @ n
    chol = jnp.linalg.cholesky(0.5 * (lam + lam.T))
    c = jax.scipy.linalg.cho_solve((chol, True), n.T)
    return chol, c


def _whitening(chol):
    """``M = chol^{-T}`` (so ``M M' = Lambda^{-1}``), ``M' M - I`` and ``log det M``."""
    eye = jnp.eye(chol.shape[0], dtype=chol.dtype)
    m = jax.scipy.linalg.solve_triangular(chol, eye, lower=True).T
    return m, m.T @ m - eye, -jnp.sum(jnp.log(jnp.diag(chol)))


def linear_guide(sde, omega, x0, obs_std, obs_index, values, dt: float, n_steps: int) -> Guide:
    """The exact posterior control of the solver's chain for a batch of sequences.

    Traceable and differentiable: gradients flow through the guide into ``(H, theta, sigma)``.
    The ELBO is stationary in the guide at the optimum, so this changes the gradient's mean little,
    but it makes each path's ELBO nearly the exact log-likelihood as a function of the parameters,
    which removes most of the gradient's noise (at H = 0.3, 150 steps reach 0.31 instead of 0.43).

    Args:
        sde: a :class:`~bayeskit.fbm.sde.FractionalSDE` with a linear drift and constant diffusion.
        omega: its weights, shape ``(K,)``.
        x0: initial state, shape ``(D,)``.
        obs_std: observation noise sd (Python float).
        obs_index: grid index of each observation, shape ``(N,)`` (host integers).
        values: observations, shape ``(B, N, D)``.
        dt: solver step; ``n_steps``: number of steps S.

    Returns:
        :class:`Guide` whose ``offset`` (and ``init_offset``) carry a leading batch axis ``B``.

    Raises:
        TypeError: if ``sde`` is not a linear FractionalSDE, or on non-numeric arrays or
            indices.
        ValueError: on wrong shapes, ``obs_std <= 0``, ``dt <= 0``, ``n_steps < 1`` or an
            observation index outside ``[0, n_steps]`` (values of traced arrays unchecked).

    Traceable: only shapes and the host arguments (``obs_std``, ``obs_index``, ``dt``,
    ``n_steps``) are checked.
    """
    if not is_linear(sde):
        raise TypeError(
            "sde: expected a linear drift and a constant diffusion (LinearDrift, "
            f"ConstantDiffusion), got {type(sde.drift).__name__} and "
            f"{type(sde.diffusion).__name__}"
        )
    omega = check_array(omega, "omega", shape=(sde.num_speeds,))
    x0 = check_array(x0, "x0", shape=(sde.dim,))
    obs_std = check_scalar(obs_std, "obs_std", 0.0, None)
    dt = check_scalar(dt, "dt", 0.0, None)
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    index = check_indices(np.asarray(obs_index), "obs_index", n_steps + 1, shape=(None,))
    n = index.shape[0]
    values = check_array(values, "values", ndim=3)
    if values.shape[1:] != (n, sde.dim) or values.shape[0] < 1:
        raise ValueError(
            f"values: expected shape (B, {n}, {sde.dim}) with B >= 1 (one row per entry of "
            f"obs_index, dimension {sde.dim}), got {values.shape}"
        )
    dtype = values.dtype
    a, n = _chain(sde, omega, dt, dtype)
    size = a.shape[0]
    e0 = jnp.zeros(size, dtype).at[0].set(1.0)
    counts = np.bincount(np.asarray(obs_index), minlength=n_steps + 1).astype(np.float64)
    prec = jnp.asarray(counts / obs_std**2, dtype)  # (S + 1,)
    # per grid index, the sum of the observations attached to it over obs_std^2: (B, S + 1, D)
    onehot = jax.nn.one_hot(jnp.asarray(obs_index), n_steps + 1, dtype=dtype)  # (N, S + 1)
    osum = jnp.einsum("ns,bnd->bsd", onehot, values) / obs_std**2

    def back(h, j):
        chol, c = _posterior_step(h, n)
        m, quad, logdet = _whitening(chol)
        gain = -c @ h @ a
        hn = h @ n
        h_prev = a.T @ (h - hn @ c @ h) @ a
        h_prev = 0.5 * (h_prev + h_prev.T) + prec[j] * jnp.outer(e0, e0)
        prop = a.T @ (jnp.eye(size, dtype=dtype) - hn @ c)  # eta_j = prop @ eta_{j+1} + obs_j
        return h_prev, (gain, m, quad, logdet, c, prop)

    h_last = prec[n_steps] * jnp.outer(e0, e0)
    h0, (gain, m, quad, logdet, c, prop) = jax.lax.scan(
        back, h_last, jnp.arange(n_steps), reverse=True
    )

    def offsets(os):  # os: (S + 1, D) for one sequence
        def back_eta(eta, inp):
            c_j, prop_j, o_j = inp
            off = eta @ c_j.T  # (D, n): a_j = C_j eta_{j+1} for each dimension
            eta_prev = eta @ prop_j.T + o_j[:, None] * e0
            return eta_prev, off

        eta_last = os[n_steps][:, None] * e0
        eta0, off = jax.lax.scan(back_eta, eta_last, (c, prop, os[:n_steps]), reverse=True)
        return off, eta0

    offset, eta0 = jax.vmap(offsets)(osum)
    init = (None, None, None, None)
    if sde.kind == "type1":
        root0 = jnp.asarray(stationary_sqrt(np.asarray(sde.gammas)), dtype)
        n0 = jnp.concatenate([jnp.zeros((1, root0.shape[1]), dtype), root0])
        chol0, c0 = _posterior_step(h0, n0)
        m0, quad0, logdet0 = _whitening(chol0)
        # a_init = C0 (eta_0 - H_0 (x0, 0)) for each dimension
        start = x0.astype(dtype)[:, None] * e0  # (D, n)
        init_offset = (eta0 - start @ h0) @ c0.T  # (B, D, K)
        init = (init_offset, m0, quad0, logdet0)
    return Guide(offset, gain, m, quad, logdet, *init)
