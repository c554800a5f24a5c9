"""mkdocs hook (``hooks:`` in mkdocs.yml): the API reference index page, ``api.md``.

Each module's reference (a ``::: module`` block) lives on its method's or shared module's page,
after the guide; this page lists them all, in nav order, each with its docstring's first line
and a cross-reference that fails the strict build if the module's entry is gone. It is written
to ``build/apiref/`` (git-ignored) and added to the site's files.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "apiref"
_DIRECTIVE = re.compile(r"^::: ([\w.]+)\s*$", re.M)


def _nav_pages(nav) -> list[str]:
    """The ``.md`` files of the nav, in order."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for v in nav.values() for p in _nav_pages(v)]
    return [p for item in nav or [] for p in _nav_pages(item)]


def _summary(module: str) -> str:
    path = ROOT / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    first = doc.split("\n\n")[0].replace("\n", " ")
    return re.sub(r":\w+:`~?([^`]+)`", r"`\1`", first)  # Sphinx roles as code


def page(docs_dir: Path, nav) -> str:
    """The markdown of ``api.md``."""
    lines = [
        "# API reference",
        "",
        "Every public module, by the page that explains it; its reference follows the guide there.",
        "",
    ]
    for name in _nav_pages(nav):
        src = docs_dir / name
        modules = _DIRECTIVE.findall(src.read_text()) if src.exists() else []
        if modules:
            title = src.read_text().split("\n", 1)[0].lstrip("# ").strip()
            lines += [f"## [{title}]({name})", ""]
            lines += [f"- [`{m}`][{m}]: {_summary(m)}" for m in modules] + [""]
    return "\n".join(lines)


def on_files(files, config):
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "api.md").write_text(page(Path(config.docs_dir), config.nav))
    files.append(File("api.md", str(OUT), config.site_dir, config.use_directory_urls))
    return files
