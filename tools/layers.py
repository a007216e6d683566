"""The vqlit package's module map, read from the code: who imports whom, and the layering rules.

Appendix F of the book ("How this book is built", book/chapters/a5_how_built.md) assigns every
module to a layer in its ``LAYERS`` dict and draws the map; tests/test_layers.py checks the same
rules outside the book. Both call this file, which reads ``vqlit/*.py`` with ``ast`` and imports
none of it.

    python tools/layers.py            print the map and every broken rule; exit 1 if any

The rules (DESIGN.md, "Module map"):

* every module has a layer (a module that is not in LAYERS must be placed on the page);
* imports point down the layers or stay within one, never up;
* no module imports one exported from a later page of the book (the order of _toc.yml), so a
  reader meets every module after the ones it uses;
* the import graph has no cycle, counting imports inside functions;
* no private name (``_name``) crosses a module;
* nothing imports the command line (``vqlit.cli``) except ``vqlit.__main__``.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "vqlit"
PAGE = "book/chapters/a5_how_built.md"          # where LAYERS lives
NAMESPACE = "__init__"                          # the exporter's lazy namespace: off the map
CLI, MAIN = "cli", "__main__"
GENERATED_FROM = re.compile(r"generated from (book/chapters/[\w.-]+\.md)")
BY_NAME = re.compile(rf"^{PACKAGE}\.(\w+)(?::(\w+))?$")   # "vqlit.vq" or "vqlit.vq:VectorQuantizer"

CLAIMS = {
    "placed": "every module has a layer",
    "downward": "imports point down the layers",
    "earlier": "no module imports one from a later page",
    "acyclic": "the import graph has no cycle",
    "public": "no private name crosses a module",
    "cli": "only `__main__` imports the command line",
}


@dataclass(frozen=True)
class Import:
    """One reference from a vqlit module to another."""

    source: str                 # the importing module
    target: str                 # the module imported from (NAMESPACE for ``import vqlit``)
    names: tuple[str, ...]      # the names taken from it; () for the module itself
    line: int
    kind: str                   # "top" (module level), "deferred" (in a function), "by name",
                                # "lookup" (sys.modules.get: uses the module only if imported)

    def where(self) -> str:
        return f"vqlit/{self.source}.py:{self.line}"


@dataclass
class ModuleInfo:
    name: str
    chapter: str | None         # "01_vq_preliminaries", from the generated header
    lines: int
    public: int | None          # len(__all__)
    imports: list[Import] = field(default_factory=list)


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _namespace_table(source: str) -> dict[str, str]:
    """The exporter's ``_WHERE`` table of vqlit/__init__.py: public name -> defining module."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_WHERE"
                                                for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def _all_count(tree: ast.Module, namespace: dict[str, str]) -> int | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__"
                                                for t in node.targets):
            try:
                return len(ast.literal_eval(node.value))
            except ValueError:                    # __init__: __all__ = sorted(_WHERE)
                return len(namespace)
    return None


