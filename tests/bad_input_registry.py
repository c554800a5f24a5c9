"""One entry per public name of bayeskit: a valid call with small arguments and the arguments to
corrupt (``tests/test_bad_inputs.py`` sweeps them with hypothesis), or an explicit exemption
(a constant, a result container built by the library, a warning class).

Public names are every name in the ``__all__`` of every module found by walking the package
(``public_modules``): a module whose dotted name has no part starting with ``_`` and that defines
``__all__``. A new public function without an entry here fails ``test_every_public_name_is_
registered``.

``python tests/bad_input_registry.py`` runs the whole sweep outside pytest and prints the counts
(the numbers for a closing note); ``-v`` lists every call that was not a clear error.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import sys
import types
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bad_input_specs import (  # noqa: E402
    KEY,
    Arr,
    Bool,
    Choice,
    Entry,
    Func,
    Instance,
    Int,
    Key,
    Lazy,
    Optimizer,
    Real,
    Values,
    call,
    canonical,
)

import bayeskit  # noqa: E402

SKIP_MODULES = {"bayeskit.__main__", "bayeskit.cli"}  # the command line, not an API


def public_modules() -> list[types.ModuleType]:
    """Every importable module of bayeskit with ``__all__`` and no private part in its name."""
    names = ["bayeskit"]
    for info in pkgutil.walk_packages(bayeskit.__path__, "bayeskit."):
        if info.name in SKIP_MODULES or any(p.startswith("_") for p in info.name.split(".")):
            continue
        names.append(info.name)
    mods = [importlib.import_module(n) for n in names]
    return [m for m in mods if hasattr(m, "__all__")]


def public_objects() -> dict[int, tuple[Any, list[str]]]:
    """``id(obj) -> (obj, ["module.name", ...])`` over every name of every public ``__all__``
    (modules excluded: they are walked themselves)."""
    out: dict[int, tuple[Any, list[str]]] = {}
    for mod in public_modules():
        for name in mod.__all__:
            obj = getattr(mod, name)
            if isinstance(obj, types.ModuleType):
                continue
            out.setdefault(id(obj), (obj, []))[1].append(f"{mod.__name__}.{name}")
    return out


REGISTRY: dict[str, Entry] = {}


def add(fn, valid, /, tag: str = "", **specs) -> None:
    """Register a swept callable: ``valid()`` returns ``(args, kwargs)`` of a valid call. A
    second valid call of the same callable (other arguments to corrupt) gets a ``tag``."""
    key = canonical(fn) + (f"#{tag}" if tag else "")
    assert key not in REGISTRY, key
    REGISTRY[key] = Entry(key, "call", fn, valid, specs)


def exempt(kind: str, note: str, *objs_or_names) -> None:
    """Register names that are not swept: ``constant``, ``result`` or ``warning``."""
    for obj in objs_or_names:
        key = obj if isinstance(obj, str) else canonical(obj)
        assert key not in REGISTRY, key
        REGISTRY[key] = Entry(key, kind, note=note)


def lazy(fn):
    return functools.cache(fn)


# --------------------------------------------------------------------------------------------
# shared fixtures (built on first use)
# --------------------------------------------------------------------------------------------
@lazy
def points():
    return np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)


@lazy
def gauss():
    from bayeskit.kernels import Gaussian

    return Gaussian()


def _kernel_wrong():
    return (lambda: None, "gaussian")


POSITIVE = dict(low=0.0)
NONNEG = dict(low=0.0, closed=(True, False))
UNIT_OPEN = dict(low=0.0, high=1.0)
PROB = dict(low=0.0, high=1.0, closed=(True, True))

# ============================================================================================
# bayeskit (top level)
# ============================================================================================
exempt("constant", "the version string", "bayeskit.__version__")

# ============================================================================================
# bayeskit.random
# ============================================================================================
from bayeskit import random as bk_random  # noqa: E402

add(bk_random.as_key, lambda: call(0), seed_or_key=Key())
add(bk_random.KeyStream, lambda: call(0), seed_or_key=Key())
add(bk_random.split_like, lambda: call(0, {"a": 1.0}), key=Key())

# ============================================================================================
# bayeskit.parallel
# ============================================================================================
from bayeskit import parallel  # noqa: E402

_MESH = Values(optional=True, extra=(3, "abc", np.zeros(2)))
exempt("constant", "the name of the mesh axis", "bayeskit.parallel.AXIS")
add(
    parallel.device_mesh,
    lambda: call(),
    devices=Values(optional=True, extra=(3, "abc", [], ["cpu"])),
    axis_name=Values(extra=(3, "", np.zeros(2))),
)
add(
    parallel.named_sharding,
    lambda: call(None, 2),
    mesh=_MESH,
    ndim=Int(low=1),
    axis=Int(low=-2, high=1),
)
add(
    parallel.shard,
    lambda: call({"a": np.zeros(4)}),
    tree=Values(extra=({}, 3, "abc")),
    mesh=_MESH,
    axis=Int(low=0, high=0),
)
add(parallel.padded_length, lambda: call(5), n=Int(low=1), mesh=_MESH)
add(
    parallel.map_sharded,
    lambda: call(jnp.sum, np.zeros((4, 2))),
    fn=Func(),
    mesh=_MESH,
    pad=Bool(),
    batch_size=Int(low=1, optional=True),
)
add(
    parallel.replicate,
    lambda: call(jax.random.uniform, 0, 3),
    fn=Func(),
    key=Key(),
    n=Int(low=1),
    mesh=_MESH,
    batch_size=Int(low=1, optional=True),
)
add(parallel.gather, lambda: call({"a": np.zeros(2)}), tree=Values(extra=({}, "abc", 3)))

# ============================================================================================
# bayeskit.validate: the checks refuse what they are meant to refuse, naming the given name
# ============================================================================================
from bayeskit import validate as v  # noqa: E402

add(v.check_array, lambda: call(np.zeros(2), "arg", ndim=1), x=Arr(name="arg", nonempty=False))
add(
    v.check_finite,
    lambda: call(np.zeros(2), "arg"),
    x=Arr(name="arg", ranks="any", nonempty=False),
)
add(v.check_positive, lambda: call(1.0, "arg"), x=Real(name="arg", scalar=False, **POSITIVE))
add(
    v.check_in_range,
    lambda: call(0.5, "arg", 0.0, 1.0),
    x=Real(name="arg", scalar=False, **UNIT_OPEN),
)
add(v.check_int, lambda: call(3, "arg", minimum=1), x=Int(name="arg", low=1))
add(
    v.check_power_of_two,
    lambda: call(4, "arg"),
    x=Int(name="arg", low=1, extra=(3, 6, 12)),
)
add(v.check_choice, lambda: call("a", "arg", ("a", "b")), x=Choice(name="arg", options=("a", "b")))
add(v.check_bool, lambda: call(True, "arg"), x=Bool(name="arg"))
add(
    v.check_log_weights,
    lambda: call(np.zeros(3), "arg"),
    x=Arr(name="arg", extra=(np.full(3, -np.inf), np.array([0.0, np.inf]))),
)
add(
    v.check_scalar,
    lambda: call(0.5, "arg", 0.0, 1.0),
    x=Real(name="arg", **UNIT_OPEN, extra=(True, np.array([[0.5]]))),
)
add(v.check_callable, lambda: call(len, "arg"), x=Func(name="arg", extra=(int,)))
add(
    v.check_instance,
    lambda: call(range(3), "arg", range),
    x=Instance(name="arg", types=(range,), wrong=([0, 1, 2],)),
)
add(
    v.check_stochastic,
    lambda: call(np.full((2, 2), 0.5), "arg"),
    p=Arr(
        name="arg",
        low=0.0,
        ranks=(1, 2, 3),
        nonempty=False,  # no rows: nothing to check
        extra=(np.array([[0.5, 0.6], [0.5, 0.5]]), np.array(0.5), np.zeros((2, 0))),
    ),
)
add(
    v.check_spd,
    lambda: call(np.eye(2), "arg"),
    s=Arr(name="arg", sized=(0,), extra=(-np.eye(2), np.array([[1.0, 2.0], [0.0, 1.0]]))),
)
add(
    v.check_indices,
    lambda: call(np.array([0, 2]), "arg", 3),
    x=Arr(name="arg", integer=True, low=0, high=2, ranks="any", nonempty=False),
)
exempt("constant", "the tolerance of check_stochastic", "bayeskit.validate.STOCHASTIC_ATOL")
add(
    v.check_optimizer,
    lambda: call(__import__("optax").adam(1e-3), "arg"),
    x=Optimizer(name="arg", optional=False),
)

# ============================================================================================
# bayeskit.summary
# ============================================================================================
from bayeskit import summary  # noqa: E402

_BAD_GROUPS = (
    [np.zeros((2, 3))],
    "abc",
    3,
    {},
    {"x": np.zeros(3)},
    {1: np.zeros((2, 3))},
    {"x": np.full((2, 3), "a")},
)
add(
    summary.to_inference_data,
    lambda: call({"x": np.zeros((2, 3))}),
    draws=Values(name="draws", extra=_BAD_GROUPS[:-1] + ({"x": "abc"},)),
    sample_stats=Values(optional=True, extra=_BAD_GROUPS[:3] + ({"lp": np.zeros((3, 2))},)),
    log_likelihood=Values(optional=True, extra=_BAD_GROUPS[:3] + ({"y": np.zeros(3)},)),
    observed_data=Values(optional=True, extra=_BAD_GROUPS[:3] + ({2: np.zeros(2)},)),
    constant_data=Values(optional=True, extra=_BAD_GROUPS[:3]),
    coords=Values(optional=True, extra=("abc", 3, [1, 2])),
    dims=Values(optional=True, extra=("abc", 3, {"x": "abc"}, {"x": [1]})),
    attrs=Values(optional=True, extra=("abc", 3, [1, 2])),
)
add(
    summary.weighted_summary,
    lambda: call(np.arange(4.0), np.zeros(4)),
    values=Arr(ranks=(1, 2, 3)),
    log_weights=Arr(sized=(0,), extra=(np.full(4, -np.inf), np.array([0.0, 0, 0, np.inf]))),
    quantiles=Arr(like=np.array([0.5]), ranks=(0, 1), **PROB),
)
add(
    summary.summarize,
    lambda: call({"x": np.zeros((2, 4))}),
    obj=Values(extra=(3, "abc", [1, 2], {"x": np.zeros(3)}, {})),
)
exempt("result", "result of weighted_summary", summary.WeightedSummary)

# ============================================================================================
# bayeskit.kernels
# ============================================================================================
from bayeskit import kernels  # noqa: E402

for _cls in (
    kernels.RadialKernel,
    kernels.Gaussian,
    kernels.Matern12,
    kernels.Laplace,
    kernels.Matern32,
    kernels.Matern52,
    kernels.Sinc,
):
    add(
        _cls,
        lambda: call(1.0, 1.0),
        lengthscale=Real(scalar=False, **POSITIVE),
        variance=Real(**POSITIVE),
    )
add(
    kernels.InverseMultiquadric,
    lambda: call(1.0, 1.0, 0.5),
    lengthscale=Real(scalar=False, **POSITIVE),
    variance=Real(**POSITIVE),
    power=Real(**POSITIVE),
)
_MIX = dict(
    weights=Arr(low=0.0, closed=(False, True)),
    means=Arr(ranks=(1, 2), sized=(0,)),
    scales=Arr(ranks=(1, 2), sized=(0,), low=0.0, closed=(False, True)),
)
add(
    kernels.SpectralMixture,
    lambda: call(np.ones(2), np.zeros((2, 1)), np.ones((2, 1))),
    **_MIX,
)
add(
    kernels.StudentTMixture,
    lambda: call(np.ones(2), np.zeros((2, 1)), np.ones((2, 1)), nu=2.5),
    **_MIX,
    nu=Values(extra=(1.0, 3, "abc", np.nan, KEY)),
)
add(
    kernels.matern_profile,
    lambda: call(0.5, np.ones(3)),
    nu=Values(extra=(1.0, 3, "abc", np.nan, KEY)),
    r=Arr(ranks="any", low=0.0, nonempty=False),
)
add(
    kernels.gram,
    lambda: call(gauss(), points()),
    k=Values(extra=(kernels.Gaussian, 3, "abc", np.zeros(2))),
    X=Arr(nonempty=False),
    Y=Arr(like=points(), sized=(1,), nonempty=False, optional=True),
    block_size=Int(low=1, optional=True),
)
add(
    kernels.pairwise,
    lambda: call(gauss(), points(), points()),
    k=Values(extra=(3, "abc", np.zeros(2))),
    X=Arr(finite=False, nonempty=False),
    Y=Arr(finite=False, nonempty=False, sized=(1,)),
)

# ============================================================================================
# bayeskit.thinning
# ============================================================================================
from bayeskit import thinning  # noqa: E402

_mmd = importlib.import_module("bayeskit.thinning.mmd")
_sk = importlib.import_module("bayeskit.thinning.split_kernels")

exempt("constant", "names of the split-kernel variants", "bayeskit.thinning.VARIANTS")
_DELTA = Real(low=0.0, high=1.0, closed=(False, True))
_KERNEL = Values(extra=(kernels.Gaussian, 3, "abc", np.zeros(2)))


@lazy
def gram8():
    return np.asarray(kernels.gram(gauss(), points()))


add(
    thinning.kt_split,
    lambda: call(0, points(), 1, gauss()),
    key=Key(),
    x=Arr(),
    m=Int(low=0, high=3),
    kernel=_KERNEL,
    delta=_DELTA,
    block_size=Int(low=1, optional=True),
)
add(
    thinning.kt_swap,
    lambda: call(points(), np.array([[0, 2, 4, 6], [1, 3, 5, 7]]), gauss()),
    x=Arr(),
    coresets=Arr(integer=True, low=0, high=7),
    kernel=_KERNEL,
    unique=Bool(),
    block_size=Int(low=1, optional=True),
)
add(
    thinning.kt_split_gram,
    lambda: call(gram8(), np.full((1, 4), 0.5)),
    kmat=Arr(sized=(1,)),
    uniforms=Arr(low=0.0, high=1.0, closed=(True, False), nonempty=False),  # no rows: m = 0
    delta=_DELTA,
)
add(
    thinning.kt_swap_gram,
    lambda: call(gram8(), np.array([[0, 2, 4, 6], [1, 3, 5, 7]])),
    kmat=Arr(sized=(1,)),
    coresets=Arr(integer=True, low=0, high=7),
    unique=Bool(),
)
add(
    thinning.thin,
    lambda: call(0, points(), 1, gauss()),
    key=Key(),
    x=Arr(),
    m=Int(low=0, high=3, optional=True),
    kernel=Values(optional=True, extra=(kernels.Gaussian, 3, "abc", np.zeros(2))),
    variant=Choice(options=thinning.VARIANTS),
    alpha=Real(low=0.5, high=1.0, closed=(True, True), optional=True),
    delta=_DELTA,
    swap=Bool(),
    unique=Bool(),
    block_size=Int(low=1, optional=True),
)
add(
    thinning.standard_thin,
    lambda: call(8, 4),
    n=Int(low=1),
    size=Int(low=1, high=8),
)
add(thinning.iid, lambda: call(0, 8, 4), key=Key(), n=Int(low=1), size=Int(low=1, high=8))
add(
    thinning.compresspp,
    lambda: call(0, points(), gauss(), g=0),
    key=Key(),
    x=Arr(),
    kernel=Values(optional=True, extra=(kernels.Gaussian, 3, "abc", np.zeros(2))),
    g=Int(low=0),
    delta=_DELTA,
    variant=Choice(options=thinning.VARIANTS),
    alpha=Real(low=0.5, high=1.0, closed=(True, True), optional=True),
    block_size=Int(low=1, optional=True),
    mesh=Values(optional=True, extra=(3, "abc", np.zeros(2))),
)
add(
    thinning.symmetrized_halve,
    lambda: call(0, points(), gauss()),
    key=Key(),
    x=Arr(extra=(points()[:7],)),
    kernel=_KERNEL,
    delta=_DELTA,
)
add(
    thinning.mmd,
    lambda: call(points(), gauss(), idx=np.array([0, 1])),
    x=Arr(),
    kernel=Values(optional=True, extra=(kernels.Gaussian, 3, "abc", np.zeros(2))),
    idx=Arr(integer=True, low=0, high=7, optional=True),
    block_size=Int(low=1),
)
add(
    thinning.mmd,
    lambda: call(points(), gauss(), y=points()[:3], weights=np.ones(3)),
    tag="y",
    y=Arr(sized=(1,), optional=True),
    weights=Arr(sized=(0,), low=0.0, optional=True, extra=(np.zeros(3),)),
)
add(
    thinning.mmd_to_normal,
    lambda: call(points(), gauss()),
    y=Arr(),
    kernel=Instance(
        types=(kernels.Gaussian,), wrong=(Lazy(lambda: kernels.Matern52(), "a Matern52"),)
    ),
    block_size=Int(low=1),
)
add(
    _mmd.kernel_row_means,
    lambda: call(gauss(), points(), points()[:3], 4),
    kernel=_KERNEL,
    x=Arr(),
    y=Arr(sized=(1,)),
    block_size=Int(low=1),
)
add(
    thinning.default_kernel,
    lambda: call(points()),
    x=Arr(),
)
add(
    thinning.power_kernel,
    lambda: call(gauss(), 0.5, 2),
    kernel=Values(extra=(kernels.Gaussian, 3, "abc", lambda a, b: 0.0)),
    alpha=Real(low=0.5, high=1.0, closed=(True, True), optional=True),
    dim=Int(low=1),
)
add(
    thinning.split_kernel,
    lambda: call(gauss(), "root", alpha=None, dim=2),
    kernel=_KERNEL,
    variant=Choice(options=thinning.VARIANTS),
    alpha=Real(low=0.5, high=1.0, closed=(True, True), optional=True),
    dim=Int(low=1),
)
add(
    _sk.matern_correlation,
    lambda: call(1.5, np.ones(3)),
    nu=Real(**POSITIVE),
    x=Arr(ranks="any", low=0.0, nonempty=False),
)


@lazy
def idata():
    from bayeskit.summary import to_inference_data

    return to_inference_data({"a": np.random.default_rng(1).normal(size=(2, 8, 2))})


add(
    thinning.thin_inference_data,
    lambda: call(0, idata(), 1),
    key=Key(),
    idata=Values(extra=(3, "abc", {"a": np.zeros((2, 8))})),
    m=Int(low=0, high=3, optional=True),
    size=Int(low=1, high=8, optional=True),
    var_names=Values(optional=True, extra=("zz", ["zz"], [3], 3)),
    kernel=Values(optional=True, extra=(kernels.Gaussian, 3, "abc")),
    group=Choice(options=("posterior", "prior")),
)


@lazy
def coreset():
    return np.array([0, 3, 5])


add(
    thinning.plot_coreset,
    lambda: call(points(), coreset()),
    x=Arr(),
    idx=Arr(integer=True, low=0, high=7),
    dims=Values(extra=((0, 0), (0, 5), (0,), (0.5, 1), "ab", 3, (-1, 0))),
    labels=Values(optional=True, extra=(("a",), "ab", (1, 2), 3)),
    ax=Values(optional=True, extra=(3, "abc")),
)
add(
    thinning.plot_mmd_curves,
    lambda: call(np.array([4.0, 8.0]), {"kt": np.array([0.1, 0.05])}),
    sizes=Arr(low=0.0, closed=(False, True)),
    curves=Values(
        extra=(
            3,
            "abc",
            [np.array([0.1, 0.05])],
            {"kt": np.array([0.1])},
            {"kt": np.array([0.1, np.nan])},
            {"kt": np.array([0.1, -1.0])},
            {"kt": np.array(["a", "b"])},
        )
    ),
    slopes=Bool(),
    ax=Values(optional=True, extra=(3, "abc")),
)

# ============================================================================================
# bayeskit.rlhf
# ============================================================================================
from bayeskit import rlhf  # noqa: E402

_lsvi = importlib.import_module("bayeskit.rlhf.lsvi")
_ts = importlib.import_module("bayeskit.rlhf.thompson")


@lazy
def mdp():
    return rlhf.riverswim(3, horizon=2)


@lazy
def bandit():
    return rlhf.dueling_bandit(0, dim=2, n_arms=3, fixed=True)


@lazy
def policy():
    return np.zeros((2, 3), np.int32)


@lazy
def traj():
    return rlhf.Trajectory(np.zeros(3, np.int32), np.zeros(2, np.int32), np.zeros(6))


_ENV = Instance(types=(rlhf.TabularMDP,), wrong=(Lazy(lambda: bandit(), "a DuelingBandit"),))
_ANY_ENV = Instance(types=(rlhf.TabularMDP, rlhf.DuelingBandit))
_LINK = Values(extra=("logit", 3, np.zeros(2), lambda z: z + 2.0, lambda z: 0.5 + 0 * z))
# build_kernel runs under jit (inside run): only the kind of link is checked there
_LINK_KIND = Values(extra=("logit", 3, np.zeros(2), "", rlhf.TabularMDP))

add(
    rlhf.TabularMDP,
    lambda: call(mdp().transitions, mdp().features, mdp().theta, mdp().init, 2),
    transitions=Arr(low=0.0, extra=(np.full((3, 2, 3), 0.5),)),
    features=Arr(sized=(0, 1)),
    theta=Arr(sized=(0,)),
    init=Arr(low=0.0, extra=(np.full(3, 0.5),)),
    horizon=Int(low=1),
)
add(
    rlhf.DuelingBandit,
    lambda: call(bandit().theta, bandit().arms, True, 1),
    theta=Arr(sized=(0,)),
    arms=Arr(sized=(1,)),
    fixed=Bool(),
    horizon=Int(low=1, high=1),
)
exempt("result", "an episode's trajectory, built by rollout", rlhf.Trajectory)
exempt("result", "result of plan", rlhf.Plan)
add(
    rlhf.make_mdp,
    lambda: call(mdp().transitions, mdp().features, mdp().theta, horizon=2),
    transitions=Arr(low=0.0, extra=(np.full((3, 2, 3), 0.5),)),
    features=Arr(sized=(0, 1), optional=True),
    theta=Arr(sized=(0,)),
    init=Arr(like=np.array([1.0, 0, 0]), low=0.0, optional=True, extra=(np.full(3, 0.5),)),
    horizon=Int(low=1),
)
add(
    rlhf.riverswim,
    lambda: call(3, horizon=2),
    n_states=Int(low=2),
    horizon=Int(low=1),
    features=Arr(like=np.ones((3, 2, 2)), optional=True, sized=(0, 1)),
)
add(
    rlhf.random_mdp,
    lambda: call(0, 3, 2, horizon=2),
    key=Key(),
    n_states=Int(low=1),
    n_actions=Int(low=1),
    horizon=Int(low=1),
    concentration=Real(**POSITIVE),
    features=Arr(like=np.ones((3, 2, 2)), optional=True, sized=(0, 1)),
)
add(
    rlhf.dueling_bandit,
    lambda: call(0, 2, 3),
    key=Key(),
    dim=Int(low=1),
    n_arms=Int(low=2),
    fixed=Bool(),
)
add(
    rlhf.plan,
    lambda: call(mdp()),
    env=_ENV,
    rewards=Arr(like=np.zeros((3, 2)), optional=True, ranks=(2, 3), sized=(0, 1)),
    transitions=Arr(
        like=np.asarray(mdp().transitions), optional=True, low=0.0, extra=(np.full((3, 2, 3), 0.5),)
    ),
)
add(
    rlhf.evaluate,
    lambda: call(mdp(), policy()),
    env=_ENV,
    policy=Arr(integer=True, low=0, high=1, sized=(0, 1)),
    rewards=Arr(like=np.zeros((3, 2)), optional=True, sized=(0, 1)),
)
add(
    rlhf.policy_value,
    lambda: call(mdp(), policy()),
    env=_ENV,
    policy=Arr(integer=True, low=0, high=1, sized=(0, 1)),
)
add(
    rlhf.rollout,
    lambda: call(0, mdp(), policy()),
    key=Key(),
    env=_ENV,
    policy=Arr(integer=True, low=0, high=1, sized=(0, 1)),
)
add(
    rlhf.sample_arms,
    lambda: call(0, bandit()),
    key=Key(),
    env=Instance(types=(rlhf.DuelingBandit,), wrong=(Lazy(lambda: mdp(), "a TabularMDP"),)),
)
add(
    rlhf.prefer,
    lambda: call(0, mdp(), traj(), traj(), 1.0),
    key=Key(),
    env=_ANY_ENV,
    traj0=Values(extra=(3, "abc", np.zeros(6))),
    traj1=Values(extra=(3, "abc", np.zeros(6))),
    scale=Real(**POSITIVE),
    link=_LINK,
)
add(
    rlhf.reward_error,
    lambda: call(mdp(), np.zeros(6)),
    env=_ANY_ENV,
    theta=Arr(sized=(0,)),
)
add(
    rlhf.query_statistic,
    lambda: call(np.ones(2), np.eye(2), 0.5),
    diff=Arr(),
    design=Arr(
        sized=(0, 1),
        extra=(np.array([[1.0, 0.0], [0.0, -1.0]]), np.array([[1.0, 2.0], [0.0, 1.0]])),
    ),
    sigma_r=Real(**NONNEG),
)
add(
    rlhf.query_statistic_mc,
    lambda: call(0, np.ones(2), np.zeros(2), np.eye(2), num_draws=4),
    key=Key(),
    diff=Arr(),
    mean=Arr(sized=(0,)),
    precision=Arr(sized=(0, 1), extra=(np.array([[1.0, 0.0], [0.0, -1.0]]),)),
    num_draws=Int(low=1),
)
add(
    rlhf.sample_transitions,
    lambda: call(0, np.zeros((3, 2, 3))),
    key=Key(),
    counts=Arr(low=0.0),
    concentration=Real(**POSITIVE),
)
add(
    rlhf.lsvi,
    lambda: call(0, mdp(), np.zeros(6), np.zeros((2, 3, 2, 3))),
    key=Key(),
    env=_ENV,
    theta_r=Arr(sized=(0,)),
    counts=Arr(sized=(0, 1, 2, 3), low=0.0),
    lam=Real(**POSITIVE),
    sigma_p=Real(**NONNEG),
    clip=Real(**POSITIVE),
)
_AGENT_NUMBERS = dict(
    epsilon=Real(**NONNEG),
    lam=Real(**POSITIVE),
    scale=Real(optional=True, **POSITIVE),
    query_rate=Real(**PROB),
    max_queries=Int(low=0, optional=True),
    query=Choice(options=("active", "always", "uniform")),
    newton_steps=Int(low=1),
    link=Values(optional=True, extra=("logit", 3, np.zeros(2), lambda z: z + 2.0)),
)
add(
    rlhf.PRLSVI,
    lambda: call(),
    sigma_r=Real(**NONNEG),
    sigma_p=Real(**NONNEG),
    clip=Real(**POSITIVE),
    reference=Choice(options=("previous", "initial")),
    **_AGENT_NUMBERS,
)
add(
    rlhf.ThompsonSampling,
    lambda: call(),
    concentration=Real(**POSITIVE),
    inflation=Real(**POSITIVE),
    reward_noise=Real(**POSITIVE),
    num_query_draws=Int(low=1),
    reference=Choice(options=("previous", "initial", "fresh")),
    feedback=Choice(options=("preference", "numeric")),
    greedy=Bool(),
    **_AGENT_NUMBERS,
)
add(rlhf.RandomPolicy, lambda: call())
exempt(
    "result",
    "agent states and per-episode logs, built by init / the kernels / run",
    rlhf.PRLSVIState,
    rlhf.ThompsonState,
    rlhf.RandomPolicyState,
    rlhf.EpisodeInfo,
    rlhf.RunLog,
    rlhf.Preferences,
    rlhf.MLEResult,
    rlhf.GaussianPosterior,
    rlhf.NUTSPosterior,
)
_AGENTS = (rlhf.PRLSVI, rlhf.ThompsonSampling, rlhf.RandomPolicy)
add(
    _lsvi.init,
    lambda: call(0, mdp(), rlhf.PRLSVI(), 4),
    key=Key(),
    env=_ANY_ENV,
    agent=Instance(types=(rlhf.PRLSVI,), wrong=(rlhf.RandomPolicy(),)),
    episodes=Int(low=1),
)
add(
    _lsvi.build_kernel,
    lambda: call(mdp(), rlhf.PRLSVI()),
    env=_ANY_ENV,
    agent=Instance(types=(rlhf.PRLSVI,), wrong=(rlhf.RandomPolicy(),)),
    oracle_link=_LINK_KIND,
)
add(
    _ts.init,
    lambda: call(0, mdp(), rlhf.ThompsonSampling(), 4),
    key=Key(),
    env=Instance(types=(rlhf.TabularMDP,), wrong=(Lazy(lambda: bandit(), "a DuelingBandit"),)),
    agent=Instance(types=(rlhf.ThompsonSampling,), wrong=(rlhf.RandomPolicy(),)),
    episodes=Int(low=1),
)
add(
    _ts.build_kernel,
    lambda: call(mdp(), rlhf.ThompsonSampling()),
    env=Instance(types=(rlhf.TabularMDP,), wrong=(Lazy(lambda: bandit(), "a DuelingBandit"),)),
    agent=Instance(types=(rlhf.ThompsonSampling,), wrong=(rlhf.RandomPolicy(),)),
    oracle_link=_LINK_KIND,
)
add(
    rlhf.run,
    lambda: call(0, mdp(), rlhf.RandomPolicy(), 2),
    key=Key(),
    env=_ANY_ENV,
    agent=Instance(types=_AGENTS, wrong=(3,)),
    episodes=Int(low=1),
    scale=Real(**POSITIVE),
    link=_LINK,
    seeds=Int(low=1, optional=True),
    mesh=_MESH,
    progress=Bool(optional=True),
)
add(
    rlhf.baselines,
    lambda: call(mdp()),
    env=_ANY_ENV,
    epsilon=Real(**NONNEG),
    sigma_r=Real(**NONNEG),
    sigma_p=Real(**NONNEG),
    query_rate=Real(**PROB),
)
_DIFFS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
_LABELS = np.array([1.0, 0.0, 1.0])
_PREF = dict(
    diffs=Arr(),
    labels=Arr(sized=(0,), low=0.0, high=1.0, extra=(np.array([1.0, 0.5, 0.0]),)),
    scale=Real(**POSITIVE),
    link=_LINK,
)
add(
    rlhf.bt_log_likelihood,
    lambda: call(np.zeros(2), _DIFFS, _LABELS),
    theta=Arr(sized=(0,)),
    mask=Arr(like=np.ones(3, bool), optional=True, sized=(0,), finite=False),
    **_PREF,
)
add(
    rlhf.fit_mle,
    lambda: call(_DIFFS, _LABELS, steps=2),
    lam=Real(**POSITIVE),
    mask=Arr(like=np.ones(3, bool), optional=True, sized=(0,), finite=False),
    init=Arr(like=np.zeros(2), optional=True, sized=(0,)),
    steps=Int(low=1),
    **_PREF,
)
add(
    rlhf.laplace_posterior,
    lambda: call(_DIFFS, _LABELS, steps=2),
    lam=Real(**POSITIVE),
    mask=Arr(like=np.ones(3, bool), optional=True, sized=(0,), finite=False),
    steps=Int(low=1),
    **_PREF,
)
add(
    rlhf.nuts_posterior,
    lambda: call(0, _DIFFS, _LABELS, num_warmup=2, num_samples=2, num_chains=1),
    key=Key(),
    lam=Real(**POSITIVE),
    num_warmup=Int(low=1),
    num_samples=Int(low=1),
    num_chains=Int(low=1),
    **_PREF,
)


# ============================================================================================
# bayeskit.fbm
# ============================================================================================
from bayeskit import fbm  # noqa: E402

_fbm_bench = importlib.import_module("bayeskit.fbm.benchmark")
_guide = importlib.import_module("bayeskit.fbm.guide")

exempt("constant", "names of the fBM kinds", "bayeskit.fbm.exact.FBM_KINDS")
exempt("constant", "names of the MA-fBM kinds", "bayeskit.fbm.mafbm.KINDS")
exempt("constant", "the paper's reference numbers", "bayeskit.fbm.benchmark.PAPER")
exempt(
    "result",
    "results of the samplers, likelihoods, fits and the guide, built by the library",
    fbm.FouMLE,
    fbm.MAfBMMLE,
    fbm.MAfBMPosterior,
    fbm.OUTransition,
    fbm.SimResult,
    fbm.FitResult,
    _guide.Guide,
)

_HURST = Real(**UNIT_OPEN)
_KIND2 = Choice(options=("type1", "type2"))
_GAMMAS = Arr(low=0.0, closed=(False, True), extra=(np.array([1.0, 1.0, 2.0]),))


@lazy
def gammas():
    return fbm.speed_grid(3)


@lazy
def omega():
    return np.asarray(fbm.optimal_omega(0.3, gammas()))


@lazy
def sde():
    return fbm.FractionalSDE(fbm.LinearDrift(), fbm.ConstantDiffusion(), dim=1, num_speeds=3)


@lazy
def control():
    return fbm.Control(0, dim=1, num_speeds=3, context_dim=4, width=4, depth=1)


@lazy
def latent():
    return fbm.fractional_ou(0, num_speeds=3, width=4, depth=1)


@lazy
def observations():
    return fbm.Observations(np.array([0.5, 1.0]), np.zeros((2, 2, 1)))


@lazy
def sim_result():
    p, n, s = 1, 3, 4
    return fbm.SimResult(
        np.arange(s) * 0.1, np.zeros((p, n, s, 1)), np.zeros((p, n, s, 1, 3)), np.zeros((p, n, s))
    )


@lazy
def fit_result():
    return fbm.FitResult(
        latent(), np.ones(3), np.full(3, 0.5), observations(), 0.1, "exact", jax.random.key(0)
    )


_TIMES01 = np.array([0.0, 0.5, 1.0])
add(
    fbm.speed_grid,
    lambda: call(3),
    num_speeds=Int(low=1),
    gamma_max=Real(**POSITIVE),
    offset=Real(),
)
add(fbm.variance_scale, lambda: call(0.3), hurst=Real(scalar=False, **UNIT_OPEN), kind=_KIND2)
add(
    fbm.optimal_omega,
    lambda: call(0.3, gammas()),
    hurst=_HURST,
    gammas=_GAMMAS,
    kind=_KIND2,
    horizon=Real(**POSITIVE),
    standardize=Bool(),
)
add(
    fbm.approximation_cost,
    lambda: call(omega(), 0.3, gammas()),
    omega=Arr(sized=(0,)),
    hurst=_HURST,
    gammas=_GAMMAS,
    kind=_KIND2,
    horizon=Real(**POSITIVE),
)
add(
    fbm.ma_covariance,
    lambda: call(_TIMES01, _TIMES01, omega(), gammas()),
    t=Arr(low=0.0, nonempty=False),
    s=Arr(low=0.0, nonempty=False),
    omega=Arr(sized=(0,)),
    gammas=_GAMMAS,
    kind=_KIND2,
)
add(fbm.ou_transition, lambda: call(gammas(), 0.1), gammas=_GAMMAS, dt=Real(**POSITIVE))
add(fbm.stationary_sqrt, lambda: call(gammas()), gammas=_GAMMAS)
add(
    fbm.sample_mafbm,
    lambda: call(0, omega(), gammas(), dt=0.1, n_steps=3, n_paths=2),
    key=Key(),
    omega=Arr(sized=(0,)),
    gammas=_GAMMAS,
    dt=Real(**POSITIVE),
    n_steps=Int(low=1),
    n_paths=Int(low=1),
    kind=_KIND2,
    scheme=Choice(options=("exact", "euler")),
)
_KIND3 = Choice(options=("standard", "type1", "type2"))
add(
    fbm.fbm_covariance,
    lambda: call(_TIMES01, _TIMES01, 0.3),
    t=Arr(low=0.0, nonempty=False),  # no times: an empty covariance matrix
    s=Arr(low=0.0, nonempty=False),
    hurst=_HURST,
    kind=_KIND3,
)
add(
    fbm.fgn_autocovariance,
    lambda: call(np.arange(3), 0.3),
    lags=Arr(ranks="any", nonempty=False),
    hurst=Real(scalar=False, **UNIT_OPEN),
)
add(fbm.circulant_eigenvalues, lambda: call(0.3, 4), hurst=_HURST, n=Int(low=1))
add(
    fbm.sample_fbm,
    lambda: call(0, 0.3, n_steps=4, n_paths=2),
    key=Key(),
    hurst=_HURST,
    n_steps=Int(low=1),
    n_paths=Int(low=1),
    horizon=Real(**POSITIVE),
    kind=_KIND3,
    method=Choice(options=("auto", "davies_harte", "cholesky")),
)
_FOU = dict(hurst=_HURST, theta=Real(**NONNEG), sigma=Real(**POSITIVE))
_OBS_TIMES = np.array([0.5, 1.0, 1.5])
add(
    fbm.fou_covariance,
    lambda: call(0.3, 1.0, 1.0, times=_OBS_TIMES),
    times=Arr(low=0.0, closed=(False, True), optional=True, extra=(np.array([0.5, 0.5, 1.0]),)),
    substeps=Int(low=1),
    **_FOU,
)
add(
    fbm.fou_covariance,
    lambda: call(0.3, 1.0, 1.0, n_obs=3, obs_dt=0.5),
    tag="grid",
    n_obs=Int(low=1, optional=True),
    obs_dt=Real(optional=True, **POSITIVE),
)
add(
    fbm.sample_fou,
    lambda: call(0, 0.3, 1.0, 1.0, n_obs=3, obs_dt=0.5, n_paths=2),
    key=Key(),
    n_obs=Int(low=1, optional=True),
    obs_dt=Real(optional=True, **POSITIVE),
    n_paths=Int(low=1),
    substeps=Int(low=1),
    obs_noise=Real(**NONNEG),
    **_FOU,
)
_FOU_VALUES = np.array([[0.1, 0.2, 0.1], [0.0, -0.1, 0.2]])
add(
    fbm.fou_log_likelihood,
    lambda: call(_FOU_VALUES, 0.3, 1.0, 1.0, obs_dt=0.5),
    values=Arr(),
    obs_dt=Real(optional=True, **POSITIVE),
    substeps=Int(low=1),
    obs_noise=Real(**NONNEG),
    **_FOU,
)
add(
    fbm.fou_log_likelihood,
    lambda: call(_FOU_VALUES, 0.3, 1.0, 1.0, times=_OBS_TIMES),
    tag="times",
    times=Arr(
        low=0.0, closed=(False, True), sized=(0,), optional=True, extra=(np.array([0.5, 0.5, 1.0]),)
    ),
)
add(
    fbm.fou_mle,
    lambda: call(_FOU_VALUES, obs_dt=0.5),
    values=Arr(),
    times=Arr(like=_OBS_TIMES, low=0.0, closed=(False, True), sized=(0,), optional=True),
    obs_dt=Real(optional=True, **POSITIVE),
    substeps=Int(low=1),
    obs_noise=Real(optional=True, **NONNEG),
    init=Values(
        extra=(
            (0.5, 1.0),
            (1.5, 1.0, 1.0),
            (0.5, -1.0, 1.0),
            (0.5, 1.0, 0.0),
            "abc",
            3,
            (np.nan, 1.0, 1.0),
        )
    ),
)
_MA = dict(
    times=Arr(low=0.0, extra=(np.array([0.5, 0.5, 1.0]),)),
    values=Arr(ranks=(1, 2, 3), sized=(1,)),
    obs_std=Real(**POSITIVE),
    gammas=_GAMMAS,
    kind=_KIND2,
    horizon=Real(**POSITIVE, extra=(0.5,)),
    standardize=Bool(),
    x0=Real(),
)
_MA_CALL = dict(obs_std=0.1, gammas=np.array([0.5, 2.0, 8.0]), horizon=1.0)
add(
    fbm.mafbm_log_likelihood,
    lambda: call(_TIMES01, _FOU_VALUES, hurst=0.3, theta=1.0, sigma=1.0, **_MA_CALL),
    **_FOU,
    **_MA,
)
add(
    fbm.mafbm_smoother,
    lambda: call(_TIMES01, _FOU_VALUES, hurst=0.3, theta=1.0, sigma=1.0, **_MA_CALL),
    query_times=Arr(like=np.array([0.25, 0.75]), low=0.0, high=1.0, optional=True),
    **_FOU,
    **_MA,
)
add(
    fbm.mafbm_mle,
    lambda: call(_TIMES01, _FOU_VALUES, **_MA_CALL),
    init=Values(extra=((0.5, 1.0), (1.5, 1.0, 1.0), (0.5, -1.0, 1.0), "abc", 3)),
    **_MA,
)
add(
    fbm.linear_parameters,
    lambda: call(latent()),
    model=Instance(
        types=(fbm.LatentSDE,),
        wrong=(
            Lazy(lambda: sde(), "a FractionalSDE"),
            Lazy(
                lambda: fbm.neural_sde(0, dim=1, width=4, depth=1, num_speeds=3),
                "a neural_sde model",
            ),
        ),
    ),
)
add(fbm.LinearDrift, lambda: call(1.0), theta=Real(), learn=Bool())
add(fbm.ConstantDiffusion, lambda: call(1.0), sigma=Real(**POSITIVE), learn=Bool())
add(
    fbm.MLPDrift,
    lambda: call(0, dim=1, width=4, depth=1),
    key=Key(),
    dim=Int(low=1),
    width=Int(low=1),
    depth=Int(low=0),
)
add(
    fbm.MLPDiffusion,
    lambda: call(0, dim=1, width=4, depth=1),
    key=Key(),
    dim=Int(low=1),
    width=Int(low=1),
    depth=Int(low=0),
    floor=Real(**POSITIVE),
)
_MODEL_COMMON = dict(
    key=Key(),
    hurst=_HURST,
    learn_hurst=Bool(),
    obs_std=Real(**POSITIVE),
    kind=_KIND2,
    num_speeds=Int(low=1),
    gamma_max=Real(**POSITIVE),
    horizon=Real(**POSITIVE),
    width=Int(low=1),
    depth=Int(low=1),
)
add(
    fbm.fractional_ou,
    lambda: call(0, num_speeds=3, width=4, depth=1),
    theta=Real(),
    sigma=Real(**POSITIVE),
    learn_theta=Bool(),
    learn_sigma=Bool(),
    x0=Arr(like=np.zeros(1), optional=True),
    guided=Bool(),
    **_MODEL_COMMON,
)
add(
    fbm.neural_sde,
    lambda: call(0, dim=1, num_speeds=3, width=4, depth=1),
    dim=Int(low=1),
    x0=Arr(like=np.zeros(1), optional=True, sized=(0,)),
    **_MODEL_COMMON,
)
add(
    fbm.fbm_bridge,
    lambda: call(0, width=4, depth=1),
    key=Key(),
    hurst=_HURST,
    horizon=Real(**POSITIVE),
    obs_std=Real(**POSITIVE),
    kind=_KIND2,
    width=Int(low=1),
    depth=Int(low=1),
)
add(
    fbm.Control,
    lambda: call(0, dim=1, num_speeds=3, width=4, depth=1),
    key=Key(),
    dim=Int(low=1),
    num_speeds=Int(low=1),
    context_dim=Int(low=0),
    width=Int(low=1),
    depth=Int(low=1),
    time_scale=Real(**POSITIVE),
)
add(
    fbm.FractionalSDE,
    lambda: call(fbm.LinearDrift(), fbm.ConstantDiffusion(), dim=1, num_speeds=3),
    drift=Func(),
    diffusion=Func(),
    dim=Int(low=1),
    hurst=_HURST,
    num_speeds=Int(low=1),
    gamma_max=Real(**POSITIVE),
    gammas=Arr(like=gammas(), optional=True, low=0.0, closed=(False, True)),
    kind=_KIND2,
    horizon=Real(**POSITIVE),
    standardize=Bool(),
    learn_hurst=Bool(),
)
_SDE = Instance(types=(fbm.FractionalSDE,), wrong=(Lazy(lambda: latent(), "a LatentSDE"),))
add(
    fbm.simulate,
    lambda: call(0, sde(), x0=np.zeros(1), dt=0.1, n_steps=3, n_paths=2),
    key=Key(),
    sde=_SDE,
    x0=Arr(sized=(0,)),
    dt=Real(**POSITIVE),
    n_steps=Int(low=1),
    n_paths=Int(low=1),
    control=Values(optional=True, extra=(3, "abc", np.zeros(2))),
    context=Arr(like=np.zeros((4, 2)), optional=True, ranks=(2, 3), sized=(0,)),
    scheme=Choice(options=("exact", "euler")),
)
add(
    fbm.simulate_path,
    lambda: call(0, sde(), np.zeros(1), dt=0.1, n_steps=3),
    key=Key(),
    sde=_SDE,
    x0=Arr(sized=(0,)),
    dt=Real(**POSITIVE),
    n_steps=Int(low=1),
    control=Values(optional=True, extra=(3, "abc", np.zeros(2))),
    context=Arr(like=np.zeros((4, 2)), optional=True, sized=(0,)),
    scheme=Choice(options=("exact", "euler")),
    omega=Arr(like=np.ones(3), optional=True, sized=(0,)),
    guide=Values(optional=True, extra=(3, "abc", np.zeros(2))),
)
add(
    fbm.Observations,
    lambda: call(np.array([0.5, 1.0]), np.zeros((2, 2, 1))),
    times=Arr(low=0.0, extra=(np.array([1.0, 0.5]), np.array([0.5, 0.5]))),
    values=Arr(sized=(1,)),
)
add(
    fbm.LatentSDE,
    lambda: call(sde(), control(), np.zeros(1), 0.1),
    sde=_SDE,
    control=Func(),
    x0=Arr(sized=(0,)),
    obs_std=Real(**POSITIVE),
    guided=Bool(),
)
add(fbm.context_dim, lambda: call(1), dim=Int(low=1))
add(
    fbm.observation_context,
    lambda: call(np.array([0.5, 1.0]), np.zeros((2, 1)), np.linspace(0, 1, 5), 1.0),
    times=Arr(low=0.0, extra=(np.array([1.0, 0.5]),)),
    values=Arr(sized=(0,)),
    grid=Arr(),
    horizon=Real(**POSITIVE),
)
_MODEL = Instance(types=(fbm.LatentSDE,), wrong=(Lazy(lambda: sde(), "a FractionalSDE"),))
_DATA = Values(
    name=("data", "data.times", "data.values"),
    extra=(
        3,
        "abc",
        (np.array([0.5, 1.0]), np.zeros((2, 2, 1))),
        Lazy(
            lambda: fbm.Observations(np.array([0.5, 3.0]), np.zeros((2, 2, 1))),
            "times past the horizon",
        ),
        Lazy(
            lambda: fbm.Observations(np.array([0.5, 1.0]), np.zeros((2, 2, 2))),
            "values of another dimension",
        ),
    ),
)
add(
    fbm.elbo,
    lambda: call(0, latent(), observations(), dt=0.1),
    key=Key(),
    model=_MODEL,
    data=_DATA,
    dt=Real(**POSITIVE),
    scheme=Values(extra=("euler", "abc", 3)),
    mesh=_MESH,
)
add(
    fbm.fit,
    lambda: call(0, latent(), observations(), steps=1, dt=0.1),
    key=Key(),
    model=_MODEL,
    data=_DATA,
    steps=Int(low=1),
    dt=Real(**POSITIVE),
    batch_size=Int(low=1),
    optimizer=Optimizer(),
    scheme=Values(extra=("euler", "abc", 3)),
    mesh=_MESH,
    progress=Bool(optional=True),
)
add(
    fbm.plot_paths,
    lambda: call(sim_result()),
    paths=Values(extra=(3, "abc", np.zeros((3, 4, 1)), Lazy(lambda: fit_result(), "a FitResult"))),
    sequence=Int(low=0, high=0),
    latent=Int(low=0, high=0),
    n_lines=Int(low=0),
    n_sd=Real(**POSITIVE),
    ax=Values(optional=True, extra=(3, "abc")),
)
add(
    fbm.plot_trace,
    lambda: call(fit_result()),
    result=Values(extra=(3, "abc", np.zeros(3), Lazy(lambda: sim_result(), "a SimResult"))),
    quantity=Choice(options=("elbo", "loss", "hurst")),
    ax=Values(optional=True, extra=(3, "abc")),
)
add(
    _guide.is_linear,
    lambda: call(sde()),
    sde=Values(extra=(3, "abc", None, Lazy(lambda: latent(), "a LatentSDE"))),
)
add(
    _guide.linear_guide,
    lambda: call(sde(), np.ones(3), np.zeros(1), 0.1, (5, 10), np.zeros((2, 2, 1)), 0.1, 10),
    sde=Instance(
        types=(fbm.FractionalSDE,),
        wrong=(
            Lazy(
                lambda: fbm.neural_sde(0, dim=1, width=4, depth=1, num_speeds=3).sde,
                "a neural FractionalSDE",
            ),
        ),
    ),
    omega=Arr(sized=(0,)),
    x0=Arr(sized=(0,)),
    obs_std=Real(**POSITIVE),
    obs_index=Values(extra=((5, 11), (-1, 10), (5.5, 10), "ab", 3, (5,))),
    values=Arr(sized=(1, 2)),
    dt=Real(**POSITIVE),
    n_steps=Int(low=1),
)
add(
    _fbm_bench.run,
    lambda: call("quick", 0),
    preset=Choice(options=("quick", "paper")),
    key=Key(),
)
add(
    _fbm_bench.bridge_exact_std,
    lambda: call(sde(), np.linspace(0.1, 1.0, 4), 0.1),
    sde=_SDE,
    times=Arr(low=0.0, closed=(False, True)),
    obs_std=Real(**POSITIVE),
)
add(
    _fbm_bench.covariance_error,
    lambda: call(0.3, "type2", num_speeds=3),
    hurst=_HURST,
    kind=_KIND2,
    num_speeds=Int(low=1),
    gamma_max=Real(**POSITIVE),
)


# ============================================================================================
# bayeskit.smc
# ============================================================================================
from bayeskit import smc  # noqa: E402

_smc_models = importlib.import_module("bayeskit.smc.models")

exempt("constant", "names of the conditional SMC variants", "bayeskit.smc.csmc.VARIANTS")
exempt("constant", "names of the backward samplers", "bayeskit.smc.paris.SAMPLERS")
exempt(
    "result",
    "results of the filters, smoothers and learners, built by the library",
    smc.KalmanResult,
    smc.RTSResult,
    smc.FilterResult,
    smc.ParisResult,
    smc.CSMCResult,
    smc.PPGResult,
    smc.MLEResult,
    smc.MSCResult,
)
exempt(
    "result",
    "a container of model matrices built by model.matrices(theta); the Kalman functions check it",
    smc.LGSSMMatrices,
)


@lazy
def lg():
    return smc.linear_gaussian(1)


@lazy
def sv():
    return smc.stochastic_volatility()


THETA = {"A": np.array([[0.9]]), "log_q": np.zeros(1), "log_r": np.zeros(1)}
SV_THETA = {"phi": np.array(0.9), "log_sigma": np.array(-1.0), "log_beta": np.array(0.0)}
YS = np.array([[0.1], [-0.2], [0.3], [0.0]])
_BAD_THETA = (
    [0.9, 0.0, 0.0],
    "abc",
    {"A": np.array([[0.9]]), "log_q": np.zeros(1)},
    {"A": np.array([[np.nan]]), "log_q": np.zeros(1), "log_r": np.zeros(1)},
    {"A": np.zeros((2, 2)), "log_q": np.zeros(1), "log_r": np.zeros(1)},
    {"A": np.array([["a"]]), "log_q": np.zeros(1), "log_r": np.zeros(1)},
    {"A": np.array([[0.9]]), "log_q": np.zeros(1), "log_r": np.zeros(1), "b": 1.0},
)
_THETA = Values(extra=_BAD_THETA)
_SV_THETA = Values(
    extra=(
        {"phi": np.array(1.5), "log_sigma": np.array(-1.0), "log_beta": np.array(0.0)},
        {"phi": np.array(np.nan), "log_sigma": np.array(-1.0), "log_beta": np.array(0.0)},
        {"phi": np.array(0.9), "log_sigma": np.array(np.inf), "log_beta": np.array(0.0)},
        {"phi": np.array([0.9, 0.9]), "log_sigma": np.array(-1.0), "log_beta": np.array(0.0)},
    )
)
_SSM = Instance(types=(smc.StateSpaceModel,), wrong=(Lazy(lambda: latent(), "an fbm model"),))
_YS = Arr(sized=(1,))  # a single observation is a valid input of the Kalman filter
_YS2 = Arr(sized=(1,), extra=(YS[:1],))  # the smoothers and particle methods need T >= 2


def h_sum(t, x_prev, x, y, theta):
    return x[0]


@lazy
def mats():
    return lg().matrices(THETA)


@lazy
def rts():
    return smc.rts_smoother(YS, mats())


@lazy
def lam():
    return smc.init_smoother(4, 1)


@lazy
def ppg_result():
    n_it, t = 3, 4
    paths = np.random.default_rng(0).normal(size=(n_it, t, 1))
    return smc.PPGResult(np.zeros(()), np.zeros(n_it), paths, np.zeros(n_it), 1)


@lazy
def paris_result():
    z = np.zeros(())
    return smc.ParisResult(z, z, np.full(4, 3.0), z, z, z, z)


def _initial(theta):
    import numpyro.distributions as dist

    return dist.Normal(np.zeros(1), 1.0).to_event(1)


def _transition(x, theta):
    import numpyro.distributions as dist

    return dist.Normal(0.9 * x, 1.0).to_event(1)


def _observation(x, theta):
    import numpyro.distributions as dist

    return dist.Normal(x, 1.0).to_event(1)


add(
    smc.StateSpaceModel,
    lambda: call(
        1,
        1,
        lg().init_sample,
        lg().init_logpdf,
        lg().trans_sample,
        lg().trans_logpdf,
        lg().obs_logpdf,
    ),
    dim_x=Int(low=1),
    dim_y=Int(low=1),
    init_sample=Func(),
    init_logpdf=Func(),
    trans_sample=Func(),
    trans_logpdf=Func(),
    obs_logpdf=Func(),
    obs_sample=Func(optional=True),
    trans_log_bound=Func(optional=True),
    matrices=Func(optional=True),
    check_theta=Func(optional=True),
    name=Values(extra=(3, None, np.zeros(2))),
)
add(
    smc.state_space_model,
    lambda: call(1, 1, initial=_initial, transition=_transition, observation=_observation),
    dim_x=Int(low=1),
    dim_y=Int(low=1),
    initial=Func(),
    transition=Func(),
    observation=Func(),
    trans_log_bound=Func(optional=True),
    check_theta=Func(optional=True),
    name=Values(extra=(3, None, np.zeros(2))),
)
add(
    _smc_models.check_theta_fields,
    lambda: call(THETA, {"A": (1, 1), "log_q": (1,), "log_r": (1,)}),
    theta=_THETA,
    shapes=Values(extra=(3, "abc", [("A", (1, 1))])),
)
add(
    smc.linear_gaussian,
    lambda: call(1),
    dim_x=Int(low=1),
    dim_y=Int(low=1, optional=True),
    B=Arr(like=np.eye(1), optional=True, sized=(0, 1)),
    m0=Arr(like=np.zeros(1), optional=True, sized=(0,)),
    P0=Arr(like=np.eye(1), optional=True, sized=(0, 1), extra=(-np.eye(1),)),
    covariance=Choice(options=("diagonal", "full")),
)
add(smc.stochastic_volatility, lambda: call())
add(smc.chaotic_rnn, lambda: call(2), dim_x=Int(low=1), gamma=Real(**POSITIVE), dt=Real(**POSITIVE))
add(
    smc.simulate,
    lambda: call(0, lg(), THETA, 4),
    key=Key(),
    model=_SSM,
    theta=_THETA,
    n_steps=Int(low=1),
)
add(smc.simulate, lambda: call(0, sv(), SV_THETA, 4), tag="sv", theta=_SV_THETA)
_MATS = Values(
    extra=(
        3,
        "abc",
        (np.eye(1),) * 6,
        Lazy(lambda: mats()._replace(A=np.eye(2)), "mats with a (2, 2) A"),
        Lazy(lambda: mats()._replace(Q=np.array([[np.nan]])), "mats with a NaN Q"),
        Lazy(lambda: mats()._replace(R=-np.eye(1)), "mats with a negative R"),
    )
)
add(smc.kalman_filter, lambda: call(YS, mats()), ys=_YS, mats=_MATS)
add(smc.rts_smoother, lambda: call(YS, mats()), ys=_YS2, mats=_MATS)
add(smc.kalman_log_likelihood, lambda: call(YS, mats()), ys=_YS, mats=_MATS)
_RTS = Values(
    extra=(
        3,
        "abc",
        Lazy(lambda: smc.kalman_filter(YS, mats()), "a KalmanResult"),
        Lazy(lambda: rts()._replace(means=np.zeros((4, 2))), "rts with means of another shape"),
    )
)
add(smc.smoothed_sums, lambda: call(rts()), rts=_RTS)
add(smc.expected_log_joint, lambda: call(mats(), YS, rts()), mats=_MATS, ys=_YS2, rts=_RTS)
add(
    smc.fisher_score,
    lambda: call(lg(), THETA, YS),
    model=Instance(
        types=(smc.StateSpaceModel,), wrong=(Lazy(lambda: sv(), "a model without matrices"),)
    ),
    theta=_THETA,
    ys=_YS2,
)
add(
    smc.bootstrap_filter,
    lambda: call(0, lg(), THETA, YS, n_particles=4),
    key=Key(),
    model=_SSM,
    theta=_THETA,
    ys=_YS2,
    n_particles=Int(low=2),
    resampling=Choice(options=("multinomial", "systematic")),
)
add(
    smc.resample,
    lambda: call(0, np.zeros(4), 4),
    key=Key(),
    log_weights=Arr(extra=(np.full(4, -np.inf), np.array([0.0, 0, 0, np.inf]))),
    n=Int(low=1),
    method=Choice(options=("multinomial", "systematic")),
)
add(
    smc.ess,
    lambda: call(np.zeros(4)),
    log_weights=Arr(extra=(np.full(4, -np.inf), np.array([0.0, 0, 0, np.inf]))),
)
_SAMPLER = Choice(options=("exact", "accept_reject", "hybrid"))
_H = Values(extra=(3, "abc", np.zeros(2), lambda t, x_prev, x, y, theta: "abc"))
add(
    smc.paris,
    lambda: call(0, lg(), THETA, YS, h_sum, n_particles=4),
    key=Key(),
    model=_SSM,
    theta=_THETA,
    ys=_YS2,
    h=_H,
    n_particles=Int(low=2),
    n_backward=Int(low=1),
    sampler=_SAMPLER,
    max_trials=Int(low=1, optional=True),
    resampling=Choice(options=("multinomial", "systematic")),
    check_bound=Bool(),
    progress=Bool(optional=True),
    n_replications=Int(low=1, optional=True),
    mesh=Values(optional=True, extra=(3, "abc", np.zeros(2))),
)
add(
    smc.backward_sample,
    lambda: call(0, lg(), THETA, np.zeros((4, 1)), np.zeros(4), np.ones((3, 1)), n_backward=2),
    key=Key(),
    model=_SSM,
    theta=_THETA,
    x_prev=Arr(sized=(1,)),
    log_w_prev=Arr(
        sized=(0,), finite=False, extra=(np.full(4, -np.inf), np.array([0.0, np.nan, 0, 0]))
    ),
    x_new=Arr(sized=(1,)),
    n_backward=Int(low=1),
    sampler=_SAMPLER,
    max_trials=Int(low=1, optional=True),
    check_bound=Bool(),
)
add(
    smc.csmc,
    lambda: call(0, lg(), THETA, YS, np.zeros((4, 1)), n_particles=4),
    key=Key(),
    model=_SSM,
    theta=_THETA,
    ys=_YS2,
    ref_path=Arr(sized=(0, 1)),
    n_particles=Int(low=2),
    variant=Choice(options=("backward", "ancestor")),
)
add(
    smc.ppg,
    lambda: call(0, lg(), THETA, YS, h_sum, n_particles=4, burn_in=0, iterations=1),
    key=Key(),
    model=_SSM,
    theta=_THETA,
    ys=_YS2,
    h=_H,
    n_particles=Int(low=2),
    n_backward=Int(low=1),
    burn_in=Int(low=0),
    iterations=Int(low=1),
    init_path=Arr(like=np.zeros((4, 1)), optional=True, sized=(0, 1)),
    sampler=_SAMPLER,
    max_trials=Int(low=1, optional=True),
    check_bound=Bool(),
    progress=Bool(optional=True),
    n_chains=Int(low=1, optional=True),
    mesh=Values(optional=True, extra=(3, "abc", np.zeros(2))),
)
add(
    smc.score_functional,
    lambda: call(lg()),
    model=_SSM,
)
_LEARN_COMMON = dict(
    key=Key(),
    model=_SSM,
    ys=_YS2,
    steps=Int(low=1),
    optimizer=Optimizer(),
    estimator=Choice(options=("ppg", "paris")),
    n_particles=Int(low=2),
    n_backward=Int(low=1),
    burn_in=Int(low=0),
    iterations=Int(low=1),
    sampler=_SAMPLER,
    max_trials=Int(low=1, optional=True),
    check_bound=Bool(),
    progress=Bool(optional=True),
)
add(
    smc.mle,
    lambda: call(0, lg(), THETA, YS, steps=1, n_particles=4),
    theta0=_THETA,
    learn=Values(optional=True, extra=(["zz"], "zz", 3, [3], [])),
    **_LEARN_COMMON,
)
add(
    smc.msc,
    lambda: call(0, lg(), THETA, YS, steps=1, n_particles=4),
    theta=_THETA,
    lam0=Values(
        optional=True,
        extra=(
            3,
            "abc",
            {"a": np.zeros(1)},
            Lazy(lambda: smc.init_smoother(3, 1), "a smoother of another length"),
        ),
    ),
    learn=Values(optional=True, extra=(["zz"], "zz", 3, [3], [])),
    **_LEARN_COMMON,
)
_LAM = Values(
    extra=(
        3,
        "abc",
        {"a": np.zeros(1)},
        Lazy(lambda: {**lam(), "a": np.full_like(lam()["a"], np.nan)}, "lam with a NaN"),
        Lazy(lambda: {**lam(), "a": lam()["a"][:1]}, "lam with a short field"),
    )
)
add(
    smc.init_smoother,
    lambda: call(4, 1),
    n_steps=Int(low=2),
    dim_x=Int(low=1),
    dtype=Values(extra=("abc", 3, jnp.int32)),
)
add(smc.smoother_marginals, lambda: call(lam()), lam=_LAM)
add(
    smc.smoother_logpdf_term,
    lambda: call(1, np.zeros(1), np.zeros(1), lam()),
    t=Int(low=1, high=3),
    x_prev=Arr(),
    x=Arr(),
    lam=_LAM,
)
add(
    smc.plot_smoothed,
    lambda: call(ppg_result()),
    results=Values(extra=(3, "abc", [], [3], Lazy(lambda: paris_result(), "a ParisResult"))),
    dim=Int(low=0, high=0),
    prob=Real(**UNIT_OPEN),
    interval=Choice(options=("hdi", "eti")),
    truth=Arr(like=np.zeros(4), optional=True, ranks=(1, 2), sized=(0,)),
    ax=Values(optional=True, extra=(3, "abc")),
)
add(
    smc.plot_ess,
    lambda: call(paris_result()),
    result=Values(extra=(3, "abc", Lazy(lambda: ppg_result(), "a PPGResult"))),
    n_particles=Int(low=1, optional=True),
    ax=Values(optional=True, extra=(3, "abc")),
)


# ============================================================================================
# bayeskit.gp_pde
# ============================================================================================
from bayeskit import gp_pde  # noqa: E402

_gp_model = importlib.import_module("bayeskit.gp_pde.model")
_gp_spectral = importlib.import_module("bayeskit.gp_pde.spectral")
_gp_kron = importlib.import_module("bayeskit.gp_pde.kronecker")
_gp_base = importlib.import_module("bayeskit.gp_pde.baselines")
_gp_defaults = importlib.import_module("bayeskit.gp_pde.defaults")
_gp_adjoint = importlib.import_module("bayeskit.gp_pde.adjoint")
_gp_batch = importlib.import_module("bayeskit.gp_pde.batch")
_gp_problems = importlib.import_module("bayeskit.gp_pde.problems")
_gp_solver = importlib.import_module("bayeskit.gp_pde.solver")

exempt("constant", "names of the solver methods", "bayeskit.gp_pde.solver.METHODS")
exempt("constant", "names of the spectral kernels", "bayeskit.gp_pde.spectral.KERNELS")
exempt(
    "warning",
    "warning classes",
    gp_pde.ResolutionWarning,
    gp_pde.FrequencyScaleWarning,
    gp_pde.JitterWarning,
)
exempt(
    "result",
    "results and containers the solver builds (a Kronecker factor, mixture parameters, the "
    "solution, its trace, info, spectrum and accuracy estimate)",
    gp_pde.GPSolution,
    gp_pde.SolveInfo,
    gp_pde.Trace,
    gp_pde.Spectrum,
    gp_pde.MixtureParams,
    gp_pde.AccuracyEstimate,
    _gp_kron.KronFactor,
)


def _zero(x):
    return 0.0 * x[0]


@lazy
def pde():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gp_pde.problems.get("poisson_1d_sin100", grid=9)


@lazy
def mix_params():
    return gp_pde.spectral.init_params(1, 2, 5.0)


@lazy
def mix_1d():
    p = mix_params()
    return type(p)(p.log_weight[0], p.log_scale[0], p.freq[0])


@lazy
def gp_solution():
    p = pde()
    z = np.zeros(p.grid)
    info = gp_pde.SolveInfo(0.0, True, 0, 0.0)
    trace = gp_pde.Trace(np.arange(3), np.ones(3), np.full(3, 0.1))
    axes = (np.linspace(*p.domain[0], p.grid[0]),)
    return gp_pde.GPSolution("student_t", p, axes, z, z, mix_params(), 0.0, 0.0, trace, info, 1e-6)


_PROBLEM = Instance(types=(gp_pde.PDEProblem,), wrong=(Lazy(lambda: mdp(), "a TabularMDP"),))
_MIX = Values(
    extra=(
        3,
        "abc",
        Lazy(lambda: gp_pde.spectral.init_params(2, 2, 5.0), "params of 2 dimensions"),
        Lazy(lambda: mix_params()._replace(freq=np.full((1, 2), np.nan)), "params with NaN"),
        (np.zeros((1, 2)),) * 3,
    )
)
_MIX1 = Values(
    extra=(
        3,
        "abc",
        Lazy(lambda: mix_params(), "params of shape (1, Q)"),
        Lazy(lambda: mix_1d()._replace(freq=np.full(2, np.nan)), "params with NaN"),
    )
)
_KIND = Choice(options=gp_pde.spectral.KERNELS)
_ORDER = Int(low=0, high=2)
# coef=None is a pytree placeholder (jax rebuilds namedtuples with None leaves): not checked
add(
    gp_pde.Term,
    lambda: call(1.0, 0, 2),
    coef=Real(optional=True),
    dim=Int(low=0),
    order=Int(low=0, high=2),
)
add(
    gp_pde.PDEProblem,
    lambda: call("p", ((0.0, 1.0),), (9,), (gp_pde.Term(1.0, 0, 2),), _zero, _zero),
    name=Values(extra=(3, None)),
    domain=Values(extra=(((1.0, 0.0),), "abc", ((0.0, np.nan),), 3, ())),
    grid=Values(extra=((2,), (9.5,), "abc", (9, 9), None, (-3,), 9.0)),
    terms=Values(extra=((gp_pde.Term(1.0, 1, 2),), "abc", (3,), ((1.0, 0, 3),), 3)),
    source=Values(extra=(3, "abc", np.zeros(5), lambda x: x, lambda x: "a")),
    boundary=Values(extra=(3, "abc", np.zeros(5), lambda x: x)),
    nonlinearity=Values(optional=True, extra=("cubic", 3)),
    exact=Values(optional=True, extra=(3, "abc", lambda x: x)),
    max_frequency=Values(optional=True, extra=((-1.0,), (np.nan,), "abc", (1.0, 2.0), -3.0)),
    freq_scale=Values(optional=True, extra=(-1.0, np.nan, "abc", (1.0, 2.0), 0.0, np.inf)),
    boundary_weight=Real(**POSITIVE),
)
add(
    gp_pde.problems.get,
    lambda: call("poisson_1d_sin100", 9),
    name=Choice(options=gp_pde.problems.names()),
    grid=Values(optional=True, extra=(2, 2.5, "abc", (9, 9), -3, True)),
)
add(gp_pde.problems.names, lambda: call())
add(
    gp_pde.problems.source_from_exact,
    lambda: call(_zero, (gp_pde.Term(1.0, 0, 2),)),
    exact=Func(),
    terms=Values(extra=("abc", 3, (3,), ((1.0, 0, 3),), ((np.nan, 0, 2),))),
    nonlinearity=Values(optional=True, extra=("cubic", 3)),
)
_OBJ = dict(
    problem=_PROBLEM,
    values=Arr(sized=(0,)),
    params=_MIX,
    log_tau=Real(),
    log_v=Real(),
    kernel=_KIND,
    jitter=Real(**NONNEG),
)
add(
    gp_pde.objective,
    lambda: call(pde(), np.zeros(9), mix_params(), 0.0, 0.0, kernel="student_t"),
    **_OBJ,
)
add(
    _gp_model.objective_dense,
    lambda: call(pde(), np.zeros(9), mix_params(), 0.0, 0.0, kernel="student_t"),
    **_OBJ,
)
add(
    gp_pde.solve,
    lambda: call(0, pde(), steps=1),
    key=Key(),
    problem=_PROBLEM,
    kernel=_KIND,
    n_components=Int(low=1),
    steps=Int(low=1, optional=True),
    optimizer=Optimizer(),
    method=Choice(options=_gp_solver.METHODS),
    progress=Bool(optional=True),
    log_every=Int(low=1, optional=True),
    freq_scale=Values(optional=True, extra=(-1.0, np.nan, "abc", (1.0, 2.0), 0.0)),
    init_noise=Real(**NONNEG),
    n_newton=Int(low=1),
    cg_iters=Int(low=1),
    jitter=Real(optional=True, **NONNEG),
    extra_gp=Bool(),
    extra_steps=Int(low=1, optional=True),
)
add(
    _gp_batch.solve_many,
    lambda: call([0], [pde()], steps=1),
    keys=Values(extra=(1.5, "abc", [1.5], 3, [0, 1])),
    problems=Values(extra=(3, "abc", [3], [])),
    devices=Values(optional=True, extra=(3, "abc", [3], [])),
)
_SOLUTION = Values(extra=(3, "abc", np.zeros(9), Lazy(lambda: pde(), "a PDEProblem")))
add(
    gp_pde.plot_solution,
    lambda: call(gp_solution()),
    solution=_SOLUTION,
    n_points=Int(low=2, optional=True),
    exact=Bool(),
    error=Bool(),
    ax=Values(optional=True, extra=(3, "abc")),
)
add(
    gp_pde.plot_trace,
    lambda: call(gp_solution()),
    solution=_SOLUTION,
    quantity=Choice(options=("rel_l2", "loss")),
    ax=Values(optional=True, extra=(3, "abc")),
)
add(
    gp_pde.plot_spectrum,
    lambda: call(gp_solution()),
    solution=_SOLUTION,
    dim=Int(low=0, high=0),
    prune_ratio=Real(**POSITIVE),
    reference=Real(optional=True),
    ax=Values(optional=True, extra=(3, "abc")),
)
add(
    gp_pde.plot_band,
    lambda: call(gp_solution(), n_points=5),
    solution=_SOLUTION,
    n_points=Int(low=2),
    n_sd=Real(**POSITIVE),
    error=Bool(),
    ax=Values(optional=True, extra=(3, "abc")),
)
add(
    gp_pde.spectral.init_params,
    lambda: call(1, 2, 5.0),
    n_dims=Int(low=1),
    n_components=Int(low=1),
    freq_scale=Real(scalar=False, **POSITIVE),
)
add(
    gp_pde.spectral.kernel_lags,
    lambda: call("student_t", mix_1d(), np.linspace(0.0, 1.0, 3)),
    kind=_KIND,
    params_j=_MIX1,
    d=Arr(ranks="any", nonempty=False),
    order=_ORDER,
)
add(
    gp_pde.spectral.scalar_kernel,
    lambda: call("student_t", mix_1d(), 0.1, 0.3),
    kind=_KIND,
    params_j=_MIX1,
    x=Real(),
    y=Real(),
)
add(
    gp_pde.spectral.toeplitz_gram,
    lambda: call("student_t", mix_1d(), 4, 0.25),
    kind=_KIND,
    params_j=_MIX1,
    n=Int(low=1),
    h=Real(**POSITIVE),
    order=_ORDER,
)
add(
    gp_pde.spectral.toeplitz_grams,
    lambda: call("student_t", mix_1d(), 4, 0.25, (0, 1)),
    kind=_KIND,
    params_j=_MIX1,
    n=Int(low=1),
    h=Real(**POSITIVE),
    orders=Values(extra=((), [0, 1], (0, 3), (-1,), (0.5,), "0", 1)),
)
add(
    gp_pde.spectral.cross_gram,
    lambda: call("student_t", mix_1d(), np.array([0.1, 0.2]), np.linspace(0.0, 1.0, 4)),
    kind=_KIND,
    params_j=_MIX1,
    x=Arr(nonempty=False),  # no points: an empty matrix
    grid=Arr(nonempty=False),
    order=_ORDER,
)
_SPD3 = np.eye(3) * 2.0
_TENSOR = np.ones((3, 2))
add(
    _gp_kron.mode_product,
    lambda: call(_TENSOR, np.ones((4, 3)), 0),
    t=Arr(),
    m=Arr(sized=(1,)),
    axis=Int(low=0, high=1),
)
add(
    _gp_kron.kron_mvp,
    lambda: call((np.eye(3), np.eye(2)), _TENSOR),
    mats=Values(extra=(3, "abc", (np.eye(2),), (np.eye(3), np.eye(3)), (np.eye(3), "abc"), ())),
    t=Arr(sized=(0, 1)),
)
add(
    _gp_kron.kron_factor,
    lambda: call((_SPD3, np.eye(2))),
    mats=Values(extra=(3, "abc", (np.ones((2, 3)),), (np.full((2, 2), np.nan),), (-np.eye(2),))),
)


@lazy
def kfactor():
    return _gp_kron.kron_factor((_SPD3, np.eye(2)))


_FACTOR = Values(
    extra=(
        3,
        "abc",
        (np.eye(3),),
        Lazy(lambda: (_SPD3, np.eye(2)), "the matrices, not their factor"),
    )
)
add(_gp_kron.kron_solve, lambda: call(kfactor(), _TENSOR), factor=_FACTOR, t=Arr(sized=(0, 1)))
add(_gp_kron.kron_logdet, lambda: call(kfactor()), factor=_FACTOR)
add(_gp_kron.kron_quad, lambda: call(kfactor(), _TENSOR), factor=_FACTOR, t=Arr(sized=(0, 1)))
add(
    _gp_kron.derivative_map,
    lambda: call(np.ones((3, 3)), np.linalg.cholesky(_SPD3)),
    kd=Arr(sized=(0, 1)),
    chol=Arr(sized=(0, 1)),
)
_BASE = dict(
    source=Func(),
    exact=Func(),
    lower=Real(),
    upper=Real(extra=(-1.0,)),
    n_points=Int(low=3),
)
add(_gp_base.chebyshev_poisson_1d, lambda: call(np.sin, np.sin, 0.0, np.pi, 9), **_BASE)
add(_gp_base.fd_poisson_1d, lambda: call(np.sin, np.sin, 0.0, np.pi, 9), **_BASE)
add(
    _gp_defaults.source_frequency,
    lambda: call(pde()),
    problem=_PROBLEM,
    energy=Real(**UNIT_OPEN),
)
add(_gp_defaults.default_freq_scale, lambda: call(pde()), problem=_PROBLEM)
add(
    _gp_defaults.default_jitter,
    lambda: call(pde(), 20.0),
    problem=_PROBLEM,
    freq_scale=Real(scalar=False, **POSITIVE),
)
add(_gp_defaults.freq_step, lambda: call(20.0), freq_scale=Real(scalar=False, **POSITIVE))
add(
    _gp_adjoint.prior_and_derivatives,
    lambda: call((_SPD3,), {(0, 2): np.eye(3)}, np.ones(3)),
    grams=Values(extra=(3, "abc", (np.ones((2, 3)),), (-np.eye(3),), (np.full((3, 3), np.nan),))),
    dgrams=Values(extra=(3, "abc", {(0, 2): np.eye(2)}, {(1, 2): np.eye(3)}, {"a": np.eye(3)})),
    u=Arr(sized=(0,)),
)

# ============================================================================================
# bayeskit.rlhf.plots
# ============================================================================================
_rlhf_plots = importlib.import_module("bayeskit.rlhf.plots")


@lazy
def run_log():
    t = np.arange(1, 4)
    prefs = rlhf.Preferences(traj(), traj(), np.zeros(3), np.ones(3, bool))
    return rlhf.RunLog(0.1 / t, 0.2 / t, t, np.ones(3), 0.5 / t, prefs, rlhf.RandomPolicyState(0))


add(
    _rlhf_plots.plot_run,
    lambda: call(run_log()),
    log=Values(extra=(3, "abc", np.zeros(3), {"a": 1})),
    quantity=Choice(
        options=("cumulative_regret", "regret", "queries", "reward_error", "query_stat")
    ),
    show=Choice(options=("mean", "each")),
    ax=Values(optional=True, extra=(3, "abc")),
)
add(
    _rlhf_plots.plot_regret_vs_queries,
    lambda: call({0.1: run_log(), 0.2: run_log()}),
    logs=Values(extra=(3, "abc", [1, 2], {}, {0.1: 3})),
    slope=Bool(),
    ax=Values(optional=True, extra=(3, "abc")),
)


# ============================================================================================
# summary script
# ============================================================================================
def swept_cases() -> list[tuple[str, str]]:
    return [(k, a) for k, e in sorted(REGISTRY.items()) if e.kind == "call" for a in e.specs]


def main(argv: list[str]) -> int:
    from bad_input_specs import FAILURES, TRACING, summary_lines, sweep

    verbose = "-v" in argv
    only = [a for a in argv if not a.startswith("-")]
    for key, arg in swept_cases():
        if only and not any(o in key for o in only):
            continue
        sweep(REGISTRY[key], arg)
    if verbose:
        for key, arg, value, what in FAILURES:
            print(f"{key}({arg}={value}): {what}")
        for key, names in sorted(TRACING.items()):
            print(f"traced before refusing: {key}: {sorted(names)}")
    print("\n".join(summary_lines()))
    return 0 if not FAILURES else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
