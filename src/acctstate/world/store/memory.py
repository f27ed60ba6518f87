"""An in-memory [`Store`][acctstate.store.Store]: for tests, notebooks and simulations.

It keeps the same promises as the SQL store inside one process: every operation is
atomic under a lock, firing uses a compare-and-set on the account's version, and
effects wait in an outbox until `MemoryStore.deliver` runs them.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from acctstate.core.workflow import Workflow
from acctstate.operations.automation import AutomationPolicy
from acctstate.values.actors import SYSTEM, Actor
from acctstate.values.catalog import StatusRef
from acctstate.values.clock import require_aware
from acctstate.values.errors import AcctStateError, ConcurrentChange, InvalidArgument
from acctstate.values.history import History, StatusChange
from acctstate.values.holds import Hold
from acctstate.world.store._autoholds import decide, hold_hops, plan_steps
from acctstate.world.store._automation import Policies, Tally, check_progress
from acctstate.world.store._base import BaseStore
from acctstate.world.store._codec import (
    check_count,
    check_id,
    check_version,
    check_written,
    duplicate_key,
    error_text,
    normalised,
    unknown_account,
)
from acctstate.world.store._facts import AccountView, FactsSource, memory_facts
from acctstate.world.store._holds import HoldPlan, HoldsMixin, utc_hold
from acctstate.world.store._memory_batch import MemoryBatch
from acctstate.world.store._memory_outbox import MemoryOutbox, _Slot
from acctstate.world.store._types import (
    Progress,
    RunReport,
    ScheduledRecord,
    StoredAccount,
)

__all__ = ["MemoryStore"]


class MemoryStore(MemoryOutbox, HoldsMixin, MemoryBatch, BaseStore):
    """A [`Store`][acctstate.store.Store] in process memory (thread-safe).

    Args:
        workflow: the workflow every change is checked against.
        facts: the host's facts about each account (balance, time zone, currency,
            period, ...), read when a change is planned: a mapping of account id to a
            mapping of facts, or a callable ``(account_id) -> facts or None``. Event
            data given to ``fire`` overrides them.

    >>> import datetime as dt
    >>> from acctstate.presets import isp
    >>> store = MemoryStore(isp.workflow())
    >>> t0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    >>> _ = store.open("A-1", "prospect", at=t0)
    >>> store.fire("A-1", "register", at=t0, expected_version=1)
    Traceback (most recent call last):
    ...
    acctstate.errors.ConcurrentChange: account 'A-1' was changed concurrently (expected version 1, found 0); reload it and try again
    """

    __slots__ = ("_accounts", "_changes", "_facts", "_holds", "_lock", "_outbox", "_scheduled")

    def __init__(self, workflow: Workflow, *, facts: FactsSource | None = None) -> None:
        super().__init__(workflow)
        self._facts = memory_facts(facts)
        self._lock = threading.RLock()
        self._accounts: dict[str, StoredAccount] = {}
        self._changes: dict[str, list[StatusChange]] = {}
        self._outbox: dict[str, _Slot] = {}  # insertion order is delivery order
        self._scheduled: dict[str, ScheduledRecord] = {}
        self._holds: dict[str, tuple[Hold, ...]] = {}  # standing holds, placement order

    def __repr__(self) -> str:
        return f"<MemoryStore {self._workflow.name!r}: {len(self._accounts)} accounts>"

    # -- accounts ---------------------------------------------------------------------

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
        """Add an account in ``status`` at version 0, its history opened with that fact.

        Raises:
            InvalidArgument: the id is taken, or ``status`` is not an initial status
                (pass ``imported=True`` to bring in an existing account).
        """
        check_id(account_id)
        check_written(reason, note, actor)
        account = self._workflow.open(
            account_id, status, at=at, actor=actor, reason=reason, note=note, imported=imported
        )
        opening = normalised(account.history[0])
        stored = StoredAccount(account_id, opening.dest.code, opening.at, 0)
        with self._lock:
            if account_id in self._accounts:
                raise InvalidArgument("account_id", account_id, "an id not yet in the store")
            self._accounts[account_id] = stored
            self._changes[account_id] = [opening]
        return stored

    def load(self, account_id: str) -> StoredAccount:
        """The account's current state.

        Raises:
            InvalidArgument: no such account, or ``account_id`` is not an id.
        """
        found = self._accounts.get(check_id(account_id))
        if found is None:
            raise unknown_account(account_id)
        return found

    def history(self, account_id: str) -> History:
        """The account's full history, effects included."""
        with self._lock:
            self.load(account_id)
            return History(list(self._changes[account_id]))

    # -- firing -----------------------------------------------------------------------

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
        """Fire ``trigger`` on the stored account; record the change and its effects.

        Args:
            account_id: the account.
            trigger: the trigger name.
            at: the effective time (timezone-aware).
            reason: a reason code.
            note: free text for the history.
            actor: who fires it.
            expected_version: fail unless the account is still at this version.
            retries: re-plan against the new state this many times when another writer
                wins the race (not with ``expected_version``).
            **data: event data for guards and effect rules.

        Returns:
            The change made (its effects are pending in the outbox).

        It also raises every error of
        [`acctstate.workflow.Workflow.plan`][acctstate.workflow.Workflow.plan].

        Raises:
            ConcurrentChange: the account is not at ``expected_version``, or another
                writer won and the retries ran out.
            InvalidArgument: unknown account, or the change's effect keys are taken.
        """
        return self._fire(
            account_id,
            trigger,
            at=at,
            reason=reason,
            note=note,
            actor=actor,
            expected_version=expected_version,
            retries=retries,
            data=data,
            options={},
        )

    def _fire_once(
        self,
        account_id: str,
        trigger: str,
        at: dt.datetime,
        reason: str | None,
        note: str | None,
        actor: Actor | None,
        expected_version: int | None,
        data: Mapping[str, Any],
        options: Mapping[str, Any],
    ) -> StatusChange:
        with self._lock:
            stored = self.load(account_id)
            check_version(account_id, stored.version, expected_version)
            change = normalised(
                self._workflow.plan(
                    self._view(stored, data),
                    trigger,
                    at=at,
                    reason=reason,
                    note=note,
                    actor=actor,
                    **data,
                )
            )
            # Guards may call out (and, in tests, even fire on the same account); the
            # compare-and-set below is what makes a stale plan lose.
            now = self._accounts[account_id]
            if now.version != stored.version:
                raise ConcurrentChange(
                    account_id=account_id,
                    expected_version=stored.version,
                    actual_version=now.version,
                )
            for effect in change.effects:
                if effect.key in self._outbox:
                    raise duplicate_key(account_id, trigger, at, effect.key)
            version = stored.version + 1
            self._accounts[account_id] = StoredAccount(
                account_id, change.dest.code, change.at, version
            )
            self._changes[account_id].append(change)
            for effect in change.effects:
                self._outbox[effect.key] = _Slot(effect.key, account_id, version, effect)
            return change

    def _view(self, stored: StoredAccount, data: Mapping[str, Any]) -> AccountView:
        """The account as rules see it: its stored state, its history and its facts."""
        facts = None if self._facts is None else self._facts(stored.id)
        history = History(list(self._changes[stored.id]))
        return AccountView(stored, facts, history, data, self._holds.get(stored.id, ()))

    # -- holds ------------------------------------------------------------------------

    def holds(self, account_id: str) -> tuple[Hold, ...]:
        """The holds standing on the account, in the order they were placed (UTC).

        Raises:
            InvalidArgument: no such account.
        """
        with self._lock:
            self.load(account_id)
            return self._holds.get(account_id, ())

    def _held_state(self, account_id: str) -> tuple[StoredAccount, tuple[Hold, ...]]:
        with self._lock:
            return self.load(account_id), self._holds.get(account_id, ())

    def _hold_change(
        self,
        account_id: str,
        expected_version: int | None,
        data: Mapping[str, Any],
        plan: HoldPlan,
        options: Mapping[str, Any],
    ) -> StatusChange:
        with self._lock:
            stored = self.load(account_id)
            check_version(account_id, stored.version, expected_version)
            change, after = plan(self._workflow, self._view(stored, data))
            change = normalised(change)
            if self._accounts[account_id].version != stored.version:  # a guard fired
                raise ConcurrentChange(
                    account_id=account_id,
                    expected_version=stored.version,
                    actual_version=self._accounts[account_id].version,
                )
            self._record_hold_change(stored, change, after)
            return change

    def _record_hold_change(
        self, stored: StoredAccount, change: StatusChange, after: tuple[Hold, ...]
    ) -> StoredAccount:
        """Write one planned hold change (under the lock): version, history, outbox, holds."""
        account_id = stored.id
        for effect in change.effects:
            if effect.key in self._outbox:
                raise duplicate_key(account_id, change.trigger, change.at, effect.key)
        version = stored.version + 1
        now = StoredAccount(account_id, stored.status, stored.status_since, version)
        self._accounts[account_id] = now
        self._changes[account_id].append(change)
        for effect in change.effects:
            self._outbox[effect.key] = _Slot(effect.key, account_id, version, effect)
        self._holds[account_id] = tuple(utc_hold(h) for h in after)
        return now

    # -- automation -------------------------------------------------------------------

    def run_automation(
        self,
        policy: AutomationPolicy | Sequence[AutomationPolicy],
        *,
        now: dt.datetime,
        chunk: int = 10_000,
        progress: Progress | None = None,
    ) -> RunReport:
        """Run the automation's rules over every stored account, in id order.

        Each account is planned by the rules against its stored state and its facts,
        and its steps are made as ordinary changes (guards, effects, history and
        outbox), all of an account's steps at once or none. Running again at the same
        ``now`` changes nothing more.

        Args:
            policy: one policy, or one per account class (on the store's workflow).
            now: the instant of the run (timezone-aware); every change is effective then.
            chunk: accounts read at a time.
            progress: called with ``(done, total)`` after each chunk.

        Returns:
            A [`RunReport`][acctstate.store.RunReport].

        Raises:
            InvalidArgument: a naive ``now``, a bad ``chunk`` or ``progress``, or a
                policy on another workflow.
        """
        require_aware(now, "now")
        check_count(chunk, "chunk")
        report = check_progress(progress)
        policies = Policies(self._workflow, policy)
        tally = Tally(now)
        total = len(self._accounts)
        cursor: str | None = None
        while batch := self._accounts_after(cursor, chunk, None):
            tally.chunks += 1
            for stored in batch:
                tally.examined += 1
                try:
                    self._automate_one(policies, stored.id, now, tally)
                except AcctStateError as exc:
                    tally.failed.append((stored.id, error_text(exc)))
            cursor = batch[-1].id
            if report is not None:
                report(tally.examined, total)
        return tally.report()

    def _automate_one(
        self, policies: Policies, account_id: str, now: dt.datetime, tally: Tally
    ) -> None:
        with self._lock:
            stored = self.load(account_id)
            facts = None if self._facts is None else self._facts(account_id)
            holds = self._holds.get(account_id, ())
            view = AccountView(stored, facts, None, {}, holds)
            decided = decide(policies, view, holds, now, tally)
            if decided is None:
                return
            c, actions, hops = decided
            history = History(list(self._changes[account_id]))
            steps = plan_steps(self._workflow, c, stored, facts, history, holds, actions, hops, now)
            for change, _ in steps:
                for effect in change.effects:
                    if effect.key in self._outbox:
                        raise duplicate_key(account_id, change.trigger, now, effect.key)
            version = stored.version
            for change, after in steps:
                version += 1
                self._changes[account_id].append(change)
                for effect in change.effects:
                    self._outbox[effect.key] = _Slot(effect.key, account_id, version, effect)
                if after is not None:
                    self._holds[account_id] = after
            last = steps[-1][0] if hops else None
            self._accounts[account_id] = StoredAccount(
                account_id,
                stored.status if last is None else last.dest.code,
                stored.status_since if last is None else last.at,
                version,
            )
            tally.made([*hold_hops(stored, actions), *hops])

    # -- scheduled changes ------------------------------------------------------------

    def _add_scheduled(self, record: ScheduledRecord) -> ScheduledRecord:
        with self._lock:
            self.load(record.account_id)
            return self._scheduled.setdefault(record.id, record)

    def scheduled(
        self, *, account_id: str | None = None, state: str | None = None
    ) -> tuple[ScheduledRecord, ...]:
        """The scheduled changes, by time then id."""
        self._check_state(state)
        with self._lock:
            found = [
                r
                for r in self._scheduled.values()
                if (account_id is None or r.account_id == account_id)
                and (state is None or r.state == state)
            ]
        return tuple(sorted(found, key=lambda r: (r.at, r.id)))

    def _due(self, at: dt.datetime, limit: int) -> list[ScheduledRecord]:
        return [r for r in self.scheduled(state="pending") if r.at <= at][:limit]

    def _apply_scheduled(self, record: ScheduledRecord) -> StatusChange | None:
        with self._lock:
            if self._scheduled[record.id].state != "pending":
                return None
            change = self._fire_once(
                record.account_id,
                record.trigger,
                record.at,
                record.reason,
                record.note,
                record.actor or SYSTEM,
                None,
                dict(record.data),
                {},
            )
            self._scheduled[record.id] = attrs.evolve(
                record, state="applied", version=self._accounts[record.account_id].version
            )
            return change

    def _mark_failed(self, record: ScheduledRecord, error: str) -> None:
        with self._lock:
            self._scheduled[record.id] = attrs.evolve(record, state="failed", error=error)

    def _accounts_after(
        self, after: str | None, limit: int, codes: tuple[int, ...] | None
    ) -> list[StoredAccount]:
        with self._lock:
            ids = sorted(
                i
                for i, a in self._accounts.items()
                if (after is None or i > after) and (codes is None or a.status in codes)
            )
            return [self._accounts[i] for i in ids[:limit]]

    def accounts(self, *, statuses: Sequence[StatusRef] | None = None) -> tuple[StoredAccount, ...]:
        """Every stored account (optionally only those in ``statuses``), by id."""
        codes = None if statuses is None else {self._workflow.catalog[s].code for s in statuses}
        with self._lock:
            return tuple(
                self._accounts[i]
                for i in sorted(self._accounts)
                if codes is None or self._accounts[i].status in codes
            )
