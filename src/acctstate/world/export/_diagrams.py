"""Diagrams of a whole workflow, of one status's neighbourhood, or of one account's path.

A [`DiagramView`][acctstate.export.DiagramView] is the plain data of what to draw (statuses, edges,
initial statuses, the edges an account took); it is rendered by
[`acctstate.diagram`][acctstate.diagram]'s Mermaid and DOT renderers, given only the selected
statuses and edges, and then marked up: the focus status outlined, the taken edges numbered (and, in
DOT, drawn bold while the others are greyed). SVG goes through Graphviz when it is installed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from acctstate.values.catalog import StatusRef
from acctstate.values.diagram import dot, mermaid
from acctstate.values.errors import InvalidArgument
from acctstate.values.graph import Edge
from acctstate.values.history import History, StatusChange
from acctstate.values.status import Status
from acctstate.world.export._deps import MissingDependency, graphviz_module

if TYPE_CHECKING:
    from acctstate.core.workflow import Workflow

__all__ = ["HIGHLIGHT", "DiagramView", "PathSource", "diagram", "to_dot", "to_mermaid", "to_svg"]

HIGHLIGHT = "#c0392b"
"""Outline colour of the focus status and the path an account took."""

_FADED = "#9e9e9e"

PathSource = History | Sequence[StatusChange] | Any
"""An account's path: its [`History`][acctstate.history.History], a sequence of changes, or an
object with a ``history`` attribute (an [`Account`][acctstate.account.Account])."""


@attrs.frozen
class DiagramView:
    """What to draw: some statuses, the edges between them, and what to highlight.

    Made by [`diagram`][acctstate.export.diagram]; render with
    [`to_mermaid`][acctstate.export.DiagramView.to_mermaid],
    [`to_dot`][acctstate.export.DiagramView.to_dot] or
    [`to_svg`][acctstate.export.DiagramView.to_svg].

    Attributes:
        statuses: the statuses drawn, in code order.
        edges: the transitions drawn (both ends among ``statuses``), in workflow order.
        initial: the initial statuses among those drawn.
        focus: the statuses the view is centred on (outlined).
        taken: ``(edge index in edges, step numbers)`` for every edge the path took.
        visited: the statuses the path went through, in the order first reached.
    """

    statuses: tuple[Status, ...]
    edges: tuple[Edge, ...]
    initial: tuple[Status, ...]
    focus: tuple[Status, ...] = ()
    taken: tuple[tuple[int, tuple[int, ...]], ...] = ()
    visited: tuple[Status, ...] = ()

    def to_mermaid(self) -> str:
        """The view as a Mermaid ``stateDiagram-v2`` (text).

        Taken edges get their step numbers appended to the label; the focus status
        and the statuses of the path get a ``focus`` / ``path`` class (a coloured
        outline) on top of their back-end class.
        """
        text = mermaid(self.statuses, self.edges, self.initial)
        lines = text.rstrip("\n").split("\n")
        if self.taken:
            replace = {}
            for index, steps in self.taken:
                line = _edge_line(mermaid((), [self.edges[index]], ()), " --> ")
                replace[line] = f"{line} ({_steps(steps)})"
            lines = [replace.get(line, line) for line in lines]
        if self.focus:
            lines.append(f"    classDef focus stroke:{HIGHLIGHT},stroke-width:4px")
            lines.append(f"    class {','.join(s.name for s in self.focus)} focus")
        if self.visited:
            lines.append(f"    classDef path stroke:{HIGHLIGHT},stroke-width:2px")
            lines.append(f"    class {','.join(s.name for s in self.visited)} path")
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        """The view as Graphviz DOT (text).

        With a path, taken edges are drawn bold in [`HIGHLIGHT`][acctstate.export.HIGHLIGHT] with
        their step numbers, the other edges greyed; focus and visited statuses are outlined.
        """
        text = dot(self.statuses, self.edges, self.initial)
        lines = text.rstrip("\n").split("\n")
        closing = lines.pop()  # "}"
        if self.taken or self.visited:
            steps_of = dict(self.taken)
            replace = {}
            for index, edge in enumerate(self.edges):
                line = _edge_line(dot((), [edge], ()), " -> ")
                head = line[: -len('"];')]  # the label is the last attribute
                if index in steps_of:
                    replace[line] = (
                        f'{head} ({_steps(steps_of[index])})", color="{HIGHLIGHT}", '
                        f'fontcolor="{HIGHLIGHT}", penwidth=2.5];'
                    )
                else:
                    replace[line] = f'{head}", color="{_FADED}", fontcolor="{_FADED}"];'
            lines = [replace.get(line, line) for line in lines]
        lines.extend(
            f'    "{s.name}" [color="{HIGHLIGHT}", penwidth=2];'
            for s in self.visited
            if s not in self.focus
        )
        lines.extend(f'    "{s.name}" [color="{HIGHLIGHT}", penwidth=4];' for s in self.focus)
        lines.append(closing)
        return "\n".join(lines) + "\n"

    def to_svg(self) -> str:
        """The view rendered by Graphviz as an SVG document (text).

        Raises:
            MissingDependency: the ``graphviz`` package (``pip install
                acctstate[diagrams]``) or the ``dot`` program (Debian: ``apt-get
                install graphviz``) is missing.
        """
        graphviz = graphviz_module("SVG diagrams")
        try:
            svg: str = graphviz.Source(self.to_dot()).pipe(format="svg", encoding="utf-8")
        except graphviz.ExecutableNotFound:
            raise MissingDependency(
                "the Graphviz 'dot' program",
                needed_for="SVG diagrams",
                install="apt-get install graphviz (Debian/Ubuntu)",
            ) from None
        return svg


def _edge_line(text: str, arrow: str) -> str:
    """The one edge line of a rendering of a single edge."""
    return next(line for line in text.split("\n") if arrow in line and "__start" not in line)


def _steps(steps: tuple[int, ...]) -> str:
    return ", ".join(str(n) for n in steps)


def _refs(around: StatusRef | Iterable[StatusRef]) -> list[StatusRef]:
    if isinstance(around, int | str | Status):
        return [around]
    return list(around)


def _path_changes(path: PathSource) -> list[StatusChange]:
    source = getattr(path, "history", path)
    if isinstance(source, History):
        return list(source)
    if isinstance(source, Sequence) and all(isinstance(c, StatusChange) for c in source):
        return list(source)
    raise InvalidArgument(
        "path", path, "a History, a sequence of StatusChange or an account with a history"
    )


def _within(wf: Workflow, starts: Iterable[Status], steps: int) -> dict[int, int]:
    """``{code: distance}`` of the statuses at most ``steps`` transitions (either
    direction) from one of ``starts``."""
    near: dict[int, set[int]] = {}
    for e in wf.transitions:
        near.setdefault(e.source.code, set()).add(e.dest.code)
        near.setdefault(e.dest.code, set()).add(e.source.code)
    dist = {s.code: 0 for s in starts}
    queue = deque(dist)
    while queue:
        code = queue.popleft()
        if dist[code] == steps:
            continue
        for other in sorted(near.get(code, ())):
            if other not in dist:
                dist[other] = dist[code] + 1
                queue.append(other)
    return dist


def diagram(
    wf: Workflow,
    *,
    around: StatusRef | Iterable[StatusRef] | None = None,
    steps: int | None = None,
    path: PathSource | None = None,
) -> DiagramView:
    """Select what to draw of ``wf``: all of it, a neighbourhood, or an account's path.

    Args:
        wf: the workflow.
        around: a status (or several) to centre on: only the statuses within
            ``steps`` transitions of it, in either direction, are drawn, with the
            transitions that lead towards or away from the centre (those between
            two statuses on the rim are left out).
        steps: how far from ``around`` (default 1) or from the path's statuses
            (default 0: the path alone) to draw.
        path: an account's history (or the account, or a list of changes): the
            statuses it visited are drawn and the transitions it took numbered.
            Combine with ``around``/``steps`` for more context.

    Returns:
        A [`DiagramView`][acctstate.export.DiagramView].

    Raises:
        UnknownStatus: ``around`` names a status the workflow lacks.
        InvalidArgument: ``steps`` is not an int >= 0 or is given without ``around``
            or ``path``; ``path`` is not a history, or holds a change the workflow
            has no transition for.

    >>> from acctstate.presets import isp
    >>> view = diagram(isp.workflow(), around="suspended_dunning_3")
    >>> [s.name for s in view.statuses]
    ['suspended_dunning_3', 'suspended_dunning_2', 'terminated', 'reinstated_back_bill']
    >>> for edge in view.edges:
    ...     print(edge)
    escalate_dunning: suspended_dunning_2 -> suspended_dunning_3
    deescalate_dunning: suspended_dunning_3 -> suspended_dunning_2
    reinstate_back: suspended_dunning_3 -> reinstated_back_bill [has_payment_method]
    terminate: suspended_dunning_3 -> terminated
    """
    if steps is not None and (type(steps) is not int or steps < 0):
        raise InvalidArgument("steps", steps, "an int >= 0")
    if steps is not None and around is None and path is None:
        raise InvalidArgument("steps", steps, "None unless around= or path= is given")
    catalog = wf.catalog
    focus = tuple(dict.fromkeys(catalog[r] for r in _refs(around))) if around is not None else ()
    changes = [] if path is None else _path_changes(path)
    visited: dict[int, Status] = {}
    for c in changes:
        for s in (c.source, c.dest):
            visited.setdefault(s.code, catalog[s.code])
    if around is None and path is None:
        edges = wf.transitions
        keep = set(catalog.codes)
    else:
        reach = (1 if around is not None else 0) if steps is None else steps
        dist = _within(wf, [*focus, *visited.values()], reach)
        keep = set(dist)
        # An edge between two statuses on the rim (both ``reach`` away) leads nowhere
        # near the centre: leaving it out keeps a neighbourhood readable.
        edges = tuple(
            e
            for e in wf.transitions
            if e.source.code in dist
            and e.dest.code in dist
            and (min(dist[e.source.code], dist[e.dest.code]) < reach or reach == 0)
        )
    taken: dict[int, list[int]] = {}
    index = {(e.trigger, e.source.code, e.dest.code): i for i, e in enumerate(edges)}
    step = 0
    for c in changes:
        if c.is_opening:
            continue
        step += 1
        found = index.get((c.trigger, c.source.code, c.dest.code))
        if found is None:
            raise InvalidArgument(
                "path",
                str(c),
                f"changes along the transitions of workflow {wf.name!r}",
            )
        taken.setdefault(found, []).append(step)
    return DiagramView(
        statuses=tuple(s for s in catalog if s.code in keep),
        edges=edges,
        initial=tuple(s for s in wf.initial if s.code in keep),
        focus=focus,
        taken=tuple((i, tuple(n)) for i, n in sorted(taken.items())),
        visited=tuple(visited.values()),
    )


def _view(wf: Workflow, options: Mapping[str, Any]) -> DiagramView:
    return diagram(wf, **options)


def to_mermaid(
    wf: Workflow,
    *,
    around: StatusRef | Iterable[StatusRef] | None = None,
    steps: int | None = None,
    path: PathSource | None = None,
) -> str:
    """The workflow, a neighbourhood or a path as Mermaid text (see
    [`diagram`][acctstate.export.diagram]).

    >>> from acctstate.presets import isp
    >>> print(to_mermaid(isp.workflow(), around="temporary_ban", steps=1))
    stateDiagram-v2
        terminated: Terminated (-3)
        canceled: Canceled (-2)
        active: Active (1)
        temporary_ban: Temporary ban (51)
        active --> temporary_ban: ban
        temporary_ban --> active: lift_ban
        temporary_ban --> canceled: cancel
        temporary_ban --> terminated: terminate
        classDef active fill:#b6d7a8
        class active active
        classDef suspended fill:#f9cb9c
        class temporary_ban suspended
        classDef closed fill:#ea9999
        class terminated,canceled closed
        classDef focus stroke:#c0392b,stroke-width:4px
        class temporary_ban focus
    <BLANKLINE>
    """
    return _view(wf, {"around": around, "steps": steps, "path": path}).to_mermaid()


def to_dot(
    wf: Workflow,
    *,
    around: StatusRef | Iterable[StatusRef] | None = None,
    steps: int | None = None,
    path: PathSource | None = None,
) -> str:
    """The workflow, a neighbourhood or a path as Graphviz DOT text (see
    [`diagram`][acctstate.export.diagram])."""
    return _view(wf, {"around": around, "steps": steps, "path": path}).to_dot()


def to_svg(
    wf: Workflow,
    *,
    around: StatusRef | Iterable[StatusRef] | None = None,
    steps: int | None = None,
    path: PathSource | None = None,
) -> str:
    """The workflow, a neighbourhood or a path rendered as SVG by Graphviz.

    It raises every error [`diagram`][acctstate.export.diagram] raises, and:

    Raises:
        MissingDependency: the ``diagrams`` extra or the ``dot`` program is missing;
            the message says how to install it.
    """
    return _view(wf, {"around": around, "steps": steps, "path": path}).to_svg()
