"""Deciding and recording a change on a [`Workflow`][acctstate.workflow.Workflow] (private).

Compute first, commit second: [`decide`][acctstate.engine.CompiledTable.decide] validates the call,
evaluates the guards and picks the edge; `plan_change` turns it into a keyed
[`StatusChange`][acctstate.history.StatusChange]; `record` writes a change the host's
hooks accepted onto the account. The workflow's methods call these functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from acctstate.core._workflow_defaults import filled
from acctstate.values.account import Account, account_id_of
from acctstate.values.actors import Actor
from acctstate.values.catalog import StatusRef
from acctstate.values.clock import require_aware
from acctstate.values.effects import Effect, Hooks, dispatch
from acctstate.values.errors import (
    AmbiguousMove,
    GuardRefused,
    HistoryConflict,
    IllegalTransition,
    InvalidArgument,
    PermissionDenied,
    ReasonRequired,
    UnknownStatus,
    UnknownTrigger,
)
from acctstate.values.graph import Edge
from acctstate.values.guards import GuardContext, Refusal, check_event_data
from acctstate.values.history import OPEN, Cause, History, StatusChange, effect_key_prefix
from acctstate.values.holds import hold_effects, hold_refusals
from acctstate.values.status import Status

# Years in which an aware instant may have no UTC equivalent (datetime.max at -05:00).
_EDGE_YEARS = (dt.MINYEAR, dt.MAXYEAR)

if TYPE_CHECKING:
    from acctstate.core.workflow import Workflow

__all__ = ["Explanation"]


def decide(
    wf: Workflow,
    account: Any,
    trigger: str,
    at: dt.datetime,
    actor: Actor | None,
    data: Mapping[str, Any],
    *,
    through_engine: bool,
) -> tuple[Status, Edge, GuardContext]:
    """Validate, evaluate guards and pick the edge; raise when refused."""
    if type(trigger) is not str:
        raise InvalidArgument("trigger", trigger, "a trigger name (str)")
    if type(at) is not dt.datetime or at.utcoffset() is None or at.year in _EDGE_YEARS:
        require_aware(at)  # the fast test above failed: let the full check decide/raise
    code = getattr(account, wf._status_attr, None)
    source = wf._by_code.get(code) if type(code) is int else None
    if source is None:
        source = wf.status_of(account)
    candidates = wf._table.candidates(source.code, trigger)
    if not candidates:
        if trigger not in wf._triggers:
            raise UnknownTrigger(trigger, known=wf._triggers)
        raise IllegalTransition(
            account_id=getattr(account, "id", None),
            status=source,
            trigger=trigger,
            allowed=wf._table.allowed.get(source.code, ()),
        )
    if actor is not None and not isinstance(actor, Actor):
        raise InvalidArgument("actor", actor, "an acctstate.Actor or None")
    if data:
        check_event_data(data)
    if wf._defaults:
        data = filled(wf._defaults, account, data)
    check_time(account, source, at)
    if through_engine:
        edge, refusals, denied, ctx = wf._engine.run(source.code, trigger, account, at, actor, data)
    else:
        ctx = GuardContext(account, at, actor, data)
        edge, refusals, denied = wf._table.decide(source.code, trigger, ctx)
    held = getattr(account, "holds", None)
    if held and (blocking := hold_refusals(held, actor)):
        edge, refusals = None, [*refusals, *blocking]  # a hold blocking changes refuses too
    if edge is not None:
        return source, edge, ctx
    account_id = getattr(account, "id", None)
    if denied is not None and denied.permission is not None:
        raise PermissionDenied(
            account_id=account_id,
            status=source,
            trigger=trigger,
            permission=denied.permission,
            actor=actor,
        )
    raise GuardRefused(account_id=account_id, status=source, trigger=trigger, refusals=refusals)


def check_time(account: Any, source: Status, at: dt.datetime) -> None:
    """Refuse an account whose status left its history, or an ``at`` before its latest change."""
    since = getattr(account, "status_since", None)
    if since is not None and (type(since) is not dt.datetime or since.tzinfo is None):
        require_aware(since, "status_since")  # a string or a naive one is refused
    history = getattr(account, "history", None)
    latest = since
    latest_utc = None
    tail = history.tail() if isinstance(history, History) else None
    if tail is not None:
        last, last_utc = tail
        if last.dest is not source and last.dest.code != source.code:
            raise InvalidArgument(
                "account",
                getattr(account, "id", None),
                f"an account whose status ({source.name!r}) matches the end of its "
                f"history ({last.dest.name!r}); the status was changed outside the workflow",
            )
        # Firing sets status_since to the change's own ``at``: identity settles it.
        if since is None or since is last.at:
            latest, latest_utc = last.at, last_utc
        else:
            since_utc = since.astimezone(dt.UTC)
            if last_utc > since_utc:
                latest, latest_utc = last.at, last_utc
            else:
                latest_utc = since_utc
    elif since is not None:
        latest_utc = since.astimezone(dt.UTC)
    # Compare in UTC: datetimes sharing a tzinfo compare by wall time, which
    # misorders the repeated hour when clocks fall back.
    if latest_utc is not None:
        at_utc = at if at.tzinfo is dt.UTC else at.astimezone(dt.UTC)
        if at_utc < latest_utc:
            raise HistoryConflict(account_id=getattr(account, "id", None), at=at, latest=latest)


def check_reason(edge: Edge, reason: str | None) -> None:
    """Refuse a reason code the edge does not accept (or a missing one it requires)."""
    if reason is not None and type(reason) is not str:
        raise InvalidArgument("reason", reason, "a reason code (str) or None")
    if edge.reasons is not None and reason not in edge.reasons:
        raise ReasonRequired(trigger=edge.trigger, reason=reason, allowed=edge.reasons)


def plan_change(
    wf: Workflow,
    account: Any,
    trigger: str,
    at: dt.datetime,
    reason: str | None,
    note: str | None,
    actor: Actor | None,
    data: Mapping[str, Any],
    *,
    through_engine: bool,
    cause: Cause | None = None,
) -> StatusChange:
    """The change firing ``trigger`` would make, its effects keyed; nothing changes
    (``cause``: the cascade that makes it, recorded with it)."""
    source, edge, ctx = decide(wf, account, trigger, at, actor, data, through_engine=through_engine)
    if reason is not None or edge.reasons is not None:
        check_reason(edge, reason)
    if note is not None and type(note) is not str:
        raise InvalidArgument("note", note, "a str or None")
    account_id = account_id_of(account)
    dest = edge.dest
    kinds = wf._flag_kinds[id(edge)]
    held = getattr(account, "holds", None)
    if held:  # effects follow the effective capability, the standing holds taken away
        kinds = hold_effects(source, dest, held, held)
    keyed: list[Effect] = []
    if edge.effects:
        # Keys are derived from the change itself, so planning the same change again
        # gives the same keys and a retrying host never runs an effect twice. The flag
        # effects' keys are derived when read (StatusChange.planned).
        prefix = effect_key_prefix(account_id, trigger, at, source.code)
        n = len(kinds)
        for rule in edge.effects:
            for effect in rule(ctx, source, dest):
                keyed.append(effect.keyed(f"{prefix}#{n + len(keyed)}"))
    return StatusChange.planned(
        account_id,
        source,
        dest,
        trigger,
        at,
        wf._clock.now(),
        reason,
        note,
        actor,
        kinds,
        tuple(keyed),
        cause,
    )


def check_planned(wf: Workflow, account: Any, change: StatusChange) -> None:
    """Refuse to commit ``change`` unless it still fits the account and the graph."""
    if not isinstance(change, StatusChange) or change.is_opening:
        raise InvalidArgument("change", change, "a StatusChange returned by plan()")
    account_id = getattr(account, "id", None)
    if str(account_id) != change.account_id:
        raise InvalidArgument(
            "change.account_id", change.account_id, f"the account's id {account_id!r}"
        )
    source = wf.status_of(account)
    fits = source == change.source and any(
        e.dest == change.dest for _, _, e in wf._table.candidates(source.code, change.trigger)
    )
    if not fits:
        raise IllegalTransition(
            account_id=account_id,
            status=source,
            trigger=change.trigger,
            allowed=wf._table.allowed.get(source.code, ()),
        )
    check_time(account, source, change.at)


_set = object.__setattr__


def record(status_attr: str, account: Any, change: StatusChange) -> None:
    """Write ``change`` onto the account: its history (opened if empty), status and since."""
    if type(account) is Account and status_attr == "status":
        kept = account.history
        if isinstance(kept, History):
            if not kept:
                since = account.status_since or change.at
                kept.append(
                    StatusChange(change.account_id, change.source, change.source, OPEN, since)
                )
            kept.append(change)
        # The workflow sets these from a catalog code and a checked aware time: the
        # Account's field validators would only repeat what was checked.
        _set(account, "status", change.dest.code)
        _set(account, "status_since", change.at)
        return
    history = getattr(account, "history", None)
    if isinstance(history, History):
        if not history:
            since = getattr(account, "status_since", None) or change.at
            history.append(
                StatusChange(change.account_id, change.source, change.source, OPEN, since)
            )
        history.append(change)
    setattr(account, status_attr, change.dest.code)
    if hasattr(account, "status_since"):
        account.status_since = change.at


def move_trigger(wf: Workflow, account: Any, target: Status) -> tuple[Status, str]:
    """The account's status and the one trigger leading from it to ``target``.

    Raises ``IllegalTransition`` when none does and ``AmbiguousMove`` when several do.
    """
    source = wf.status_of(account)
    leading = sorted({e.trigger for e in wf._edges if e.source == source and e.dest == target})
    account_id = getattr(account, "id", None)
    if not leading:
        raise IllegalTransition(
            account_id=account_id,
            status=source,
            trigger="",
            target=target,
            allowed=wf._table.allowed.get(source.code, ()),
        )
    if len(leading) > 1:
        raise AmbiguousMove(account_id=account_id, status=source, target=target, candidates=leading)
    return source, leading[0]


def refuse_elsewhere(
    wf: Workflow,
    account: Any,
    source: Status,
    target: Status,
    trigger: str,
    ctx: GuardContext,
) -> GuardRefused:
    """The refusal of a move whose trigger's guards now lead elsewhere than ``target``.

    The trigger has guarded alternatives (``end_trial`` without a payment method): the
    error carries the target edge's reasons.
    """
    refusals: list[Refusal] = [
        r
        for e in wf._edges
        if e.source == source and e.dest == target
        for g in e.guards
        if (r := g(ctx)) is not None
    ]
    return GuardRefused(
        account_id=getattr(account, "id", None), status=source, trigger=trigger, refusals=refusals
    )


@attrs.frozen
class Explanation:
    """Why a trigger may or may not fire on an account now.

    Attributes:
        trigger: the trigger asked about.
        status: the account's current status.
        allowed: whether firing would succeed (reasons and hooks aside).
        dest: where it would lead, when allowed.
        refusals: every refusal, with its guard and reason.
        legal: whether the graph has the transition at all.
    """

    trigger: str
    status: Status
    allowed: bool
    dest: Status | None
    refusals: tuple[Refusal, ...]
    legal: bool

    def __str__(self) -> str:
        if self.allowed:
            assert self.dest is not None
            return f"{self.trigger!r} is allowed: {self.status.name} -> {self.dest.name}"
        if not self.legal:
            return f"{self.trigger!r} is not a transition from {self.status.name!r}"
        return f"{self.trigger!r} is refused: " + "; ".join(str(r) for r in self.refusals)


def explain(
    wf: Workflow,
    account: Any,
    trigger: str,
    when: dt.datetime,
    actor: Actor | None,
    data: Mapping[str, Any],
) -> Explanation:
    """Whether ``trigger`` may fire at ``when`` and, if not, every reason why."""
    source = wf.status_of(account)
    try:
        _, edge, _ = decide(wf, account, trigger, when, actor, data, through_engine=False)
    except IllegalTransition:
        return Explanation(trigger, source, False, None, (), False)
    except PermissionDenied as exc:
        refusal = Refusal("permission", str(exc).split(": ", 1)[-1])
        return Explanation(trigger, source, False, None, (refusal,), True)
    except GuardRefused as exc:
        return Explanation(trigger, source, False, None, exc.refusals, True)
    return Explanation(trigger, source, True, edge.dest, (), True)


def checked_move(
    wf: Workflow,
    account: Any,
    status: StatusRef,
    at: dt.datetime,
    reason: str | None,
    note: str | None,
    actor: Actor | None,
    data: Mapping[str, Any],
) -> str:
    """The one trigger ``Workflow.move_to`` fires to reach ``status``, checked by a plan."""
    target = wf.catalog[status]
    source, trigger = move_trigger(wf, account, target)
    planned = wf.plan(account, trigger, at=at, reason=reason, note=note, actor=actor, **data)
    if planned.dest != target:
        # The trigger has guarded alternatives and, now, its guards lead elsewhere.
        ctx = GuardContext(account, at, actor, data)
        raise refuse_elsewhere(wf, account, source, target, trigger, ctx)
    return trigger


def status_of(wf: Workflow, account: Any) -> Status:
    """The body of ``Workflow.status_of``."""
    try:
        code = getattr(account, wf._status_attr)
    except AttributeError:
        raise InvalidArgument(
            "account", account, f"an object with a {wf._status_attr!r} attribute"
        ) from None
    found = wf._by_code.get(code) if type(code) is int else None
    if found is None:
        raise UnknownStatus(code, known=wf.catalog.names)
    return found


def plan_without_data(
    wf: Workflow,
    account: Any,
    trigger: str,
    at: dt.datetime,
    reason: str | None,
    note: str | None,
    actor: Actor | None,
) -> StatusChange:
    """``Workflow.plan`` without event data, for automation's per-change loop."""
    return plan_change(wf, account, trigger, at, reason, note, actor, {}, through_engine=False)


