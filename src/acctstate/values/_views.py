"""A tiny registry of views (notebook HTML, DataFrames, SVG) for the core types.

The types that users display (``Status``, ``StatusChange``, ``History``, ``Workflow``,
batch and sweep results) live in low layers; the code that draws them lives in
[`acctstate.export`][acctstate.export], in the outside-world layer, with optional dependencies of
its own. The low types never import it: they ask this registry, and ``acctstate.export``
fills it when it is imported (``import acctstate`` does so).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from acctstate.values.errors import MissingDependency

__all__ = ["register_view", "show", "show_html"]

_VIEWS: dict[str, Callable[..., Any]] = {}


def register_view(name: str, view: Callable[..., Any]) -> None:
    """Make ``view`` the one that draws ``name`` (``"status_html"``, ``"to_frame"``, …)."""
    _VIEWS[name] = view


def show(name: str, obj: object, **options: Any) -> Any:
    """Draw ``obj`` with the view registered as ``name``.

    Raises:
        MissingDependency: no view of that name is registered (``acctstate.export``
            was not imported).
    """
    view = _VIEWS.get(name)
    if view is None:
        raise MissingDependency(
            "acctstate.export", needed_for=name, install="import acctstate.export"
        )
    return view(obj, **options)


def show_html(name: str, obj: object, **options: Any) -> str:
    """`show` for a view that draws text (HTML or SVG)."""
    return str(show(name, obj, **options))
