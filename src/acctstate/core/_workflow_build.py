"""Building a :class:`~acctstate.workflow.Workflow`: its definition checked at once (private).

Every broken rule is collected (unknown statuses, bad initial statuses, the graph rules
of :data:`acctstate.graph.RULES`) and raised together in one ``DefinitionError``.
"""

from __future__ import annotations

from collections.abc import Iterable

from acctstate.values.catalog import Catalog, StatusRef
from acctstate.values.clock import Clock
from acctstate.values.effects import Hooks
from acctstate.values.errors import DefinitionError, InvalidArgument, UnknownStatus, Violation
from acctstate.values.graph import Edge, Transition, check_graph, resolve
from acctstate.values.status import Status

__all__: list[str] = []


def validated(
    statuses: Catalog | Iterable[Status],
    transitions: Iterable[Transition | Edge],
    initial: Iterable[StatusRef],
    clock: Clock | None,
    hooks: Hooks | None,
) -> tuple[Catalog, tuple[Edge, ...], tuple[Status, ...]]:
    """The catalog, the resolved edges and the initial statuses, once all are valid."""
    catalog = statuses if isinstance(statuses, Catalog) else Catalog(statuses)
    edges, problems = resolve(catalog, transitions)
    starts: list[Status] = []
    for ref in initial:
        try:
            starts.append(catalog[ref.code if isinstance(ref, Status) else ref])
        except UnknownStatus as exc:
            problems.append(Violation("unknown-status", f"initial status: {exc}"))
    if not problems:
        problems = check_graph(catalog, edges, starts)
    if problems:
        raise DefinitionError(problems)
    if clock is not None and not isinstance(clock, Clock):
        raise InvalidArgument("clock", clock, "a Clock (an object with now())")
    if hooks is not None and not isinstance(hooks, Hooks):
        raise InvalidArgument("hooks", hooks, "an acctstate.Hooks")
    return catalog, tuple(edges), tuple(dict.fromkeys(starts))
