"""Problem construction, benchmark cases and input validation."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskit.gp_pde import problems
from bayeskit.gp_pde.problems import PDEProblem, ResolutionWarning, Term, boundary_mask


@pytest.fixture(autouse=True)
def _x64():
    # float64 for these checks without changing the process-wide setting
    with jax.enable_x64(True):
        yield


def _ex(x):
    return jnp.sin(2 * jnp.pi * x[0])


def _make(**kw):
    spec = dict(
        name="t",
        domain=((0.0, 1.0),),
        grid=(8,),
        terms=[(1.0, 0, 2)],
        source=lambda x: -4 * jnp.pi**2 * _ex(x),
        boundary=_ex,
        exact=_ex,
    )
    spec.update(kw)
    return PDEProblem(**spec)


@pytest.mark.filterwarnings("ignore::bayeskit.gp_pde.problems.ResolutionWarning")
def test_every_case_builds_and_source_matches_exact():
    for name in problems.names():
        p = problems.get(name, grid=8 if "1d" in name else 5)
        assert p.source_values().shape == p.grid
    # u = sin(100x): u'' = -1e4 sin(100x), by autodiff of the exact solution
    p = problems.get("poisson_1d_sin100", grid=5)
    x = p.axes()[0]
    np.testing.assert_allclose(p.source_values(), -1e4 * np.sin(100 * x), rtol=1e-10, atol=1e-8)
    ac = problems.get("allencahn_1d_sin100", grid=5)
    u = np.sin(100 * x)
    np.testing.assert_allclose(ac.source_values(), -1e4 * u + u * (u**2 - 1), atol=1e-8)


def test_boundary_mask_counts():
    assert boundary_mask((4, 5)).sum() == 4 * 5 - 2 * 3
    assert boundary_mask((3, 3, 3)).sum() == 26


def test_coarse_grid_warns():
    with pytest.warns(ResolutionWarning, match="points per period"):
        problems.get("poisson_1d_sin100", grid=150)


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(domain=((1.0, 0.0),)), "domain: expected a box"),
        (dict(domain="disk"), "domain: expected a box"),
        (dict(grid=(2,)), "grid: expected an integer >= 3"),
        (dict(boundary=np.zeros(3)), r"boundary: expected shape \(2\), got \(3,\)"),
        (dict(source=np.full(8, np.nan)), "source: expected finite"),
        (dict(terms=[(1.0, 1, 2)]), "terms: expected dim"),
        (dict(nonlinearity="burgers"), "nonlinearity: expected None"),
    ],
)
def test_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        _make(**kw)


@pytest.mark.parametrize(
    "args,err,match",
    [
        ((float("nan"), 0, 2), ValueError, "coef: expected a finite number, got nan"),
        ((1.0, -1, 2), ValueError, "dim: expected an integer >= 0, got -1"),
        ((1.0, 0, 5), ValueError, "order: expected 0, 1 or 2, got 5"),
        ((1.0, 0.5, 2), TypeError, "dim: expected an integer"),
    ],
)
def test_term_validates(args, err, match):
    with pytest.raises(err, match=match):
        Term(*args)
    with pytest.raises(err, match=match):  # and through a problem's term tuples
        _make(terms=[args])


def test_callables_are_traced_before_solving():
    # a (1,)-shaped boundary used to fail seconds into a profile solve (and pass silently under
    # adam); a NumPy source gave an opaque TracerArrayConversionError from inside jit
    with pytest.raises(ValueError, match=r"boundary: expected a scalar .* got shape \(1,\)"):
        _make(boundary=lambda x: jnp.sin(x))
    with pytest.raises(TypeError, match="source: expected a JAX-traceable function .* numpy"):
        _make(source=lambda x: np.sin(np.asarray(x[0])))
    with pytest.raises(ValueError, match=r"exact: expected a scalar .* got shape \(2,\)"):
        _make(exact=lambda x: jnp.stack([x[0], x[0]]))


def test_freq_scale_below_max_frequency_warns():
    # the new-user case of issue 20: 24 cycles per unit length, the paper's usual freq_scale 20
    with pytest.warns(problems.FrequencyScaleWarning, match=r"freq_scale: 20 .* below .* 24"):
        _make(grid=(604,), max_frequency=24.0, freq_scale=20.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", problems.FrequencyScaleWarning)
        _make(grid=(604,), max_frequency=24.0, freq_scale=30.0)
        _make(grid=(604,), max_frequency=24.0)  # freq_scale derived by solve (1.25 x 24)


def test_get_unknown_name():
    with pytest.raises(ValueError, match="name: expected one of"):
        problems.get("heat_1d")


def test_with_grid_and_term_tuple():
    p = _make().with_grid(12)
    assert p.grid == (12,) and p.terms == (Term(1.0, 0, 2),)
    with pytest.raises(ValueError, match="cannot regrid"):
        _make(boundary=np.zeros(2)).with_grid(10)
