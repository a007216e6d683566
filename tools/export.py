"""Export the book's chapters into the ``vqlit`` package and its Colab notebooks.

The chapters in ``book/chapters/*.md`` (jupytext MyST notebooks) are the source. Directives,
written as the first lines of a code cell, mark what goes into the package (nbdev's syntax):

    #| default_exp vq       every later ``#| export`` cell of this chapter goes to vqlit/vq.py
    #| export               this cell is part of the current module
    #| export metrics       this cell goes to vqlit/metrics.py (declared in the same chapter)
    #| top fit TrainConfig  after ``#| export``: these names of the cell are also ``vqlit.fit``, ...

A chapter may feed several modules (one ``default_exp`` each); a module comes from exactly one
chapter. Besides the modules, the exporter writes:

* ``vqlit/__init__.py``: the version and lazy access to the names marked ``#| top`` (the curated
  top level, e.g. ``vqlit.VectorQuantizer``); every other name is imported from its module;
* ``book/api/<module>.md``: the module's reference page (autodoc), naming the page it comes from,
  and ``book/api/index.md``, the table of every module;
* ``book/chapters/<chapter>.ipynb``: the chapter as a notebook for Colab, which cannot open MyST
  Markdown. The book's launch button links to it; ``_config.yml`` keeps it out of the build.

The repository address lives in one place, ``_config.yml`` (``repository.url`` and ``.branch``). The
launch buttons read it there, and this tool writes it into every chapter's bootstrap cell (the
hidden cell marked ``#| bootstrap`` that installs vqlit on Colab). The bootstrap installs the tag
``v<version>`` of pyproject.toml's version, the release the page was exported with, and the branch
only where that tag does not exist yet, saying so.

    python tools/export.py            write everything
    python tools/export.py --check    exit 1, naming each stale file, if anything would change
"""

from __future__ import annotations

import argparse
import ast
import copy
import functools
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = Path("book/chapters")
PACKAGE = Path("vqlit")
API = Path("book/api")          # one reference page per module, written here
DIRECTIVE = re.compile(r"^#\|\s*([A-Za-z_]+):?\s*(.*?)\s*$")  # "#| key value" or "#| key: text"
MODULE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")

HEADER = (
    "# This file is generated from {source} by tools/export.py. Do not edit it:\n"
    "# edit the chapter, then run `python tools/export.py`.\n"
)
CELL_MARK = "# %% {source}: {names}\n"  # names the cell's definitions, not a line that prose edits move

BOOTSTRAP = '''\
#| bootstrap: installs vqlit where it is missing (Colab); tools/export.py writes it
import importlib.util, subprocess, sys
if importlib.util.find_spec("vqlit") is None:      # the release this page was exported with
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    package = "vqlit[notebook] @ git+{url}@"
    if subprocess.run(pip + [package + "v{version}"]).returncode:
        print("vqlit v{version} is not tagged; installing {branch}, which may be newer than this page")
        subprocess.run(pip + [package + "{branch}"], check=True)'''

INIT_DOC = '''"""vqlit: vector quantizers derived step by step in the vqlit book.

Every module is generated from a chapter of the book. The top level holds the quantizers, their
output type, and the entry points for data, models, training and the named experiments; each is
imported on first use (``vqlit.VectorQuantizer`` from ``vqlit.vq``), so ``import vqlit`` is cheap.
Everything else is imported from its module, e.g. ``from vqlit.sinkhorn import sinkhorn``.
"""
'''


class ExportError(Exception):
    """A chapter breaks an export rule; the message says which chapter and line."""


@dataclass
class Module:
    name: str
    chapter: Path
    cells: list[tuple[int, str]] = field(default_factory=list)  # (line in the chapter, source)
    top: list[str] = field(default_factory=list)                 # names for ``vqlit.<name>``


def directives(source: str) -> tuple[list[tuple[str, str]], str]:
    """Split a cell into its leading ``#|`` directives and the code after them."""
    lines = source.splitlines()
    found = []
    while lines and (m := DIRECTIVE.match(lines[0])):
        found.append((m.group(1), m.group(2)))
        lines.pop(0)
    return found, "\n".join(lines).strip("\n")


