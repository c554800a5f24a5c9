"""Shared posterior summaries: hand draws to ArviZ and summarise weighted particles.

Draws are dictionaries mapping variable names to arrays shaped ``(chain, draw, *event)``; this
module checks the shapes itself because ArviZ 0.23 only warns on ``(draw, chain)`` input and turns
a 1-D array into a single chain with NaN R-hat.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np

from bayeskit.random import as_key
from bayeskit.validate import check_array, check_int, check_log_weights

__all__ = ["to_inference_data", "weighted_summary", "WeightedSummary", "summarize"]


def _as_draw_dict(group: Any, group_name: str) -> dict[str, np.ndarray]:
    if not isinstance(group, Mapping):
        raise TypeError(
            f"{group_name}: expected a dict of name -> array shaped (chain, draw, ...), "
            f"got {type(group).__name__}"
        )
    if not group:
        raise ValueError(f"{group_name}: expected at least one variable, got an empty dict")
    out = {}
    for name, value in group.items():
        if not isinstance(name, str):
            raise TypeError(f"{group_name}: variable names must be strings, got {name!r}")
        try:
            arr = np.asarray(jax.device_get(value))
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"{group_name}[{name!r}]: expected a numeric array, got {type(value).__name__}"
            ) from err
        if arr.dtype.kind not in "biufc":
            raise TypeError(
                f"{group_name}[{name!r}]: expected a numeric array, got dtype {arr.dtype}"
            )
        if arr.ndim < 2:
            raise ValueError(
                f"{group_name}[{name!r}]: expected shape (chain, draw, ...), got shape "
                f"{arr.shape}; add a chain axis, e.g. x[None] for a single chain"
            )
        out[name] = arr
    return out


def _check_chain_draw(groups: dict[str, dict[str, np.ndarray]]) -> None:
    ref = None
    for group_name, group in groups.items():
        for name, arr in group.items():
            cd = arr.shape[:2]
            if ref is None:
                ref = (group_name, name, cd)
            elif cd != ref[2]:
                raise ValueError(
                    f"{group_name}[{name!r}]: (chain, draw) = {cd} does not match "
                    f"{ref[0]}[{ref[1]!r}]: (chain, draw) = {ref[2]}"
                )


def _as_data_dict(group: Any, group_name: str) -> dict[str, np.ndarray]:
    if not isinstance(group, Mapping):
        raise TypeError(
            f"{group_name}: expected a dict of name -> array, got {type(group).__name__}"
        )
    for name in group:
        if not isinstance(name, str):
            raise TypeError(f"{group_name}: variable names must be strings, got {name!r}")
    return {k: np.asarray(jax.device_get(v)) for k, v in group.items()}


def to_inference_data(
    draws: Mapping[str, Any] | None,
    *,
    sample_stats: Mapping[str, Any] | None = None,
    log_likelihood: Mapping[str, Any] | None = None,
    observed_data: Mapping[str, Any] | None = None,
    constant_data: Mapping[str, Any] | None = None,
    coords: Mapping[str, Any] | None = None,
    dims: Mapping[str, Sequence[str]] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> az.InferenceData:
    """Build an ArviZ ``InferenceData`` from draws shaped ``(chain, draw, ...)``.

    Args:
        draws: posterior variables, each an array of shape ``(chain, draw, *event)``; ``None``
            for a result that holds no draws (a point solution), which then needs
            ``observed_data`` or ``constant_data`` and allows no per-draw group.
        sample_stats: per-draw statistics (e.g. ``diverging``, ``lp``), same leading shape.
        log_likelihood: pointwise log-likelihood arrays, same leading shape (for ``az.loo``).
        observed_data: observed arrays of any shape.
        constant_data: fixed (not sampled) arrays of any shape, e.g. inputs or a point solution.
        coords, dims: as in ``arviz.from_dict``, to name event dimensions.
        attrs: metadata stored in ``idata.attrs``.

    Returns:
        ``arviz.InferenceData`` with group ``posterior`` (unless ``draws`` is ``None``) and
        whichever others were given.

    Raises:
        TypeError: if a group is not a dict of arrays with string names (draws, sample stats and
            log-likelihoods numeric), or ``coords``, ``dims`` or ``attrs`` is not a dict.
        ValueError: for an array of rank < 2 or a (chain, draw) mismatch between variables, or
            ``draws=None`` with a per-draw group or with neither data group.
    """
    for name, value in (("coords", coords), ("dims", dims), ("attrs", attrs)):
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(f"{name}: expected a dict, got {type(value).__name__}")
    for var, names in (dims or {}).items():
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise TypeError(f"dims[{var!r}]: expected a list of dimension names, got {names!r}")
    groups = {}
    if draws is None:
        if sample_stats is not None or log_likelihood is not None:
            raise ValueError(
                "draws: expected a dict of draws when sample_stats or log_likelihood is given, "
                "got None"
            )
        if observed_data is None and constant_data is None:
            raise ValueError(
                "draws: got None and no observed_data or constant_data; nothing to convert"
            )
    else:
        groups["draws"] = _as_draw_dict(draws, "draws")
    if sample_stats is not None:
        groups["sample_stats"] = _as_draw_dict(sample_stats, "sample_stats")
    if log_likelihood is not None:
        groups["log_likelihood"] = _as_draw_dict(log_likelihood, "log_likelihood")
    _check_chain_draw(groups)
    data = {
        name: None if group is None else _as_data_dict(group, name)
        for name, group in (("observed_data", observed_data), ("constant_data", constant_data))
    }
    return az.from_dict(
        posterior=groups.get("draws"),
        sample_stats=groups.get("sample_stats"),
        log_likelihood=groups.get("log_likelihood"),
        **data,
        coords=dict(coords) if coords is not None else None,
        dims=dict(dims) if dims is not None else None,
        attrs=dict(attrs) if attrs is not None else None,
    )


class WeightedSummary(NamedTuple):
    """Summary of weighted particles, with the particles it summarises.

    Attributes:
        mean: weighted mean, shape ``event``.
        sd: weighted standard deviation, shape ``event``.
        quantiles: weighted quantiles, shape ``(n_quantiles, *event)``.
        quantile_levels: the levels, shape ``(n_quantiles,)``.
        ess: Kish effective sample size ``1 / sum(w_i^2)`` for normalised weights (scalar).
        values: the particles, float64, shape ``(n, *event)``.
        weights: their normalised weights, float64, shape ``(n,)``, summing to 1.
    """

    mean: np.ndarray
    sd: np.ndarray
    quantiles: np.ndarray
    quantile_levels: np.ndarray
    ess: float
    values: np.ndarray
    weights: np.ndarray

    def to_inference_data(self, key: Any = 0, *, chains: int = 4, draws: int | None = None):
        """ArviZ ``InferenceData`` of the particles, resampled to equal weights.

        ArviZ's posterior has no weights, and unweighted particles would give wrong means, so
        the posterior holds i.i.d. multinomial resamples: draw ``(c, d)`` is particle
        ``particle_index[c, d]``, chosen with probability ``weights``. Same key, same draws.
        ArviZ's statistics then estimate the weighted ones, up to resampling noise; its
        ``ess_*`` and ``mcse_*`` describe the i.i.d. resamples, not the particle approximation,
        whose Kish ESS is kept in ``attrs["kish_ess"]``.

        Args:
            key: PRNG key or int seed for the resampling.
            chains: chains ``>= 1`` to split the resamples into (R-hat needs 2; they are i.i.d.,
                so R-hat is about 1 by construction).
            draws: resamples per chain ``>= 1``; default ``n``, the number of particles.

        Returns:
            ``arviz.InferenceData`` with posterior ``x`` of shape ``(chains, draws, *event)``
            and sample stats ``particle_index`` of shape ``(chains, draws)``.

        Raises:
            ValueError: if ``chains`` or ``draws`` is not an integer ``>= 1``.
        """
        chains = check_int(chains, "chains", minimum=1)
        n = self.weights.shape[0]
        draws = n if draws is None else check_int(draws, "draws", minimum=1)
        idx = jax.random.choice(as_key(key, "key"), n, (chains, draws), p=jnp.asarray(self.weights))
        idx = np.asarray(jax.device_get(idx))
        return to_inference_data(
            {"x": self.values[idx]},
            sample_stats={"particle_index": idx},
            attrs={"kish_ess": self.ess, "resampling": "multinomial"},
        )


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, levels: np.ndarray) -> np.ndarray:
    # Inverse of the weighted empirical CDF, taking the midpoint convention so that equal
    # weights reproduce numpy's "hazen" quantiles (interpolation between mid-masses).
    order = np.argsort(values, axis=0)
    v = np.take_along_axis(values, order, axis=0)
    w = weights[order]
    cdf = np.cumsum(w, axis=0) - 0.5 * w
    out = np.empty((levels.size,) + values.shape[1:])
    for idx in np.ndindex(values.shape[1:]):
        col = (slice(None),) + idx
        out[(slice(None),) + idx] = np.interp(levels, cdf[col], v[col])
    return out


def weighted_summary(
    values: Any, log_weights: Any, quantiles: Sequence[float] = (0.05, 0.5, 0.95)
) -> WeightedSummary:
    """Weighted mean, sd, quantiles and Kish ESS of particles with unnormalised log weights.

    Computed on the host in float64 after subtracting the maximum log weight, so log weights
    down to -1e4 (or any common offset) are handled without underflow.

    Args:
        values: particles, shape ``(n, *event)``.
        log_weights: unnormalised log weights, shape ``(n,)``; ``-inf`` means weight zero.
        quantiles: levels in [0, 1].

    Returns:
        :class:`WeightedSummary`.

    Raises:
        ValueError: on shape mismatch, NaN or ``+inf`` log weights, all weights ``-inf``,
            non-finite values, or quantile levels outside [0, 1].
    """
    check_array(values, "values", finite=False)  # types only: the values stay in float64
    check_array(log_weights, "log_weights", finite=False)
    vals = np.asarray(jax.device_get(values), dtype=np.float64)
    logw = np.asarray(jax.device_get(log_weights), dtype=np.float64)
    if vals.ndim < 1 or vals.shape[0] == 0:
        raise ValueError(f"values: expected shape (n, ...) with n >= 1, got {vals.shape}")
    if logw.shape != (vals.shape[0],):
        raise ValueError(
            f"log_weights: expected shape ({vals.shape[0]},) to match values, got {logw.shape}"
        )
    check_log_weights(logw)
    if not np.all(np.isfinite(vals)):
        raise ValueError("values: expected finite values, got NaN or infinite entries")
    check_array(quantiles, "quantiles", ndim=(0, 1), finite=False)  # types and rank only
    levels = np.asarray(quantiles, dtype=np.float64).reshape(-1)  # float64 even without x64
    if levels.size == 0:
        raise ValueError("quantiles: expected at least one level, got none")
    if np.any((levels < 0) | (levels > 1)) or np.any(np.isnan(levels)):
        raise ValueError(f"quantiles: expected levels in [0, 1], got {levels.tolist()}")
    w = np.exp(logw - logw.max())
    w /= w.sum()
    wb = w.reshape((-1,) + (1,) * (vals.ndim - 1))
    mean = np.sum(wb * vals, axis=0)
    sd = np.sqrt(np.maximum(np.sum(wb * (vals - mean) ** 2, axis=0), 0.0))
    return WeightedSummary(
        mean=mean,
        sd=sd,
        quantiles=_weighted_quantiles(vals, w, levels),
        quantile_levels=levels,
        ess=float(1.0 / np.sum(w**2)),
        values=vals,
        weights=w,
    )


def summarize(obj: Any, **az_kwargs: Any):
    """``arviz.summary`` of an InferenceData, a draws dict or any object with ``.to_inference_data()``.

    Args:
        obj: ``arviz.InferenceData``; a dict of arrays shaped ``(chain, draw, ...)``; or a result
            object with a ``to_inference_data()`` method.
        **az_kwargs: passed to ``arviz.summary`` (e.g. ``var_names``, ``kind``, ``hdi_prob``).

    Returns:
        ``pandas.DataFrame`` from ``arviz.summary``.

    Raises:
        TypeError: for any other kind of object.
    """
    if isinstance(obj, az.InferenceData):
        idata = obj
    elif isinstance(obj, Mapping):
        idata = to_inference_data(_as_draw_dict(obj, "obj"))
    elif callable(getattr(obj, "to_inference_data", None)):
        idata = obj.to_inference_data()
    else:
        raise TypeError(
            "obj: expected an arviz.InferenceData, a dict of draws shaped (chain, draw, ...) or "
            f"an object with .to_inference_data(), got {type(obj).__name__}"
        )
    return az.summary(idata, **az_kwargs)
