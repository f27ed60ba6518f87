"""The public surface: every public module declares a sorted `__all__`, and every name in
it is documented."""

from __future__ import annotations

import importlib
import inspect
import pathlib

import pytest

import acctstate

SRC = pathlib.Path(acctstate.__file__).parent


def public_modules() -> list[str]:
    names = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        if any(part.startswith("_") and part != "__init__" for part in rel.parts):
            continue
        if "migrations" in rel.parts:  # Django's generated schema steps, not an API
            continue
        if rel.parts[-1] == "__init__":
            rel = rel.parent
        if rel.parts[-1] == "__main__":
            continue
        names.append(".".join(rel.parts))
    return names


@pytest.mark.parametrize("name", public_modules())
def test_module_documents_its_public_names(name: str) -> None:
    """The module has a docstring and an `__all__`; each listed name exists and, when it is
    a class or function, has a docstring of its own."""
    if ".contrib.django" in name:
        pytest.importorskip("django")
        import _django  # the app's modules import only inside a configured project

        _django.configure()
    module = importlib.import_module(name)
    assert inspect.getdoc(module), f"{name} has no module docstring"
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    undocumented = []
    for attr in exported:
        obj = getattr(module, attr)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj):
            undocumented.append(attr)
    assert not undocumented, f"{name}: no docstring for {undocumented}"


def test_top_level_names_resolve() -> None:
    """Everything `acctstate.__all__` lists can be imported from `acctstate`."""
    missing = [n for n in acctstate.__all__ if not hasattr(acctstate, n)]
    assert not missing
    assert len(set(acctstate.__all__)) == len(acctstate.__all__)