def cell_lines(text: str, cells: list) -> list[int]:
    """1-based line in the chapter file where each cell's source starts (0 when not found)."""
    lines, pos = [], 0
    for cell in cells:
        where = text.find(cell.source, pos) if cell.source else -1
        if where < 0:
            lines.append(0)
            continue
        lines.append(text.count("\n", 0, where) + 1)
        pos = where + len(cell.source)
    return lines


READ: dict[Path, str] = {}     # each page's text as the export read it (see `write`)


def read_chapter(path: Path) -> tuple[str, nbformat.NotebookNode]:
    text = (ROOT / path).read_text(encoding="utf-8")
    READ[path] = text
    return text, jupytext.reads(text, fmt="md:myst")


def collect_modules(chapters: list[Path]) -> dict[str, Module]:
    """Walk the chapters in order and gather each module's exported cells.

    ``#| export`` sends a cell to the module of the latest ``#| default_exp`` above it;
    ``#| export NAME`` sends it to module NAME, which this chapter must declare with ``default_exp``.
    """
    modules: dict[str, Module] = {}
    for path in chapters:
        text, nb = read_chapter(path)
        cells = [(c, line, *directives(c.source)) for c, line in zip(nb.cells, cell_lines(text, nb.cells))
                 if c.cell_type == "code"]
        declared: dict[str, Module] = {}
        for _, line, found, _ in cells:                    # first pass: this chapter's modules
            for key, value in found:
                if key != "default_exp":
                    continue
                where = f"{path}:{line}"
                if not MODULE_NAME.match(value) or value == "__init__":
                    raise ExportError(f"{where}: `#| default_exp {value}` is not a module name")
                if value in modules:
                    raise ExportError(
                        f"{where}: module vqlit/{value}.py is already exported by "
                        f"{modules[value].chapter}; a module comes from exactly one chapter")
                if value in declared:
                    raise ExportError(f"{where}: `#| default_exp {value}` appears twice")
                declared[value] = Module(value, path)
        current = None
        for _, line, found, code in cells:                 # second pass: route the cells
            where = f"{path}:{line}"
            for key, value in found:
                if key == "default_exp":
                    current = declared[value]
                elif key == "export":
                    target = declared.get(value) if value else current
                    if target is None:
                        raise ExportError(f"{where}: `#| export {value}` has no module: declare it with "
                                          "`#| default_exp NAME` in this chapter")
                    if not code:
                        raise ExportError(f"{where}: `#| export` cell has no code")
                    target.cells.append((line + len(found) if line else 0, code))
                elif key == "top":                 # after `#| export`: names for vqlit.<name>
                    if not any(k == "export" for k, _ in found[:found.index((key, value))]):
                        raise ExportError(f"{where}: `#| top` must follow `#| export` in its cell")
                    defined = public_names(code)
                    for name in value.split():
                        if name not in defined:
                            raise ExportError(f"{where}: `#| top {name}`: the cell defines no "
                                              f"public name {name!r} (it defines {defined})")
                        target.top.append(name)
                elif key != "bootstrap":
                    raise ExportError(f"{where}: unknown directive `#| {key}`")
        modules.update(declared)
    return modules


def public_names(source: str) -> list[str]:
    """Top-level functions, classes and constants defined (not imported) in a module."""
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return [n for n in dict.fromkeys(names) if not n.startswith("_")]


def cell_names(code: str) -> str:
    """What a cell defines, for its origin marker: "class Quantizer", "def fit, TrainConfig"."""
    names = []
    for node in ast.parse(code).body:
        if isinstance(node, ast.ClassDef):
            names.append(f"class {node.name}")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.append(f"def {node.name}")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    if not names:
        return "imports" if all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in
                                ast.parse(code).body) else "statements"
    return ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")


EQUATION_LABEL = re.compile(r"^(?:\$\$ \(([\w-]+)\)|:label: ([\w-]+))[ \t]*$", re.M)  # $$ (label), {math}
TOC = Path("_toc.yml")


