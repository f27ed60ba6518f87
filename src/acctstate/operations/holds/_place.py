"""Placing and releasing holds as ordinary, recorded changes (private).

A hold change is planned first (type, reason, permission, guards, time, effects keyed),
then its effects run through the host's hooks, and only when they all succeeded is the
hold added to (or taken off) the account and the change appended to its history. The
status itself does not move: the recorded change goes from the status to itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from acctstate.core.workflow import Workflow
from acctstate.values.account import account_id_of
from acctstate.values.actors import SYSTEM, Actor
from acctstate.values.clock import require_aware
from acctstate.values.effects import Hooks, dispatch
from acctstate.values.errors import (
    GuardRefused,
    HistoryConflict,
    InvalidArgument,
    PermissionDenied,
    ReasonRequired,
)
from acctstate.values.guards import GuardContext, Refusal
from acctstate.values.history import OPEN, History, StatusChange, effect_key_prefix
from acctstate.values.holds import (
    PLACE_HOLD,
    RELEASE_HOLD,
    Hold,
    HoldGuard,
    HoldType,
    UnknownHold,
    hold_effects,
)
from acctstate.values.status import Status

__all__ = [
    "auto_hold_id",
    "commit_hold",
    "plan_place",
    "plan_release",
    "place_hold",
    "release_expired",
    "release_hold",
]


def _holds_of(account: Any) -> tuple[Hold, ...]:
    try:
        held = account.holds
    except AttributeError:
        raise InvalidArgument(
            "account", getattr(account, "id", None), "an object with a 'holds' attribute"
        ) from None
    return tuple(held or ())


def _check_time(account: Any, at: dt.datetime) -> None:
    require_aware(at)
    latest = getattr(account, "status_since", None)
    history = getattr(account, "history", None)
    if isinstance(history, History) and history:
        last = history[-1].at
        if latest is None or last.astimezone(dt.UTC) > latest.astimezone(dt.UTC):
            latest = last
    if latest is not None and at.astimezone(dt.UTC) < latest.astimezone(dt.UTC):
        raise HistoryConflict(account_id=getattr(account, "id", None), at=at, latest=latest)


def check_record(account: Any, change: StatusChange) -> None:
    """Raise what recording ``change`` on ``account`` would raise, before any effect of
    it runs: an instant before the account's latest change (or its ``status_since``), or
    a history that ends in another status. Nothing changes."""
    _check_time(account, change.at)
    history = getattr(account, "history", None)
    if isinstance(history, History) and history:
        history.check(change)


def _check_permission(
    account: Any, status: Status, trigger: str, htype: HoldType, actor: Actor | None
) -> None:
    if htype.permission is not None and (actor is None or not actor.can(htype.permission)):
        raise PermissionDenied(
            account_id=getattr(account, "id", None),
            status=status,
            trigger=trigger,
            permission=htype.permission,
            actor=actor,
        )


def _check_guards(
    account: Any,
    status: Status,
    trigger: str,
    guards: Sequence[HoldGuard],
    at: dt.datetime,
    actor: Actor | None,
    data: Mapping[str, Any] | None,
) -> None:
    if not guards:
        return
    ctx = GuardContext(account, at, actor, dict(data or {}))
    refusals: list[Refusal] = [r for g in guards if (r := g(ctx)) is not None]
    if refusals:
        raise GuardRefused(
            account_id=getattr(account, "id", None),
            status=status,
            trigger=trigger,
            refusals=refusals,
        )


def _change(
    wf: Workflow,
    account: Any,
    status: Status,
    trigger: str,
    hold: Hold,
    before: Sequence[Hold],
    after: Sequence[Hold],
    at: dt.datetime,
    reason: str | None,
    note: str | None,
    actor: Actor | None,
) -> StatusChange:
    account_id = account_id_of(account)
    prefix = effect_key_prefix(account_id, f"{trigger}:{hold.id}", at, status.code)
    kinds = hold_effects(status, status, before, after)
    effects = tuple(kind(key=f"{prefix}#{i}") for i, kind in enumerate(kinds))
    text = f"{hold.type} hold {hold.id!r}" + (f": {note}" if note else "")
    return StatusChange(
        account_id, status, status, trigger, at, wf.clock.now(), reason, text, actor, effects
    )


def commit_hold(
    wf: Workflow,
    account: Any,
    change: StatusChange,
    holds: tuple[Hold, ...],
    hooks: Hooks | None,
) -> None:
    """Run a planned hold change's effects through the hooks, then record it on the
    account (its history and standing holds)."""
    check_record(account, change)
    run = hooks if hooks is not None else wf.hooks
    if run is not None and change.effects:
        if not isinstance(run, Hooks):
            raise InvalidArgument("hooks", run, "an acctstate.Hooks")
        dispatch(change, run)
    history = getattr(account, "history", None)
    if isinstance(history, History):
        if not history:
            since = getattr(account, "status_since", None) or change.at
            history.append(
                StatusChange(change.account_id, change.source, change.source, OPEN, since)
            )
        history.append(change)
    account.holds = holds


def _next_id(account: Any, standing: Sequence[Hold]) -> str:
    history = getattr(account, "history", None)
    placed = sum(1 for c in history if c.trigger == PLACE_HOLD) if history else len(standing)
    taken = {h.id for h in standing}
    n = placed + 1
    while f"H{n}" in taken:
        n += 1
    return f"H{n}"


def place_hold(
    wf: Workflow,
    account: Any,
    hold_type: str,
    *,
    at: dt.datetime,
    reason: str | None = None,
    note: str | None = None,
    actor: Actor | None = None,
    until: dt.datetime | None = None,
    hold_id: str | None = None,
    hooks: Hooks | None = None,
    **data: Any,
) -> StatusChange:
    """Place a hold of a declared type on the account, beside any holds already standing.

    Effects follow the change in effective capability: a billing hold on a billing
    account plans ``StopBilling``; a second billing hold plans nothing more.

    Args:
        wf: the workflow declaring ``hold_type``.
        account: an ``Account`` or host object with a ``holds`` attribute.
        hold_type: the name of one of ``wf.hold_types``.
        at: when it is placed (timezone-aware).
        reason: a reason code (one of the type's ``reasons`` when it declares them).
        until: when it ends by itself ([`release_expired`][acctstate.holds.release_expired] releases it).
        hold_id: the hold's id (default: ``"H1"``, ``"H2"`` ... in placement order).
        hooks: hooks for this call (default: the workflow's).
        **data: event data read by the type's guards.

    Returns:
        The recorded change (status to itself, trigger ``"place_hold"``, its effects).

    Raises:
        UnknownHold: the workflow declares no such hold type.
        ReasonRequired: a reason the type does not accept.
        PermissionDenied: the actor lacks the type's permission.
        GuardRefused: a guard of the type refused (every reason listed).
        InvalidArgument: a hold with that id stands already, or ``until`` is not after ``at``.
        HistoryConflict: ``at`` is before the account's latest recorded change.
        EffectFailed: a hook raised; nothing changed.
    """
    change, after = plan_place(
        wf,
        account,
        hold_type,
        at=at,
        reason=reason,
        note=note,
        actor=actor,
        until=until,
        hold_id=hold_id,
        data=data,
    )
    commit_hold(wf, account, change, after, hooks)
    return change


def plan_place(
    wf: Workflow,
    account: Any,
    hold_type: str,
    *,
    at: dt.datetime,
    reason: str | None = None,
    note: str | None = None,
    actor: Actor | None = None,
    until: dt.datetime | None = None,
    hold_id: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> tuple[StatusChange, tuple[Hold, ...]]:
    """Plan placing a hold (every check of `place_hold`); nothing changes.

    Returns:
        The change to record and the standing holds after it. The stores and the
        automation commit it their own way.
    """
    htype = wf.hold_types.get(hold_type) if isinstance(hold_type, str) else None
    if htype is None:
        raise UnknownHold("hold type", hold_type, known=wf.hold_types)
    status = wf.status_of(account)
    before = _holds_of(account)
    _check_time(account, at)
    if reason is not None and type(reason) is not str:
        raise InvalidArgument("reason", reason, "a reason code (str) or None")
    if htype.reasons is not None and reason not in htype.reasons:
        raise ReasonRequired(trigger=PLACE_HOLD, reason=reason, allowed=htype.reasons)
    if until is not None and require_aware(until, "until").astimezone(dt.UTC) <= at.astimezone(
        dt.UTC
    ):
        raise InvalidArgument("until", until, f"a time after the placement ({at.isoformat()})")
    _check_permission(account, status, PLACE_HOLD, htype, actor)
    _check_guards(account, status, PLACE_HOLD, htype.guards, at, actor, data)
    hid = _next_id(account, before) if hold_id is None else hold_id
    if any(h.id == hid for h in before):
        raise InvalidArgument("hold_id", hid, "an id no standing hold has")
    hold = Hold(hid, htype.name, htype.kind, htype.blocks, at, until, reason, actor, note)
    after = (*before, hold)
    change = _change(wf, account, status, PLACE_HOLD, hold, before, after, at, reason, note, actor)
    return change, after


def release_hold(
    wf: Workflow,
    account: Any,
    hold: Hold | str,
    *,
    at: dt.datetime,
    reason: str | None = None,
    note: str | None = None,
    actor: Actor | None = None,
    hooks: Hooks | None = None,
    **data: Any,
) -> StatusChange:
    """Release one standing hold (by id or value); the others keep standing.

    ``StartBilling`` (or ``Provision``) is planned only when no other standing hold,
    nor the status, still blocks it. The release is checked as placing is: the type's
    permission, its ``release_reasons`` and ``release_guards`` (a hold whose ``until``
    has passed ends by itself: only the permission is checked).

    Args:
        **data: event data read by the type's ``release_guards``.

    Raises:
        UnknownHold: no such hold stands on the account.
        ReasonRequired: a reason the type's ``release_reasons`` does not list.
        PermissionDenied: the actor lacks the hold type's permission.
        GuardRefused: a release guard of the type refused (every reason listed).
        HistoryConflict: ``at`` is before the account's latest recorded change.
        EffectFailed: a hook raised; nothing changed.
    """
    change, after = plan_release(
        wf, account, hold, at=at, reason=reason, note=note, actor=actor, data=data
    )
    commit_hold(wf, account, change, after, hooks)
    return change


def plan_release(
    wf: Workflow,
    account: Any,
    hold: Hold | str,
    *,
    at: dt.datetime,
    reason: str | None = None,
    note: str | None = None,
    actor: Actor | None = None,
    data: Mapping[str, Any] | None = None,
) -> tuple[StatusChange, tuple[Hold, ...]]:
    """Plan releasing one standing hold (every check of `release_hold`); nothing changes.

    Returns:
        The change to record and the standing holds after it.
    """
    status = wf.status_of(account)
    before = _holds_of(account)
    hid = hold.id if isinstance(hold, Hold) else hold
    found = next((h for h in before if h.id == hid), None)
    if found is None:
        raise UnknownHold("hold", hid, known=[h.id for h in before])
    _check_time(account, at)
    if reason is not None and type(reason) is not str:
        raise InvalidArgument("reason", reason, "a reason code (str) or None")
    htype = wf.hold_types.get(found.type)
    if htype is not None:
        _check_permission(account, status, RELEASE_HOLD, htype, actor)
        if not found.expired(at):  # a hold past its ``until`` ends by itself
            if htype.release_reasons is not None and reason not in htype.release_reasons:
                raise ReasonRequired(
                    trigger=RELEASE_HOLD, reason=reason, allowed=htype.release_reasons
                )
            _check_guards(account, status, RELEASE_HOLD, htype.release_guards, at, actor, data)
    after = tuple(h for h in before if h.id != hid)
    change = _change(
        wf, account, status, RELEASE_HOLD, found, before, after, at, reason, note, actor
    )
    return change, after


def release_expired(
    wf: Workflow,
    accounts: Iterable[Any],
    *,
    now: dt.datetime,
    actor: Actor = SYSTEM,
    hooks: Hooks | None = None,
) -> list[StatusChange]:
    """Release every hold whose ``until`` has passed at ``now``, as the automation does.

    Each release is an ordinary recorded change made by ``actor`` at ``now`` with the
    reason ``"expired"``.

    Every release is checked before the first is made, so a refusal (an actor without
    a hold type's permission, a change recorded after ``now``) changes nothing.

    Returns:
        The release changes, account by account, in the order the holds were placed.

    Raises:
        PermissionDenied: ``actor`` lacks the permission of an expired hold's type.
        HistoryConflict: ``now`` is before an account's latest recorded change.
        EffectFailed: a hook raised; that release and the ones after it are not made.
    """
    require_aware(now, "now")
    due = [(account, h) for account in list(accounts) for h in _holds_of(account) if h.expired(now)]
    for account, h in due:
        plan_release(wf, account, h, at=now, reason="expired", actor=actor, data={})
    return [
        release_hold(wf, account, h, at=now, reason="expired", actor=actor, hooks=hooks)
        for account, h in due
    ]


def auto_hold_id(hold_type: str, at: dt.datetime) -> str:
    """The id the automation gives a hold it places: its type and the run's UTC instant
    (``"credit@20260306T020000Z"``), the same on every path without reading the history.

    >>> auto_hold_id("credit", dt.datetime(2026, 3, 6, 2, 0, tzinfo=dt.UTC))
    'credit@20260306T020000Z'
    """
    return f"{hold_type}@{require_aware(at).astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"
