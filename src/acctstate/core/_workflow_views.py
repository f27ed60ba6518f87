"""The drawing and table views of a :class:`~acctstate.workflow.Workflow` (a private mixin).

Text diagrams come from :mod:`acctstate.diagram`; SVG, tables and notebook displays from
:mod:`acctstate.export`, imported only when used (it sits above the workflow).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from acctstate.values._views import show, show_html
from acctstate.values.catalog import Catalog
from acctstate.values.diagram import dot, mermaid
from acctstate.values.graph import Edge
from acctstate.values.status import Status

if TYPE_CHECKING:
    from acctstate.core.workflow import Workflow

__all__: list[str] = []


class _Views:
    """Diagrams, tables and notebook views; mixed into ``Workflow``."""

    __slots__ = ()
    _catalog: Catalog
    _edges: tuple[Edge, ...]
    _initial: tuple[Status, ...]

    def to_mermaid(self) -> str:
        """The graph as a Mermaid state diagram (text)."""
        return mermaid(self._catalog, self._edges, self._initial)

    def to_dot(self) -> str:
        """The graph as Graphviz DOT (text)."""
        return dot(self._catalog, self._edges, self._initial)

    def table_rows(self) -> list[dict[str, Any]]:
        """One plain dict per transition: trigger, from, to, guards, description."""
        return [
            {
                "trigger": e.trigger,
                "from": e.source.name,
                "to": e.dest.name,
                "guards": [g.label for g in e.guards],
                "permission": e.permission,
                "reasons": sorted(e.reasons) if e.reasons is not None else None,
                "description": e.description,
            }
            for e in self._edges
        ]

    # -- notebook views: acctstate.export holds the logic ------------------------------

    def to_svg(self, **options: Any) -> str:
        """The graph drawn by Graphviz as SVG; ``options`` as :func:`acctstate.export.diagram`
        (``around=``, ``steps=``, ``path=``). Needs ``pip install acctstate[diagrams]``."""
        return show_html("to_svg", cast("Workflow", self), **options)

    def to_frame(self, *, what: str = "transitions") -> Any:
        """The transitions (or ``what="statuses"``) as a pandas DataFrame."""
        return show("workflow_frame", cast("Workflow", self), what=what)

    def _repr_html_(self) -> str:
        return show_html("workflow_html", cast("Workflow", self))
