"""Sphinx extension of the vqlit book: how exported cells look to a reader.

A chapter cell that starts with ``#| export`` is part of the ``vqlit`` package. The marker stays in
the source (tools/export.py reads it); in the HTML it becomes a small label that names the module
the cell is exported to, and the code starts at its first real line.
"""
from __future__ import annotations

import re
from pathlib import Path

import jupytext
from docutils import nodes

DIRECTIVE = re.compile(r"^#\|\s*([A-Za-z_]+):?\s*(.*?)\s*$")


def exported_cells(source: Path) -> dict[str, str]:
    """The source of every exported cell of a chapter (marker line removed) -> its module."""
    modules, module = {}, None
    for cell in jupytext.read(source).cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.splitlines()
        if not lines or not (m := DIRECTIVE.match(lines[0])):
            continue
        key, value = m.groups()
        if key == "default_exp":
            module = value
        elif key == "export":
            modules["\n".join(lines[1:]).strip()] = value or module or ""
    return modules


def label_exported_cells(app, doctree) -> None:
    source = Path(app.env.doc2path(app.env.docname))
    if source.suffix != ".md" or "#| export" not in source.read_text(encoding="utf-8"):
        return
    modules = exported_cells(source)
    for block in list(doctree.findall(nodes.literal_block)):
        text = block.astext()
        parent = block.parent
        if not text.startswith("#| export") or "cell_input" not in parent.get("classes", []):
            continue
        code = text.split("\n", 1)[1] if "\n" in text else ""
        module = modules.get(code.strip(), "")
        block.rawsource = code
        block.children = [nodes.Text(code)]
        label = nodes.paragraph(classes=["vqlit-export-label"])
        label += nodes.Text("exported to ")
        label += nodes.literal(text=f"vqlit.{module}" if module else "vqlit")
        parent.insert(parent.index(block), label)
        cell = parent.parent
        cell["classes"] = cell.get("classes", []) + ["vqlit-exported"]


def setup(app):
    app.connect("doctree-read", label_exported_cells)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
