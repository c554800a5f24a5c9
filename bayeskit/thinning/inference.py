"""Thin MCMC output held in an ArviZ ``InferenceData`` with kernel thinning."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import arviz as az
import jax
import numpy as np
import xarray as xr

from bayeskit.random import as_key
from bayeskit.thinning.kt import _rounds, thin
from bayeskit.thinning.split_kernels import _check_kernel, default_kernel
from bayeskit.validate import check_int

__all__ = ["thin_inference_data"]

# Groups whose draws are paired index by index (one model evaluation per posterior or prior
# draw): thinning one thins all of them with the same indices. The first holds ``thin_index``.
_PAIRED = (
    ("sample_stats", "posterior", "log_likelihood", "posterior_predictive", "predictions"),
    ("sample_stats_prior", "prior", "prior_predictive"),
)


def _take_draws(ds: xr.Dataset, idx: np.ndarray) -> xr.Dataset:
    """Draws ``idx[c]`` of each chain ``c`` (``idx`` of shape ``(chain, k)``), renumbered 0..k-1."""
    out = ds.isel(draw=xr.DataArray(idx, dims=("chain", "draw")))
    return out.assign_coords(draw=np.arange(idx.shape[1]))


def thin_inference_data(
    key: Any,
    idata: Any,
    m: int | None = None,
    *,
    size: int | None = None,
    var_names: Sequence[str] | None = None,
    kernel: Any = None,
    group: str = "posterior",
    **thin_kwargs: Any,
):
    """Kernel-thin each chain of an ``InferenceData`` to ``draw // 2**m`` draws, keeping groups.

    The coreset size per chain is given either as halving rounds ``m`` or directly as ``size``
    (one of ``draw // 2**m``), as in :func:`bayeskit.thinning.thin`.

    Each coordinate of each variable is standardised with statistics pooled over all chains
    (zero mean, unit sd; a constant coordinate is only centred), and
    :func:`bayeskit.thinning.thin` runs on each chain's ``(draw, D)`` matrix separately (in MCMC
    order, which KT-SPLIT pairs on), with one key per chain and one kernel for all chains.
    Keeping the chains apart, and each chain's kept draws in MCMC order, keeps ArviZ's R-hat
    and ESS meaningful; the kernel acts on standardised values.

    The groups paired draw by draw with ``group`` (for ``"posterior"``: ``sample_stats``,
    ``log_likelihood``, ``posterior_predictive``, ``predictions``; for ``"prior"``:
    ``sample_stats_prior``, ``prior_predictive``) are thinned with the same indices; all other
    groups (``observed_data``, ``constant_data``, the other side's draws, warm-up) are copied
    unchanged.

    Args:
        key: PRNG key or int seed.
        idata: ``arviz.InferenceData`` with the group ``group``.
        m: halving rounds, ``2**m <= draw``; each chain keeps ``draw // 2**m`` draws.
        size: draws kept per chain, instead of ``m``: one of ``draw // 2**m`` (e.g. 250 of
            1000 draws, ``m = 2``).
        var_names: variables of ``group`` to thin on and keep (default: all of them).
        kernel: kernel on standardised draws; ``None``: Gaussian with the median-heuristic
            lengthscale of all chains' standardised draws (:func:`default_kernel`).
        group: the group to thin on: one with draws paired as above (default ``"posterior"``).
        **thin_kwargs: passed to :func:`bayeskit.thinning.thin` (``variant``, ``delta``, ...).

    Returns:
        ``arviz.InferenceData`` with the same groups, chains, dims and coords (``group`` with
        only ``var_names``), the paired groups holding ``(chain, draw // 2**m, ...)`` draws (``draw`` renumbered from 0), and
        ``thin_index`` of shape ``(chain, draw // 2**m)`` in ``sample_stats`` (or
        ``sample_stats_prior``): the flat input index ``chain * draw + d`` of each kept draw
        ``d``. ``attrs`` records ``thinned_from_group`` and ``thinning_m``.

    Raises:
        TypeError: if ``idata`` is not an ``arviz.InferenceData``.
        ValueError: if ``group`` is missing or holds no paired draws, a variable is missing, a
            paired group's ``(chain, draw)`` differs from ``group``'s, ``2**m`` exceeds the
            draws per chain, not exactly one of ``m`` and ``size`` is given, ``size`` is not
            ``draw // 2**m`` for an integer ``m``, or as :func:`thin`.
    """
    key = as_key(key, "key")
    if not isinstance(idata, az.InferenceData):
        raise TypeError(f"idata: expected an arviz.InferenceData, got {type(idata).__name__}")
    if not isinstance(group, str):
        raise TypeError(f"group: expected a group name, got {type(group).__name__} {group!r}")
    if var_names is not None and (
        isinstance(var_names, str | bytes)
        or not isinstance(var_names, Sequence)
        or not all(isinstance(v, str) for v in var_names)
    ):
        raise TypeError(f"var_names: expected a list of variable names, got {var_names!r}")
    if kernel is not None:
        _check_kernel(kernel)
    present = idata.groups()
    paired = next((p for p in _PAIRED if group in p), None)
    if paired is None or group not in present:
        choices = [g for p in _PAIRED for g in p[1:] if g in present]
        raise ValueError(f"group: expected one of {choices}, got {group!r}")
    ds = idata[group]
    names = list(ds.data_vars) if var_names is None else list(var_names)
    missing = [v for v in names if v not in ds.data_vars]
    if missing or not names:
        raise ValueError(f"var_names: expected variables of {group!r}, missing {missing or names}")
    n_chain, n_draw = ds.sizes["chain"], ds.sizes["draw"]
    for g in paired:
        if g in present and (idata[g].sizes["chain"], idata[g].sizes["draw"]) != (n_chain, n_draw):
            raise ValueError(
                f"idata: group {g!r} has (chain, draw) = ({idata[g].sizes['chain']}, "
                f"{idata[g].sizes['draw']}), expected ({n_chain}, {n_draw}) as {group!r}"
            )
    if m is not None and size is None:  # the message speaks of draws per chain, not points
        m = check_int(m, "m", minimum=0)
        if 2**m > n_draw:
            raise ValueError(
                f"m: 2**m = {2**m} exceeds the {n_draw} draws per chain (each chain is thinned "
                f"separately); expected m <= {int(np.log2(n_draw))}"
            )
    else:
        m = _rounds(m, size, n_draw)
    ds = ds[names]
    flat = np.concatenate(
        [np.asarray(ds[v].values, dtype=np.float64).reshape(n_chain, n_draw, -1) for v in names],
        axis=2,
    )
    sd = flat.std(axis=(0, 1))
    std = (flat - flat.mean(axis=(0, 1))) / np.where(sd > 0, sd, 1.0)
    if kernel is None:
        kernel = default_kernel(std.reshape(n_chain * n_draw, -1))
    keys = jax.random.split(key, n_chain)
    # sorted: the kept draws stay in MCMC order, which split R-hat and ESS rely on
    idx = np.sort(
        [jax.device_get(thin(keys[c], std[c], m, kernel, **thin_kwargs)) for c in range(n_chain)],
        axis=1,
    )
    groups = {g: idata[g] for g in present}
    groups[group] = ds
    for g in paired:
        if g in groups:
            groups[g] = _take_draws(groups[g], idx)
    thin_index = xr.DataArray(
        idx + n_draw * np.arange(n_chain)[:, None],
        dims=("chain", "draw"),
        coords={"chain": ds.coords["chain"].values, "draw": np.arange(idx.shape[1])},
    )
    stats = groups.get(paired[0], xr.Dataset())
    groups[paired[0]] = stats.assign(thin_index=thin_index)
    attrs = {**idata.attrs, "thinned_from_group": group, "thinning_m": m}
    return az.InferenceData(attrs=attrs, **groups)
