"""A customer's tree as a Mermaid flowchart, a change set marked on it (private)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from acctstate.operations.scopes._changes import ChangeSet
from acctstate.operations.scopes._model import Entity

if TYPE_CHECKING:
    from acctstate.operations.scopes._scopes import Scopes

__all__ = ["tree_mermaid"]


def _node(entity_id: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", entity_id)


def tree_mermaid(scopes: Scopes, tree: Entity, changes: ChangeSet | None = None) -> str:
    """The tree top down, each entity with its level and status; with ``changes``, each
    changed entity shows ``before -> after`` (or its hold change) and each spared one is
    marked."""
    lines = ["flowchart TB"]
    moved: dict[str, str] = {}
    spared: set[str] = set()
    if changes is not None:
        for step in changes:
            c = step.change
            if c.source == c.dest:
                moved[step.entity_id] = f"{c.dest.name}, {c.trigger}"
            else:
                moved[step.entity_id] = f"{c.source.name} -> {c.dest.name}"
        spared = {eid for eid, _ in changes.spared}
    for e in tree.walk():
        shown = moved.get(e.id, scopes.status_of(e).name)
        if e.id in spared:
            shown += ", spared"
        lines.append(f'    {_node(e.id)}["{e.scope} {e.id}<br/>{shown}"]')
    for e in tree.walk():
        lines.extend(f"    {_node(e.id)} --> {_node(c.id)}" for c in e.children)
    if moved:
        lines.append("    classDef changed fill:#fde2e1,stroke:#c0392b")
        lines.append(f"    class {','.join(_node(i) for i in moved)} changed")
    if spared:
        lines.append("    classDef spared fill:#e3f4e1,stroke:#27ae60")
        lines.append(f"    class {','.join(_node(i) for i in sorted(spared))} spared")
    return "\n".join(lines)