@functools.lru_cache(maxsize=None)
def equation_numbers(toc: Path = TOC) -> dict[str, str]:
    """Each labelled display equation -> the number the reader sees, "1.10" or "5", computed as
    Sphinx numbers them: in the chapters of a numbered part, the chapter's number and a counter
    that runs across the chapter's pages; elsewhere one counter across the unnumbered pages, in the
    order of _toc.yml. tests/test_rendered_book.py checks these against the built pages."""
    if not (ROOT / toc).exists():
        return {}
    data = yaml.safe_load((ROOT / toc).read_text(encoding="utf-8"))
    numbers: dict[str, str] = {}
    chapter, counters = 0, {}

    def pages(entry: dict) -> list[str]:
        found = [entry["file"]] if "file" in entry else []
        for section in entry.get("sections", []):
            found += pages(section)
        return found

    for part in data.get("parts", []):
        for entry in part.get("chapters", []):
            prefix = ""
            if part.get("numbered"):
                chapter += 1
                prefix = f"{chapter}."
            for page in pages(entry):
                path = ROOT / f"{page}.md"
                if not path.exists():
                    continue
                for found in EQUATION_LABEL.findall(path.read_text(encoding="utf-8")):
                    label = found[0] or found[1]
                    counters[prefix] = counters.get(prefix, 0) + 1
                    numbers[label] = f"{prefix}{counters[prefix]}"
    return numbers


def cite_by_number(text: str, numbers: dict[str, str]) -> str:
    """`Eq. (ema-update)` -> `Eq. (1.10)`: a citation of a label, as the reader sees it. Only a
    parenthesised label after "Eq."/"Eqs." or in a list that follows one is rewritten."""
    def one(match: re.Match) -> str:
        return re.sub(r"\(([\w-]+)\)",
                      lambda m: f"({numbers[m.group(1)]})" if m.group(1) in numbers else m.group(0),
                      match.group(0))
    return CITATION.sub(one, text)


CITATION = re.compile(r"\bEqs?\.\s*\([\w-]+\)(?:(?:,\s*|\s+and\s+|\s*[-\u2013]\s*)\([\w-]+\))*")


def render_module(module: Module) -> str:
    parts = [HEADER.format(source=module.chapter.as_posix())]
    for _, code in module.cells:
        parts.append("\n\n" + CELL_MARK.format(source=module.chapter.as_posix(),
                                                names=cell_names(code)) + code + "\n")
    body = cite_by_number("".join(parts), equation_numbers())
    names = public_names(body)
    return body + "\n\n__all__ = [" + ", ".join(repr(n) for n in names) + "]\n"


def render_init(rendered: dict[str, str], top_level: dict[str, str]) -> str:
    """The package's __init__: the version, and lazy access to the curated top-level names
    (``top_level``: name -> module, from the chapters' ``#| top`` directives)."""
    table = {}
    for name, source in rendered.items():
        for public in public_names(source):
            if public in table:
                raise ExportError(f"vqlit.{public} is defined by both vqlit/{table[public]}.py and "
                                  f"vqlit/{name}.py; public names must be unique across modules")
            table[public] = name
    rows = "".join(f"    {k!r}: {v!r},\n" for k, v in sorted(top_level.items()))
    return (
        HEADER.format(source="the module list of book/chapters") + INIT_DOC + "\n"
        "from importlib import import_module as _import_module\n"
        "from importlib.metadata import PackageNotFoundError as _NotFound, version as _version\n\n"
        "try:\n    __version__ = _version(\"vqlit\")\nexcept _NotFound:  # running from a source tree\n"
        "    __version__ = \"0+unknown\"\n\n"
        "# the curated top level (the chapters' `#| top` directives): name -> module\n"
        f"_WHERE = {{\n{rows}}}\n\n"
        "__all__ = sorted(_WHERE)\n\n\n"
        "def __getattr__(name):\n"
        "    if name in _WHERE:\n"
        "        value = getattr(_import_module(f\"vqlit.{_WHERE[name]}\"), name)\n"
        "        globals()[name] = value\n"
        "        return value\n"
        "    raise AttributeError(f\"module 'vqlit' has no attribute {name!r}\")\n\n\n"
        "def __dir__():\n"
        "    return sorted(set(globals()) | set(_WHERE))\n"
    )


def repository() -> tuple[str, str]:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repo = config.get("repository") or {}
    if not repo.get("url"):
        raise ExportError("_config.yml: repository.url is not set")
    return repo["url"].rstrip("/"), repo.get("branch", "main")


VERSION = re.compile(r'^version\s*=\s*"([^"]+)"', re.M)


