"""Thin MCMC output held in an ArviZ ``InferenceData`` with kernel thinning."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from bayeskit.summary import to_inference_data
from bayeskit.thinning.kt import thin
from bayeskit.validate import check_int

__all__ = ["thin_inference_data"]


def thin_inference_data(
    key: Any,
    idata: Any,
    m: int,
    *,
    var_names: Sequence[str] | None = None,
    kernel: Any = None,
    group: str = "posterior",
    **thin_kwargs: Any,
):
    """Kernel-thin the draws of an ``InferenceData`` group to one chain of ``n // 2**m`` draws.

    Chains are concatenated in order (chain 0's draws first, keeping the MCMC order that
    KT-SPLIT pairs on), each coordinate of each variable is standardised (zero mean, unit sd;
    a constant coordinate is only centred), and :func:`bayeskit.thinning.thin` runs on the
    resulting ``(chain * draw, D)`` matrix. The kernel therefore acts on standardised values.

    Args:
        key: PRNG key or int seed.
        idata: ``arviz.InferenceData`` with the group ``group``.
        m: halving rounds; the coreset has ``(chain * draw) // 2**m`` draws.
        var_names: variables to use and keep (default: all variables of the group).
        kernel: kernel on standardised draws; ``None``: median-heuristic Gaussian.
        group: the group to thin (default ``"posterior"``).
        **thin_kwargs: passed to :func:`bayeskit.thinning.thin` (``variant``, ``delta``, ...).

    Returns:
        ``arviz.InferenceData`` whose ``posterior`` holds the coreset as one chain (dims and
        coords of the event dimensions kept) and whose ``sample_stats.thin_index`` holds the
        flat input index (``chain * n_draw + draw``) of each kept draw.

    Raises:
        ValueError: if the group or a variable is missing, or as :func:`thin`.
        TypeError: if ``idata`` has no groups (is not an InferenceData).
    """
    if not hasattr(idata, "groups"):
        raise TypeError(f"idata: expected an arviz.InferenceData, got {type(idata).__name__}")
    if group not in idata.groups():
        raise ValueError(f"group: expected one of {idata.groups()}, got {group!r}")
    m = check_int(m, "m", minimum=0)
    ds = idata[group]
    names = list(ds.data_vars) if var_names is None else list(var_names)
    missing = [v for v in names if v not in ds.data_vars]
    if missing or not names:
        raise ValueError(f"var_names: expected variables of {group!r}, missing {missing or names}")
    columns, shapes = [], {}
    for name in names:
        arr = np.asarray(ds[name].values, dtype=np.float64)
        shapes[name] = arr.shape[2:]
        columns.append(arr.reshape(arr.shape[0] * arr.shape[1], -1))
    flat = np.concatenate(columns, axis=1)
    sd = flat.std(axis=0)
    std = (flat - flat.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    idx = np.asarray(jax.device_get(thin(key, std, m, kernel, **thin_kwargs)))
    draws, dims, coords = {}, {}, {}
    for name in names:
        arr = np.asarray(ds[name].values)
        arr = arr.reshape(arr.shape[0] * arr.shape[1], *shapes[name])
        draws[name] = arr[idx][None]
        dims[name] = list(ds[name].dims[2:])
        for dim in dims[name]:
            coords[dim] = ds[name].coords[dim].values
    return to_inference_data(
        draws,
        sample_stats={"thin_index": idx[None]},
        coords=coords,
        dims=dims,
        attrs={"thinned_from_group": group, "thinning_m": m},
    )
