"""Sphinx extension of the vqlit book: how exported cells look to a reader.

Code cites an equation by its label (``Eq. (ema-update)``, stable when prose moves); the reader
sees the number the page prints, ``Eq. (1.10)``, in the code and the output of every cell, as in the
package's docstrings and the Colab notebooks (tools/export.py's ``cite_by_number``).

A chapter cell that starts with ``#| export`` is part of the ``vqlit`` package. The directive stays
in the source (tools/export.py reads it); in the HTML it becomes a small label naming the module the
cell is exported to, and the code starts at its first real line. The directives are parsed and
routed by tools/export.py itself, so the label always names the module the exporter writes.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import export  # noqa: E402  (tools/export.py: one home for the directive syntax)

logger = logging.getLogger(__name__)


def exported_cells(source: Path) -> dict[str, str]:
    """The code of every exported cell of a chapter (directives removed) -> its module."""
    modules = export.collect_modules([source.relative_to(ROOT)])
    return {code.strip(): name for name, module in modules.items() for _, code in module.cells}


def cite_equations_by_number(app, doctree) -> None:
    """Every cell's code and printed output, and any text (a figure's caption): `Eq. (label)` ->
    `Eq. (1.10)`."""
    numbers = export.equation_numbers()
    for block in list(doctree.findall(nodes.literal_block)):
        text = block.astext()
        cited = export.cite_by_number(text, numbers)
        if cited != text:
            block.rawsource = cited
            block[:] = [nodes.Text(cited)]
    for text in list(doctree.findall(nodes.Text)):
        cited = export.cite_by_number(str(text), numbers)
        if cited != str(text) and not isinstance(text.parent, nodes.literal_block):
            text.parent.replace(text, nodes.Text(cited))


def label_exported_cells(app, doctree) -> None:
    source = Path(app.env.doc2path(app.env.docname)).resolve()
    if source.suffix != ".md" or "#| export" not in source.read_text(encoding="utf-8"):
        return
    modules = exported_cells(source)
    for block in list(doctree.findall(nodes.literal_block)):
        parent = block.parent
        if "cell_input" not in parent.get("classes", []):
            continue
        found, code = export.directives(block.astext())
        if not any(key == "export" for key, _ in found):
            continue
        module = modules.get(code.strip())
        if module is None:
            logger.warning(f"an exported cell of {source.name} matches no module of the exporter",
                           location=block)
        block.rawsource = code
        block[:] = [nodes.Text(code)]
        label = nodes.paragraph(classes=["vqlit-export-label"])
        label += nodes.Text("exported to ")
        label += nodes.literal(text=f"vqlit.{module}")
        parent.insert(parent.index(block), label)
        parent.parent["classes"] = parent.parent.get("classes", []) + ["vqlit-exported"]


CODE_CELL = re.compile(r"^(`{3,}|~{3,})\s*\{code-cell\}", re.M)


def drop_launch_buttons_without_notebook(app, pagename, templatename, context, doctree) -> None:
    """A chapter page offers a Colab launch button only if it has a notebook to open and code to
    run. One that runs only inside a checkout (``vqlit: {colab: false}``) has no Colab notebook
    (tools/export.py makes none for it): the theme's button would open the .md, which fails. A
    plain Markdown page without code cells (a chapter's index page) has nothing to run. The same
    rule as ``offers_colab`` in tools/check_build.py, which checks the built pages."""
    source = Path(app.env.doc2path(pagename)) if pagename in app.env.all_docs else None
    if source is None or source.suffix != ".md":
        return
    has_code = CODE_CELL.search(source.read_text(encoding="utf-8")) is not None
    if source.with_suffix(".ipynb").exists() and has_code:
        return
    if "header_buttons" in context:
        context["header_buttons"] = [b for b in context["header_buttons"]
                                     if b.get("label") != "launch-buttons"]


def setup(app):
    app.connect("doctree-read", label_exported_cells)
    app.connect("doctree-read", cite_equations_by_number, priority=600)   # after the labels
    app.connect("html-page-context", drop_launch_buttons_without_notebook, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