def package_version() -> str:
    """The package's version in pyproject.toml: the bootstrap installs its tag, v<version>."""
    found = VERSION.search((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    if not found:
        raise ExportError("pyproject.toml: no `version = \"...\"` line")
    return found.group(1)


def bootstrap_source() -> str:
    url, branch = repository()
    return BOOTSTRAP.format(url=url, branch=branch, version=package_version())


def has_code(nb) -> bool:
    """Whether a page runs anything: a page of plain Markdown (a part's index page) does not."""
    return any(c.cell_type == "code" for c in nb.cells)


def chapter_with_bootstrap(path: Path, text: str, nb) -> str:
    """The chapter text with its bootstrap cell rewritten from _config.yml (a page without code
    needs none)."""
    if not has_code(nb):
        return text
    wanted = bootstrap_source()
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("#| bootstrap")]
    if len(cells) != 1:
        raise ExportError(f"{path}: needs exactly one bootstrap cell (starting `#| bootstrap`), "
                          f"found {len(cells)}")
    return text.replace(cells[0].source, wanted, 1)


LABEL_LINE = re.compile(r"^\([\w-]+\)=\n", re.M)                      # (ch-vq)=
LABELLED_MATH = re.compile(r"\$\$\n(.*?)\n\$\$ \(([\w-]+)\)", re.S)        # $$ ... $$ (label)
ROLE = re.compile(r"\{(\w+)(?::\w+)?\}`([^`]*)`")                          # {cite}`key`, {glue:text}`k:.1%`


def _plain_role(match: re.Match) -> str:
    role, content = match.group(1), match.group(2)
    if role == "cite":
        return "[" + ", ".join(k.strip() for k in content.split(",")) + "]"
    if role == "eq":
        return f"({equation_numbers().get(content, content)})"
    if role == "glue":
        return f"`{content.split(':')[0]}`"
    return content


def colab_markdown(text: str) -> str:
    """MyST-only syntax that Colab would show raw, rewritten as plain Markdown."""
    text = LABEL_LINE.sub("", text)
    numbers = equation_numbers()
    text = LABELLED_MATH.sub(
        lambda m: f"$$\n{m.group(1)}\n\\tag{{{numbers.get(m.group(2), m.group(2))}}}\n$$", text)
    text = cite_by_number(text, numbers)
    return ROLE.sub(_plain_role, text)


COLAB_HEADER = (
    "*This notebook is the Colab copy of `{source}` of the vqlit book ({url}), generated by "
    "`tools/export.py`. Where the book's text quotes a number computed by the chapter, this copy "
    "shows its name, like `this`; the cells compute and print it. On a GPU runtime the chapter "
    "runs at the quick scale in minutes and first prints what each scale costs there; set the "
    "`scale` parameter to `\"full\"` for the papers' protocols.*"
)


def colab_notebook(nb: nbformat.NotebookNode, source: Path) -> str:
    """The chapter as a clean .ipynb for Colab: a header cell, no outputs, stable cell ids, Colab
    metadata, and MyST roles, labels and labelled equations turned into plain Markdown."""
    nb = copy.deepcopy(nb)
    header = COLAB_HEADER.format(source=source.as_posix(), url=repository()[0])
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(header))
    meta = nb.metadata
    meta.pop("jupytext", None)
    meta.setdefault("accelerator", "GPU")
    meta.setdefault("colab", {"gpuType": "T4", "provenance": []})
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.source = cite_by_number(cell.source, equation_numbers())
        elif cell.cell_type == "markdown":
            cell.source = colab_markdown(cell.source)
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nbformat.writes(nb) + "\n"


def runs_outside_checkout(nb: nbformat.NotebookNode) -> bool:
    """False for a page whose front matter says ``vqlit: {colab: false}`` (it reads the repository
    itself) and for a page without code: it gets no Colab notebook, and the book shows no launch
    button for it."""
    return has_code(nb) and bool((nb.metadata.get("vqlit") or {}).get("colab", True))


def expected_files(chapters: list[Path]) -> dict[Path, str]:
    """Every file the exporter owns, with the content it should have."""
    files: dict[Path, str] = {}
    for path in chapters:
        text, nb = read_chapter(path)
        fixed = chapter_with_bootstrap(path, text, nb)
        files[path] = fixed
        if runs_outside_checkout(nb):
            files[path.with_suffix(".ipynb")] = colab_notebook(jupytext.reads(fixed, fmt="md:myst"),
                                                               path)
    rendered = {name: render_module(m) for name, m in collect_modules(chapters).items()}
    for name, source in rendered.items():
        files[PACKAGE / f"{name}.py"] = source
    modules = collect_modules(chapters)
    top = {name: m.name for m in modules.values() for name in m.top}
    files[PACKAGE / "__init__.py"] = render_init(rendered, top)
    documented = {n: m for n, m in modules.items() if n != "__main__"}   # importing it runs the CLI
    for module in documented.values():
        files[API / f"{module.name}.md"] = api_page(module)
    files[API / "index.md"] = api_index(documented)
    return files


