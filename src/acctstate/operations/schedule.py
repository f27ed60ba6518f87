"""Effective-dated changes: record a change now to happen later, list and withdraw
scheduled changes, and apply those that are due.

Billing staff change a status "now" or "on the 1st" (seed 000's "Change User Status"
with a date; seed 002's effective date and note). A :class:`Schedule` is the book of
such changes for one workflow. Scheduling checks at once what can be checked now (the
trigger exists and can still happen from the account's status, ``at`` is aware and not
before the account's latest change, the reason code, the actor's permission); guards
are checked when the change is applied, at its effective time, because the account
may look different by then.

Applying (:meth:`Schedule.apply_due`) fires the due changes in effective-time order
through the ordinary :meth:`~acctstate.workflow.Workflow.fire`, each with ``at`` set
to its effective time, as the person who scheduled it or else the system actor. A
change refused then is kept, marked failed with the reason; nothing is dropped.
Applying again changes nothing: settled changes are never fired twice, and a pending
change whose :class:`~acctstate.history.StatusChange` is already in the account's
history (the same idempotency key) is marked applied without firing.

>>> import datetime as dt
>>> from acctstate.presets import isp
>>> wf = isp.workflow()
>>> t0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
>>> acct = wf.open("A-1", "active", at=t0, imported=True)
>>> book = Schedule(wf)
>>> sc = book.add(acct, "suspend", at=dt.datetime(2026, 2, 1, 5, 0, tzinfo=dt.UTC))
>>> [e.trigger for e in book.pending()]
['suspend']
>>> print(book.apply_due(t0))
0 applied, 0 failed
>>> print(book.apply_due(dt.datetime(2026, 2, 2, tzinfo=dt.UTC)))
1 applied, 0 failed
>>> wf.status_of(acct).name, acct.history.last.automatic
('suspended', True)
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs

from acctstate.core._workflow_schedule import register_book_type
from acctstate.core.workflow import Workflow
from acctstate.values.actors import SYSTEM, Actor
from acctstate.values.clock import require_aware
from acctstate.values.effects import Hooks
from acctstate.values.errors import (
    HistoryConflict,
    IllegalTransition,
    InvalidArgument,
    PermissionDenied,
    ReasonRequired,
    UnknownTrigger,
)
from acctstate.values.graph import Edge
from acctstate.values.guards import check_change_args, check_event_data
from acctstate.values.history import (
    History,
    ScheduledChange,
    ScheduleState,
    StatusChange,
    change_key,
)
from acctstate.values.status import Status

__all__ = ["ApplyResult", "Schedule", "ScheduleOutcome", "apply_entry", "plan_entry"]

# Names fire() binds itself; event data under these names could never reach a guard.
_RESERVED = frozenset({"account", "actor", "at", "book", "hooks", "note", "reason", "trigger"})

AccountLookup = Mapping[str, Any] | Callable[[str], Any]


@attrs.frozen
class ScheduleOutcome:
    """What applying one scheduled change did.

    Attributes:
        entry: the scheduled change, settled (``APPLIED`` or ``FAILED``).
        change: the status change recorded, when applied.
        error: the exception that refused it, when failed (not compared).
    """

    entry: ScheduledChange
    change: StatusChange | None = None
    error: Exception | None = attrs.field(default=None, eq=False)

    @property
    def ok(self) -> bool:
        """Whether it was applied."""
        return self.entry.state is ScheduleState.APPLIED

    def __str__(self) -> str:
        return f"{self.entry.id}: {self.entry.state.value}" + (
            f" ({self.entry.detail})" if not self.ok and self.entry.detail else ""
        )


@attrs.frozen
class ApplyResult:
    """One outcome per scheduled change that was due, in the order they were applied.

    Attributes:
        now: the instant the due changes were applied at.
        outcomes: one :class:`ScheduleOutcome` per scheduled change settled.
    """

    now: dt.datetime
    outcomes: tuple[ScheduleOutcome, ...] = ()

    @property
    def applied(self) -> tuple[ScheduledChange, ...]:
        """The scheduled changes that were applied."""
        return tuple(o.entry for o in self.outcomes if o.ok)

    @property
    def failed(self) -> tuple[ScheduledChange, ...]:
        """The scheduled changes that were refused, each with its reason in ``detail``."""
        return tuple(o.entry for o in self.outcomes if not o.ok)

    @property
    def changes(self) -> tuple[StatusChange, ...]:
        """The status changes recorded."""
        return tuple(o.change for o in self.outcomes if o.change is not None)

    def __len__(self) -> int:
        return len(self.outcomes)

    def __str__(self) -> str:
        return f"{len(self.applied)} applied, {len(self.failed)} failed"


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
    """Check a change to schedule and return it as a pending :class:`ScheduledChange`.

    Nothing is recorded: :meth:`Schedule.add` records it; a store may call this and
    persist the value itself.

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
    account_id = str(account.id)
    latest = _latest(account)
    if latest is not None and at.astimezone(dt.UTC) < latest.astimezone(dt.UTC):
        raise HistoryConflict(account_id=account_id, at=at, latest=latest)
    edges = _candidates(workflow, account, source, trigger)
    _check_permission(edges, account_id=account_id, status=source, actor=actor)
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
    return account if isinstance(account, str) else str(account.id)


