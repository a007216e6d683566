"""The book's anatomy and the README's promises, checked statically."""
import re
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book" / "chapters").glob("*.md"))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_anatomy(path):
    nb = jupytext.read(path)
    meta = nb.metadata
    if not any(c.cell_type == "code" for c in nb.cells):    # a part's index page: plain Markdown
        assert "kernelspec" not in meta and "accelerator" not in meta, "a page without code is no notebook"
        first = next(c for c in nb.cells if c.cell_type == "markdown")   # after the front matter
        assert re.sub(r"^\([\w-]+\)=\n", "", first.source).startswith("# ")
        return
    assert meta["kernelspec"]["name"] == "python3" and meta["jupytext"]["text_representation"]["format_name"] == "myst"
    on_colab = (meta.get("vqlit") or {}).get("colab", True)      # False: runs in a checkout only
    assert meta.get("accelerator") == ("GPU" if on_colab else None)             # Colab asks for a GPU
    code = [c for c in nb.cells if c.cell_type == "code"]
    boot = [c for c in code if c.source.startswith("#| bootstrap")]
    assert len(boot) == 1 and "remove-cell" in boot[0].metadata.get("tags", [])
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    # The reader meets the chapter, not its setup: the parameters and the imports are collapsed
    # behind the theme's toggle (their printed summary stays visible).
    assert "hide-input" in params[0].metadata["tags"]
    shown = [c for c in code[code.index(params[0]) + 1:]
             if "remove-cell" not in c.metadata.get("tags", [])]
    setup = shown[0].source.removeprefix("#| export\n").lstrip()
    if setup.startswith(("import", "from", '"""')):                         # imports, module header
        assert "hide-input" in shown[0].metadata.get("tags", []), shown[0].source[:80]
    if "scale =" in params[0].source:                                           # scale comes from the environment
        assert 'os.environ.get("VQLIT_SCALE", "auto")' in params[0].source
    title = re.sub(r"^\([\w-]+\)=\n", "", nb.cells[0].source)                  # an optional (label)=
    assert nb.cells[0].cell_type == "markdown" and title.startswith("# ")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_widgets_run_only_where_someone_can_move_them(path):
    """An ipywidgets cell can hang a headless run (nbclient's known race between comm messages and
    the execute reply), so the book build, papermill and nbval skip it; Jupyter and Colab run it.
    The rendered book shows a static figure in its place."""
    for cell in jupytext.read(path).cells:
        if cell.cell_type == "code" and "widgets.interact(" in cell.source:
            assert {"skip-execution", "nbval-skip"} <= set(cell.metadata.get("tags", [])), path.stem


def test_toc_lists_every_chapter_and_config_excludes_the_colab_copies():
    toc = (ROOT / "_toc.yml").read_text()
    for path in CHAPTERS:
        assert f"book/chapters/{path.stem}\n" in toc
    for path in (ROOT / "book" / "api").glob("*.md"):                  # one page per module
        assert f"book/api/{path.stem}\n" in toc, f"_toc.yml does not list {path.name}"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "book/chapters/*.ipynb" in config["exclude_patterns"]
    assert config["execute"]["execute_notebooks"] == "force"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


def test_readme_opens_with_the_two_commands_that_ci_runs():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make book", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make book" in ci and "make test" in ci and "set -euo pipefail" in ci
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^book:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "jupyter-book build . --all -W -n --keep-going" in makefile


def test_readme_example_runs(tmp_path, monkeypatch):
    """The README's Python example, with 5 training steps instead of 500."""
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert "steps=500" in example
    example = example.replace("steps=500", "steps=5").replace('"runs/vq"', repr(str(tmp_path / "vq")))
    monkeypatch.setenv("VQLIT_OFFLINE", "1")
    namespace = {}
    exec(compile(example, "README.md", "exec"), namespace)
    assert (tmp_path / "vq" / "checkpoint.pt").exists()
    assert namespace["out"].indices.shape == (16, 8, 8)


def test_index_example_shapes():
    index = (ROOT / "book" / "index.md").read_text()
    example = re.search(r"```python\n(.*?)```", index, re.S).group(1)
    example = "\n".join(line.strip() for line in example.splitlines())
    namespace = {}
    exec(example, namespace)
    assert namespace["out"].quantized.shape == (16, 8, 8, 8) and namespace["out"].indices.shape == (16, 8, 8)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_code_fits_the_page(path):
    """The book's pages show about 100 columns of code; longer lines are cut off."""
    long = [line for cell in jupytext.read(path).cells if cell.cell_type == "code"
            for line in cell.source.splitlines() if len(line) > 100]
    assert not long, long


PAGE_LIMIT = 600     # lines of a page's source: one idea, about 8-15 screens once rendered


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_page_source_is_one_idea(path):
    """A page's source stays short enough to edit and to read: the rendered length is checked by
    tests/test_rendered_book.py, this is its source-side partner."""
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= PAGE_LIMIT, f"{path.name} has {lines} lines; split it into pages of <= {PAGE_LIMIT}"


def test_every_section_page_is_listed_under_its_part():
    """In _toc.yml a page NNx_* (a section) sits under the index page NN_* of its part."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            if not chapter["file"].startswith("book/chapters/"):
                continue                                            # the reference: one page per module
            index = Path(chapter["file"]).name
            for section in chapter.get("sections", []):
                name = Path(section["file"]).name
                assert re.match(r"[a-z]?\d+[a-z]_", name) and name.split("_")[0][:-1] == index.split("_")[0], \
                    f"{name} is listed under {index}"


EXPORT_LIMIT = 80    # lines; about 40 is the aim, one object per exported cell


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_exported_cells_are_derivation_sized(path):
    """An exported cell holds one object and reads in one screen: none over EXPORT_LIMIT lines."""
    long = []
    for cell in jupytext.read(path).cells:
        lines = cell.source.splitlines() if cell.cell_type == "code" else []
        directives = [line for line in lines if line.startswith("#|")]
        code = lines[len(directives):]
        if any(line.startswith("#| export") for line in directives) and len(code) > EXPORT_LIMIT:
            long.append(f"{len(code)} lines from {code[0][:60]!r}")
    assert not long, f"{path.name}: exported cells over {EXPORT_LIMIT} lines: {long}"


def test_the_widget_requirement_keeps_colabs_preinstalled_ipywidgets():
    """Colab's front end renders ipywidgets 7 (it ships 7.7.1); a requirement that 7.7.1 does not
    meet would make pip replace it with 8.x, whose sliders and progress bars Colab does not show."""
    from packaging.requirements import Requirement
    text = (ROOT / "pyproject.toml").read_text()
    line = re.search(r'"(ipywidgets[^"]*)"', text).group(1)
    assert Requirement(line).specifier.contains("7.7.1"), line


def test_title_and_landing_page_claim_no_reproduction_that_no_record_shows():
    """Issue 26: the title said "reproduced" and the landing page "the papers' trends are visible",
    while no paper row had been run on the paper's data. Either claim needs a record on a paper's
    own data set first."""
    import json
    title = re.search(r'^title: "(.*)"', (ROOT / "_config.yml").read_text(), re.M).group(1)
    index = (ROOT / "book" / "index.md").read_text().lower()
    records = [json.loads(p.read_text()) for p in (ROOT / "book" / "results").glob("*.json")]
    on_paper_data = [r for r in records if r["paper"]]
    if not on_paper_data:
        assert "reproduc" not in title.lower(), title
        assert "trends are visible" not in index and "reproduced" not in index
