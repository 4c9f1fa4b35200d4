"""Feedback HTML reads offline and whole: formulas as MathML (no MathJax from a CDN), long lines wrapped.

The HTML of a real ``nbgrader generate_feedback`` run is checked in tests/test_course.py
(test_feedback_can_be_generated, and in a browser without network, test_feedback_reads_offline_in_a_browser).
"""

from __future__ import annotations

import os

import nbformat
import pytest
from course_helpers import LABS, source_notebook

pytest.importorskip("latex2mathml", reason='the [instructor] extra brings latex2mathml: pip install -e ".[instructor]"')

from dlcourse.autograde.feedback_html import (  # noqa: E402
    FIGURE_ALT,
    MATHJAX_START,
    FeedbackHTMLExporter,
    MathMLRenderer,
    latex_to_mathml,
)


def _markdown(source: str) -> str:
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    return MarkdownWithMath(renderer=MathMLRenderer(escape=False)).render(source)


def test_formulas_become_mathml_and_code_keeps_its_dollars():
    out = _markdown("The loss $L = \\frac{1}{N} \\sum_i \\ell_i$ and\n\n$$\\hat y = \\sigma(z)$$\n\nand `cost = $5`.")
    assert out.count("<math") == 2 and 'display="block"' in out and 'display="inline"' in out
    assert "<mfrac>" in out and "\\frac" not in out
    assert "<code>cost = $5</code>" in out  # not a formula: nbconvert's parser leaves code alone


def test_latex_it_cannot_convert_is_shown_escaped_not_as_html():
    out = latex_to_mathml("\\left( <script>", display=False)  # no \\right: latex2mathml refuses it
    assert out.startswith('<code class="latex-unconverted">$') and "&lt;script&gt;" in out and "<script>" not in out
    assert "<script>" not in latex_to_mathml("\\unknown{<script>}", display=True)  # converted, escaped


def test_every_formula_of_the_course_converts():
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    for lab in LABS:
        for cell in source_notebook(lab).cells:
            if cell.cell_type == "markdown":
                html = MarkdownWithMath(renderer=MathMLRenderer(escape=False)).render(cell.source)
                assert "latex-unconverted" not in html, (lab, cell.source[:200])


PNG = {"image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}


def _feedback_page(nb) -> str:
    """The page nbgrader's feedback template makes of ``nb``, with the exporter the course configures."""
    import nbgrader

    templates = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates")
    css = os.path.join(templates, "..", "static", "node_modules", "bootstrap", "dist", "css")
    exporter = FeedbackHTMLExporter(
        template_name="feedback", extra_template_basedirs=[templates], extra_template_paths=[css]
    )
    resources = {"nbgrader": {"notebook": "lab", "score": 1, "max_score": 2, "late_penalty": 0}}
    return exporter.from_notebook_node(nb, resources=resources)[0]


def test_the_feedback_page_loads_no_script_and_wraps_long_lines():
    long_line = "x = [" + ", ".join(str(i) for i in range(200)) + "]"
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("A neuron computes $z = w \\cdot x + b$."),
            nbformat.v4.new_code_cell(long_line, outputs=[nbformat.v4.new_output("stream", text=long_line)]),
            nbformat.v4.new_code_cell("plt.plot(x)", outputs=[nbformat.v4.new_output("display_data", data=PNG)]),
        ]
    )
    page = _feedback_page(nb)
    assert "<math" in page and "$z = w" not in page
    assert "<script" not in page and MATHJAX_START not in page and "mathjax/" not in page.lower()
    head = page[: page.index("</head>")]
    assert "white-space: pre-wrap" in head and "word-break: normal" in head  # the rules sit in the head
    assert long_line in page  # wrapped by the browser, not cut or shortened
    # The figure says what it is (nbconvert would warn about it on every page, and call it undescribed).
    assert f'alt="{FIGURE_ALT}"' in page and "No description has been provided" not in page
