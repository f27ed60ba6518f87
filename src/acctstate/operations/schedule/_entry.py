"""One scheduled change: checked when it is recorded ([`plan_entry`][acctstate.schedule.plan_entry])
and fired when it is due ([`apply_entry`][acctstate.schedule.apply_entry])."""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from acctstate.core.workflow import Workflow
from acctstate.operations.schedule._outcome import ScheduleOutcome
from acctstate.values.account import account_id_of
from acctstate.values.actors import SYSTEM, Actor
from acctstate.values.clock import require_aware
from acctstate.values.effects import Hooks
from acctstate.values.errors import (
    AcctStateError,
    HistoryConflict,
    IllegalTransition,
    InvalidArgument,
    PermissionDenied,
    ReasonRequired,
    UnknownTrigger,
)
from acctstate.values.graph import Edge
from acctstate.values.guards import GuardContext, check_change_args, check_event_data
from acctstate.values.history import (
    History,
    ScheduledChange,
    ScheduleState,
    change_key,
)
from acctstate.values.status import Status

__all__ = ["apply_entry", "plan_entry"]

# Names fire() binds itself; event data under these names could never reach a guard.
_RESERVED = frozenset({"account", "actor", "at", "book", "hooks", "note", "reason", "trigger"})


def _reachable(workflow: Workflow, start: int) -> set[int]:
    """The status codes reachable from ``start`` (itself included)."""
    table = workflow.table
    seen = {start}
    todo = deque([start])
    while todo:
        here = todo.popleft()
        for trigger in table.allowed.get(here, ()):
            for _, dest, _ in table.candidates(here, trigger):
                if dest not in seen:
                    seen.add(dest)
                    todo.append(dest)
    return seen


def _latest(account: Any) -> dt.datetime | None:
    """The effective time of the account's latest recorded change (or status start)."""
    found: list[dt.datetime] = []
    since = getattr(account, "status_since", None)
    if isinstance(since, dt.datetime):
        found.append(since)
    history = getattr(account, "history", None)
    if isinstance(history, History) and history:
        found.append(history[-1].at)
    return max(found, key=lambda t: t.astimezone(dt.UTC)) if found else None


def _candidates(workflow: Workflow, account: Any, source: Status, trigger: str) -> list[Edge]:
    """The transitions that could carry out ``trigger`` on this account later.

    From its current status when the trigger is legal there; otherwise from any status
    it can still reach (another scheduled change may take it there first).
    """
    here = [edge for _, _, edge in workflow.table.candidates(source.code, trigger)]
    if here:
        return here
    reachable = _reachable(workflow, source.code)
    later = [e for e in workflow.transitions if e.trigger == trigger and e.source.code in reachable]
    if not later:
        raise IllegalTransition(
            account_id=getattr(account, "id", None),
            status=source,
            trigger=trigger,
            allowed=workflow.table.allowed.get(source.code, ()),
        )
    return later


def _is_money_key(key: str) -> bool:
    return key in _MONEY_KEYS or key.endswith("price")


# Event data the built-in guards and refund rules read as money.
_MONEY_KEYS = frozenset({"paid", "balance", "funds"})


def _check_data_when_due(
    edges: list[Edge], account: Any, at: dt.datetime, actor: Actor | None, data: Mapping[str, Any]
) -> None:
    """Refuse event data that would make the change fail when it is due.

    Money must be a ``Decimal`` or an int (as for ``fire``); and the effect rules of
    every edge that may carry the change out are asked now, at its effective time,
    with the data: a failure that names a key of the data (or the effective time
    against a period the data gives) cannot be fixed by any later fact, since event
    data wins over the account's attributes. Failures for facts the host may still
    record are left to the effective time.
    """
    for key, value in data.items():
        if _is_money_key(key) and (isinstance(value, bool) or not isinstance(value, Decimal | int)):
            raise InvalidArgument(key, value, "a Decimal amount or an int (as fire() reads it)")
        if isinstance(value, Decimal) and not value.is_finite():
            raise InvalidArgument(key, value, "a finite Decimal")
    for edge in edges:
        if not edge.effects:
            continue
        found = _effects_error(edge, account, at, actor, data)
        if isinstance(found, InvalidArgument) and (
            found.name in data or (found.name == "at" and "period" in data)
        ):
            raise found


def _effects_error(
    edge: Edge, account: Any, at: dt.datetime, actor: Actor | None, data: Mapping[str, Any]
) -> AcctStateError | None:
    ctx = GuardContext(account, at, actor, data)
    try:
        for rule in edge.effects:
            list(rule(ctx, edge.source, edge.dest))
    except AcctStateError as exc:
        return exc
    except Exception:  # a host's rule failing on facts it reads: judged when due
        return None
    return None


def _check_permission(
    edges: list[Edge], *, account_id: object, status: Status | None, actor: Actor | None
) -> None:
    # Refused only when every way of carrying the trigger out needs a permission the
    # actor lacks; which edge applies is decided at the effective time.
    needed = [e.permission for e in edges]
    if any(p is None or (actor is not None and actor.can(p)) for p in needed):
        return
    raise PermissionDenied(
        account_id=account_id,
        status=status,
        trigger=edges[0].trigger,
        permission=sorted(p for p in needed if p is not None)[0],
        actor=actor,
    )


