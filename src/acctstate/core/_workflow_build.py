"""Building a [`Workflow`][acctstate.workflow.Workflow]: its definition checked at once (private).

Every broken rule is collected (unknown statuses, bad initial statuses, the graph rules
of [`acctstate.graph.RULES`][acctstate.graph.RULES]) and raised together in one ``DefinitionError``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from acctstate.values.account import Account
from acctstate.values.actors import Actor
from acctstate.values.catalog import Catalog, StatusRef
from acctstate.values.clock import Clock, require_aware
from acctstate.values.effects import Hooks
from acctstate.values.errors import DefinitionError, InvalidArgument, UnknownStatus, Violation
from acctstate.values.graph import Edge, Transition, check_graph, resolve
from acctstate.values.history import OPEN, StatusChange
from acctstate.values.status import Status

if TYPE_CHECKING:
    from acctstate.core.workflow import Workflow

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


def open_account(
    wf: Workflow,
    account_id: str,
    status: StatusRef,
    at: dt.datetime | None,
    actor: Actor | None,
    reason: str | None,
    note: str | None,
    imported: bool,
    fields: Mapping[str, Any],
) -> Account:
    """The body of ``Workflow.open``: a new ``Account`` with its history opened."""
    start = wf.catalog[status]
    if not imported and start not in wf.initial:
        raise InvalidArgument(
            "status",
            start.name,
            f"an initial status ({', '.join(repr(s.name) for s in wf.initial)}) or imported=True",
        )
    when = wf.clock.now() if at is None else require_aware(at)
    # An account opened here carries the workflow's defaults as its own facts.
    fields = {**wf._defaults, **fields}
    account = Account(id=account_id, status=start.code, status_since=when, **fields)
    account.history.append(
        StatusChange(account_id, start, start, OPEN, when, wf.clock.now(), reason, note, actor)
    )
    return account


def extended(
    wf: Workflow,
    statuses: Iterable[Status],
    transitions: Iterable[Transition | Edge],
    initial: Iterable[StatusRef] | None,
    remove: Iterable[tuple[str, StatusRef]],
    name: str | None,
) -> dict[str, Any]:
    """The arguments of the workflow ``Workflow.extend`` builds (validated when built)."""
    drop = {(t, wf.catalog[s].code) for t, s in remove}
    kept = [e.to_transition() for e in wf.transitions if (e.trigger, e.source.code) not in drop]
    return {
        "statuses": wf.catalog.extend(statuses),
        "transitions": [*kept, *transitions],
        "initial": [s.code for s in wf.initial] if initial is None else initial,
        "name": wf.name if name is None else name,
        "clock": wf.clock,
        "hooks": wf.hooks,
        "status_attr": wf.status_attr,
        "holds": wf.hold_types.values(),
        "default_timezone": wf.default_timezone,
        "default_currency": wf.default_currency,
    }
