"""The store's values and the [`Store`][acctstate.store.Store] protocol (re-exported by
``acctstate.store``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from acctstate.values.actors import Actor
from acctstate.values.catalog import StatusRef
from acctstate.values.effects import Effect, Hooks
from acctstate.values.history import History, ScheduledChange, StatusChange

if TYPE_CHECKING:  # pragma: no cover - typing only
    from acctstate.core.workflow import Workflow
    from acctstate.operations.automation import AutomationPolicy

__all__ = [
    "DeadLetterStore",
    "Delivery",
    "PendingEffect",
    "Progress",
    "RunReport",
    "ScheduleRun",
    "ScheduledRecord",
    "Store",
    "StoredAccount",
    "SweepRun",
]


@attrs.frozen
class StoredAccount:
    """An account's current state as a store holds it.

    It has ``id`` and a numeric ``status``, so the workflow can look at it directly
    (``wf.may(stored, "suspend")``, ``wf.status_of(stored)``).

    Attributes:
        id: the account id.
        status: the current status code.
        status_since: when the account entered that status (UTC).
        version: how many changes the account has had since it was opened; every
            change adds one, and a write succeeds only against the version it read.
    """

    id: str
    status: int
    status_since: dt.datetime
    version: int


@attrs.frozen
class PendingEffect:
    """One effect in the outbox that has not been carried out yet.

    Attributes:
        key: its idempotency key (unique in the store).
        account_id: the account whose change implied it.
        version: the account version that change produced.
        effect: the effect value.
        attempts: how many deliveries were tried and failed.
        last_error: the last failure, as ``"ExceptionType: message"``, or ``None``.
        state: ``"pending"``, or ``"dead"`` once it ran out of attempts (a dead letter
            holds back its account's later effects until an operator retries or skips it).
        next_attempt_at: not tried again before this instant (UTC), or ``None``.
    """

    key: str
    account_id: str
    version: int
    effect: Effect
    attempts: int = 0
    last_error: str | None = None
    state: str = "pending"
    next_attempt_at: dt.datetime | None = None


@attrs.frozen
class Delivery:
    """What one [`Store.deliver`][acctstate.store.Store.deliver] call did.

    Attributes:
        delivered: the keys of the effects whose hook ran and succeeded, in order.
        skipped: the keys marked done without a hook (``skip_unhandled=True`` only).
        failed: ``(key, error)`` for each effect that failed; it stays pending and the
            account's later effects wait behind it.
        dead: the keys among ``failed`` that ran out of attempts and became dead letters.
    """

    delivered: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    dead: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether nothing failed."""
        return not self.failed

    def __len__(self) -> int:
        return len(self.delivered) + len(self.skipped)

    @property
    def attempts(self) -> int:
        """How many effects were tried (what ``limit`` counts)."""
        return len(self.delivered) + len(self.skipped) + len(self.failed)


@attrs.frozen
class ScheduledRecord:
    """A change to make at a future time, as a store holds it.

    Attributes:
        id: a unique id (given, or derived from account, trigger and time).
        account_id: the account.
        trigger: the trigger to fire.
        at: when it takes effect (UTC).
        reason: the reason code, if any.
        note: a note for the history, if any.
        actor: who asked for it; it is fired as this actor, or as the system actor.
        data: event data for guards and effect rules, as sorted ``(name, value)`` pairs.
        state: ``"pending"``, ``"applied"`` or ``"failed"``.
        version: the account version the change produced, once applied.
        error: why it failed, once failed.
    """

    id: str
    account_id: str
    trigger: str
    at: dt.datetime
    reason: str | None = None
    note: str | None = None
    actor: Actor | None = None
    data: tuple[tuple[str, Any], ...] = ()
    state: str = "pending"
    version: int | None = None
    error: str | None = None


@attrs.frozen
class ScheduleRun:
    """What one [`Store.apply_due`][acctstate.store.Store.apply_due] call did.

    Attributes:
        applied: ids of the scheduled changes made, in order.
        failed: ``(id, error)`` for those the workflow refused (marked failed).
        chunks: how many chunks were processed.
        more: whether due changes remain (``max_chunks`` stopped the run).
    """

    applied: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    chunks: int = 0
    more: bool = False


@attrs.frozen
class SweepRun:
    """What one [`Store.sweep`][acctstate.store.Store.sweep] call did.

    Attributes:
        changes: the changes made, in account-id order.
        failed: ``(account_id, error)`` for each refused or conflicting change.
        examined: how many accounts were looked at.
        cursor: the last account id examined; pass it as ``after=`` to resume
            (``None`` when the sweep reached the end).
    """

    changes: tuple[StatusChange, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    examined: int = 0
    cursor: str | None = None


@attrs.frozen
class RunReport:
    """What one [`Store.run_automation`][acctstate.store.Store.run_automation] call did.

    Attributes:
        at: the run's ``now``; every change is effective then.
        examined: how many stored accounts were read.
        changed: how many accounts changed.
        changes: how many transitions were written (an account may take several steps).
        by_rule: ``(rule, transitions)`` for each rule that moved accounts, in rule order.
        blocked: how many accounts had a rule that held but was refused by guards.
        failed: ``(account_id, error)`` for each account that could not be planned or
            changed; the others went on.
        retried: how many accounts lost a race to another writer and were planned
            again one by one.
        chunks: how many chunks were read.
    """

    at: dt.datetime
    examined: int = 0
    changed: int = 0
    changes: int = 0
    by_rule: tuple[tuple[str, int], ...] = ()
    blocked: int = 0
    failed: tuple[tuple[str, str], ...] = ()
    retried: int = 0
    chunks: int = 0

    @property
    def ok(self) -> bool:
        """Whether no account failed."""
        return not self.failed


Progress = Callable[[int, int], None]
"""A progress callback: ``(accounts done, accounts in all)``, called after each chunk."""


Decide = Callable[[StoredAccount], str | None]
"""A sweep's rule: the trigger to fire on an account, or ``None`` to leave it."""


@runtime_checkable
class Store(Protocol):
    """Where accounts' statuses, histories, scheduled changes and pending effects live.

    Every method that changes something is atomic: it happens completely or not at
    all. Refused operations raise the workflow's errors and change nothing.
    """

    @property
    def workflow(self) -> Workflow:
        """The workflow every change is checked against."""
        ...

    def open(
        self,
        account_id: str,
        status: StatusRef,
        *,
        at: dt.datetime,
        actor: Actor | None = None,
        reason: str | None = None,
        note: str | None = None,
        imported: bool = False,
    ) -> StoredAccount:
        """Add an account in ``status`` at version 0, its history opened with that fact."""
        ...

    def load(self, account_id: str) -> StoredAccount:
        """The account's current state."""
        ...

    def history(self, account_id: str) -> History:
        """The account's full history, effects included."""
        ...

    def fire(
        self,
        account_id: str,
        trigger: str,
        *,
        at: dt.datetime,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        expected_version: int | None = None,
        retries: int = 0,
        **data: Any,
    ) -> StatusChange:
        """Fire ``trigger`` on the stored account and record the change and its effects."""
        ...

    def pending(self, *, account_id: str | None = None) -> tuple[PendingEffect, ...]:
        """The effects not carried out yet, oldest first."""
        ...

    def deliver(
        self,
        hooks: Hooks | None = None,
        *,
        limit: int = 1000,
        account_id: str | None = None,
        skip_unhandled: bool = False,
        max_attempts: int = ...,
        backoff: dt.timedelta = ...,
        max_backoff: dt.timedelta = ...,
    ) -> Delivery:
        """Run pending effects through ``hooks`` and mark each done."""
        ...

    def schedule(
        self,
        account_id: str,
        trigger: str,
        *,
        at: dt.datetime,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        id: str | None = None,
        **data: Any,
    ) -> ScheduledRecord:
        """Record a change to make at ``at``."""
        ...

    def schedule_change(self, entry: ScheduledChange) -> ScheduledRecord:
        """Record an [`ScheduledChange`][acctstate.history.ScheduledChange] (keyed by its id)."""
        ...

    def scheduled(
        self, *, account_id: str | None = None, state: str | None = None
    ) -> tuple[ScheduledRecord, ...]:
        """The scheduled changes, by time."""
        ...

    def apply_due(
        self, *, at: dt.datetime, chunk: int = 100, max_chunks: int | None = None
    ) -> ScheduleRun:
        """Make the scheduled changes due at ``at``, ``chunk`` at a time."""
        ...

    def sweep(
        self,
        decide: Decide,
        *,
        at: dt.datetime,
        actor: Actor | None = None,
        statuses: Sequence[StatusRef] | None = None,
        chunk: int = 500,
        after: str | None = None,
        max_chunks: int | None = None,
    ) -> SweepRun:
        """Fire ``decide(account)`` on every stored account, ``chunk`` at a time."""
        ...

    def run_automation(
        self,
        policy: AutomationPolicy | Sequence[AutomationPolicy],
        *,
        now: dt.datetime,
        chunk: int = 10_000,
        progress: Progress | None = None,
    ) -> RunReport:
        """Run the automation's rules over every stored account, ``chunk`` at a time."""
        ...


@runtime_checkable
class DeadLetterStore(Store, Protocol):
    """A [`Store`][acctstate.store.Store] whose delivery backs off and keeps dead letters
    for an operator (`MemoryStore`, `SqlStore`, `DjangoStore`), and prunes delivered
    effects."""

    def dead_letters(self, *, account_id: str | None = None) -> tuple[PendingEffect, ...]:
        """The effects that ran out of attempts, oldest first."""
        ...

    def retry_dead(self, key: str, *, reason: str, actor: Actor | None = None) -> PendingEffect:
        """Send a dead letter back to the queue (its attempts start again)."""
        ...

    def skip_dead(self, key: str, *, reason: str, actor: Actor | None = None) -> PendingEffect:
        """Mark a dead letter done without running it; its account's later effects go on."""
        ...

    def prune(self, *, before: dt.datetime) -> int:
        """Delete the effects carried out before ``before``; how many."""
        ...
