"""Griffe extensions for the docs build. Docstrings' doctest examples become fenced
code blocks, so Markdown shows them as code (and does not read ``[...]`` in their output
as links); a public-path face shows the docstring of the module it stands for. Used by
``mkdocs.yml``; nothing imports it at run time."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """``text`` with each run of ``>>>`` lines (and their output) in a ``pycon`` fence.

    An example and its output end at the first blank line, as in doctest;
    ``<BLANKLINE>`` markers become empty lines. Existing fences are left alone.
    """
    lines = text.split("\n")
    out: list[str] = []
    fenced = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith("```"):
            fenced = not fenced
        if fenced or not stripped.startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(stripped)]
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(lines[i].replace("<BLANKLINE>", ""))
            i += 1
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Rewrite every docstring's doctest examples as fenced code."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Fence the examples of ``obj``'s docstring."""
        doc = obj.docstring
        if doc is not None and ">>>" in doc.value:
            doc.value = fence_doctests(doc.value)


_FACE = re.compile(r"^from (acctstate[\w.]*) import \*", re.M)


class FaceDocstrings(griffe.Extension):
    """Give each public-path face (``acctstate.status`` for ``acctstate.values.status``)
    the docstring of the module it stands for, so its reference page describes the module
    and not where the code lives."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        """Copy the docstring of every face's module onto the face."""
        for face in _modules(pkg):
            path = face.filepath
            if not isinstance(path, pathlib.Path):
                continue
            found = _FACE.search(path.read_text())
            if found is None:
                continue
            try:
                target = loader.modules_collection.get_member(found.group(1))
            except (KeyError, ValueError):
                continue
            doc = target.docstring
            if doc is None:
                continue
            face.docstring = griffe.Docstring(
                doc.value,
                lineno=doc.lineno,
                endlineno=doc.endlineno,
                parent=face,
                parser=doc.parser,
                parser_options=doc.parser_options,
            )


def _modules(module: griffe.Module) -> list[griffe.Module]:
    found = [module]
    for member in module.modules.values():
        if not member.is_alias:
            found.extend(_modules(member))
    return found
