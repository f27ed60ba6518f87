"""Transition declarations and the pure, exhaustive build-time checks on the graph.

The graph is finite, so every invariant is checked over all of it when a workflow is
built or extended; a broken rule is reported as a [`Violation`][acctstate.errors.Violation]
naming the statuses involved.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from acctstate.values.catalog import Catalog, StatusRef
from acctstate.values.effects import EffectRule
from acctstate.values.errors import InvalidArgument, UnknownStatus, Violation
from acctstate.values.guards import Guard
from acctstate.values.status import Status

__all__ = ["RULES", "Edge", "Transition", "check_graph", "resolve"]

_TRIGGER = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")

RULES: Mapping[str, str] = {
    "unknown-status": "every source and destination exists in the catalog",
    "no-initial": "the workflow names at least one initial status",
    "no-terminal": "the workflow has at least one terminal status",
    "terminal-exit": "no transition leaves a terminal status",
    "one-way": "a one-way status is never re-entered once left",
    "unreachable": "every status is reachable from an initial status",
    "trap": "every non-terminal status can reach a terminal status",
    "dunning-step": "dunning advances one step at a time, entering at step 1; inside the "
    "ladder it may step down or stay on its step",
    "ambiguous": "a trigger is unambiguous from each source, or its guards are "
    "declared mutually exclusive (g on one, not_(g) on the other)",
    "duplicate": "a (trigger, source, dest) is declared once",
    "reserved-trigger": "'open' is reserved for a history's first entry",
}
"""Every build-time rule by id, in words."""


def _trigger_name(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _TRIGGER.match(value):
        raise InvalidArgument("trigger", value, "a snake_case verb such as 'suspend'")


def _status_ref(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | str | Status):
        raise InvalidArgument(attribute.name, value, "a status code, name or Status")


def _guard_tuple(value: object) -> tuple[Guard, ...]:
    if isinstance(value, Guard):
        return (value,)
    out: tuple[Any, ...] = tuple(value)  # type: ignore[arg-type]
    for g in out:
        if not isinstance(g, Guard):
            raise InvalidArgument("guards", g, "Guard values (see acctstate.guards)")
    return out


def _rule_tuple(value: object) -> tuple[EffectRule, ...]:
    out: tuple[Any, ...] = tuple(value)  # type: ignore[arg-type]
    for r in out:
        if not isinstance(r, EffectRule):
            raise InvalidArgument(
                "effects", r, "EffectRule values (callables with a name and kwargs)"
            )
    return out


def _reasons(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset([value])
    return frozenset(str(v) for v in value)  # type: ignore[attr-defined]


@attrs.frozen
class Transition:
    """Declares one transition: ``trigger`` moves an account from ``source`` to ``dest``.

    Args:
        trigger: a snake_case verb (``"suspend"``).
        source: the status it leaves (code, name or ``Status``).
        dest: the status it enters.
        guards: guards that must all allow (see [`acctstate.guards`][acctstate.guards]).
        effects: rules declaring effects beyond those the flags imply.
        reasons: the reason codes accepted; when set, a reason is required.
        permission: a permission the actor must hold.
        description: why the transition exists (the product rule it implements).

    >>> Transition(trigger="suspend", source="active", dest="suspended").trigger
    'suspend'
    >>> Transition(trigger="Suspend!", source=1, dest=-1)
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid trigger: got 'Suspend!'; expected a snake_case verb such as 'suspend'
    """

    trigger: str = attrs.field(validator=_trigger_name)
    source: StatusRef = attrs.field(validator=_status_ref)
    dest: StatusRef = attrs.field(validator=_status_ref)
    guards: tuple[Guard, ...] = attrs.field(default=(), converter=_guard_tuple)
    effects: tuple[EffectRule, ...] = attrs.field(default=(), converter=_rule_tuple)
    reasons: frozenset[str] | None = attrs.field(default=None, converter=_reasons)
    permission: str | None = None
    description: str = ""

    @classmethod
    def many(
        cls, trigger: str, sources: Iterable[StatusRef], dest: StatusRef, **options: Any
    ) -> list[Transition]:
        """One transition per source, all to ``dest`` with the same options.

        >>> len(Transition.many("cancel", ["active", "suspended"], "canceled"))
        2
        """
        return [cls(trigger=trigger, source=s, dest=dest, **options) for s in sources]


@attrs.frozen
class Edge:
    """A transition of a built workflow: like [`Transition`][acctstate.graph.Transition], with
    ``source`` and ``dest`` resolved to [`Status`][acctstate.status.Status] objects."""

    trigger: str
    source: Status
    dest: Status
    guards: tuple[Guard, ...] = ()
    effects: tuple[EffectRule, ...] = ()
    reasons: frozenset[str] | None = None
    permission: str | None = None
    description: str = ""

    def to_transition(self) -> Transition:
        """The declaration of this edge, with statuses named by code."""
        return Transition(
            trigger=self.trigger,
            source=self.source.code,
            dest=self.dest.code,
            guards=self.guards,
            effects=self.effects,
            reasons=self.reasons,
            permission=self.permission,
            description=self.description,
        )

    def __str__(self) -> str:
        g = f" [{', '.join(x.label for x in self.guards)}]" if self.guards else ""
        return f"{self.trigger}: {self.source.name} -> {self.dest.name}{g}"


def resolve(
    catalog: Catalog, transitions: Iterable[Transition | Edge]
) -> tuple[list[Edge], list[Violation]]:
    """Resolve declarations against ``catalog``; unknown statuses become violations."""
    edges: list[Edge] = []
    problems: list[Violation] = []
    for i, t in enumerate(transitions):
        if not isinstance(t, Transition | Edge):
            problems.append(Violation("type", f"transitions[{i}] is {t!r}, not a Transition"))
            continue
        ends: list[Status] = []
        for role in ("source", "dest"):
            ref = getattr(t, role)
            try:
                ends.append(catalog[ref.code if isinstance(ref, Status) else ref])
            except UnknownStatus as exc:
                problems.append(
                    Violation("unknown-status", f"transition {t.trigger!r}: {role} {exc}")
                )
        if len(ends) == 2:
            edges.append(
                Edge(
                    t.trigger,
                    ends[0],
                    ends[1],
                    t.guards,
                    t.effects,
                    t.reasons,
                    t.permission,
                    t.description,
                )
            )
    return edges, problems


def _reach(start: Iterable[Status], succ: Mapping[int, set[int]]) -> set[int]:
    seen = {s.code for s in start}
    todo = deque(seen)
    while todo:
        for n in succ.get(todo.popleft(), ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def _exclusive(a: Edge, b: Edge) -> bool:
    for g in a.guards:
        for h in b.guards:
            if (h.name == "not_" and h.kwargs.get("guard") == g) or (
                g.name == "not_" and g.kwargs.get("guard") == h
            ):
                return True
    return False


def check_graph(
    catalog: Catalog, edges: Sequence[Edge], initial: Sequence[Status]
) -> list[Violation]:
    """Check every rule of [`RULES`][acctstate.graph.RULES] over the whole graph; return all
    violations."""
    problems: list[Violation] = []
    succ: dict[int, set[int]] = defaultdict(set)
    pred: dict[int, set[int]] = defaultdict(set)
    for e in edges:
        succ[e.source.code].add(e.dest.code)
        pred[e.dest.code].add(e.source.code)
    by_code = {s.code: s for s in catalog}

    if not initial:
        problems.append(Violation("no-initial", "no initial status is declared"))
    terminals = [s for s in catalog if s.terminal]
    if not terminals:
        problems.append(Violation("no-terminal", "no status is marked terminal"))

    for e in edges:
        if e.trigger == "open":
            problems.append(Violation("reserved-trigger", f"{e}: 'open' is reserved"))
        if e.source.terminal:
            problems.append(
                Violation(
                    "terminal-exit",
                    f"{e.trigger!r} leaves terminal status "
                    f"{e.source.name!r} ({e.source.code}) for {e.dest.name!r}",
                )
            )
        sd, dd = e.source.dunning_step, e.dest.dunning_step
        if dd is not None:
            expected = 1 if sd is None else sd + 1
            # Inside the ladder an account may step down (a partial payment) or stay (a
            # change that keeps its step); going up it climbs one step at a time.
            if dd != expected and (sd is None or dd > sd):
                came = "from outside the ladder" if sd is None else f"from step {sd}"
                problems.append(
                    Violation(
                        "dunning-step",
                        f"{e.trigger!r} moves {e.source.name!r} -> "
                        f"{e.dest.name!r}: dunning step {dd} {came}; expected step "
                        f"{expected}",
                    )
                )

    for s in catalog:
        if not s.one_way:
            continue
        after = _reach([by_code[n] for n in succ.get(s.code, ())], succ)
        if s.code in after:
            back = sorted(by_code[p].name for p in pred[s.code] if p in after)
            problems.append(
                Violation(
                    "one-way",
                    f"one-way status {s.name!r} ({s.code}) can be re-entered "
                    f"once left, from {', '.join(repr(b) for b in back)}",
                )
            )

    reached = _reach(initial, succ)
    for s in catalog:
        if s.code not in reached:
            problems.append(
                Violation(
                    "unreachable",
                    f"status {s.name!r} ({s.code}) cannot be reached "
                    f"from the initial statuses "
                    f"{', '.join(repr(i.name) for i in initial) or '(none)'}",
                )
            )

    if terminals:
        can_end = _reach(terminals, pred)
        for s in catalog:
            if not s.terminal and s.code not in can_end:
                problems.append(
                    Violation(
                        "trap",
                        f"status {s.name!r} ({s.code}) cannot reach a terminal "
                        f"status ({', '.join(repr(t.name) for t in terminals)})",
                    )
                )

    groups: dict[tuple[str, int], list[Edge]] = defaultdict(list)
    for e in edges:
        groups[(e.trigger, e.source.code)].append(e)
    for (trigger, _), group in groups.items():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if a.dest == b.dest and a.guards == b.guards:
                    problems.append(Violation("duplicate", f"{a} is declared twice"))
                elif not _exclusive(a, b):
                    problems.append(
                        Violation(
                            "ambiguous",
                            f"{trigger!r} from {a.source.name!r} leads to "
                            f"both {a.dest.name!r} and {b.dest.name!r}; guard one with g "
                            f"and the other with not_(g)",
                        )
                    )
    return problems
