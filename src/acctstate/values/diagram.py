"""Plain-text diagrams of a workflow's graph: Mermaid and Graphviz DOT, no dependency.

Richer renderings (SVG, neighbourhoods, notebook reprs) live in
[`acctstate.export`][acctstate.export] and build on the same plain data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from acctstate.values.graph import Edge
from acctstate.values.status import Backend, Status

__all__ = ["BACKEND_COLORS", "dot", "markdown_table", "mermaid"]

BACKEND_COLORS: dict[Backend, str] = {
    Backend.PROSPECT: "#d9d9d9",
    Backend.PENDING: "#ffe599",
    Backend.ACTIVE: "#b6d7a8",
    Backend.SUSPENDED: "#f9cb9c",
    Backend.CLOSED: "#ea9999",
}
"""Fill colour of each back-end class in diagrams."""


def _edge_label(edge: Edge) -> str:
    if not edge.guards:
        return edge.trigger
    return f"{edge.trigger} [{', '.join(g.label for g in edge.guards)}]"


def mermaid(statuses: Iterable[Status], edges: Sequence[Edge], initial: Sequence[Status]) -> str:
    """A Mermaid ``stateDiagram-v2``: statuses by name, classes by back-end, guards on edges.

    Terminal statuses lead to ``[*]``; initial statuses come from it; one-way statuses
    are marked in their label.
    """
    listed = list(statuses)
    lines = ["stateDiagram-v2"]
    for s in listed:
        mark = " (one-way)" if s.one_way else ""
        lines.append(f"    {s.name}: {s.label} ({s.code}){mark}")
    lines.extend(f"    [*] --> {s.name}" for s in initial)
    lines.extend(f"    {e.source.name} --> {e.dest.name}: {_edge_label(e)}" for e in edges)
    lines.extend(f"    {s.name} --> [*]" for s in listed if s.terminal)
    for b in Backend:
        members = [s.name for s in listed if s.backend is b]
        if members:
            lines.append(f"    classDef {b.value} fill:{BACKEND_COLORS[b]}")
            lines.append(f"    class {','.join(members)} {b.value}")
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(statuses: Iterable[Status], edges: Sequence[Edge], initial: Sequence[Status]) -> str:
    """A Graphviz DOT digraph: filled by back-end class, terminal statuses double-circled,
    one-way statuses dashed, guards on edge labels."""
    lines = [
        "digraph workflow {",
        "    rankdir=LR;",
        '    node [shape=box, style="rounded,filled"];',
    ]
    for s in statuses:
        style = ["rounded", "filled"] + (["dashed"] if s.one_way else [])
        shape = "doubleoctagon" if s.terminal else "box"
        lines.append(
            f"    {_q(s.name)} [label={_q(f'{s.label} ({s.code})')}, shape={shape}, "
            f"style={_q(','.join(style))}, fillcolor={_q(BACKEND_COLORS[s.backend])}];"
        )
    for i, s in enumerate(initial):
        lines.append(f'    "__start{i}" [shape=point, label=""];')
        lines.append(f'    "__start{i}" -> {_q(s.name)};')
    lines.extend(
        f"    {_q(e.source.name)} -> {_q(e.dest.name)} [label={_q(_edge_label(e))}];" for e in edges
    )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(edges: Sequence[Edge]) -> str:
    """One Markdown table row per transition: trigger, from, to, guards, why.

    >>> from acctstate.presets import sonar
    >>> print(markdown_table(sonar.workflow().transitions[:1]))
    | trigger | from | to | guards | why |
    | --- | --- | --- | --- | --- |
    | `schedule_install` | lead (30) | pending_install (31) |  | install scheduled |
    <BLANKLINE>
    """
    lines = ["| trigger | from | to | guards | why |", "| --- | --- | --- | --- | --- |"]
    for e in edges:
        guards = ", ".join(f"`{g.label}`" for g in e.guards)
        extra = []
        if e.permission:
            extra.append(f"permission `{e.permission}`")
        if e.reasons is not None:
            extra.append("reasons " + ", ".join(f"`{r}`" for r in sorted(e.reasons)))
        guards = "; ".join([guards, *extra]) if guards else "; ".join(extra)
        lines.append(
            f"| `{e.trigger}` | {e.source.name} ({e.source.code}) | {e.dest.name} "
            f"({e.dest.code}) | {_cell(guards)} | {_cell(e.description)} |"
        )
    return "\n".join(lines) + "\n"
