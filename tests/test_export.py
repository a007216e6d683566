"""The exporter (tools/export.py): the package is what the chapters say it is."""
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRONT = textwrap.dedent("""\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
        format_version: 0.13
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---
    """)
BOOT = ("#| bootstrap: installs vqlit where it is missing (Colab); tools/export.py writes it\n"
        "import importlib.util, subprocess, sys\n"
        "if importlib.util.find_spec(\"vqlit\") is None:      # the release this page was exported with\n"
        "    pip = [sys.executable, \"-m\", \"pip\", \"install\", \"--quiet\"]\n"
        "    package = \"vqlit[notebook] @ git+{url}@\"\n"
        "    if subprocess.run(pip + [package + \"v0.3.1\"]).returncode:\n"
        "        print(\"vqlit v0.3.1 is not tagged; installing main, which may be newer than this page\")\n"
        "        subprocess.run(pip + [package + \"main\"], check=True)")

def cell(source, tags=None):
    head = "```{code-cell} ipython3\n" + (f":tags: {tags}\n\n" if tags else "")
    return head + source.strip("\n") + "\n```\n\n"


def chapter(*cells, url="https://example.org/vq/book"):
    return FRONT + "\n# A chapter\n\n" + cell(BOOT.format(url=url), "[remove-cell]") + "".join(cells)


@pytest.fixture
def repo(tmp_path):
    """A minimal copy of the project layout with one chapter."""
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "export.py", tmp_path / "tools" / "export.py")
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://example.org/vq/book\n  branch: main\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "vqlit"\nversion = "0.3.1"\n')
    (tmp_path / "book" / "chapters").mkdir(parents=True)
    (tmp_path / "vqlit").mkdir()
    (tmp_path / "book" / "chapters" / "01_a.md").write_text(chapter(
        cell("#| default_exp alpha"),
        cell("#| default_exp beta"),
        cell("#| export alpha\n#| top one\ndef one():\n    return 1\n\nLIMIT = 3\n_private = 0"),
        cell("print('not exported')"),
        cell("#| export\n#| top Two\nclass Two:\n    pass"),
    ))
    return tmp_path


def export(repo, *args):
    return subprocess.run([sys.executable, "tools/export.py", *args], cwd=repo, capture_output=True, text=True)


def test_repository_is_up_to_date():
    result = export(ROOT, "--check")
    assert result.returncode == 0, result.stderr


def test_writes_modules_with_origin_markers(repo):
    assert export(repo).returncode == 0
    alpha = (repo / "vqlit" / "alpha.py").read_text()
    assert alpha.startswith("# This file is generated from book/chapters/01_a.md by tools/export.py. Do not edit")
    assert "# %% book/chapters/01_a.md:" in alpha and "def one():" in alpha and "print(" not in alpha
    assert "__all__ = ['one', 'LIMIT']" in alpha
    beta = (repo / "vqlit" / "beta.py").read_text()
    assert "class Two" in beta and "def one" not in beta
    assert "# %% book/chapters/01_a.md: def one, LIMIT, _private\n" in alpha  # names the objects
    init = (repo / "vqlit" / "__init__.py").read_text()
    assert "'one': 'alpha'" in init and "'Two': 'beta'" in init         # marked `#| top`
    assert "'LIMIT'" not in init                                        # public, not top level
    assert (repo / "book" / "chapters" / "01_a.ipynb").exists()
    assert export(repo, "--check").returncode == 0


def test_output_is_deterministic(repo):
    export(repo)
    first = {p: p.read_bytes() for p in sorted(repo.rglob("*")) if p.is_file()}
    export(repo)
    assert first == {p: p.read_bytes() for p in sorted(repo.rglob("*")) if p.is_file()}


def test_check_names_a_stale_module(repo):
    export(repo)
    path = repo / "vqlit" / "alpha.py"
    path.write_text(path.read_text() + "# hand edit\n")
    result = export(repo, "--check")
    assert result.returncode == 1 and "vqlit/alpha.py is stale" in result.stderr


