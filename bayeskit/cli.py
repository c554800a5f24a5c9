"""Command line: ``bayeskit info | bench NAME | reproduce | --version``.

Each method registers its benchmark by providing ``bayeskit/<method>/benchmark.py`` with
``run(preset="quick", key=0) -> dict`` (see DESIGN.md, "The benchmark contract"). Optional
module attributes: ``PAPER`` (metric name -> the paper's number, shown beside ours in the report).
A key of the returned dict that starts with ``_`` is not a metric: ``_figure`` may hold a
matplotlib figure that ``reproduce`` saves as ``<method>.png``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from bayeskit import __version__

METHODS: dict[str, str] = {
    "gp_pde": "GP PDE solver (GP-HM)",
    "fbm": "fBM SDE inference",
    "smc": "PaRIS particle Gibbs",
    "rlhf": "Thompson-sampling RLHF",
    "thinning": "Kernel thinning",
}
PRESETS = ("quick", "paper")
# Benchmarks of no single method, in bayeskit/<name>_benchmark.py: name -> (what, presets).
# `bench NAME` runs them; `reproduce` does not (they measure the machine, not a paper's numbers).
EXTRA_BENCHMARKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "scale": ("Compress++ memory and many devices", ("quick",)),
}
# Wall time of a whole preset run on the 2-core reference machine, quoted verbatim from the file
# named (the tests check that the quote is there); a preset missing here has no recorded run.
MEASURED: dict[tuple[str, str], tuple[str, str]] = {
    ("gp_pde", "quick"): ("380 s", "docs/gp_pde_measurements.md"),
    ("gp_pde", "paper"): ("about three hours", "docs/gp_pde_measurements.md"),
    ("fbm", "quick"): ("311 s", "docs/fbm.md"),
    ("fbm", "paper"): ("760 s", "docs/fbm.md"),
    ("rlhf", "quick"): ("189 s", "docs/rlhf.md"),
    ("smc", "quick"): ("175 s", "docs/smc.md"),
    ("scale", "quick"): ("581 s", "docs/parallel.md"),
}


class MethodUnavailable(RuntimeError):
    """Raised when a method's benchmark module has not landed yet."""


def load_benchmark(name: str) -> ModuleType:
    """Import ``bayeskit.<name>.benchmark`` (``bayeskit.<name>_benchmark`` for an extra one).

    Raises:
        ValueError: if ``name`` is not a known method.
        MethodUnavailable: if the method's benchmark module does not exist yet.
    """
    if name in EXTRA_BENCHMARKS:
        return importlib.import_module(f"bayeskit.{name}_benchmark")
    if name not in METHODS:
        raise ValueError(f"NAME: expected one of {', '.join(METHODS)}, got {name!r}")
    modname = f"bayeskit.{name}.benchmark"
    try:
        return importlib.import_module(modname)
    except ModuleNotFoundError as err:
        if err.name in (f"bayeskit.{name}", modname):
            raise MethodUnavailable(
                f"{name}: not yet available ({modname} does not exist)"
            ) from err
        raise


def run_benchmark(name: str, preset: str = "quick", key: int = 0) -> dict[str, Any]:
    """Run one method's benchmark and check the contract (flat dict, preset and seconds keys)."""
    module = load_benchmark(name)
    start = time.perf_counter()
    result = module.run(preset=preset, key=key)
    elapsed = time.perf_counter() - start
    if not isinstance(result, dict):
        raise TypeError(f"{name}.benchmark.run: expected a dict, got {type(result).__name__}")
    result.setdefault("preset", preset)
    result.setdefault("seconds", elapsed)
    return result