def plan_entry(
    workflow: Workflow,
    account: Any,
    trigger: str,
    *,
    at: dt.datetime,
    reason: str | None = None,
    note: str | None = None,
    actor: Actor | None = None,
    data: Mapping[str, Any] | None = None,
    id: str | None = None,
    recorded_at: dt.datetime | None = None,
) -> ScheduledChange:
    """Check a change to schedule and return it as a pending
    [`ScheduledChange`][acctstate.history.ScheduledChange].

    Nothing is recorded: [`Schedule.add`][acctstate.schedule.Schedule.add] records it; a store may
    call this and persist the value itself.

    Args:
        workflow: the workflow the change will be fired through.
        account: the account (an ``Account`` or host object).
        trigger: the trigger to fire.
        at: the effective time (timezone-aware).
        reason: the reason code (checked against the transition's declared reasons).
        note: a free-text note for the history.
        actor: who schedules it (and whose permissions it is fired with).
        data: event data for guards and effect rules at the effective time.
        id: the id to give it (default: the change's key, ``#1``).
        recorded_at: when it is scheduled (default: now on the workflow's clock).

    Raises:
        UnknownTrigger: the workflow has no such trigger.
        IllegalTransition: the trigger can never fire from the account's status.
        PermissionDenied: the actor (or, without one, the system) lacks the permission.
        ReasonRequired: a missing or unknown reason code.
        HistoryConflict: ``at`` is before the account's latest recorded change.
        InvalidArgument: a naive datetime, float money or a wrongly typed argument.
    """
    if type(trigger) is not str:
        raise InvalidArgument("trigger", trigger, "a trigger name (str)")
    require_aware(at)
    check_change_args(actor, reason, note)
    payload = dict(data or {})
    check_event_data(payload, reserved=_RESERVED)
    source = workflow.status_of(account)
    if not workflow.table.candidates(source.code, trigger) and trigger not in workflow.triggers:
        raise UnknownTrigger(trigger, known=workflow.triggers)
    account_id = account_id_of(account)
    latest = _latest(account)
    if latest is not None and at.astimezone(dt.UTC) < latest.astimezone(dt.UTC):
        raise HistoryConflict(account_id=account_id, at=at, latest=latest)
    edges = _candidates(workflow, account, source, trigger)
    _check_permission(edges, account_id=account_id, status=source, actor=actor)
    if payload:
        _check_data_when_due(edges, account, at, actor, payload)
    if all(e.reasons is not None for e in edges):
        allowed = frozenset().union(*(e.reasons or () for e in edges))
        if reason not in allowed:
            raise ReasonRequired(trigger=trigger, reason=reason, allowed=allowed)
    when = workflow.clock.now() if recorded_at is None else require_aware(recorded_at)
    name = f"{change_key(account_id, trigger, at)}#1" if id is None else id
    return ScheduledChange(name, account_id, trigger, at, when, reason, note, actor, payload)


def apply_entry(
    workflow: Workflow,
    entry: ScheduledChange,
    account: Any,
    *,
    now: dt.datetime,
    hooks: Hooks | None = None,
) -> ScheduleOutcome:
    """Fire one due scheduled change and return it settled, applied or failed.

    Fired through ``workflow.fire`` with ``at=entry.at``, so guards, permissions,
    reasons, effects and history apply as for any change. A refusal of any kind is
    caught and returned as ``FAILED`` with ``"ErrorType: message"`` in ``detail``: one
    outcome per change, never an exception half way through a run. When the account's
    history already holds the change (the same key) it is not fired again.

    Args:
        workflow: the workflow to fire through.
        entry: a pending scheduled change effective at or before ``now``.
        account: the account it is for.
        now: the instant it is applied at (recorded as ``settled_at``).
        hooks: hooks for the effects (default: the workflow's).

    Raises:
        InvalidArgument: ``entry`` is not pending, not due at ``now``, or for another
            account; ``now`` is naive.
    """
    require_aware(now, "now")
    if not entry.pending:
        raise InvalidArgument(
            "entry", entry.id, f"a pending scheduled change (this one is {entry.state.value})"
        )
    if entry.at.astimezone(dt.UTC) > now.astimezone(dt.UTC):
        raise InvalidArgument(
            "now", now, f"an instant at or after the change's effective time {entry.at}"
        )
    if str(getattr(account, "id", None)) != entry.account_id:
        raise InvalidArgument(
            "account", getattr(account, "id", None), f"account {entry.account_id!r}"
        )
    actor = entry.actor if entry.actor is not None else SYSTEM
    history = getattr(account, "history", None)
    if isinstance(history, History):
        for done in history.between(entry.at, entry.at + dt.timedelta(microseconds=1)):
            if done.key == entry.key:
                settled = entry.settle(ScheduleState.APPLIED, at=now, by=actor, detail=done.key)
                return ScheduleOutcome(settled, done)
    try:
        change = workflow.fire(
            account,
            entry.trigger,
            at=entry.at,
            reason=entry.reason,
            note=entry.note,
            actor=actor,
            hooks=hooks,
            **entry.kwargs,
        )
    except Exception as exc:  # one outcome per change: a refusal is recorded, not raised
        detail = f"{type(exc).__name__}: {exc}"
        return ScheduleOutcome(
            entry.settle(ScheduleState.FAILED, at=now, by=actor, detail=detail), None, exc
        )
    settled = entry.settle(ScheduleState.APPLIED, at=now, by=actor, detail=change.key)
    return ScheduleOutcome(settled, change)


def _account_id(account: Any) -> str:
    return account if isinstance(account, str) else account_id_of(account)
