"""Every chapter executed with papermill at the smoke scale, and the results it glues into its text."""
import ast
import importlib.util
import re
from pathlib import Path

import jupytext
import papermill
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book" / "chapters").glob("*.md"))


def glued(notebook) -> dict:
    """The values a chapter glued (myst_nb.glue writes scrapbook-style display_data outputs)."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("scrapbook")
            if meta:
                text = next(v for k, v in output["data"].items() if k.endswith("text/plain"))
                try:
                    values[meta["name"]] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    values[meta["name"]] = text
    return values


def parameters(notebook) -> set[str]:
    """Names assigned in the chapter's `parameters` cell."""
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    return {t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)}


def referenced(path: Path) -> set[str]:
    """Glue keys that the chapter's prose quotes."""
    return set(re.findall(r"\{glue(?::\w+)?\}`([\w-]+)", path.read_text()))


def page_checks() -> dict:
    """`check_<page stem>(g)` functions from every tests/checks_*.py: one file per part, so each part
    keeps its checks beside its pages' stems (g: the values the page glued)."""
    found = {}
    for path in sorted(Path(__file__).parent.glob("checks_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.update({name.removeprefix("check_"): fn for name, fn in vars(module).items()
                      if name.startswith("check_") and callable(fn)})
    return found


CHECKS = page_checks()
PAGES = [p for p in CHAPTERS if any(c.cell_type == "code" for c in jupytext.read(p).cells)]


def test_every_check_names_a_page():
    assert not set(CHECKS) - {p.stem for p in CHAPTERS}, "a check_<stem> names no page"


@pytest.mark.chapter
@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_chapter_at_smoke_scale(path, tmp_path):
    source = jupytext.read(path)
    params = {"scale": "smoke", "device": "cpu"}
    params = {k: v for k, v in params.items() if k in parameters(source)}
    out = papermill.execute_notebook(source, str(tmp_path / f"{path.stem}.ipynb"), parameters=params,
                                     kernel_name="python3", cwd=str(path.parent), progress_bar=False,
                                     execution_timeout=900)
    values = glued(out)
    assert referenced(path) <= set(values), f"prose quotes values the chapter does not glue: {referenced(path) - set(values)}"
    if path.stem in CHECKS:
        CHECKS[path.stem](values)
