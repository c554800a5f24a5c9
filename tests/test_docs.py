"""The documentation site builds in strict mode (a broken API reference, link or image fails the
suite), and every method page and every notebook page shows at least one figure.

Marked ``docs``: ``make docs-check`` runs it after ``make unit``, whose notebook tests leave the
executed notebooks in build/notebooks/ for the build to render (it executes any that are missing
or stale itself)."""

import os
import subprocess
import sys
from pathlib import Path

import nbrun
import pytest

pytestmark = pytest.mark.docs

ROOT = Path(__file__).resolve().parents[1]
METHOD_PAGES = ("gp_pde", "fbm", "smc", "rlhf", "thinning")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = tmp_path_factory.mktemp("docs") / "site"
    mkdocs = Path(sys.executable).with_name("mkdocs")
    out = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(site)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=1800,  # a fresh clone executes the five notebooks here
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return site


def test_mkdocs_builds_strict(site):
    assert (site / "index.html").exists()
    assert "bayeskit.rlhf.plots" in (site / "api" / "index.html").read_text()


def test_every_method_and_notebook_page_shows_a_figure(site):
    pages = [site / name / "index.html" for name in METHOD_PAGES]
    pages += [site / "notebooks" / p.stem / "index.html" for p in nbrun.sources()]
    without = [str(p.relative_to(site)) for p in pages if "<img" not in p.read_text()]
    assert not without, f"pages without an image: {without}"


def test_gallery_has_one_thumbnail_per_notebook(site):
    html = (site / "notebooks" / "index.html").read_text()
    assert html.count("<img") == len(nbrun.sources())
    for path in nbrun.sources():
        assert f'href="{path.stem}/"' in html