def test_check_flags_files_no_chapter_exports(repo):
    export(repo)
    (repo / "vqlit" / "handwritten.py").write_text("x = 1\n")
    result = export(repo, "--check")
    assert result.returncode == 1 and "vqlit/handwritten.py is not exported by any chapter" in result.stderr


def test_a_module_comes_from_one_chapter(repo):
    (repo / "book" / "chapters" / "02_b.md").write_text(chapter(cell("#| default_exp alpha"),
                                                                 cell("#| export\nx = 1")))
    result = export(repo)
    assert result.returncode == 2 and "already exported by book/chapters/01_a.md" in result.stderr


@pytest.mark.parametrize("cells, message", [
    ([cell("#| export\nx = 1")], "has no module"),
    ([cell("#| default_exp gamma"), cell("#| export delta\nx = 1")], "has no module"),
    ([cell("#| default_exp Bad-Name")], "is not a module name"),
    ([cell("#| default_exp gamma"), cell("#| exprot\nx = 1")], "unknown directive"),
    ([cell("#| default_exp gamma"), cell("#| export\n#| top y\nx = 1")], "defines no public name"),
    ([cell("#| default_exp gamma"), cell("#| top x\n#| export\nx = 1")], "must follow"),
])
def test_directive_errors(repo, cells, message):
    (repo / "book" / "chapters" / "02_b.md").write_text(chapter(*cells))
    result = export(repo)
    assert result.returncode == 2 and message in result.stderr


def test_bootstrap_follows_config(repo):
    export(repo)
    (repo / "_config.yml").write_text("repository:\n  url: https://example.org/other/place\n  branch: main\n")
    result = export(repo, "--check")
    assert result.returncode == 1 and "bootstrap cell differs from _config.yml" in result.stderr
    export(repo)
    assert "git+https://example.org/other/place@" in (repo / "book" / "chapters" / "01_a.md").read_text()
    assert "git+https://example.org/other/place@" in (repo / "book" / "chapters" / "01_a.ipynb").read_text()


def test_bootstrap_installs_the_release_it_was_exported_with(repo):
    """The notebook installs the tag of pyproject's version, so a page and its package agree;
    the branch only where that tag does not exist, with a sentence that says so."""
    export(repo)
    text = (repo / "book" / "chapters" / "01_a.md").read_text()
    assert 'package + "v0.3.1"' in text and "is not tagged" in text
    (repo / "pyproject.toml").write_text('[project]\nname = "vqlit"\nversion = "0.4.0"\n')
    result = export(repo, "--check")
    assert result.returncode == 1 and "bootstrap cell differs" in result.stderr
    export(repo)
    assert "v0.4.0" in (repo / "book" / "chapters" / "01_a.ipynb").read_text()


def test_public_names_are_unique_across_modules(repo):
    (repo / "book" / "chapters" / "02_b.md").write_text(chapter(cell("#| default_exp gamma"),
                                                                 cell("#| export\ndef one():\n    pass")))
    result = export(repo)
    assert result.returncode == 2 and "vqlit.one is defined by both" in result.stderr


def test_chapter_without_bootstrap_is_an_error(repo):
    (repo / "book" / "chapters" / "02_b.md").write_text(FRONT + "\n# B\n\n" + cell("x = 1"))
    result = export(repo)
    assert result.returncode == 2 and "bootstrap" in result.stderr


