"""Argument specs, bad-value strategies and the sweep engine behind ``tests/test_bad_inputs.py``.

A registry entry (``tests/bad_input_registry.py``) gives one valid call of a public callable
with small arguments and a spec per argument to corrupt. For each spec, hypothesis draws bad
values (wrong type, wrong rank or size, NaN/inf, empty, negative or zero sizes, out-of-range
numbers, a PRNG key where a number belongs and the reverse, ...); the sweep replaces that one
argument of the valid call and classifies what the call does:

* ``clear``: a ``ValueError`` or ``TypeError`` whose message names the argument;
* ``unclear``: any other exception, or one that names something else;
* ``silent``: the call returned.

Value strategies derive from the argument's valid value (its shape and dtype), so a spec only
says what the argument must satisfy.
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

MAX_EXAMPLES = 10
OUTCOMES = ("clear", "unclear", "silent")


class _Junk:
    """An arbitrary object that is no number, array, string or callable."""

    def __repr__(self) -> str:
        return "<junk object>"


JUNK = _Junk()


def _key():
    return jax.random.key(0)


def _keys2():
    return jax.random.split(jax.random.key(0), 2)


# Lazily built values (JAX arrays are made on first use, not at import).
class Lazy:
    def __init__(self, make: Callable[[], Any], label: str):
        self.make, self.label = make, label

    def __repr__(self) -> str:
        return self.label


KEY = Lazy(_key, "jax.random.key(0)")
KEYS2 = Lazy(_keys2, "jax.random.split(key, 2)")
RAW3 = Lazy(lambda: np.zeros(3, np.uint32), "np.zeros(3, uint32)")
FLOAT_KEY = Lazy(lambda: np.zeros(2, np.float32), "np.zeros(2, float32)")


def realise(value: Any) -> Any:
    return value.make() if isinstance(value, Lazy) else value


# --------------------------------------------------------------------------------------------
# specs
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Spec:
    """What an argument must satisfy; ``bad(valid)`` is a strategy of values that violate it.

    ``name``: the name the error message must contain (default: the argument's name); a tuple
    lists accepted alternatives (e.g. ``("data", "data.times")``).
    ``optional``: ``None`` is a valid value (so it is not generated as a bad one).
    ``extra``: further explicit bad values.
    """

    name: str | tuple[str, ...] | None = None
    optional: bool = False
    extra: tuple = ()

    def variants(self, valid: Any) -> list[st.SearchStrategy]:
        raise NotImplementedError

    def bad(self, valid: Any) -> st.SearchStrategy:
        options = self.variants(valid)
        if not self.optional:
            options.append(st.just(None))
        if self.extra:
            options.append(st.sampled_from(list(self.extra)))
        return st.one_of(*options)


_TEXT = st.sampled_from(["abc", "", "1"])
_JUNK = st.sampled_from([JUNK, {"a": 1}, b"xy"])


@dataclasses.dataclass
class Int(Spec):
    """An integer (not a bool) in ``[low, high]``."""

    low: int | None = None
    high: int | None = None

    def variants(self, valid):
        out = [
            st.sampled_from([2.5, 1.0, np.float32(2.0), True, np.nan, KEY, "3"]),
            _TEXT,
            _JUNK,
            st.just(np.array([1, 2])),
        ]
        if self.low is not None:
            out.append(st.integers(self.low - 1000, self.low - 1))
        if self.high is not None:
            out.append(st.integers(self.high + 1, self.high + 1000))
        return out


@dataclasses.dataclass
class Real(Spec):
    """A finite real scalar in the interval (low, high) (``closed`` says which ends belong)."""

    low: float | None = None
    high: float | None = None
    closed: tuple[bool, bool] = (False, False)
    scalar: bool = True

    def variants(self, valid):
        out = [
            st.sampled_from([np.nan, np.inf, -np.inf, KEY]),
            _TEXT,
            _JUNK,
            st.just(np.array(["a"])),
        ]
        if self.scalar:
            out.append(st.just(np.array([0.5, 0.5])))
        if self.low is not None:
            top = self.low if not self.closed[0] else np.nextafter(self.low, -np.inf)
            out.append(st.floats(self.low - 1e3, top, allow_nan=False))
        if self.high is not None:
            bottom = self.high if not self.closed[1] else np.nextafter(self.high, np.inf)
            out.append(st.floats(bottom, self.high + 1e3, allow_nan=False))
        return out


@dataclasses.dataclass
class Bool(Spec):
    def variants(self, valid):
        return [st.sampled_from([2, "yes", 0.5, np.array([True, False])]), _JUNK]


@dataclasses.dataclass
class Key(Spec):
    """A PRNG key argument: an int seed, a typed key or a raw uint32[2] key are valid."""

    def variants(self, valid):
        return [
            st.sampled_from([1.5, True, "abc", RAW3, FLOAT_KEY, KEYS2]),
            st.floats(allow_nan=True, allow_infinity=True),  # a float is never a seed
            _JUNK,
        ]


@dataclasses.dataclass
class Choice(Spec):
    """One of a set of strings."""

    options: tuple = ()

    def variants(self, valid):
        others = st.text(alphabet="abcdefgxyz_", min_size=0, max_size=8).filter(
            lambda s: s not in self.options
        )
        return [others, st.sampled_from([0, 1.5, KEY]), _JUNK]


@dataclasses.dataclass
class Func(Spec):
    """A callable."""

    def variants(self, valid):
        return [st.sampled_from([0, 1.5, "abc", np.zeros(2)]), st.just(JUNK)]


@dataclasses.dataclass
class Instance(Spec):
    """An instance of one of ``types``; ``wrong`` lists instances of other, related classes."""

    types: tuple = ()
    wrong: tuple = ()

    def variants(self, valid):
        out = [st.sampled_from([0, 1.5, "abc", np.zeros(2), KEY]), _JUNK]
        out += [st.sampled_from(list(self.types))]  # the class itself instead of an instance
        if self.wrong:
            out.append(st.sampled_from(list(self.wrong)))
        return out


@dataclasses.dataclass
class Optimizer(Spec):
    optional: bool = True

    def variants(self, valid):
        return [st.sampled_from(["adam", 1e-3, JUNK, lambda g: g])]


@dataclasses.dataclass
class Arr(Spec):
    """An array. Variants derive from the valid value ``like`` (default: the argument's value).

    ``ranks``: allowed ranks (default: exactly the valid value's; ``"any"`` for any rank).
    ``sized``: axes whose length is fixed by the other arguments (grown by one to corrupt).
    ``finite``: NaN/inf entries are refused. ``nonempty``: a zero-length first axis is refused.
    ``low``/``high``/``closed``: the entries' allowed interval.
    ``integer``: integer entries are required (a float array is refused).
    ``numeric``: a string array is refused (always, unless False).
    """

    like: Any = None
    ranks: Any = None
    sized: Sequence[int] = ()
    finite: bool = True
    nonempty: bool = True
    low: float | None = None
    high: float | None = None
    closed: tuple[bool, bool] = (True, True)
    integer: bool = False
    numeric: bool = True

    def variants(self, valid):
        v = realise(self.like) if self.like is not None else valid
        v = np.asarray(jax.device_get(v))
        out: list[st.SearchStrategy] = [_JUNK, st.just(KEY)]
        if self.numeric:
            out.append(st.just(np.full(v.shape, "a")))
        ranks = (v.ndim,) if self.ranks is None else self.ranks
        if ranks != "any":
            bigger = v[None] if v.ndim < 6 else None
            if bigger is not None and bigger.ndim not in ranks:
                out.append(st.just(bigger))
            if v.ndim >= 1 and v.ndim - 1 not in ranks:
                out.append(st.just(v.reshape(-1)[0] if v.ndim == 1 else v[0]))
            if v.ndim == 0 and 1 not in ranks:
                out.append(st.just(np.stack([v, v])))
        for axis in self.sized:
            if v.ndim > axis:
                out.append(st.just(np.concatenate([v, v.take([0], axis=axis)], axis=axis)))
        if self.nonempty and v.ndim >= 1 and v.shape[0] > 0:
            out.append(st.just(v[:0]))
        if v.size and (self.finite or self.low is not None or self.high is not None):
            out.append(self._corrupt_entry(v))
        if self.integer and v.size:
            out.append(st.just(v.astype(np.float64) + 0.5))
        return out

    def _corrupt_entry(self, v):
        values = []
        if self.finite:
            values += [np.nan, np.inf, -np.inf]
        if self.low is not None:
            values.append(
                self.low - (1.0 if self.closed[0] else 0.0) - (0.5 if not self.integer else 0)
            )
        if self.high is not None:
            values.append(
                self.high + (1.0 if self.closed[1] else 0.0) + (0.5 if not self.integer else 0)
            )
        values = [
            x for x in values if not (self.integer and np.isfinite(x) and x != int(x))
        ] or values

        @st.composite
        def corrupt(draw):
            flat = v.astype(np.float64 if not self.integer else v.dtype, copy=True).reshape(-1)
            i = draw(st.integers(0, flat.size - 1))
            x = draw(st.sampled_from(values))
            if self.integer and np.isfinite(x):
                flat = flat.astype(v.dtype)
                flat[i] = int(x)
            else:
                flat = flat.astype(np.float64)
                flat[i] = x
            return flat.reshape(v.shape)

        return corrupt()


@dataclasses.dataclass
class Values(Spec):
    """Only the explicit bad values in ``extra`` (and None unless ``optional``)."""

    def variants(self, valid):
        return []


# --------------------------------------------------------------------------------------------
# entries
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Entry:
    """``kind`` is ``"call"`` (swept) or an exemption: ``"constant"`` (not callable),
    ``"result"`` (a result or state container the library builds), ``"warning"``."""

    key: str
    kind: str
    fn: Any = None
    valid: Callable[[], tuple[tuple, dict]] | None = None
    specs: dict[str, Spec] = dataclasses.field(default_factory=dict)
    note: str = ""

    _bound: Any = None

    def bound(self):
        if self._bound is None:
            args, kwargs = self.valid()
            sig = inspect.signature(self.fn)
            ba = sig.bind(*args, **kwargs)
            ba.apply_defaults()
            unknown = set(self.specs) - set(sig.parameters)
            if unknown:
                raise AssertionError(f"{self.key}: specs for unknown arguments {sorted(unknown)}")
            self._bound = ba
        return self._bound


def call(*args, **kwargs):
    return args, kwargs


def canonical(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


# --------------------------------------------------------------------------------------------
# running one bad call
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    kind: str
    detail: str
    compiles: int = 0
    traced: tuple[str, ...] = ()


_COMPILES = [0]
_TRACES: list[str] = []


def _bayeskit_function_names() -> set[str]:
    """Names of the functions defined in bayeskit's source (lambdas excluded: a user's function
    traced to validate it, such as a link or an additive functional, is not a compile)."""
    import ast
    from pathlib import Path

    import bayeskit

    names: set[str] = set()
    for path in Path(bayeskit.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(node.name)
    return names


_BAYESKIT_FUNCTIONS = _bayeskit_function_names()


def _on_event(event: str, duration: float, **kwargs) -> None:
    # jax.numpy functions and primitives run eagerly while validating (an ``astype``, a ``max``)
    # compile small programs; a function of bayeskit traced is what a bad input must never reach.
    name = str(kwargs.get("fun_name", ""))
    if event == "/jax/core/compile/backend_compile_duration":
        _COMPILES[0] += 1
    elif event == "/jax/core/compile/jaxpr_trace_duration" and name in _BAYESKIT_FUNCTIONS:
        _TRACES.append(name)


jax.monitoring.register_event_duration_secs_listener(_on_event)


def names_argument(message: str, names: Sequence[str]) -> bool:
    """Whether ``message`` names one of ``names`` as a word (``data`` in ``data.times: ...``)."""
    return any(re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", message) for n in names)


def run_bad_call(entry: Entry, arg: str, bad: Any) -> Outcome:
    ba = entry.bound()
    spec = entry.specs[arg]
    names = (
        (arg,) if spec.name is None else (spec.name,) if isinstance(spec.name, str) else spec.name
    )
    arguments = dict(ba.arguments)
    arguments[arg] = realise(bad)
    bound = inspect.BoundArguments(ba.signature, arguments)
    args, kwargs = bound.args, bound.kwargs
    before, traced_before = _COMPILES[0], len(_TRACES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            entry.fn(*args, **kwargs)
        except (ValueError, TypeError) as err:
            msg = f"{type(err).__name__}: {err}"
            kind = "clear" if names_argument(str(err), names) else "unclear"
        except Exception as err:  # noqa: BLE001 - any other exception is an unclear outcome
            msg, kind = f"{type(err).__name__}: {str(err)[:300]}", "unclear"
        else:
            msg, kind = "returned without error", "silent"
    return Outcome(kind, msg, _COMPILES[0] - before, tuple(_TRACES[traced_before:]))


# --------------------------------------------------------------------------------------------
# the sweep, with a tally
# --------------------------------------------------------------------------------------------
TALLY: collections.Counter = collections.Counter()
COMPILING: collections.Counter = collections.Counter()  # bad calls that compiled one-op programs
TRACING: dict[str, set[str]] = collections.defaultdict(set)  # ... that traced a function
FAILURES: list[tuple[str, str, str, str]] = []


def sweep(entry: Entry, arg: str, max_examples: int = MAX_EXAMPLES) -> list[tuple[str, str, str]]:
    """Run hypothesis over bad values of one argument; return the non-clear results
    ``(value repr, outcome, detail)``. Every call is tallied in ``TALLY``."""
    ba = entry.bound()
    strategy = entry.specs[arg].bad(ba.arguments.get(arg))
    problems: list[tuple[str, str, str]] = []

    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )
    @given(bad=strategy)
    def one(bad):
        outcome = run_bad_call(entry, arg, bad)
        TALLY[outcome.kind] += 1
        if outcome.compiles:
            COMPILING[entry.key] += 1
        if outcome.traced and outcome.kind == "clear":
            TRACING[entry.key].update(outcome.traced)
        if outcome.kind != "clear":
            shown = repr(bad)
            shown = shown if len(shown) < 120 else shown[:117] + "..."
            problems.append((shown, outcome.kind, outcome.detail))
            FAILURES.append((entry.key, arg, shown, f"{outcome.kind}: {outcome.detail}"))

    one()
    return problems


def summary_lines() -> list[str]:
    total = sum(TALLY.values())
    lines = [
        f"bad-input sweep: {total} bad calls: " + ", ".join(f"{TALLY[k]} {k}" for k in OUTCOMES)
    ]
    lines.append(
        f"  {len(TRACING)} functions traced code before refusing a bad input; "
        f"{sum(COMPILING.values())} bad calls compiled one-op programs while validating"
    )
    return lines
