"""GP-HM solver: GP prior on grid values, boundary and residual likelihoods, learned spectrum.

The model is Fang, Cooley, Long, Li, Kirby & Zhe (2024), "Solving High Frequency and Multi-Scale
PDEs with Gaussian Processes", Eq. (14): with grid values ``U``, per-dimension mixture kernels
(``spectral``), boundary precision ``tau`` and residual precision ``v``, minimise

``L = 1/2 vec(U)^T K^{-1} vec(U) + 1/2 log|K|
      + lambda_b [ tau/2 sum_b (U_b - g_b)^2 - N_b/2 log tau ]
      + v/2 sum_grid (R[U] - s)^2 - N/2 log v``,

where derivatives of ``U`` come from differentiating the interpolant ``k(x, M) K^{-1} vec(U)``
(``kronecker.derivative_map``). The paper runs Adam on everything for 1e5 to 3e6 steps
(``method="adam"`` here). ``method="profile"`` (default) minimises the same ``L`` in far fewer
steps by taking the grid values out of the first-order loop: each step solves for ``U`` given
the hyperparameters (``L`` is quadratic in ``U`` for a linear operator, a linear least-squares
problem; one warm-started Gauss-Newton step per outer step for the Allen-Cahn nonlinearity,
damped by a line search (``inner._damped``); a dense QR solve or warm-started conjugate
gradients in the operator's Kronecker eigenbasis, whichever ``inner.dense_is_faster`` predicts
cheaper: dense in 1-D, CG in 2-D from 7 x 7), then takes one optimizer step on the
kernel hyperparameters and ``log tau, log v`` with the gradient of ``L`` at the new ``U`` (at
the exact minimiser this is the gradient of the profiled objective). A step that raises the
profiled objective by more than ``REJECT_RISE`` is undone and retried at half the scale
(``optimize._profile_step``). The precisions are not profiled in closed form: ``L`` is unbounded below
in ``v`` (the interpolant's derivative map is invertible, so the residual can be driven to zero
and ``L -> -inf`` as ``v -> inf``); like the paper, they move by optimizer steps. The default
step sizes decay on a cosine schedule (``optimize._profile_optimizer``), which lets the frequencies
settle to the accuracy the solution needs.

Everything runs in float64 inside ``jax.enable_x64(True)``; the caller's global setting is left
alone. OpenBLAS, which runs XLA's CPU LAPACK calls, is held to one thread during a solve
(``bayeskit._blas``): its idle threads otherwise spin beside XLA's (a joint-Adam step on the
200 x 200 advection grid took twice as long).
"""

from __future__ import annotations

import functools
import math
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from bayeskit._blas import one_blas_thread
from bayeskit._progress import progress_bar, show_progress
from bayeskit.gp_pde import defaults as df
from bayeskit.gp_pde import kronecker as kr
from bayeskit.gp_pde import spectral as sp
from bayeskit.gp_pde.inner import DENSE_MAX, _even_order
from bayeskit.gp_pde.model import _apply_linear, _factors, _loss
from bayeskit.gp_pde.model import objective as objective
from bayeskit.gp_pde.model import objective_dense as objective_dense
from bayeskit.gp_pde.optimize import _initial_state, _make_chunk, _profile_optimizer, _reported
from bayeskit.gp_pde.problems import PDEProblem, warn_low_freq_scale
from bayeskit.gp_pde.solution import GPSolution, _predict_grid, _test_axes
from bayeskit.gp_pde.state import SolveInfo, Trace, _data, _static
from bayeskit.random import as_key
from bayeskit.validate import (
    check_array,
    check_bool,
    check_choice,
    check_int,
    check_optimizer,
    check_positive,
    check_scalar,
)

__all__ = ["solve", "METHODS"]

METHODS = ("profile", "adam")
_PAPER_ADAM = optax.adam(1e-2)  # one object, so that its compiled chunks are reused
INNER_WARN = 1e-2  # a last inner solve with a larger relative residual is warned about
# a larger relative misfit between the interpolant and U is warned about: above the 9.9e-5 of a
# well-solved case at 3 points per period (test sol_sin25, error 1.3e-5)
JITTER_WARN = 1e-3


