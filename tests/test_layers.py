"""The module map's rules (DESIGN.md, "Module map"), checked on vqlit/ outside the book.

The rules are tools/layers.py; the layers are the LAYERS dict of Appendix F
(book/chapters/a5_how_built.md), which runs the same checks. The second half checks the checker on
small made-up packages.
"""
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import layers  # noqa: E402  (tools/layers.py)


@pytest.fixture(scope="module")
def problems():
    return layers.check(layers.scan(ROOT / "vqlit"), layers.layers_from_page(ROOT / layers.PAGE))


@pytest.mark.parametrize("claim", list(layers.CLAIMS))
def test_vqlit_keeps_its_layering(problems, claim):
    assert not problems[claim], f"{layers.CLAIMS[claim]}:\n" + "\n".join(problems[claim])


def test_every_module_names_its_chapter():
    for name, info in layers.scan(ROOT / "vqlit").items():
        if name != layers.NAMESPACE:
            chapter = ROOT / "book" / "chapters" / f"{info.chapter}.md"
            assert info.chapter and chapter.exists(), name


# The checker itself, on packages written for the purpose.

def package(tmp_path, **files):
    root = tmp_path / "vqlit"
    root.mkdir()
    for name, source in files.items():
        text = f"# This file is generated from book/chapters/{name}_ch.md by tools/export.py.\n"
        (root / f"{name}.py").write_text(text + textwrap.dedent(source))
    return layers.scan(root)


def test_a_clean_package_passes(tmp_path):
    modules = package(
        tmp_path,
        low="__all__ = ['f']\ndef f(): pass\n",
        mid="from vqlit.low import f\nimport vqlit.low as low\n__all__ = ['g']\ndef g(): low.f()\n",
        top="def run():\n    from vqlit import mid\n    return 'vqlit.low:f'\n",
        cli="from vqlit.top import run\n",
        __main__="from vqlit.cli import *\n")
    problems = layers.check(modules, {"low": 1, "mid": 2, "top": 3, "cli": 5, "__main__": 5})
    assert problems == {claim: [] for claim in layers.CLAIMS}
    assert modules["low"].chapter == "low_ch" and modules["low"].public == 1
    kinds = {(i.target, i.kind) for i in modules["top"].imports}
    assert kinds == {("mid", "deferred"), ("low", "by name")}


def test_each_rule_is_caught(tmp_path):
    modules = package(
        tmp_path,
        low="def helper():\n    from vqlit.mid import g\n",            # deferred cycle low <-> mid
        mid="from vqlit.low import helper, _private\nfrom vqlit import top\n",   # private, upward
        top="from . import low\nlow._secret()\nimport vqlit.cli\n",     # private by attribute, cli
        cli="", __main__="from vqlit.cli import main\n", extra="")
    problems = layers.check(modules, {"low": 1, "mid": 1, "top": 2, "cli": 5, "__main__": 5})
    assert problems["placed"] == [
        f"vqlit/extra.py (from book/chapters/extra_ch.md) has no layer: place it in LAYERS on "
        f"{layers.PAGE}"]
    assert [m.split(":")[0] for m in problems["downward"]] == ["vqlit/mid.py", "vqlit/top.py"]
    assert len(problems["acyclic"]) == 1
    assert problems["acyclic"][0].startswith("import cycle low -> mid -> low")   # names both
    assert "deferred" in problems["acyclic"][0]
    assert sorted(problems["public"]) == ["vqlit/mid.py:2: mid uses _private of vqlit.low",
                                          "vqlit/top.py:3: top uses _secret of vqlit.low"]
    assert problems["cli"] == ["vqlit/top.py:4: top imports the command line (vqlit.cli)"]


def test_a_longer_cycle_is_reported_as_a_path(tmp_path):
    modules = package(tmp_path, a="import vqlit.b\n", b="import vqlit.c\n", c="import vqlit.a\n")
    assert layers.cycles(modules) == [["a", "b", "c", "a"]]


def test_layers_are_read_from_the_page():
    found = layers.layers_from_page(ROOT / layers.PAGE)
    assert found["vq"] == 1 and found["cli"] == 5 and set(found.values()) <= {1, 2, 3, 4, 5}


def test_a_module_from_a_later_page_is_caught(tmp_path):
    modules = package(tmp_path,
                      early="def f():\n    from vqlit.late import g\n    return g()\n",
                      late="def g(): return 1\n")
    order = {"early_ch": 0, "late_ch": 1}
    found = layers.check(modules, {"early": 1, "late": 1}, order)["earlier"]
    assert len(found) == 1 and "early (from early_ch) imports late" in found[0]
    assert not layers.check(modules, {"early": 1, "late": 1}, {"early_ch": 1, "late_ch": 0})["earlier"]


def test_page_order_follows_the_toc(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: book/index\nparts:\n  - caption: A\n    chapters:\n"
                   "      - file: book/chapters/01_x\n        sections:\n"
                   "          - file: book/chapters/01a_y\n      - file: book/chapters/a1_z\n")
    assert layers.page_order(toc) == {"01_x": 0, "01a_y": 1, "a1_z": 2}


def test_a_lookup_of_an_accelerator_is_not_an_import(tmp_path):
    """`sys.modules.get("vqlit.kernel")` uses a later page's module only where the user imported
    it: drawn on the map, but no import from a later page."""
    modules = package(tmp_path,
                      early='import sys\ndef f():\n    k = sys.modules.get("vqlit.late")\n    return k\n',
                      late="def g(): return 1\n")
    assert [(i.target, i.kind) for i in modules["early"].imports] == [("late", "lookup")]
    assert not layers.check(modules, {"early": 1, "late": 1}, {"early_ch": 0, "late_ch": 1})["earlier"]