def carry_out(wf: Workflow, account: Any, change: StatusChange, hooks: Hooks | None) -> None:
    """Run a just-planned change's effects through the hooks, then commit it.

    ``Workflow.fire`` ends here, and automation's ``apply`` carries out the change it has
    just planned through here instead of planning it a second time through ``fire``.
    """
    run = hooks if hooks is not None else wf.hooks
    if run is not None and change.effects:
        if not isinstance(run, Hooks):
            raise InvalidArgument("hooks", run, "an acctstate.Hooks")
        dispatch(change, run)
    wf._commit(account, change)


def allowed_triggers(
    wf: Workflow, account: Any, at: dt.datetime | None, actor: Actor | None, data: Any
) -> tuple[str, ...]:
    """The body of ``Workflow.allowed_triggers``."""
    source = wf.status_of(account)
    return tuple(
        t
        for t in wf._table.allowed.get(source.code, ())
        if wf.may(account, t, at=at, actor=actor, **data)
    )


def statuses_for(wf: Workflow, codes: Any) -> list[Status]:
    """The body of ``Workflow.statuses_for``."""
    by = wf._by_code
    try:
        return [by[c] for c in codes]
    except KeyError as exc:
        raise UnknownStatus(exc.args[0], known=wf._catalog.names) from None
