"""mkdocs hook (``hooks:`` in mkdocs.yml): every notebook as a page, and a gallery of them.

For each ``notebooks/<name>.py`` the executed copy from :mod:`nbrun` (executed now if missing or
stale) becomes ``notebooks/<name>.md``: markdown cells as they are, code in fences, text outputs
in fences, HTML outputs as HTML and each PNG output as ``notebooks/<name>/fig-<k>.png`` (k = 1,
2, ... in output order; method pages show key figures by these names). ``notebooks/index.md`` is
the gallery: one card per notebook, pictured by the first figure of its cell tagged
``thumbnail`` (``# %% tags=["thumbnail"]`` in the source), else by its first figure. All of it
is written to ``build/docs/`` (git-ignored) and added to the site's files, so the nav lists it.
"""

from __future__ import annotations

import base64
import logging
import re
import shutil
from pathlib import Path

import nbrun
from mkdocs.structure.files import File

OUT = nbrun.ROOT / "build" / "docs"
SECTION = "notebooks"
log = logging.getLogger(f"mkdocs.hooks.{__name__}")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# the value of a cell ending in a plotting call (``<Axes: ...>``, ``[<matplotlib.lines...``):
# noise beside the figure itself, so left out
_ARTIST = re.compile(r"^\[?<(matplotlib\.|Axes)|^Text\(")


def _fence(text: str, lang: str) -> str:
    ticks = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def _terminal(text: str) -> str:
    """What a terminal shows: colour codes dropped, each line after its last carriage return
    (a progress bar's final state)."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in _ANSI.sub("", text).split("\n"))


def _merged(outputs) -> list[dict]:
    """The outputs with each run of writes to one stream joined (a progress bar writes many)."""
    merged: list[dict] = []
    for out in outputs:
        last = merged[-1] if merged else {}
        if (
            out.get("output_type") == "stream"
            and last.get("output_type") == "stream"
            and last.get("name") == out.get("name")
        ):
            merged[-1] = {**last, "text": last["text"] + out.get("text", "")}
        else:
            merged.append(out)
    return merged


def _output(out, figure) -> str | None:
    """Markdown for one output; ``figure(png_bytes)`` stores an image and returns its link."""
    kind = out.get("output_type")
    if kind == "stream":
        text = _terminal(out.get("text", ""))
        return _fence(text, "text") if text.strip() else None
    if kind == "error":
        return _fence(_terminal("\n".join(out.get("traceback", []))), "text")
    data = out.get("data", {})
    if "image/png" in data:
        return f"![figure]({figure(base64.b64decode(data['image/png']))})"
    if "text/html" in data:
        return f'<div class="nb-output" markdown="0">\n{data["text/html"].strip()}\n</div>'
    if "text/markdown" in data:
        return data["text/markdown"]
    if "text/plain" in data and not _ARTIST.match(data["text/plain"]):
        return _fence(_terminal(data["text/plain"]), "text")
    return None


def render(nb, name: str, out: Path) -> tuple[str, str | None]:
    """Write ``notebooks/<name>.md`` and its figures under ``out``; return the page's title
    (the notebook's opening ``#`` heading) and its thumbnail's path relative to ``notebooks/``
    (``None`` if it has no figure)."""
    figures: list[str] = []
    thumbnail = None
    folder = out / SECTION / name
    folder.mkdir(parents=True, exist_ok=True)

    def figure(png: bytes) -> str:
        figures.append(f"{name}/fig-{len(figures) + 1}.png")
        (out / SECTION / figures[-1]).write_bytes(png)
        return figures[-1]

    source = f"notebooks/{name}.py"
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source)
        elif cell.cell_type == "code" and cell.source.strip():
            parts.append(_fence(cell.source, "python"))
            before = len(figures)
            parts += filter(None, (_output(o, figure) for o in _merged(cell.get("outputs", []))))
            tagged = "thumbnail" in cell.metadata.get("tags", [])
            if tagged and thumbnail is None and len(figures) > before:
                thumbnail = figures[before]
    note = (
        f"*Source: `{source}` (jupytext percent format), executed with `BAYESKIT_SMALL=1` "
        "(small sizes). Open it in Jupyter with `jupytext`, or run it as a script.*"
    )
    body = "\n\n".join(parts)
    head, _, rest = body.partition("\n")
    if not head.startswith("# "):  # a notebook without a title gets its file name
        head, rest = f"# {name}", body
    (out / SECTION / f"{name}.md").write_text(f"{head}\n\n{note}\n\n{rest.lstrip()}\n")
    return head[2:].strip(), thumbnail or (figures[0] if figures else None)


def _contents(nb) -> str:
    """A gallery card's text: the notebook's ``##`` headings, else its first sentence."""
    text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    heads = re.findall(r"^## (?:\d+\.\s*)?(.+?)\s*$", text, re.M)  # without "1." numbering
    heads = [h for h in heads if h != "Key numbers"]
    if heads:
        return " · ".join(heads)
    paragraphs = [p for p in text.split("\n\n") if p.strip() and not p.lstrip().startswith("#")]
    first = " ".join(paragraphs[0].split()) if paragraphs else ""
    return re.split(r"(?<=\.)\s+(?=[A-Z])", first)[0]


def gallery(cards: list[tuple[str, str, str, str | None]]) -> str:
    """The gallery page: a card per notebook ``(name, title, contents, thumbnail)``."""
    lines = [
        "# Gallery",
        "",
        "Every notebook in `notebooks/`, executed on its small preset by the test suite and "
        "rendered here with its outputs. Each method page shows its key figures; the notebook "
        "shows how they were made.",
        "",
        '<div class="grid cards" markdown>',
        "",
    ]
    for name, title, contents, thumbnail in cards:
        thumb = f"[![{title}]({thumbnail})]({name}.md)" if thumbnail else ""
        lines += [f"-   **[{title}]({name}.md)**", "", f"    {thumb}", "", f"    {contents}", ""]
    lines += ["</div>", ""]
    return "\n".join(lines)


def build(out: Path = OUT) -> list[Path]:
    """Render every notebook and the gallery under ``out`` (emptied first); return the files."""
    shutil.rmtree(out, ignore_errors=True)
    cards = []
    for path in nbrun.sources():
        nb = nbrun.current(path)
        if nb is None:
            log.info("notebook %s: no current executed copy in build/, executing it", path.name)
            nb = nbrun.execute(path)
        title, thumbnail = render(nb, path.stem, out)
        cards.append((path.stem, title, _contents(nb), thumbnail))
    (out / SECTION / "index.md").write_text(gallery(cards))
    return sorted(p for p in out.rglob("*") if p.is_file())


def on_files(files, config):
    for path in build():
        uri = path.relative_to(OUT).as_posix()
        files.append(File(uri, str(OUT), config.site_dir, config.use_directory_urls))
    return files
