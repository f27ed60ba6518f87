"""Build-time checks of scopes and cascade rules (private).

Every rule is checked when the [`Scopes`][acctstate.scopes.Scopes] are built, and every
problem is reported at once: levels form one tree; a cascade names statuses and a trigger
its levels' workflows have, and never moves a child through a transition the child's
own workflow lacks; a strict cascade leaves nothing behind; cascades never go round in a
circle; hold cascades carry hold types both levels declare.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from acctstate.operations.scopes._model import Cascade, HoldCascade, Scope
from acctstate.values.errors import DefinitionError, Violation

__all__ = ["checked"]


def _levels(scopes: Iterable[Scope], problems: list[Violation]) -> dict[str, Scope]:
    found: dict[str, Scope] = {}
    for s in scopes:
        if not isinstance(s, Scope):
            problems.append(Violation("scope-type", f"{s!r} is not an acctstate.scopes.Scope"))
        elif s.name in found:
            problems.append(Violation("scope-duplicate", f"level {s.name!r} is declared twice"))
        else:
            found[s.name] = s
    tops = [s.name for s in found.values() if s.parent is None]
    if len(tops) != 1:
        problems.append(
            Violation("scope-top", f"exactly one level has no parent; found {sorted(tops)}")
        )
    for s in found.values():
        if s.parent is not None and s.parent not in found:
            problems.append(
                Violation("scope-parent", f"level {s.name!r} names an unknown parent {s.parent!r}")
            )
        seen = {s.name}
        up = s.parent
        while up is not None and up in found:
            if up in seen:
                problems.append(Violation("scope-cycle", f"level {s.name!r} is its own ancestor"))
                break
            seen.add(up)
            up = found[up].parent
    return found


def ancestors(levels: Mapping[str, Scope], name: str) -> list[str]:
    """The levels above ``name``, nearest first."""
    out: list[str] = []
    up = levels[name].parent
    while up is not None and up in levels and up not in out:
        out.append(up)
        up = levels[up].parent
    return out


def _cascade(levels: Mapping[str, Scope], c: Cascade, problems: list[Violation]) -> Cascade:
    def bad(rule: str, text: str) -> Cascade:
        problems.append(Violation(rule, f"cascade {c.label!r}: {text}"))
        return c

    if c.scope not in levels or c.target not in levels:
        return bad("cascade-level", "names a level that is not declared")
    down = c.scope in ancestors(levels, c.target)
    if not down and c.target not in ancestors(levels, c.scope):
        return bad("cascade-level", f"{c.target!r} is neither below nor above {c.scope!r}")
    own, their = levels[c.scope].workflow, levels[c.target].workflow
    names = {s.name for s in own.catalog}
    if unknown := sorted(c.entering - names):
        return bad("cascade-status", f"{c.scope!r} has no status {unknown}")
    if c.fire not in their.triggers:
        return bad("cascade-trigger", f"the {c.target!r} workflow has no trigger {c.fire!r}")
    with_edge = {e.source.name for e in their.transitions if e.trigger == c.fire}
    among = c.among if c.among is not None else frozenset(with_edge)
    if unknown := sorted(among - {s.name for s in their.catalog}):
        return bad("cascade-status", f"{c.target!r} has no status {unknown}")
    if lacking := sorted(among - with_edge):
        # A cascade is an ordinary transition of the child: never one its graph lacks.
        return bad(
            "cascade-edge",
            f"the {c.target!r} workflow has no {c.fire!r} transition from {lacking}",
        )
    refusing = sorted(
        e.source.name
        for e in their.transitions
        if e.trigger == c.fire
        and e.source.name in among
        and e.reasons is not None
        and c.reason not in e.reasons
    )
    if refusing:
        return bad(
            "cascade-reason",
            f"the {c.target!r} {c.fire!r} transition from {refusing} needs a reason code "
            f"it accepts; give the cascade reason= one",
        )
    if c.strict:
        if not down:
            return bad("cascade-strict", "only a cascade down the tree can be strict")
        if c.exempt is not None:
            return bad("cascade-strict", "a strict cascade spares nobody: drop exempt=")
        left = sorted(
            {
                e.dest.name
                for e in their.transitions
                if e.trigger == c.fire and e.source.name in among
            }
            & among
        )
        if left:
            return bad("cascade-strict", f"{c.fire!r} leaves children in {left}, which it forbids")
    return attrs.evolve(c, among=among)


def _hold_cascade(
    levels: Mapping[str, Scope], c: HoldCascade, problems: list[Violation]
) -> HoldCascade:
    if c.scope not in levels or c.target not in levels:
        problems.append(Violation("cascade-level", f"{c.label!r} names an undeclared level"))
        return c
    if c.scope not in ancestors(levels, c.target):
        problems.append(
            Violation("cascade-level", f"{c.label!r}: {c.target!r} is not below {c.scope!r}")
        )
        return c
    declared = levels[c.scope].workflow.hold_types
    own = set(declared)
    their = set(levels[c.target].workflow.hold_types)
    types = c.types if c.types is not None else frozenset(own & their)
    if c.blocks is not None:
        blocks = c.blocks
        types = frozenset(t for t in types if t in declared and declared[t].blocks & blocks)
    missing = sorted(t for t in types if t not in own or t not in their)
    if missing or not types:
        problems.append(
            Violation(
                "cascade-hold",
                f"{c.label!r}: both levels must declare the hold types it carries "
                f"(missing: {missing or 'any shared type'})",
            )
        )
        return c
    return attrs.evolve(c, types=types)


def _cycles(levels: Mapping[str, Scope], cascades: Iterable[Cascade]) -> list[Violation]:
    """A cascade entering (level, status) fires a transition into (target, dest): a
    circle of those would cascade for ever."""
    graph: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for c in cascades:
        assert c.among is not None
        dests = {
            e.dest.name
            for e in levels[c.target].workflow.transitions
            if e.trigger == c.fire and e.source.name in c.among
        }
        for s in c.entering:
            graph.setdefault((c.scope, s), set()).update((c.target, d) for d in dests)
    state: dict[tuple[str, str], int] = {}
    found: list[Violation] = []

    def visit(node: tuple[str, str], path: list[tuple[str, str]]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                loop = [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
                text = " -> ".join(f"{lvl} {st}" for lvl, st in loop)
                found.append(Violation("cascade-cycle", f"cascades go round in a circle: {text}"))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def checked(
    scopes: Iterable[Scope], cascades: Iterable[Cascade | HoldCascade]
) -> tuple[dict[str, Scope], tuple[Cascade, ...], tuple[HoldCascade, ...]]:
    """The levels by name and the cascades with their defaults resolved.

    Raises:
        DefinitionError: every broken rule at once.
    """
    problems: list[Violation] = []
    levels = _levels(scopes, problems)
    if problems:
        raise DefinitionError(problems)
    status_rules: list[Cascade] = []
    hold_rules: list[HoldCascade] = []
    for c in cascades:
        if isinstance(c, Cascade):
            status_rules.append(_cascade(levels, c, problems))
        elif isinstance(c, HoldCascade):
            hold_rules.append(_hold_cascade(levels, c, problems))
        else:
            problems.append(Violation("cascade-type", f"{c!r} is not a Cascade or HoldCascade"))
    if not problems:
        problems.extend(_cycles(levels, status_rules))
    if problems:
        raise DefinitionError(problems)
    return levels, tuple(status_rules), tuple(hold_rules)
