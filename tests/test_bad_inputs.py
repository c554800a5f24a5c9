"""Every public function refuses bad input clearly (issue 22).

Each public name of bayeskit (every ``__all__`` of every public module, found by walking the
package) has an entry in ``tests/bad_input_registry.py``: a valid call with small arguments and
the arguments to corrupt. Hypothesis draws bad values for each argument (wrong type, rank or size,
NaN/inf, empty, negative or zero sizes, out-of-range numbers, a key for a number and the reverse)
and every call must raise ``ValueError`` or ``TypeError`` naming the argument, before any function
of bayeskit is traced. ``python tests/bad_input_registry.py`` runs the same sweep and prints the
counts.
"""

from __future__ import annotations

import inspect
import types
import warnings

import equinox as eqx
import numpy as np
import pytest
from bad_input_registry import REGISTRY, public_modules, public_objects, swept_cases
from bad_input_specs import TALLY, TRACING, canonical, names_argument, summary_lines, sweep

# A user's own callable is evaluated (abstractly) to validate it: that trace is the check.
TRACE_ALLOWED: dict[str, str] = {}


def _keys(obj, names):
    """The registry keys that may cover ``obj`` listed under ``names``."""
    keys = set(names)
    if callable(obj) and hasattr(obj, "__qualname__") and hasattr(obj, "__module__"):
        keys.add(canonical(obj))
    return keys


def _registered(keys):
    return {k for k in REGISTRY if k.split("#")[0] in keys}


def test_every_public_name_is_registered():
    missing = []
    for obj, names in public_objects().values():
        if not _registered(_keys(obj, names)):
            missing.append(names[0])
    assert not missing, (
        "public names without an entry in tests/bad_input_registry.py (add a valid call and the "
        f"arguments to corrupt, or an exemption): {sorted(missing)}"
    )


def test_no_stale_registry_entries():
    known = set()
    for obj, names in public_objects().values():
        known |= _keys(obj, names)
    stale = sorted(k for k in REGISTRY if k.split("#")[0] not in known)
    assert not stale, f"registry entries for names that are no longer public: {stale}"


def test_public_modules_are_discovered():
    names = {m.__name__ for m in public_modules()}
    for package in ("random", "summary", "kernels", "validate"):
        assert f"bayeskit.{package}" in names
    for package in ("gp_pde", "fbm", "smc", "rlhf", "thinning"):
        assert f"bayeskit.{package}" in names and f"bayeskit.{package}.plots" in names
    import bayeskit

    for name in bayeskit.__all__:  # every subpackage named at the top defines __all__
        obj = getattr(bayeskit, name)
        if isinstance(obj, types.ModuleType):
            assert obj.__name__ in names, f"{obj.__name__} has no __all__"


def test_exemptions_are_what_they_say():
    objects = {}
    for obj, names in public_objects().values():
        for key in _keys(obj, names):
            objects[key] = obj
    for key, entry in REGISTRY.items():
        obj = objects.get(key.split("#")[0])
        if entry.kind == "constant":
            assert not callable(obj), f"{key} is callable: sweep it"
        elif entry.kind == "result":  # a NamedTuple or an equinox Module the library builds
            assert isinstance(obj, type) and issubclass(obj, tuple | eqx.Module), key
        elif entry.kind == "warning":
            assert isinstance(obj, type) and issubclass(obj, Warning), key
        else:
            assert entry.kind == "call" and callable(obj), key
            assert entry.note == "" and entry.specs or not inspect.signature(obj).parameters, (
                f"{key}: a swept callable with parameters needs arguments to corrupt"
            )