def test_colab_copy_speaks_plain_markdown(repo):
    (repo / "book" / "chapters" / "02_b.md").write_text(chapter(
        cell("#| default_exp gamma"),
    ).replace("# A chapter\n", "(sec-b)=\n# A chapter\n\nSee {cite}`a2017,b2019`, Eq. {eq}`one`, "
              "{glue:text}`acc:.1%` and {ref}`sec-b`.\n\n$$\nx = 1\n$$ (one)\n"))
    assert export(repo).returncode == 0
    import json
    cells = json.loads((repo / "book" / "chapters" / "02_b.ipynb").read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "Colab copy of `book/chapters/02_b.md`" in text and "https://example.org/vq/book" in text
    assert "[a2017, b2019]" in text and "Eq. (one)" in text and "`acc`" in text and "sec-b." in text
    assert "\\tag{one}" in text and "(sec-b)=" not in text and "{" + "cite}" not in text
    assert all(c.get("outputs", []) == [] for c in cells if c["cell_type"] == "code")


def test_top_level_is_the_curated_namespace():
    import vqlit

    assert 15 <= len(vqlit.__all__) <= 25, vqlit.__all__          # about twenty names
    for name in vqlit.__all__:
        assert name.isupper() or getattr(vqlit, name).__name__ == name
    for inner in ("center_", "parser", "sha256sum", "nearest_code"):  # imported from their modules
        assert not hasattr(vqlit, inner)


def test_a_checkout_only_page_gets_no_colab_notebook(repo):
    """A page whose front matter says `vqlit: {colab: false}` reads the repository itself, so it is
    not offered on Colab: no .ipynb (a stale one is removed), and the book drops its launch button."""
    checkout_only = FRONT.replace("kernelspec:", "vqlit:\n  colab: false\nkernelspec:", 1)
    (repo / "book" / "chapters" / "02_b.md").write_text(
        checkout_only + "\n# B\n\n" + cell(BOOT.format(url="https://example.org/vq/book"),
                                           "[remove-cell]"))
    (repo / "book" / "chapters" / "02_b.ipynb").write_text("{}")
    assert export(repo).returncode == 0
    assert not (repo / "book" / "chapters" / "02_b.ipynb").exists()
    assert (repo / "book" / "chapters" / "01_a.ipynb").exists()
    assert export(repo, "--check").returncode == 0


def test_marker_survives_a_prose_edit(repo):
    export(repo)
    before = (repo / "vqlit" / "alpha.py").read_text()
    page = repo / "book" / "chapters" / "01_a.md"
    page.write_text(page.read_text().replace("# A chapter\n", "# A chapter\n\nOne more paragraph.\n\nAnd another.\n", 1))
    export(repo)
    assert (repo / "vqlit" / "alpha.py").read_text() == before


def test_page_without_code_needs_no_bootstrap_and_gets_no_notebook(repo):
    (repo / "book" / "chapters" / "00_index.md").write_text("# A part\n\nWhat it shows.\n")
    assert export(repo).returncode == 0
    assert not (repo / "book" / "chapters" / "00_index.ipynb").exists()
    assert export(repo, "--check").returncode == 0


def test_equations_are_cited_by_the_number_the_reader_sees(repo):
    """Sources cite an equation by its label (stable under edits); the package and the Colab copy
    show the number the book prints: the chapter's number and a count across its pages."""
    chapters = repo / "book" / "chapters"
    text = (chapters / "01_a.md").read_text()
    text = text.replace("# A chapter\n", "# A chapter\n\n$$\nx = 1\n$$ (first)\n\n```{math}\n"
                        ":label: second\ny = 2\n```\n", 1)
    text = text.replace("def one():\n", 'def one():\n    """Eqs. (first) and (second), not (other)."""\n')
    (chapters / "01_a.md").write_text(text)
    (chapters / "01b_b.md").write_text("# B\n\n$$\nz = 3\n$$ (third)\n")
    (repo / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\nparts:\n  - caption: C\n    numbered: true\n"
        "    chapters:\n      - file: book/chapters/01_a\n        sections:\n"
        "          - file: book/chapters/01b_b\n")
    assert export(repo).returncode == 0
    alpha = (repo / "vqlit" / "alpha.py").read_text()
    assert '"""Eqs. (1.1) and (1.2), not (other)."""' in alpha
    assert "\\tag{1.1}" in (chapters / "01_a.ipynb").read_text()
    sys.path.insert(0, str(repo / "tools"))
    try:
        import importlib
        module = importlib.import_module("export")
        importlib.reload(module)
        assert module.equation_numbers() == {"first": "1.1", "second": "1.2", "third": "1.3"}
    finally:
        sys.path.remove(str(repo / "tools"))
        sys.modules.pop("export", None)             # the made-up repository's exporter