class _Imports(ast.NodeVisitor):
    """Collect every reference to another vqlit module, at any depth of the module."""

    def __init__(self, name: str, modules: set[str], namespace: dict[str, str]):
        self.name, self.modules, self.namespace = name, modules, namespace
        self.found: list[Import] = []
        self.aliases: dict[str, str] = {}      # local name -> vqlit module it is bound to
        self.depth = 0                           # > 0 inside a function

    def add(self, target: str, names: tuple[str, ...], node: ast.AST, kind: str | None = None):
        if target != self.name:
            kind = kind or ("deferred" if self.depth else "top")
            self.found.append(Import(self.name, target, names, node.lineno, kind))

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_Lambda = visit_FunctionDef

    def visit_Import(self, node: ast.Import):
        for alias in node.names:
            parts = alias.name.split(".")
            if parts[0] != PACKAGE:
                continue
            target = parts[1] if len(parts) > 1 else NAMESPACE
            self.add(target, (), node)
            if alias.asname:
                self.aliases[alias.asname] = target

    def visit_ImportFrom(self, node: ast.ImportFrom):
        if node.level:                                     # relative: from . import x / from .x
            parts = ([PACKAGE] + (node.module or "").split(".")) if node.level == 1 else []
            parts = [p for p in parts if p]
        else:
            parts = (node.module or "").split(".")
        if not parts or parts[0] != PACKAGE:
            return
        if len(parts) > 1:                                 # from vqlit.x import a, b
            self.add(parts[1], tuple(a.name for a in node.names), node)
            return
        for alias in node.names:                           # from vqlit import x, Name
            if alias.name in self.modules:
                self.add(alias.name, (), node)
                self.aliases[alias.asname or alias.name] = alias.name
            else:
                self.add(self.namespace.get(alias.name, NAMESPACE), (alias.name,), node)

    def visit_Call(self, node: ast.Call):
        """``sys.modules.get("vqlit.x")``: an optional accelerator used only where something else
        imported it. It imports nothing, so it is drawn but bound by no rule about imports."""
        func = node.func
        if (isinstance(func, ast.Attribute) and func.attr == "get"
                and isinstance(func.value, ast.Attribute) and func.value.attr == "modules"
                and isinstance(func.value.value, ast.Name) and func.value.value.id == "sys"
                and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and (m := BY_NAME.match(node.args[0].value))):
            self.add(m.group(1), (), node, "lookup")
            for arg in node.args[1:]:
                self.visit(arg)
            return
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant):          # "vqlit.x", "vqlit.x:Name" in a registry
        if isinstance(node.value, str) and (m := BY_NAME.match(node.value)):
            self.add(m.group(1), (m.group(2),) if m.group(2) else (), node, "by name")

    def visit_Attribute(self, node: ast.Attribute):        # module._name through an alias
        base = node.value
        target = None
        if isinstance(base, ast.Name):
            target = self.aliases.get(base.id)
        elif (isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name)
              and base.value.id == PACKAGE):              # vqlit.x._name
            target = base.attr
        if target and is_private(node.attr):
            self.add(target, (node.attr,), node)
        self.generic_visit(node)


def scan(package: Path | str = ROOT / PACKAGE) -> dict[str, ModuleInfo]:
    """Every vqlit/*.py: its chapter, size, public names and references to other vqlit modules."""
    package = Path(package)
    paths = sorted(package.glob("*.py"))
    names = {p.stem for p in paths}
    init = package / f"{NAMESPACE}.py"
    namespace = _namespace_table(init.read_text(encoding="utf-8")) if init.exists() else {}
    modules = {}
    for path in paths:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(path))
        header = GENERATED_FROM.search(text.split("\n", 1)[0])
        visitor = _Imports(path.stem, names, namespace)
        visitor.visit(tree)
        modules[path.stem] = ModuleInfo(
            path.stem, Path(header.group(1)).stem if header else None, len(text.splitlines()),
            _all_count(tree, namespace), visitor.found)
    return modules


def edges(modules: dict[str, ModuleInfo]) -> dict[tuple[str, str], list[Import]]:
    """(importer, imported) -> the imports behind that arrow; the namespace is left out."""
    graph: dict[tuple[str, str], list[Import]] = {}
    for info in modules.values():
        for imp in info.imports:
            if NAMESPACE not in (imp.source, imp.target):
                graph.setdefault((imp.source, imp.target), []).append(imp)
    return graph


def cycles(modules: dict[str, ModuleInfo]) -> list[list[str]]:
    """One cycle (a list of modules, first == last) per strongly connected group of modules."""
    graph: dict[str, list[str]] = {m: [] for m in modules}
    for (a, b) in edges(modules):
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def connect(v: str) -> None:                            # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    found = []
    for group in groups:                                    # a path back to the group's first
        start, members = group[0], set(group)
        path, seen = [start], {start}

        def walk(v: str) -> bool:
            for w in sorted(graph[v]):
                if w == start:
                    path.append(w)
                    return True
                if w in members and w not in seen:
                    seen.add(w)
                    path.append(w)
                    if walk(w):
                        return True
                    path.pop()
            return False

        walk(start)
        found.append(path)
    return found