def _run(
    key,
    problem,
    kernel,
    n_components,
    steps,
    optimizer,
    method,
    progress,
    log_every,
    freq_scale,
    init_noise,
    n_newton,
    cg_iters,
    jitter,
    offset_test,
    truth_problem=None,
):
    static = _static(problem, kernel, n_newton if problem.nonlinearity else 1, cg_iters, jitter)
    data = _data(problem)
    params = sp.init_params(problem.ndim, n_components, freq_scale)
    if init_noise > 0:
        noise = jax.random.normal(key, params.freq.shape) * init_noise * np.max(freq_scale)
        params = params._replace(freq=params.freq + noise)
    state = _initial_state(problem.grid, params, optimizer, method)

    # the extra GP's errors are those of the sum, against the original problem's solution
    ref = truth_problem if truth_problem is not None else problem
    axes_test = _test_axes(ref, 300) if ref.exact is not None else None
    truth = ref.exact_values(axes_test) if axes_test is not None else None

    grid_axes = problem.axes()
    offset = 0.0 if offset_test is None else offset_test

    def error(state):
        state = _reported(state)
        if truth is None:
            return math.nan
        args = (state.params, state.values, grid_axes, axes_test, truth, offset)
        return float(_rel_error(static, kernel, *args))

    n_chunks, rem = divmod(steps, log_every)
    chunks = [log_every] * n_chunks + ([rem] if rem else [])
    compiled = {n: _make_chunk(static, method, optimizer, n) for n in set(chunks)}
    loss0 = float(_loss_jit(static, data, state.values, params, state.log_tau, state.log_v))
    steps_log, losses, errors = [0], [loss0], [error(state)]
    bar = progress_bar(steps, f"gp_pde {problem.name}", progress)
    done = 0
    for n in chunks:
        state, loss = compiled[n](data, state)
        done += n
        steps_log.append(done)
        losses.append(float(loss))
        errors.append(error(state))
        if bar is not None:
            bar.update(n)
            bar.set_postfix(loss=f"{losses[-1]:.4g}", rel_l2=f"{errors[-1]:.3g}")
    if bar is not None:
        bar.close()
    finite = bool(all(jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(state[:4])))
    if not finite:
        raise FloatingPointError(
            f"solve: the state became non-finite on {problem.name!r}; reduce the learning rate "
            "or check the problem's scaling"
        )
    if float(state.inner_residual) > INNER_WARN:
        warnings.warn(
            f"solve: the last inner solve on {problem.name!r} stopped at a relative residual of "
            f"{float(state.inner_residual):.2g} (> {INNER_WARN:g}); the grid values do not "
            "minimise the objective: raise cg_iters or lower the learning rate",
            RuntimeWarning,
            stacklevel=3,
        )
    rejected = 0 if state.accepted is None else int(state.accepted.rejected)
    state = _reported(state)
    alpha, misfit = _alpha_and_misfit(static, kernel, state.params, state.values, grid_axes)
    misfit = float(misfit)
    if misfit > JITTER_WARN:
        advice = (  # joint Adam's U is not the interpolant until it converges (measurement log)
            "the error may be limited by it: try a smaller jitter (down to 1e-10)"
            if method == "profile"
            else "the error may be limited by it, or the joint Adam has not converged: try more "
            "steps, or the paper's jitter 1e-6 (it converged on 200 x 200 advection where the "
            "default did not)"
        )
        warnings.warn(
            f"solve: on {problem.name!r} the interpolant misses the grid values by {misfit:.2g} "
            f"(relative, > {JITTER_WARN:g}) because of jitter={jitter:.3g}; {advice}",
            df.JitterWarning,
            stacklevel=3,
        )
    trace = Trace(np.asarray(steps_log), np.asarray(losses), np.asarray(errors))
    return GPSolution(
        kernel=kernel,
        problem=problem,
        axes=problem.axes(),
        values=state.values,
        alpha=alpha,
        params=state.params,
        log_tau=state.log_tau,
        log_v=state.log_v,
        trace=trace,
        info=SolveInfo(float(state.inner_residual), finite, rejected, misfit),
        jitter=static.jitter,
    )


# Jitted once per static configuration (not per solve): run eagerly, these few lines compiled
# some 100 one-operation programs per solve, several seconds before and after the steps.
_loss_jit = jax.jit(_loss, static_argnums=0)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _rel_error(static, kernel, params, values, grid_axes, axes_test, truth, offset):
    """Relative L2 error on the test grid of the interpolant of ``values`` (plus ``offset``, the
    first GP's prediction when this is the extra GP)."""
    factor, _ = _factors(static, params)
    alpha = kr.kron_solve(factor, values)
    pred = _predict_grid(kernel, params, grid_axes, alpha, axes_test) + offset
    return jnp.linalg.norm(pred - truth) / jnp.linalg.norm(truth)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _alpha_and_misfit(static, kernel, params, values, grid_axes):
    """``alpha = K^{-1} vec(U)`` and ``|U - m(nodes)| / |U|``: the relative distance between the
    grid values ``U`` and the interpolant ``m = k(x, M) alpha`` (``K`` with jitter) at the nodes,
    which the jitter alone makes nonzero."""
    factor, _ = _factors(static, params)
    alpha = kr.kron_solve(factor, values)
    gap = values - _predict_grid(kernel, params, grid_axes, alpha, grid_axes)
    return alpha, jnp.linalg.norm(gap) / jnp.maximum(jnp.linalg.norm(values), 1e-300)


