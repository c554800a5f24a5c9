"""Parisian particle Gibbs (PPG): PaRIS driven by conditional SMC, for bias-reduced smoothing.

Each iteration runs a conditional PaRIS pass with the current reference path frozen in slot 0,
returns the PaRIS estimate ``Pi_l = sum_i w_T^i tau_T^i / Omega_T`` and draws the next reference
path by following the first backward draw of each particle from ``b_T ~ Cat(w_T)`` (an exact
backward-sampling move, so the path chain leaves the smoothing law invariant). The estimator
averages ``Pi_l`` over the iterations after the burn-in.

References: Cardoso, Janati El Idrissi, Le Corff, Moulines & Olsson (2023), "State and parameter
learning with PaRIS particle Gibbs", ICML, arXiv 2301.00900 (PPG estimator ``Pi_{(k0,k)}``);
Olsson & Westerborn (2017) (PaRIS); Whiteley (2010) (backward-sampling conditional SMC).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from bayeskit import parallel
from bayeskit._progress import advance, device_bar, show_progress
from bayeskit.parallel import _check_mesh
from bayeskit.random import as_key
from bayeskit.smc import filter as pf
from bayeskit.smc.csmc import check_path
from bayeskit.smc.models import StateSpaceModel
from bayeskit.smc.paris import _check_backward_opts, flat_functional, paris_pass, trace_path
from bayeskit.summary import to_inference_data
from bayeskit.validate import check_bool, check_int

__all__ = ["PPGResult", "ppg"]


class PPGResult(NamedTuple):
    """Output of :func:`ppg`.

    Fields (with ``ppg(..., n_chains=C)`` each gets a leading axis ``C``):
        estimate: the PPG estimate ``Pi_{(k0,k)}`` (average of the iterations after burn-in),
            same structure as ``h``'s output.
        estimates: per-iteration conditional PaRIS estimates, leading axis ``burn_in + iterations``.
        paths: ``(burn_in + iterations, T, dx)`` the chain of reference paths (after each
            iteration).
        log_likelihoods: ``(burn_in + iterations,)`` conditional filter log-likelihoods.
        burn_in: the number of discarded iterations ``k0``.
    """

    estimate: Any
    estimates: Any
    paths: jax.Array
    log_likelihoods: jax.Array
    burn_in: int

    def to_inference_data(self):
        """ArviZ ``InferenceData`` with the kept paths as variable ``x (chain, draw, T, dx)``
        and the flattened per-iteration estimates as ``estimate (chain, draw, dim h)`` (one
        chain, or ``ppg``'s ``n_chains``); the conditional filter log-likelihoods go to
        ``sample_stats``."""
        k0 = self.burn_in
        chains = self.log_likelihoods.ndim == 2  # a leading chain axis (ppg's n_chains)
        flat = jax.vmap(lambda e: jax.flatten_util.ravel_pytree(e)[0])
        flat = jax.vmap(flat)(self.estimates) if chains else flat(self.estimates)[None]
        paths = self.paths if chains else self.paths[None]
        lls = self.log_likelihoods if chains else self.log_likelihoods[None]
        return to_inference_data(
            {"x": paths[:, k0:], "estimate": flat[:, k0:]},
            sample_stats={"conditional_log_likelihood": lls[:, k0:]},
            dims={"x": ["time", "x_dim"], "estimate": ["h_dim"]},
        )


def ppg_iterations(
    key, model, theta, ys, h_flat, theta_h, n, nb, sampler, max_trials, n_iter, init_path,
    bar=None,
):  # fmt: skip
    """Run ``n_iter`` PPG iterations from ``init_path`` (un-jitted core); each advances ``bar``
    (an id from :func:`bayeskit._progress.device_bar`) when given.

    Returns ``(estimates (n_iter, dim h), paths (n_iter, T, dx), log_liks, faults)``.
    """

    def one(path, inp):
        k, i = inp
        k_pass, k_path = jax.random.split(k)
        out = paris_pass(
            k_pass, model, theta, ys, h_flat, theta_h, n, nb, sampler, max_trials,
            ref_path=path, keep_path=True,
        )  # fmt: skip
        new = trace_path(k_path, out.particles, out.log_w_last, out.backward_first)
        if bar is not None:
            advance(bar, i + 1)
        return new, (out.estimate, new, out.log_likelihood, out.faults)

    _, outs = jax.lax.scan(one, init_path, (jax.random.split(key, n_iter), jnp.arange(n_iter)))
    return outs


def initial_path(key, model, theta, ys, h_flat, theta_h, n, nb, sampler, max_trials):
    """A path drawn by backward sampling from an unconditional PaRIS pass, and its faults."""
    k_pass, k_path = jax.random.split(key)
    out = paris_pass(
        k_pass, model, theta, ys, h_flat, theta_h, n, nb, sampler, max_trials, keep_path=True
    )
    return trace_path(k_path, out.particles, out.log_w_last, out.backward_first), out.faults


_STATIC = ("model", "n", "nb", "sampler", "max_trials", "n_iter", "has_init")


def _ppg_core(key, model, theta, ys, h_flat, n, nb, sampler, max_trials, n_iter, init, has_init,
              bar):  # fmt: skip
    k_init, k_run = jax.random.split(key)
    if has_init:
        path, faults0 = init, pf.no_faults()
    else:
        path, faults0 = initial_path(k_init, model, theta, ys, h_flat, theta, n, nb, sampler,
                                     max_trials)  # fmt: skip
    outs = ppg_iterations(
        k_run, model, theta, ys, h_flat, theta, n, nb, sampler, max_trials, n_iter, path, bar
    )
    return outs, faults0


_ppg_jit = partial(jax.jit, static_argnames=_STATIC)(_ppg_core)


@partial(jax.jit, static_argnames=(*_STATIC, "n_chains", "mesh"))
def _ppg_chains_jit(key, model, theta, ys, h_flat, n, nb, sampler, max_trials, n_iter, init,
                    has_init, n_chains, mesh):  # fmt: skip
    """Chain ``c`` is the single-chain run from key ``split(key, n_chains)[c]``; the chain axis
    is sharded across ``mesh``, one chain at a time per device (bit-identical on any mesh)."""

    def chain(k):
        return _ppg_core(
            k, model, theta, ys, h_flat, n, nb, sampler, max_trials, n_iter, init, has_init, None
        )

    return parallel.replicate(chain, key, n_chains, mesh=mesh, batch_size=1)


def ppg(
    key: Any,
    model: StateSpaceModel,
    theta: Any,
    ys: Any,
    h: Any,
    *,
    n_particles: int,
    n_backward: int = 2,
    burn_in: int,
    iterations: int,
    init_path: Any = None,
    sampler: str = "hybrid",
    max_trials: int | None = None,
    check_bound: bool = True,
    progress: bool | None = None,
    n_chains: int | None = None,
    mesh: Any = None,
) -> PPGResult:
    """Estimate a smoothed additive functional with Parisian particle Gibbs.

    Runs ``burn_in + iterations`` conditional PaRIS passes; the estimate averages the last
    ``iterations`` (the paper's ``k0 = burn_in``, ``k - k0 = iterations``). At stationarity each
    iteration's estimate is unbiased, so the bias decays geometrically with ``burn_in``.

    Args:
        key: an int seed or PRNG key.
        model: the state-space model.
        theta: model parameters (pytree of finite arrays).
        ys: observations ``(T, dy)``, ``T >= 2``.
        h: the additive functional's per-step term, as in :func:`~bayeskit.smc.paris.paris`.
        n_particles: ``N >= 2`` (slot 0 holds the reference path).
        n_backward: backward draws per particle ``N-tilde >= 1``.
        burn_in: discarded iterations ``k0 >= 0``.
        iterations: averaged iterations ``k - k0 >= 1``.
        init_path: initial reference path ``(T, dx)``; by default one path drawn by backward
            sampling from an unconditional PaRIS pass.
        sampler: backward sampler (``"exact"``, ``"accept_reject"``, ``"hybrid"``).
        max_trials: accept-reject cap (see :func:`~bayeskit.smc.paris.backward_sample`).
        check_bound: raise if a transition density above ``exp(model.trans_log_bound)`` was
            seen (see :func:`~bayeskit.smc.paris.paris`).
        progress: show a tqdm bar over the iterations; ``None`` (default) shows one when run
            interactively (a Jupyter kernel or a terminal; ``BAYESKIT_PROGRESS=0``/``1``
            overrides). Not shown with ``n_chains``.
        n_chains: ``None`` runs one chain; an int ``C >= 1`` runs ``C`` independent chains,
            chain ``c`` from key ``jax.random.split(key, C)[c]`` (the same run as
            ``ppg(that key, ...)``), and every field of the result gets a leading chain axis.
            The chain axis is sharded across ``mesh`` (:func:`bayeskit.parallel.map_sharded`,
            one chain at a time per device): the result is bit-identical on any number of
            devices.
        mesh: a 1-D device mesh for the chains (default
            :func:`bayeskit.parallel.device_mesh`, all devices); only with ``n_chains``.

    Returns:
        :class:`PPGResult`; with ``n_chains`` each field has a leading axis ``C``
        (``estimate`` leaves ``(C, ...)``, ``paths`` ``(C, burn_in + iterations, T, dx)``).

    Raises:
        ValueError: on mismatched observation shapes, ``N < 2``, ``N-tilde < 1``, bad iteration
            counts, non-finite inputs, NaN log-densities, all weights ``-inf``, a backward kernel
            without support or (with ``check_bound``) a transition density above the bound (the
            time step is named).
        TypeError: if ``model`` is not a :class:`StateSpaceModel`.
    """
    key = as_key(key, "key")
    ys, n = pf.validate_common(model, theta, ys, n_particles)
    nb, sampler, max_trials = _check_backward_opts(model, n_backward, sampler, max_trials, n)
    k0 = check_int(burn_in, "burn_in", minimum=0)
    kk = check_int(iterations, "iterations", minimum=1)
    check_bound = check_bool(check_bound, "check_bound")
    has_init = init_path is not None
    init = check_path(init_path, "init_path", ys, model) if has_init else None
    show = show_progress(progress)
    h_flat, unravel, _ = flat_functional(h, model, theta, ys)
    if n_chains is not None:
        n_chains = check_int(n_chains, "n_chains", minimum=1)
        mesh = _check_mesh(mesh)
        (ests, paths, lls, faults), faults0 = _ppg_chains_jit(
            key, model, theta, ys, h_flat, n, nb, sampler, max_trials, k0 + kk, init, has_init,
            n_chains, mesh,
        )  # fmt: skip
        pf.raise_faults(faults0, "ppg (initial path)", check_bound)
        pf.raise_faults(faults, "ppg", check_bound)
        return PPGResult(
            estimate=jax.vmap(unravel)(jnp.mean(ests[:, k0:], axis=1)),
            estimates=jax.vmap(jax.vmap(unravel))(ests),
            paths=paths,
            log_likelihoods=lls,
            burn_in=k0,
        )
    if mesh is not None:
        raise ValueError("mesh: expected None without n_chains (the mesh shards the chains)")
    with device_bar(k0 + kk, "ppg", show) as bar:
        (ests, paths, lls, faults), faults0 = _ppg_jit(
            key, model, theta, ys, h_flat, n, nb, sampler, max_trials, k0 + kk, init, has_init, bar
        )
        jax.block_until_ready(faults)
    pf.raise_faults(faults0, "ppg (initial path)", check_bound)
    pf.raise_faults(faults, "ppg", check_bound)
    return PPGResult(
        estimate=unravel(jnp.mean(ests[k0:], axis=0)),
        estimates=jax.vmap(unravel)(ests),
        paths=paths,
        log_likelihoods=lls,
        burn_in=k0,
    )
