"""A griffe extension for the docs build: docstrings' doctest examples become fenced
code blocks, so Markdown shows them as code (and does not read ``[...]`` in their output
as links). Used by ``mkdocs.yml``; nothing imports it at run time."""

from __future__ import annotations

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
