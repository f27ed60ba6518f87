"""The table view of a [`Workflow`][acctstate.workflow.Workflow]'s transitions (private).

Text diagrams come from [`acctstate.diagram`][acctstate.diagram]; SVG, tables and notebook displays
from [`acctstate.export`][acctstate.export], imported only when used (it sits above the workflow).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from acctstate.values.graph import Edge

__all__: list[str] = []


def table_rows(edges: Iterable[Edge]) -> list[dict[str, Any]]:
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
        for e in edges
    ]