def metrics_only(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON part of a benchmark result: every key not starting with ``_``."""
    return {k: v for k, v in result.items() if not k.startswith("_")}


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.4g}"
    return str(v)


def _cmd_info(_: argparse.Namespace) -> int:
    from importlib.metadata import PackageNotFoundError, version

    import jax

    print(f"bayeskit {__version__}")
    print(f"python {sys.version.split()[0]}")
    for pkg in ("jax", "jaxlib", "numpyro", "blackjax", "arviz", "gpjax", "optax", "equinox"):
        try:
            print(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            print(f"{pkg} not installed")
    print(f"devices {[str(d) for d in jax.devices()]}")
    print(f"jax_enable_x64 {bool(jax.config.jax_enable_x64)}")
    for name in METHODS:
        try:
            load_benchmark(name)
            state = "available"
        except MethodUnavailable:
            state = "not yet available"
        print(f"method {name}: {state}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    try:
        result = run_benchmark(args.name, args.preset, args.key)
    except MethodUnavailable as err:
        print(str(err), file=sys.stderr)
        return 2
    metrics = metrics_only(result)
    if args.json:
        print(json.dumps(metrics, indent=2, default=float))
    else:
        width = max(map(len, metrics))
        for k, v in metrics.items():
            print(f"{k:<{width}}  {_fmt(v)}")
    return 0


def write_report(results: dict[str, Any], out: Path) -> Path:
    """Write ``out/index.md`` (one table per method, ours beside the paper's) and PNG figures.

    Args:
        results: method name -> benchmark result dict, or an error/unavailable string.
        out: the report folder (created if missing).

    Returns:
        The path of ``index.md``.
    """
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# bayeskit reproduction report", ""]
    for name, result in results.items():
        lines += [f"## {METHODS[name]} (`{name}`)", ""]
        if isinstance(result, str):
            lines += [result, ""]
            continue
        figure = result.get("_figure")
        if figure is not None:
            figure.savefig(out / f"{name}.png", dpi=110, bbox_inches="tight")
            lines += [f"![{name}]({name}.png)", ""]
        paper = getattr(load_benchmark(name), "PAPER", {})
        lines += ["| metric | bayeskit | paper |", "|---|---|---|"]
        for k, v in metrics_only(result).items():
            lines.append(f"| `{k}` | {_fmt(v)} | {_fmt(paper[k]) if k in paper else ''} |")
        lines.append("")
    index = out / "index.md"
    index.write_text("\n".join(lines))
    (out / "results.json").write_text(
        json.dumps(
            {k: v if isinstance(v, str) else metrics_only(v) for k, v in results.items()},
            indent=2,
            default=float,
        )
    )
    return index


def _cmd_reproduce(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from bayeskit._progress import stage_bar

    names = list(METHODS) if not args.only else [s.strip() for s in args.only.split(",") if s]
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        print(f"--only: unknown method(s) {unknown}; expected {list(METHODS)}", file=sys.stderr)
        return 2
    results: dict[str, Any] = {}
    failed = False
    # one bar over the methods and, nested, each benchmark's bar over its stages (shown when
    # run in a terminal; BAYESKIT_PROGRESS=0/1 overrides)
    with stage_bar("reproduce", names) as next_method:
        for name in names:
            next_method()
            try:
                results[name] = run_benchmark(name, args.preset, args.key)
            except MethodUnavailable:
                results[name] = "not yet available"
            except Exception as err:  # report every method, then fail at the end
                results[name] = f"FAILED: {type(err).__name__}: {err}"
                failed = True
    index = write_report(results, Path(args.out))
    print(f"wrote {index}")
    return 1 if failed else 0


def _presets_epilog() -> str:
    """The ``bench --help`` table: every method's presets with their measured wall times."""
    lines = ["presets and their measured wall times on 2 CPU cores (quoted from the file named):"]
    rows = [(name, PRESETS) for name in METHODS]
    rows += [(name, presets) for name, (_, presets) in EXTRA_BENCHMARKS.items()]
    for name, presets in rows:
        for i, preset in enumerate(presets):
            took, source = MEASURED.get((name, preset), ("not measured", ""))
            lines.append(f"  {name if i == 0 else '':<9} {preset:<6} {took:<18} {source}".rstrip())
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayeskit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions, devices and the x64 flag").set_defaults(func=_cmd_info)
    bench = sub.add_parser(
        "bench",
        help="run one method's benchmark",
        epilog=_presets_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("name", choices=[*METHODS, *EXTRA_BENCHMARKS])
    bench.add_argument("--preset", choices=PRESETS, default="quick")
    bench.add_argument("--key", type=int, default=0, help="integer seed")
    bench.add_argument("--json", action="store_true", help="print the metrics as JSON")
    bench.set_defaults(func=_cmd_bench)
    rep = sub.add_parser("reproduce", help="run every benchmark and write reports/")
    rep.add_argument("--preset", choices=PRESETS, default="quick")
    rep.add_argument("--only", default="", help="comma-separated method names")
    rep.add_argument("--out", default="reports")
    rep.add_argument("--key", type=int, default=0, help="integer seed")
    rep.set_defaults(func=_cmd_reproduce)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bayeskit`` console script; enables float64 for this process."""
    args = build_parser().parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    return args.func(args)