def page_order(toc: Path | str = ROOT / "_toc.yml") -> dict[str, int]:
    """Each page of the book (a file stem) -> its place in the reading order of _toc.yml."""
    import yaml

    order: dict[str, int] = {}

    def visit(entries: list) -> None:
        for entry in entries:
            if "file" in entry:
                order.setdefault(Path(entry["file"]).name, len(order))
            visit(entry.get("sections", []))

    data = yaml.safe_load(Path(toc).read_text(encoding="utf-8"))
    for part in data.get("parts", []):
        visit(part.get("chapters", []))
    return order


def check(modules: dict[str, ModuleInfo], layers: dict[str, int],
          order: dict[str, int] | None = None) -> dict[str, list[str]]:
    """Each claim of CLAIMS -> the messages that break it (an empty list: the claim holds).

    `order`: page stem -> place in the book (default: _toc.yml's); modules from pages it does
    not list are not compared."""
    order = page_order() if order is None else order
    problems: dict[str, list[str]] = {claim: [] for claim in CLAIMS}
    for name, info in sorted(modules.items()):
        if name != NAMESPACE and name not in layers:
            origin = f" (from book/chapters/{info.chapter}.md)" if info.chapter else ""
            problems["placed"].append(
                f"vqlit/{name}.py{origin} has no layer: place it in LAYERS on {PAGE}")
    graph = edges(modules)
    for (a, b), imports in sorted(graph.items()):
        first = imports[0]
        if b not in modules:
            problems["placed"].append(f"{first.where()} imports vqlit.{b}, which is not a module "
                                      "in vqlit/")
        elif a in layers and b in layers and layers[b] > layers[a]:
            problems["downward"].append(
                f"{first.where()}: {a} (layer {layers[a]}) imports {b} (layer {layers[b]}), "
                "a higher layer")
        if b in modules and a in modules and any(i.kind != "lookup" for i in imports):
            page_a, page_b = modules[a].chapter, modules[b].chapter
            if page_a in order and page_b in order and order[page_b] > order[page_a]:
                problems["earlier"].append(
                    f"{first.where()}: {a} (from {page_a}) imports {b}, which comes from "
                    f"{page_b}, a later page ({first.kind})")
        if b == CLI and a != MAIN:
            problems["cli"].append(f"{first.where()}: {a} imports the command line (vqlit.cli)")
    for path in cycles(modules):
        steps = []
        for a, b in zip(path, path[1:]):
            imp = graph[(a, b)][0]
            steps.append(f"{a} -> {b} ({imp.where()}, {imp.kind})")
        problems["acyclic"].append("import cycle " + " -> ".join(path) + ": " + "; ".join(steps))
    for info in modules.values():
        for imp in info.imports:
            private = [n for n in imp.names if is_private(n)]
            if private and imp.target != NAMESPACE:
                problems["public"].append(f"{imp.where()}: {imp.source} uses "
                                          f"{', '.join(private)} of vqlit.{imp.target}")
    return problems


def layers_from_page(page: Path | str = ROOT / PAGE) -> dict[str, int]:
    """The ``LAYERS = {...}`` dict written in the page's code cells (module -> layer)."""
    import jupytext

    for cell in jupytext.read(page).cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "LAYERS"
                                                    for t in node.targets):
                return ast.literal_eval(node.value)
    raise LookupError(f"{page}: no `LAYERS = {{...}}` cell")


def main() -> int:
    modules, layers = scan(), layers_from_page()
    for name, info in sorted(modules.items(), key=lambda kv: (layers.get(kv[0], 0), kv[0])):
        targets = sorted({i.target for i in info.imports} - {NAMESPACE})
        print(f"{layers.get(name, '-')!s:>2} {name:16} {info.chapter or '':22} {info.lines:5} "
              f"lines  -> {', '.join(targets)}")
    broken = 0
    for claim, messages in check(modules, layers).items():
        for message in messages:
            print(f"{CLAIMS[claim]}: {message}", file=sys.stderr)
        broken += len(messages)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
