"""pytest configuration for the whole repository.

* Chapters run at the smoke scale unless VQLIT_SCALE says otherwise (nbval's kernels inherit it).
* nbval collects the MyST chapters (book/chapters/*.md) through jupytext; nbval itself only reads
  .ipynb files. The .ipynb files beside the chapters are generated copies for Colab and are not
  collected, so nbval runs each chapter once (tests/test_chapters.py runs each once more through
  papermill, with injected parameters, and checks the values it glues).
* Every test starts from the same global random state (torch.manual_seed(0)): a test that draws
  from torch's global generator (initial weights, dropout, noise) gives the same result in any order
  and on every run, so CI cannot fail on an unlucky draw. Statistical checks choose their own seeds.
"""
import json
import os
import sys
import tempfile
from pathlib import Path
from unittest import mock

import jupytext
import nbval.plugin
import pytest
import torch

os.environ.setdefault("VQLIT_SCALE", "smoke")

# papermill starts kernels by name ("python3"); make that name mean this interpreter, whatever other
# "python3" kernel the user has installed (JUPYTER_PATH is searched first).
_kernels = Path(tempfile.mkdtemp(prefix="vqlit-kernels-")) / "kernels" / "python3"
_kernels.mkdir(parents=True)
(_kernels / "kernel.json").write_text(json.dumps({
    "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
    "display_name": "Python 3 (tests)", "language": "python"}))
os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(_kernels.parent.parent),
                                                           os.environ.get("JUPYTER_PATH")]))


class MySTChapter(nbval.plugin.IPyNbFile):
    """nbval's notebook collector, fed by jupytext instead of nbformat (pinned: nbval 0.11)."""

    def collect(self):
        notebook = jupytext.read(str(self.fspath))
        with mock.patch.object(nbval.plugin.nbformat, "read", lambda *args, **kwargs: notebook):
            yield from super().collect()


def _is_chapter_dir(path):
    return path.parent.name == "chapters" and path.parent.parent.name == "book"


def pytest_collect_file(file_path, parent):
    option = parent.config.option
    if (option.nbval or option.nbval_lax) and file_path.suffix == ".md" and _is_chapter_dir(file_path):
        if "```{code-cell}" in file_path.read_text(encoding="utf-8"):    # index pages run nothing
            return MySTChapter.from_parent(parent, path=file_path)
    return None


def pytest_ignore_collect(collection_path, config):
    if collection_path.suffix == ".ipynb" and _is_chapter_dir(collection_path):
        return True
    return None


def all_subclasses(cls: type) -> set[type]:
    """Every subclass of cls, at any depth (shared by the contract tests)."""
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | all_subclasses(sub)
    return found


@pytest.fixture(autouse=True)
def _same_global_seed():
    torch.manual_seed(0)
