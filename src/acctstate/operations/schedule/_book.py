"""The [`Schedule`][acctstate.schedule.Schedule]: the book of scheduled changes for one workflow
(add, list, withdraw, apply), and the workflow's own book type."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs

from acctstate.core._workflow_schedule import register_book_type
from acctstate.core.workflow import Workflow
from acctstate.operations.schedule._entry import _account_id, apply_entry, plan_entry
from acctstate.operations.schedule._outcome import ApplyResult, ScheduleOutcome
from acctstate.values.actors import Actor
from acctstate.values.clock import require_aware
from acctstate.values.effects import Hooks
from acctstate.values.errors import (
    InvalidArgument,
    PermissionDenied,
)
from acctstate.values.history import (
    ScheduledChange,
    ScheduleState,
)

__all__ = ["Schedule"]

AccountLookup = Mapping[str, Any] | Callable[[str], Any]


class Schedule:
    """The book of scheduled changes for one workflow: add, list, withdraw, apply.

    Entries are [`ScheduledChange`][acctstate.history.ScheduledChange] values keyed by their id;
    settled ones are kept (applied, failed with the reason, withdrawn), so the book is
    also the record of what was planned. A store persists the values and rebuilds the
    book with ``Schedule(workflow, entries=...)``.

    The book remembers the account objects passed to [`add`][acctstate.schedule.Schedule.add] so
    that [`apply_due`][acctstate.schedule.Schedule.apply_due] can fire on them; pass ``accounts=``
    there to supply others (for example, accounts loaded from a store).

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

        Checked now as far as it can be (see [`plan_entry`][acctstate.schedule.plan_entry]); a
        refusal records nothing. Guards are checked when it is applied.

        Args:
            account: the account (an ``Account`` or host object); remembered for
                [`apply_due`][acctstate.schedule.Schedule.apply_due].
            trigger: the trigger to fire.
            at: the effective time (timezone-aware; in the past is allowed and means
                due at the next [`apply_due`][acctstate.schedule.Schedule.apply_due]).
            reason: the reason code.
            note: a note for the history.
            actor: who schedules it; it is fired as this actor, or as the system.
            **data: event data for guards and effect rules at the effective time.

        Returns:
            The pending [`ScheduledChange`][acctstate.history.ScheduledChange], with its id.

        It also raises every error of [`plan_entry`][acctstate.schedule.plan_entry].

        Raises:
            InvalidArgument: the same change (account, trigger, ``at``) is already
                pending, or a wrongly typed argument.
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

        Withdrawing needs the permission firing the trigger can require ("Edit Account
        Status"), so a person who may not change a status may not cancel
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
        now: dt.datetime | None = None,
        *,
        accounts: AccountLookup | None = None,
        hooks: Hooks | None = None,
        limit: int | None = None,
    ) -> ApplyResult:
        """Fire every pending change effective at or before ``now``, in effective-time order.

        Each is fired with ``at`` set to its effective time, guards re-checked then,
        as the actor who scheduled it or else the system actor. A refused change is
        marked failed with the reason (see [`apply_entry`][acctstate.schedule.apply_entry]).
        Applying again with the same ``now`` changes nothing.

        Args:
            now: the current instant (timezone-aware; default: now on the workflow's
                clock).
            accounts: where to find accounts by id (a mapping or a function), for those
                not passed to [`add`][acctstate.schedule.Schedule.add] (e.g. loaded from a store).
            hooks: hooks for the effects (default: the workflow's).
            limit: settle at most this many (bounded chunks; call again for the rest).

        Returns:
            An [`ApplyResult`][acctstate.schedule.ApplyResult] with one outcome per change settled.

        Raises:
            InvalidArgument: ``now`` is naive, ``limit`` is not a positive int, or a due
                change's account cannot be found (checked before anything is fired).
        """
        if now is None:
            now = self._workflow.clock.now()
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
