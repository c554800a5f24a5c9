"""The README's tour runs as written and touches every method (a user's first copy-paste)."""

import re
from pathlib import Path

from userrun import run_script

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("gp_pde", "fbm", "smc", "rlhf", "thinning")


def tour() -> str:
    """The first python block after the README's "A short tour" heading."""
    text = (ROOT / "README.md").read_text()
    heading = text.index("## A short tour")
    block = re.search(r"```python\n(.*?)```", text[heading:], flags=re.S)
    assert block, "README: no ```python block under '## A short tour'"
    return block.group(1)


def test_tour_calls_every_method_through_the_public_api():
    code = tour()
    for name in METHODS:
        assert re.search(rf"\b{name}\.\w+\(", code), f"the tour never calls bayeskit.{name}"
    imports = re.findall(r"^\s*(?:from|import)\s+(bayeskit[\w.]*)", code, flags=re.M)
    assert imports, "the tour imports nothing from bayeskit"
    for module in imports:
        # public modules only: bayeskit, a method subpackage or a shared module, never deeper
        assert module.count(".") <= 1, f"the tour imports a private path: {module}"
    assert len(code.strip().splitlines()) <= 50, "the tour is meant to stay short"


def test_tour_runs(tmp_path):
    # One fresh interpreter, as a user would paste it; ~60 s on 2 cores, mostly compilation.
    script = tmp_path / "tour.py"
    script.write_text(tour())
    out = run_script(script, cwd=tmp_path, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    for name in METHODS:
        assert f"{name}:" in out.stdout, f"the tour printed nothing for {name}:\n{out.stdout}"