def solve(
    key,
    problem: PDEProblem,
    *,
    kernel: str = "student_t",
    n_components: int = 30,
    steps: int | None = None,
    optimizer: optax.GradientTransformation | None = None,
    method: str = "profile",
    progress: bool | None = None,
    log_every: int | None = None,
    freq_scale=None,
    init_noise: float = 0.0,
    n_newton: int = 1,
    cg_iters: int = 50,
    jitter: float | None = None,
    extra_gp: bool = False,
    extra_steps: int | None = None,
) -> GPSolution:
    """Solve a PDE with GP-HM (Fang et al., 2024, Eq. 14), in float64.

    Args:
        key: PRNG key or int seed; used only when ``init_noise > 0`` (the paper's
            initialisation is deterministic).
        problem: a ``PDEProblem`` (see ``problems.get``).
        kernel: ``"student_t"`` (GP-HM-StM), ``"gaussian"`` (GP-HM-GM), or the negative
            controls ``"rbf"`` (GP-SE) and ``"matern52"`` (GP-Matern).
        n_components: mixture components ``Q`` per dimension.
        steps: outer steps; default 300 for ``"profile"``, 100000 for ``"adam"`` (the paper's).
        optimizer: an optax transformation for the hyperparameters (``"profile"``) or for
            everything (``"adam"``); default for ``"profile"`` Adam with cosine-decayed step
            sizes (peaks 0.03 for the log weights and scales, ``max(0.01, freq_scale / 2000)``
            for the frequencies (``defaults.freq_step``), 0.06 over the first 300 steps then 0.03 for
            the precisions; ``_profile_optimizer``), and
            the paper's ``adam(1e-2)`` for ``"adam"``. With ``"profile"`` a step that raises
            the objective by more than one nat is undone and retried at half the scale
            (counted in ``GPSolution.info.rejected_steps``).
        method: ``"profile"`` (``U`` solved for given the hyperparameters, exactly or by
            conjugate gradients, whichever is predicted faster, then one optimizer step on the
            kernel and the precisions; with first-order terms exactly, up to 2500 nodes) or
            ``"adam"`` (the paper's joint Adam).
        progress: show a tqdm bar; ``None`` (default) shows one when run interactively (a
            Jupyter kernel or a terminal; ``BAYESKIT_PROGRESS=0``/``1`` overrides).
        log_every: steps between checkpoints of ``trace`` (default ``steps // 20``, 21
            checkpoints as the paper).
        freq_scale: largest initial frequency (cycles per unit length), scalar or ``(d,)``;
            default the problem's, and without one ``defaults.default_freq_scale``: 1.25 times
            the problem's ``max_frequency`` or, without it, the source's estimated highest
            frequency (``defaults.source_frequency``).
        init_noise: standard deviation of a random perturbation of the initial frequencies,
            relative to ``freq_scale``.
        n_newton: Gauss-Newton iterations per outer step for a nonlinear operator (each
            warm-started from the previous step's grid values and damped by a line search).
        cg_iters: conjugate-gradient iterations per inner solve on grids where they are
            cheaper than the dense solve (``inner.dense_is_faster``; each warm-started from the previous step's grid values, so the iterations add up
            across steps while the hyperparameters move slowly).
        extra_gp: add the authors' second GP (one Matérn-5/2 component, no cosine) fitted to
            what the first leaves (linear operators only).
        extra_steps: steps of the second GP (default ``steps``).
        jitter: added to the diagonal of each 1-D Gram factor; default
            ``defaults.default_jitter``, the paper's 1e-6 on grids with up to 4 points per
            period of ``freq_scale``, down to 1e-10 from 8 on. It bounds how closely the
            interpolant passes through the grid values (``GPSolution.info.jitter_misfit``).

    Returns:
        ``GPSolution``.

    Raises:
        ValueError: on an unknown kernel or method, non-positive sizes, a non-finite source or
            boundary, ``extra_gp`` with a nonlinear operator, or ``method="profile"`` with
            first-order terms (advection) on a grid of more than 2500 nodes.
        TypeError: if ``problem`` is not a ``PDEProblem``.
        FloatingPointError: if the state becomes non-finite.

    Warns:
        RuntimeWarning: if the last inner solve's relative residual exceeds ``INNER_WARN``.
        FrequencyScaleWarning: if ``freq_scale`` is below the problem's ``max_frequency``.
        JitterWarning: if the jitter keeps the interpolant from the grid values by more than
            ``JITTER_WARN`` (relative).
    """
    if not isinstance(problem, PDEProblem):
        raise TypeError(f"problem: expected a PDEProblem, got {type(problem).__name__}")
    kernel = check_choice(kernel, "kernel", sp.KERNELS)
    method = check_choice(method, "method", METHODS)
    n_components = check_int(n_components, "n_components", minimum=1)
    steps = check_int(
        steps if steps is not None else (300 if method == "profile" else 100_000),
        "steps",
        minimum=1,
    )
    log_every = (
        max(steps // 20, 1) if log_every is None else check_int(log_every, "log_every", minimum=1)
    )
    progress = show_progress(progress)
    check_bool(extra_gp, "extra_gp")
    n_newton = check_int(n_newton, "n_newton", minimum=1)
    cg_iters = check_int(cg_iters, "cg_iters", minimum=1)
    if jitter is not None:
        jitter = check_scalar(jitter, "jitter", 0.0, None)
    init_noise = check_scalar(init_noise, "init_noise", 0.0, None, closed=(True, False))
    if extra_steps is not None:
        extra_steps = check_int(extra_steps, "extra_steps", minimum=1)
    if freq_scale is not None:
        check_array(freq_scale, "freq_scale", ndim=(0, 1))
        check_positive(freq_scale, "freq_scale")
        if jnp.ndim(freq_scale) == 1 and jnp.shape(freq_scale) != (len(problem.grid),):
            raise ValueError(
                f"freq_scale: expected a scalar or shape ({len(problem.grid)},), got "
                f"{jnp.shape(freq_scale)}"
            )
        warn_low_freq_scale(freq_scale, problem.max_frequency)
    if extra_gp and problem.nonlinearity is not None:
        raise ValueError("extra_gp: the extra GP needs a linear operator (no nonlinearity)")
    n_nodes = math.prod(problem.grid)
    if method == "profile" and n_nodes > DENSE_MAX and not _even_order(problem.terms):
        raise ValueError(
            f"problem: an operator with first-order terms is solved exactly on grids of up to "
            f"{DENSE_MAX} nodes with method='profile', got {n_nodes} "
            f"({' x '.join(map(str, problem.grid))}); no iterative inner solve tried for it "
            "converges beyond (docs/gp_pde_measurements.md, advection). Use a coarser grid or "
            "method='adam'"
        )
    if optimizer is not None:
        check_optimizer(optimizer)
    key = as_key(key, "key")
    with jax.enable_x64(True), one_blas_thread():
        if freq_scale is None:
            freq_scale = problem.freq_scale
        if freq_scale is None:
            freq_scale = df.default_freq_scale(problem)
        if jitter is None:
            jitter = df.default_jitter(problem, freq_scale)
        if optimizer is None and method == "profile":
            optimizer = _profile_optimizer(steps, float(df.freq_step(freq_scale)))
        elif optimizer is None:
            optimizer = _PAPER_ADAM
        common = dict(
            method=method,
            progress=progress,
            log_every=log_every,
            init_noise=init_noise,
            n_newton=n_newton,
            cg_iters=cg_iters,
            jitter=jitter,
        )
        sol = _run(
            key,
            problem,
            kernel,
            n_components,
            steps,
            optimizer,
            freq_scale=freq_scale,
            offset_test=None,
            **common,
        )
        if not extra_gp:
            return sol
        second = _residual_problem(sol)
        offset = None
        if problem.exact is not None:
            offset = sol.predict_grid(_test_axes(problem, 300))
        extra = _run(
            key,
            second,
            "matern52",
            1,
            extra_steps or steps,
            optimizer,
            freq_scale=1.0,
            offset_test=offset,
            truth_problem=problem,
            **common,
        )
        return eqx.tree_at(lambda s: s.extra, sol, extra, is_leaf=lambda x: x is None)


def _residual_problem(sol: GPSolution) -> PDEProblem:
    """The problem left for the extra GP: source ``s - R[u_1]`` and boundary ``g - u_1``."""
    import dataclasses

    problem = sol.problem
    static = _static(problem, sol.kernel, 1, 0, sol.jitter)
    data = _data(problem)
    _, maps = _factors(static, sol.params)
    source = data.source - _apply_linear(static, maps, sol.values)
    bvals = data.bvals - sol.values.ravel()[data.bidx]
    return dataclasses.replace(
        problem,
        name=problem.name + "+extra",
        source=np.asarray(source),
        boundary=np.asarray(bvals),
        exact=None,
        max_frequency=None,
    )