class Schedule:
    """The book of scheduled changes for one workflow: add, list, withdraw, apply.

    Entries are :class:`~acctstate.history.ScheduledChange` values keyed by their id;
    settled ones are kept (applied, failed with the reason, withdrawn), so the book is
    also the record of what was planned. A store persists the values and rebuilds the
    book with ``Schedule(workflow, entries=...)``.

    The book remembers the account objects passed to :meth:`add` so that
    :meth:`apply_due` can fire on them; pass ``accounts=`` there to supply others (for
    example, accounts loaded from a store).

    Args:
        workflow: the workflow changes are checked against and fired through.
        entries: scheduled changes to start with (ids must be unique).

    Raises:
        InvalidArgument: ``workflow`` is not a ``Workflow``, or duplicate entry ids.
    """

    __slots__ = ("_accounts", "_by_key", "_entries", "_workflow")

    def __init__(self, workflow: Workflow, *, entries: Iterable[ScheduledChange] = ()) -> None:
        if not isinstance(workflow, Workflow):
            raise InvalidArgument("workflow", workflow, "an acctstate.Workflow")
        self._workflow = workflow
        self._entries: dict[str, ScheduledChange] = {}
        self._accounts: dict[str, Any] = {}
        # ids by change key: finds a pending duplicate without scanning the whole book
        self._by_key: dict[str, list[str]] = {}
        for e in entries:
            if not isinstance(e, ScheduledChange):
                raise InvalidArgument("entries", e, "ScheduledChange values")
            if e.id in self._entries:
                raise InvalidArgument("entries", e.id, "unique scheduled-change ids")
            self._entries[e.id] = e
            self._by_key.setdefault(e.key, []).append(e.id)

    @property
    def workflow(self) -> Workflow:
        """The workflow changes are fired through."""
        return self._workflow

    def __repr__(self) -> str:
        n = sum(1 for e in self._entries.values() if e.pending)
        return f"<Schedule of {len(self._entries)} changes, {n} pending>"

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[ScheduledChange]:
        return iter(self.entries)

    def __contains__(self, id: object) -> bool:
        return id in self._entries

    def __getitem__(self, id: str) -> ScheduledChange:
        """The scheduled change with ``id``.

        Raises:
            InvalidArgument: no such id in this book.
        """
        try:
            return self._entries[id]
        except (KeyError, TypeError):
            raise InvalidArgument(
                "scheduled change", id, "the id of a scheduled change in this schedule"
            ) from None

    @property
    def entries(self) -> list[ScheduledChange]:
        """Every scheduled change, settled ones included, in effective-time order.

        Changes effective at the same instant keep the order they were scheduled in.
        """
        ordered = sorted(
            enumerate(self._entries.values()), key=lambda p: (p[1].at.astimezone(dt.UTC), p[0])
        )
        return [e for _, e in ordered]

    def pending(self, account: Any = None) -> list[ScheduledChange]:
        """The pending changes, in effective-time order (of one account when given).

        Args:
            account: an account object or id; all accounts when ``None``.
        """
        wanted = None if account is None else _account_id(account)
        return [e for e in self.entries if e.pending and (wanted is None or e.account_id == wanted)]

    def for_account(self, account: Any) -> list[ScheduledChange]:
        """Every scheduled change of one account (settled ones too), in effective-time order."""
        wanted = _account_id(account)
        return [e for e in self.entries if e.account_id == wanted]

    def due(self, now: dt.datetime) -> list[ScheduledChange]:
        """The pending changes effective at or before ``now``, in the order they would fire.

        Raises:
            InvalidArgument: ``now`` is naive.
        """
        cut = require_aware(now, "now").astimezone(dt.UTC)
        return [e for e in self.pending() if e.at.astimezone(dt.UTC) <= cut]

    def add(
        self,
        account: Any,
        trigger: str,
        *,
        at: dt.datetime,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        **data: Any,
    ) -> ScheduledChange:
        """Schedule ``trigger`` on ``account`` to take effect at ``at``.

        Checked now as far as it can be (see :func:`plan_entry`); a refusal records
        nothing. Guards are checked when it is applied.

        Args:
            account: the account (an ``Account`` or host object); remembered for
                :meth:`apply_due`.
            trigger: the trigger to fire.
            at: the effective time (timezone-aware; in the past is allowed and means
                due at the next :meth:`apply_due`).
            reason: the reason code.
            note: a note for the history.
            actor: who schedules it; it is fired as this actor, or as the system.
            **data: event data for guards and effect rules at the effective time.

        Returns:
            The pending :class:`~acctstate.history.ScheduledChange`, with its id.

        Raises:
            InvalidArgument: the same change (account, trigger, ``at``) is already
                pending, or a wrongly typed argument.
            (and every error of :func:`plan_entry`)
        """
        entry = plan_entry(
            self._workflow,
            account,
            trigger,
            at=at,
            reason=reason,
            note=note,
            actor=actor,
            data=data,
        )
        same = [self._entries[i] for i in self._by_key.get(entry.key, ())]
        for e in same:
            if e.pending:
                raise InvalidArgument(
                    "at",
                    at,
                    f"a time at which {trigger!r} is not already scheduled for account "
                    f"{entry.account_id!r} (pending: {e.id!r})",
                )
        if same:
            n = len(same) + 1
            while f"{entry.key}#{n}" in self._entries:
                n += 1
            entry = attrs.evolve(entry, id=f"{entry.key}#{n}")
        self._entries[entry.id] = entry
        self._by_key.setdefault(entry.key, []).append(entry.id)
        self._accounts[entry.account_id] = account
        return entry

    def withdraw(
        self,
        entry: ScheduledChange | str,
        *,
        actor: Actor | None = None,
        note: str | None = None,
        at: dt.datetime | None = None,
    ) -> ScheduledChange:
        """Withdraw a pending scheduled change; it is kept, marked withdrawn.

        Withdrawing needs the permission firing the trigger can require (seed 002's
        "Edit Account Status"), so a person who may not change a status may not cancel
        a planned change either.

        Args:
            entry: the scheduled change or its id.
            actor: who withdraws it (recorded as ``settled_by``).
            note: why, recorded as ``detail``.
            at: when (default: now on the workflow's clock).

        Returns:
            The withdrawn scheduled change.

        Raises:
            InvalidArgument: unknown id, or the change is no longer pending.
            PermissionDenied: the actor lacks the permission the trigger needs.
        """
        key = entry.id if isinstance(entry, ScheduledChange) else entry
        current = self[key]
        if actor is not None and not isinstance(actor, Actor):
            raise InvalidArgument("actor", actor, "an acctstate.Actor or None")
        if note is not None and type(note) is not str:
            raise InvalidArgument("note", note, "a str or None")
        when = self._workflow.clock.now() if at is None else require_aware(at)
        # Conservative on purpose: the account's status when it would have fired is not
        # known, so any permission the trigger can require is asked for.
        needed = sorted(
            {
                e.permission
                for e in self._workflow.transitions
                if e.trigger == current.trigger and e.permission is not None
            }
        )
        if needed and (actor is None or not any(actor.can(p) for p in needed)):
            raise PermissionDenied(
                account_id=current.account_id,
                status=None,
                trigger=current.trigger,
                permission=needed[0],
                actor=actor,
            )
        settled = current.settle(ScheduleState.WITHDRAWN, at=when, by=actor, detail=note)
        self._entries[key] = settled
        return settled

    def apply_due(
        self,
        now: dt.datetime,
        *,
        accounts: AccountLookup | None = None,
        hooks: Hooks | None = None,
        limit: int | None = None,
    ) -> ApplyResult:
        """Fire every pending change effective at or before ``now``, in effective-time order.

        Each is fired with ``at`` set to its effective time, guards re-checked then,
        as the actor who scheduled it or else the system actor. A refused change is
        marked failed with the reason (see :func:`apply_entry`). Applying again with
        the same ``now`` changes nothing.

        Args:
            now: the current instant (timezone-aware), e.g. ``clock.now()``.
            accounts: where to find accounts by id (a mapping or a function), for those
                not passed to :meth:`add` (e.g. loaded from a store).
            hooks: hooks for the effects (default: the workflow's).
            limit: settle at most this many (bounded chunks; call again for the rest).

        Returns:
            An :class:`ApplyResult` with one outcome per change settled.

        Raises:
            InvalidArgument: ``now`` is naive, ``limit`` is not a positive int, or a due
                change's account cannot be found (checked before anything is fired).
        """
        due = self.due(now)
        if limit is not None:
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise InvalidArgument("limit", limit, "a positive int or None")
            due = due[:limit]
        found: dict[str, Any] = {}
        missing: list[str] = []
        for e in due:
            if e.account_id not in found:
                account = self._find(e.account_id, accounts)
                if account is None:
                    missing.append(e.account_id)
                else:
                    found[e.account_id] = account
        if missing:
            raise InvalidArgument(
                "accounts",
                sorted(set(missing)),
                "the accounts of every due change (pass accounts= a mapping or lookup by id)",
            )
        outcomes: list[ScheduleOutcome] = []
        for e in due:
            outcome = apply_entry(self._workflow, e, found[e.account_id], now=now, hooks=hooks)
            self._entries[e.id] = outcome.entry
            outcomes.append(outcome)
        return ApplyResult(now, tuple(outcomes))

    def _find(self, account_id: str, accounts: AccountLookup | None) -> Any:
        if accounts is not None:
            if isinstance(accounts, Mapping):
                hit = accounts.get(account_id)
            else:
                hit = accounts(account_id)
            if hit is not None:
                return hit
        return self._accounts.get(account_id)


# The workflow's own book (``Workflow.book``) is a Schedule; the workflow, a layer below,
# learns the type from here rather than importing this module.
register_book_type(Schedule)
