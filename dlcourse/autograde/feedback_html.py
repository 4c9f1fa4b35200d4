"""Feedback HTML that reads offline and whole: formulas as MathML, long lines wrapped, figures described.

nbgrader's feedback page loads MathJax from a CDN to typeset the labs' LaTeX: opened without network (a
student's laptop on a train, a lab machine behind a proxy) it shows raw ``$\\frac{\\partial L}{...}$``. Here
the markdown's formulas are converted to MathML when the page is rendered (latex2mathml, pure Python), which
every current browser draws by itself, and the MathJax script is left out. nbgrader's styles also cut long
lines of code and output at the page's edge, behind a scroll bar that printing loses: they wrap instead.

Configured in course/nbgrader_config.py: ``c.GenerateFeedback.exporter_class = FeedbackHTMLExporter``.
"""

from __future__ import annotations

import html

from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

try:
    from jinja2 import pass_context
except ImportError:  # pragma: no cover - jinja2 < 3
    from jinja2 import contextfilter as pass_context

# The markers nbconvert's mathjax.html.j2 macro puts around the MathJax script and its configuration.
MATHJAX_START, MATHJAX_END = "<!-- Load mathjax -->", "<!-- End of mathjax configuration -->"

# Wrap what nbgrader's and nbconvert's styles cut off (code cells, outputs, tracebacks): at spaces (bootstrap's
# `word-break: break-all` would split words), and a long token such as a printed array without spaces
# anywhere rather than running off the page. Formulas too wide for the page scroll on their own, the page
# does not; they are drawn a little larger than the text around them, as MathJax did.
STYLE = """<style type="text/css">
div.input_area pre, div.highlight pre, div.output_area pre, div.output_subarea pre, div.output_text pre,
div.rendered_html pre, pre {
  white-space: pre-wrap;
  word-break: normal;
  overflow-wrap: anywhere;
}
div.output_area, div.output_subarea, div.input_area, div.highlight { overflow-x: visible; max-width: 100%; }
math { font-size: 115%; }
math[display="block"] { display: block math; margin: 0.6em 0; overflow-x: auto; max-width: 100%; }
code.latex-unconverted { white-space: pre-wrap; }
</style>
"""


def latex_to_mathml(latex: str, display: bool) -> str:
    """MathML for one formula; what latex2mathml cannot convert is shown as its LaTeX, escaped, in a code
    element (readable, never raw HTML)."""
    from latex2mathml.converter import convert

    try:
        return convert(latex.strip(), display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - any LaTeX it does not know: show the source, not an error
        text = html.escape(latex.strip())
        return f'<code class="latex-unconverted">{"$$" if display else "$"}{text}{"$$" if display else "$"}</code>'


class MathMLRenderer(IPythonRenderer):
    """nbconvert's markdown renderer, with the formulas it finds written as MathML instead of left to MathJax
    ($...$, $$...$$ and \\begin{...} environments, found by nbconvert's own parser: not inside code)."""

    def inline_math(self, body: str) -> str:
        return latex_to_mathml(body, display=False)

    def block_math(self, body: str) -> str:
        return latex_to_mathml(body, display=True)

    def latex_environment(self, name: str, body: str) -> str:
        return latex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)


class FeedbackHTMLExporter(HTMLExporter):
    """The HTML exporter of ``nbgrader generate_feedback`` (nbgrader's feedback template, its configuration
    and preprocessors unchanged), with MathML formulas, no MathJax script and long lines wrapped."""

    @pass_context
    def markdown2html(self, context, source):
        """As HTMLExporter.markdown2html, with MathMLRenderer."""
        cell = context.get("cell", {})
        renderer = MathMLRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=getattr(self, "exclude_anchor_links", False),
            **getattr(self, "lexer_options", {}),
        )
        return MarkdownWithMath(renderer=renderer).render(source)

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(described_figures(nb), resources, **kw)
        return offline(output), resources


FIGURE_ALT = "a figure drawn by the code of this cell"


def described_figures(nb):
    """A copy of ``nb`` whose figures (PNG and JPEG outputs) without alternative text say what they are.
    nbconvert would give them "No description has been provided for this image" and warn on every page,
    about figures the grader drew from a learner's run: a warning nobody can act on."""
    import copy

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for mime in ("image/png", "image/jpeg"):
                meta = output.get("metadata", {})
                if mime in output.get("data", {}) and not (meta.get(mime, {}).get("alt") or meta.get("alt")):
                    output.setdefault("metadata", {}).setdefault(mime, {})["alt"] = FIGURE_ALT
    return nb


def offline(page: str) -> str:
    """The page without nbconvert's MathJax script block, with STYLE at the end of its head."""
    start = page.find(MATHJAX_START)
    end = page.find(MATHJAX_END, start)
    if start != -1 and end != -1:
        page = page[:start] + page[end + len(MATHJAX_END) :]
    head_end = page.find("</head>")
    return page[:head_end] + STYLE + page[head_end:] if head_end != -1 else STYLE + page