@pytest.mark.parametrize(("key", "arg"), swept_cases())
def test_bad_input_is_refused_clearly(key, arg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problems = sweep(REGISTRY[key], arg)
    shown = "\n".join(
        f"  {arg}={value}: {outcome}: {detail}" for value, outcome, detail in problems
    )
    assert not problems, f"{key}: bad values of {arg!r} not refused clearly:\n{shown}"
    traced = TRACING.get(key, set()) - set(TRACE_ALLOWED.get(key, ()))
    assert not traced, f"{key}: traced {sorted(traced)} before refusing a bad {arg!r}"


def test_names_argument_matches_words_only():
    assert names_argument("data.times: expected ...", ("data",))
    assert names_argument("theta['A']: expected ...", ("theta",))
    assert not names_argument("seed_or_key: expected ...", ("key",))
    assert not names_argument("x0: expected ...", ("x",))


# The representative cases of issue 22, each of which must now be a clear error.
def _issue_cases():
    import jax
    import optax

    from bayeskit import fbm, gp_pde, kernels, rlhf, smc, thinning, validate

    sv = smc.stochastic_volatility()
    sv_theta = {"phi": np.array(0.9), "log_sigma": np.array(-1.0), "log_beta": np.array(0.0)}
    river = rlhf.riverswim(3, horizon=2)
    bad_p = np.asarray(river.transitions) * 3.0
    fou = fbm.fractional_ou(0, num_speeds=3, width=4, depth=1)
    data = fbm.Observations(np.array([0.5, 1.0]), np.zeros((1, 2, 1)))
    x = np.random.default_rng(0).normal(size=(8, 2))
    problem = gp_pde.problems.get("poisson_1d_sin100", grid=9)
    return [
        (
            "smc.simulate NaN theta",
            "theta",
            lambda: smc.simulate(0, sv, {**sv_theta, "phi": np.nan}, 5),
        ),
        ("smc.simulate phi=1.5", "theta", lambda: smc.simulate(0, sv, {**sv_theta, "phi": 1.5}, 5)),
        ("smc.ess NaN", "log_weights", lambda: smc.ess(np.array([0.0, np.nan]))),
        ("smc.ess empty", "log_weights", lambda: smc.ess(np.zeros(0))),
        ("smc.ess all -inf", "log_weights", lambda: smc.ess(np.full(3, -np.inf))),
        (
            "smc.backward_sample all -inf",
            "log_w_prev",
            lambda: smc.backward_sample(
                0,
                smc.linear_gaussian(1),
                {"A": np.eye(1), "log_q": np.zeros(1), "log_r": np.zeros(1)},
                np.zeros((3, 1)),
                np.full(3, -np.inf),
                np.zeros((2, 1)),
                n_backward=1,
            ),
        ),  # fmt: skip
        (
            "smc.smoother_logpdf_term t out of range",
            "t",
            lambda: smc.smoother_logpdf_term(9, np.zeros(1), np.zeros(1), smc.init_smoother(4, 1)),
        ),
        ("gp_pde.Term NaN coef", "coef", lambda: gp_pde.Term(np.nan, 0, 2)),
        (
            "gp_pde.objective NaN log_tau",
            "log_tau",
            lambda: gp_pde.objective(
                problem,
                np.zeros(problem.grid),
                gp_pde.spectral.init_params(1, 2, 5.0),
                np.nan,
                0.0,
                kernel="student_t",
            ),
        ),  # fmt: skip
        (
            "gp_pde.objective params of the wrong dimension",
            "params",
            lambda: gp_pde.objective(
                problem,
                np.zeros(problem.grid),
                gp_pde.spectral.init_params(2, 2, 5.0),
                0.0,
                0.0,
                kernel="student_t",
            ),
        ),  # fmt: skip
        (
            "fbm.fit negative obs_std",
            "obs_std",
            lambda: fbm.fit(0, fbm.fractional_ou(0, obs_std=-0.1), data, steps=1, dt=0.1),
        ),
        ("fbm.variance_scale(1.5)", "hurst", lambda: fbm.variance_scale(1.5)),
        (
            "kernels.gram NaN points",
            "X",
            lambda: kernels.gram(kernels.Gaussian(), np.array([[0.0], [np.nan]])),
        ),
        ("rlhf.plan non-stochastic", "transitions", lambda: rlhf.plan(river, transitions=bad_p)),
        (
            "rlhf.query_statistic non-PD design",
            "design",
            lambda: rlhf.query_statistic(np.ones(2), np.array([[1.0, 0.0], [0.0, -1.0]]), 0.5),
        ),
        (
            "rlhf.policy_value actions 5",
            "policy",
            lambda: rlhf.policy_value(river, np.full((2, 3), 5)),
        ),
        ("rlhf.evaluate actions 5", "policy", lambda: rlhf.evaluate(river, np.full((2, 3), 5))),
        ("rlhf.rollout actions 5", "policy", lambda: rlhf.rollout(0, river, np.full((2, 3), 5))),
        (
            "rlhf.policy_value short",
            "policy",
            lambda: rlhf.policy_value(river, np.zeros((1, 3), int)),
        ),
        (
            "rlhf.make_mdp row sum 1 + 9e-6 (renormalised) and 1 + 1e-3 (refused)",
            "transitions",
            lambda: rlhf.make_mdp(
                np.asarray(river.transitions) * (1 + 1e-3), None, np.zeros(6), horizon=2
            ),
        ),
        (
            "fbm.simulate_path float seed",
            "key",
            lambda: fbm.simulate_path(1.5, fou.sde, np.zeros(1), dt=0.1, n_steps=2),
        ),
        ("rlhf.rollout float seed", "key", lambda: rlhf.rollout(1.5, river, np.zeros((2, 3), int))),
        (
            "rlhf.sample_arms float seed",
            "key",
            lambda: rlhf.sample_arms(1.5, rlhf.dueling_bandit(0, dim=2, n_arms=3)),
        ),
        (
            "fbm.fit optimizer='adam'",
            "optimizer",
            lambda: fbm.fit(0, fou, data, steps=1, dt=0.1, optimizer="adam"),
        ),
        (
            "gp_pde.solve optimizer='adam'",
            "optimizer",
            lambda: gp_pde.solve(0, problem, optimizer="adam"),
        ),
        (
            "smc.mle optimizer='adam'",
            "optimizer",
            lambda: smc.mle(0, sv, sv_theta, np.zeros((5, 1)), steps=1, optimizer="adam"),
        ),
        (
            "rlhf.evaluate wrong rewards",
            "rewards",
            lambda: rlhf.evaluate(river, np.zeros((2, 3), int), np.zeros((4, 2))),
        ),
        ("rlhf.plan wrong rewards", "rewards", lambda: rlhf.plan(river, np.zeros((4, 2)))),
        ("rlhf.reward_error wrong theta", "theta", lambda: rlhf.reward_error(river, np.zeros(5))),
        (
            "rlhf.rollout wrong policy",
            "policy",
            lambda: rlhf.rollout(0, river, np.zeros((3, 3), int)),
        ),
        (
            "fbm.optimal_omega equal speeds",
            "gammas",
            lambda: fbm.optimal_omega(0.3, np.array([1.0, 1.0])),
        ),
        (
            "thinning.split_kernel 'foo'",
            "variant",
            lambda: thinning.split_kernel(kernels.Gaussian(), "foo", alpha=None, dim=2),
        ),
        (
            "thinning.kt_split_gram non-square",
            "kmat",
            lambda: thinning.kt_split_gram(np.zeros((3, 2)), np.zeros((1, 1))),
        ),
        ("kernels.gram class", "k", lambda: kernels.gram(kernels.Gaussian, x)),
        ("validate.check_finite('abc')", "arg", lambda: validate.check_finite("abc", "arg")),
        (
            "fbm.Observations unordered",
            "times",
            lambda: fbm.Observations(np.array([1.0, 0.5]), np.zeros((1, 2, 1))),
        ),
        (
            "fbm.LatentSDE negative obs_std",
            "obs_std",
            lambda: fbm.LatentSDE(fou.sde, fou.control, np.zeros(1), -1.0),
        ),
        (
            "fbm.FractionalSDE drift=3",
            "drift",
            lambda: fbm.FractionalSDE(3, fbm.ConstantDiffusion(), dim=1),
        ),
        ("fbm.MLPDrift(dim=0)", "dim", lambda: fbm.MLPDrift(0, dim=0)),
        ("gp_pde.Term order 3", "order", lambda: gp_pde.Term(1.0, 0, 3)),
        ("thinning.thin float seed", "key", lambda: thinning.thin(1.5, x, 1)),
        (
            "smc.mle optimizer None is fine; 'sgd' not",
            "optimizer",
            lambda: smc.mle(0, sv, sv_theta, np.zeros((5, 1)), steps=1, optimizer=optax.sgd),
        ),
        (
            "random.as_key float",
            "seed_or_key",
            lambda: __import__("bayeskit").random.as_key(jax.numpy.float32(1.0)),
        ),
    ]


def test_issue_22_cases_are_clear_errors():
    unclear = []
    for label, name, fn in _issue_cases():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fn()
        except (ValueError, TypeError) as err:
            if not names_argument(str(err), (name,)):
                unclear.append(f"{label}: names the wrong argument: {err}")
        except Exception as err:  # noqa: BLE001
            unclear.append(f"{label}: {type(err).__name__}: {err}")
        else:
            unclear.append(f"{label}: returned without error")
    assert not unclear, "\n".join(unclear)


@pytest.fixture(scope="module", autouse=True)
def _report(request):
    yield
    if sum(TALLY.values()):
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:  # not shown by xdist workers; run tests/bad_input_registry.py
            reporter.write_line("")
            for line in summary_lines():
                reporter.write_line(line)