API_PAGE = """\
# `vqlit.{name}`

Exported from {{doc}}`../chapters/{page}`, where its equations, checks and defaults are derived.
Imported as `from vqlit.{name} import ...`{top}.

```{{eval-rst}}
.. automodule:: vqlit.{name}
   :members:
```
"""


def api_page(module: Module) -> str:
    """The reference page of one module: its page in the book, then its docstrings (autodoc)."""
    top = (", and at the top level: " + ", ".join(f"`vqlit.{n}`" for n in module.top)
           if module.top else "")
    return API_PAGE.format(name=module.name, page=module.chapter.stem, top=top)


API_INDEX = """\
(api)=
# API reference

The public API of the `vqlit` package: one page per module, generated from the docstrings of the
code that the book's pages export. Each module comes from one page of the book, where its equations,
checks and defaults are derived; the names in the last column are also importable from `vqlit`
itself. Everything else is imported from its module.

| Module | Exported from the page | Also at the top level |
|---|---|---|
{rows}
"""


def api_index(modules: dict[str, Module]) -> str:
    """The reference's index: every module, the page it comes from, its top-level names."""
    rows = "\n".join(
        f"| {{doc}}`vqlit.{m.name} <{m.name}>` | {{doc}}`../chapters/{m.chapter.stem}` | "
        + (", ".join(f"`{n}`" for n in m.top) or "—") + " |"
        for m in modules.values())
    return API_INDEX.format(rows=rows)


def stale(files: dict[Path, str]) -> list[str]:
    """What differs between the tree and what the chapters export, one message per file."""
    problems = []
    for path, content in files.items():
        target = ROOT / path
        if not target.exists():
            problems.append(f"{path} is missing")
        elif target.read_text(encoding="utf-8") != content:
            what = ("bootstrap cell differs from _config.yml and pyproject.toml"
                    if path.parent == CHAPTERS and path.suffix == ".md" else "is stale")
            problems.append(f"{path} {what}")
    for extra in unowned(files):
        problems.append(f"{extra} is not exported by any chapter (vqlit/ holds generated files only)"
                        if extra.suffix == ".py" else f"{extra} has no chapter")
    return problems


def unowned(files: dict[Path, str]) -> list[Path]:
    """Files in the exporter's territory (vqlit/*.py, book/chapters/*.ipynb, book/api/*.md) that no
    chapter makes."""
    found = (sorted((ROOT / PACKAGE).glob("*.py")) + sorted((ROOT / CHAPTERS).glob("*.ipynb"))
             + sorted((ROOT / API).glob("*.md")))
    return [p.relative_to(ROOT) for p in found if p.relative_to(ROOT) not in files]


def write(files: dict[Path, str]) -> list[Path]:
    changed = []
    for path, content in files.items():
        target = ROOT / path
        if path in READ and target.read_text(encoding="utf-8") != READ[path]:
            print(f"{path} changed while it was exported: left as it is; run the export again",
                  file=sys.stderr)                    # an editor saved it: never undo the edit
            continue
        if not target.exists() or target.read_text(encoding="utf-8") != content:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
            changed.append(path)
    for extra in unowned(files):
        (ROOT / extra).unlink()
        changed.append(extra)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if vqlit/ or the Colab notebooks are stale")
    args = parser.parse_args(argv)
    chapters = sorted((ROOT / CHAPTERS).glob("*.md"))
    chapters = [c.relative_to(ROOT) for c in chapters]
    try:
        files = expected_files(chapters)
    except ExportError as err:
        print(f"export error: {err}", file=sys.stderr)
        return 2
    if args.check:
        problems = stale(files)
        for p in problems:
            print(f"stale: {p}", file=sys.stderr)
        if problems:
            print("run `python tools/export.py` and commit the result", file=sys.stderr)
            return 1
        print(f"vqlit/ is up to date with {len(chapters)} chapters")
        return 0
    for path in write(files):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
