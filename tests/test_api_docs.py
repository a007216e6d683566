"""The API reference describes every parameter (issue: the book as pages a reader can read).

The reference pages are autodoc over the package's docstrings, read by Sphinx's napoleon extension
(Google style: an ``Args:`` section, one line per parameter). This test parses every public
docstring the way napoleon does and fails on a parameter that the page would list with a type and
no meaning: of a public function, of a public class's constructor (in the class docstring, where
autodoc looks), and of a public method that the page shows.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re

import pytest
import torch
from sphinx.ext.napoleon import Config
from sphinx.ext.napoleon.docstring import GoogleDocstring

import vqlit

MODULES = sorted(m.name for m in pkgutil.iter_modules(vqlit.__path__) if m.name != "__main__")
NAPOLEON = Config(napoleon_use_param=True, napoleon_use_ivar=True)   # as _config.yml
INHERITED = set(dir(torch.nn.Module)) - {"forward"}   # torch's own methods keep torch's docs


def described(doc: str | None) -> dict[str, str]:
    """Each parameter napoleon finds in a docstring (Args or Attributes), with its description."""
    rst = str(GoogleDocstring(inspect.cleandoc(doc or ""), NAPOLEON))
    found = {}
    for name, text in re.findall(r"^:param ([^:]+):(.*)$", rst, flags=re.M):
        found[name.replace("\\", "").lstrip("*").strip()] = text.strip()
    for name, text in re.findall(r"^:ivar ([^:]+):(.*)$", rst, flags=re.M):
        found[name.replace("\\", "").strip()] = text.strip()
    return found


def parameters(obj) -> list[str]:
    """The names a caller can pass (self, cls and a bare ``*`` excluded)."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [p.name for p in signature.parameters.values() if p.name not in ("self", "cls")]


def public_objects(module):
    """Each public function and class the module defines itself (re-exports have their own page)."""
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if getattr(obj, "__module__", None) == module.__name__ and (
                inspect.isfunction(obj) or inspect.isclass(obj)):
            yield name, obj


def undocumented(module) -> list[str]:
    """'object(parameter)' for every parameter whose meaning the module's docstrings don't give."""
    gaps = []
    for name, obj in public_objects(module):
        if inspect.isfunction(obj):
            have = described(obj.__doc__)
            gaps += [f"{name}({p})" for p in parameters(obj) if not have.get(p)]
            continue
        has_init = "__init__" in vars(obj) or dataclasses.is_dataclass(obj) or hasattr(obj, "_fields")
        protocol = getattr(obj, "_is_protocol", False)   # a type to implement, not to construct
        if has_init and not protocol and not issubclass(obj, BaseException):
            have = described(obj.__doc__)
            gaps += [f"{name}({p})" for p in parameters(obj) if not have.get(p)]
        for attr, member in vars(obj).items():
            method = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
            if attr.startswith("_") or attr in INHERITED or not inspect.isfunction(method):
                continue
            if not method.__doc__:
                gaps.append(f"{name}.{attr} has no docstring")
                continue
            have = described(method.__doc__)
            gaps += [f"{name}.{attr}({p})" for p in parameters(member) if not have.get(p)]
    return gaps


def test_the_parser_finds_what_napoleon_renders():
    doc = """Say what.

    Args:
        x: the input, (N, d).
        **common: the arguments of the base class.

    Attributes:
        codebook: the codes.
    """
    assert described(doc) == {"x": "the input, (N, d).", "common": "the arguments of the base class.",
                              "codebook": "the codes."}
    assert described("No sections.") == {}


@pytest.mark.parametrize("name", MODULES)
def test_every_parameter_is_described(name):
    try:
        module = importlib.import_module(f"vqlit.{name}")
    except ImportError as error:      # a module whose optional dependency is missing here
        pytest.skip(f"vqlit.{name} does not import here: {error}")
    gaps = undocumented(module)
    assert not gaps, (f"vqlit.{name}: {len(gaps)} parameters without a description in an Args "
                      f"section of the docstring: " + ", ".join(gaps))
