"""The notebook-to-page converter of the docs build (tools/nbpages.py), on a hand-made notebook."""

import base64

import nbpages
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

PNG = b"\x89PNG\r\n\x1a\nnot really an image"


def _figure():
    return new_output("display_data", data={"image/png": base64.b64encode(PNG).decode()})


def _value(text):
    return new_output("execute_result", data={"text/plain": text})


def _notebook():
    bar = [new_output("stream", name="stderr", text=t) for t in ("\rfit:  50%", "\rfit: 100%\n")]
    return new_notebook(
        cells=[
            new_markdown_cell("# A title\n\nWhat it shows. More."),
            new_code_cell("print('x ```')", outputs=[new_output("stream", text="x ```\n")]),
            new_code_cell("fit()", outputs=[*bar, _figure()]),
            new_code_cell("plot()", outputs=[_figure()], metadata={"tags": ["thumbnail"]}),
            new_code_cell(
                "table",
                outputs=[new_output("execute_result", data={"text/html": "<table></table>"})],
            ),
            new_code_cell("ax.legend()", outputs=[_value("<matplotlib.legend.Legend at 0x7f>")]),
            new_code_cell("x", outputs=[_value("3.5")]),
            new_code_cell("", outputs=[]),
        ]
    )


def test_a_notebook_becomes_a_page_with_its_figures(tmp_path):
    title, thumbnail = nbpages.render(_notebook(), "demo", tmp_path)
    assert (title, thumbnail) == ("A title", "demo/fig-2.png")
    page = (tmp_path / "notebooks" / "demo.md").read_text()
    assert page.startswith("# A title\n\n*Source: `notebooks/demo.py`")
    assert "````python\nprint('x ```')\n````" in page  # a fence longer than any inside
    assert "```text\nfit: 100%\n```" in page  # the bar's writes joined, its final state kept
    assert "fit:  50%" not in page
    assert page.index("![figure](demo/fig-1.png)") < page.index("![figure](demo/fig-2.png)")
    assert '<div class="nb-output" markdown="0">\n<table></table>\n</div>' in page
    assert page.count("```python") == 6  # the empty cell is left out
    assert "```text\n3.5\n```" in page and "Legend at" not in page  # no artist reprs
    assert (tmp_path / "notebooks" / "demo" / "fig-1.png").read_bytes() == PNG
    assert (
        nbpages.gallery([("demo", title, "What it shows.", thumbnail)]).count(
            "[![A title](demo/fig-2.png)](demo.md)"
        )
        == 1
    )


def test_without_a_tagged_cell_the_first_figure_is_the_thumbnail(tmp_path):
    nb = _notebook()
    nb.cells[3].metadata = {}
    assert nbpages.render(nb, "demo", tmp_path)[1] == "demo/fig-1.png"
    nb.cells = nb.cells[:2]
    assert nbpages.render(nb, "bare", tmp_path)[1] is None
