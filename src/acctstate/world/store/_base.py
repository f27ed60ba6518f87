"""What both stores share: argument checks, the retry loop, chunked schedules and sweeps.

A concrete store supplies the primitives (``_fire_once``, ``_due``, ``_apply_scheduled``,
``_mark_failed``, ``_accounts_after``); this class turns them into the public methods, so
the in-memory and SQL stores behave the same by construction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from acctstate.core.workflow import Workflow
from acctstate.values.actors import Actor
from acctstate.values.catalog import StatusRef
from acctstate.values.clock import require_aware
from acctstate.values.errors import AcctStateError, ConcurrentChange, InvalidArgument
from acctstate.values.history import ScheduledChange, StatusChange
from acctstate.world.store._codec import (
    MAX_KEY,
    SCHEDULE_STATES,
    check_count,
    check_data,
    check_id,
    check_written,
    data_json,
    error_text,
    scheduled_id,
    utc,
)
from acctstate.world.store._types import (
    Decide,
    ScheduledRecord,
    ScheduleRun,
    StoredAccount,
    SweepRun,
)

# A scheduled change that loses a race this many times in a row stays pending for
# the next run instead of holding the chunk up.
_SCHEDULE_RETRIES = 3


class BaseStore:
    """The public behaviour of a store, over primitives its subclasses supply."""

    __slots__ = ("_workflow",)

    def __init__(self, workflow: Workflow) -> None:
        if not isinstance(workflow, Workflow):
            raise InvalidArgument("workflow", workflow, "an acctstate.Workflow")
        self._workflow = workflow

    @property
    def workflow(self) -> Workflow:
        """The workflow every change is checked against."""
        return self._workflow

    # -- primitives -------------------------------------------------------------------

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
        raise NotImplementedError  # pragma: no cover

    def _due(self, at: dt.datetime, limit: int) -> list[ScheduledRecord]:
        raise NotImplementedError  # pragma: no cover

    def _apply_scheduled(self, record: ScheduledRecord) -> StatusChange | None:
        raise NotImplementedError  # pragma: no cover

    def _mark_failed(self, record: ScheduledRecord, error: str) -> None:
        raise NotImplementedError  # pragma: no cover

    def _accounts_after(
        self, after: str | None, limit: int, codes: tuple[int, ...] | None
    ) -> list[StoredAccount]:
        raise NotImplementedError  # pragma: no cover

    def load(self, account_id: str) -> StoredAccount:
        raise NotImplementedError  # pragma: no cover

    # -- firing -----------------------------------------------------------------------

    def _fire(
        self,
        account_id: str,
        trigger: str,
        *,
        at: dt.datetime,
        reason: str | None,
        note: str | None,
        actor: Actor | None,
        expected_version: int | None,
        retries: int,
        data: Mapping[str, Any],
        options: Mapping[str, Any],
    ) -> StatusChange:
        check_id(account_id)
        check_written(reason, note, actor)
        check_data(data)
        require_aware(at)
        check_count(retries, "retries", minimum=0)
        if expected_version is not None:
            check_count(expected_version, "expected_version", minimum=0)
            if retries:
                # A caller who read a version wants the change made against that state
                # only; re-planning against a newer one would silently ignore that.
                raise InvalidArgument(
                    "retries", retries, "0 when expected_version is given (retry by re-reading)"
                )
        attempt = 0
        while True:
            try:
                return self._fire_once(
                    account_id, trigger, at, reason, note, actor, expected_version, data, options
                )
            except ConcurrentChange:
                if expected_version is not None or attempt >= retries:
                    raise
                attempt += 1

    # -- scheduled changes ------------------------------------------------------------

    @staticmethod
    def _record(
        account_id: str,
        trigger: str,
        at: dt.datetime,
        reason: str | None,
        note: str | None,
        actor: Actor | None,
        id: str | None,
        data: Mapping[str, Any],
    ) -> ScheduledRecord:
        check_id(account_id)
        if not isinstance(trigger, str) or not trigger:
            raise InvalidArgument("trigger", trigger, "a trigger name (str)")
        check_written(reason, note, actor, trigger)
        check_data(data)
        require_aware(at)
        if actor is not None and not isinstance(actor, Actor):
            raise InvalidArgument("actor", actor, "an acctstate.Actor or None")
        when = utc(at)
        pairs = tuple(sorted(data.items()))
        data_json(pairs)  # what one backend cannot keep, none accepts
        return ScheduledRecord(
            id=scheduled_id(account_id, trigger, when)
            if id is None
            else check_id(id, "id", limit=MAX_KEY),
            account_id=account_id,
            trigger=trigger,
            at=when,
            reason=reason,
            note=note,
            actor=actor,
            data=pairs,
        )

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
        """Record a change to make at ``at``; scheduling the same id again is a no-op.

        The default id is the change's key (account, trigger, UTC time), the same as a
        [`ScheduledChange`][acctstate.history.ScheduledChange]'s ``key``.

        Args:
            account_id: the account.
            trigger: the trigger to fire then.
            at: when it takes effect (timezone-aware).
            reason: the reason code.
            note: a note for the history.
            actor: who asks for it; it is fired as this actor, else as the system actor.
            id: a stable id of your own.
            **data: event data for guards and effect rules when it is applied.

        Returns:
            The stored record (the existing one when the id was already scheduled).

        Raises:
            InvalidArgument: unknown account, naive ``at``, or a bad argument.
        """
        record = self._record(account_id, trigger, at, reason, note, actor, id, data)
        return self._add_scheduled(record)

    def schedule_change(self, entry: ScheduledChange) -> ScheduledRecord:
        """Record a pending [`ScheduledChange`][acctstate.history.ScheduledChange] under its id.

        Raises:
            InvalidArgument: ``entry`` is not a pending ``ScheduledChange``.
        """
        if not isinstance(entry, ScheduledChange) or not entry.pending:
            raise InvalidArgument("entry", entry, "a pending acctstate ScheduledChange")
        return self.schedule(
            entry.account_id,
            entry.trigger,
            at=entry.at,
            reason=entry.reason,
            note=entry.note,
            actor=entry.actor,
            id=entry.id,
            **entry.kwargs,
        )

    def _add_scheduled(self, record: ScheduledRecord) -> ScheduledRecord:
        raise NotImplementedError  # pragma: no cover

    @staticmethod
    def _check_state(state: str | None) -> None:
        if state is not None and state not in SCHEDULE_STATES:
            raise InvalidArgument("state", state, f"one of {', '.join(SCHEDULE_STATES)} or None")

    def apply_due(
        self, *, at: dt.datetime, chunk: int = 100, max_chunks: int | None = None
    ) -> ScheduleRun:
        """Make the scheduled changes due at ``at`` (effective ``<= at``), oldest first.

        Each one is fired at its own scheduled time and marked applied in the same
        transaction, so a run that crashes half-way is resumed by running again:
        nothing is applied twice. A change the workflow refuses is marked ``failed``
        with the reason; one that keeps losing races stays pending for the next run.

        Args:
            at: the instant to apply up to (timezone-aware).
            chunk: how many scheduled changes to load at a time.
            max_chunks: stop after this many chunks (``None``: until none is due).

        Returns:
            A [`ScheduleRun`][acctstate.store.ScheduleRun].
        """
        require_aware(at)
        check_count(chunk, "chunk")
        if max_chunks is not None:
            check_count(max_chunks, "max_chunks")
        applied: list[str] = []
        failed: list[tuple[str, str]] = []
        stuck: set[str] = set()
        chunks = 0
        while max_chunks is None or chunks < max_chunks:
            batch = [r for r in self._due(at, chunk + len(stuck)) if r.id not in stuck][:chunk]
            if not batch:
                break
            chunks += 1
            for record in batch:
                error = self._apply_with_retries(record, applied)
                if error is not None:
                    failed.append((record.id, error))
                    stuck.add(record.id)
        more = any(r.id not in stuck for r in self._due(at, len(stuck) + 1))
        return ScheduleRun(tuple(applied), tuple(failed), chunks, more)

    def _apply_with_retries(self, record: ScheduledRecord, applied: list[str]) -> str | None:
        for _ in range(_SCHEDULE_RETRIES):
            try:
                if self._apply_scheduled(record) is not None:
                    applied.append(record.id)
                return None
            except ConcurrentChange as exc:
                error = error_text(exc)
            except AcctStateError as exc:
                error = error_text(exc)
                self._mark_failed(record, error)
                return error
        return error

    # -- sweeps -----------------------------------------------------------------------

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
        """Fire ``decide(account)`` on stored accounts in id order, ``chunk`` at a time.

        Each change is its own transaction, made against the version ``decide`` saw
        (a concurrent change makes it fail with ``ConcurrentChange``, reported, not
        raised). Resume an interrupted sweep with ``after=run.cursor``; running one again
        is harmless when ``decide`` looks at the current status, as it should.

        Args:
            decide: ``(StoredAccount) -> trigger | None``.
            at: the effective time of the changes.
            actor: who makes them (usually a system actor).
            statuses: only look at accounts in these statuses.
            chunk: accounts loaded at a time.
            after: start after this account id.
            max_chunks: stop after this many chunks.

        Returns:
            A [`SweepRun`][acctstate.store.SweepRun]; ``cursor`` is ``None`` when the end
            was reached.
        """
        require_aware(at)
        check_count(chunk, "chunk")
        if max_chunks is not None:
            check_count(max_chunks, "max_chunks")
        codes = (
            None
            if statuses is None
            else tuple(sorted({self._workflow.catalog[s].code for s in statuses}))
        )
        changes: list[StatusChange] = []
        failed: list[tuple[str, str]] = []
        examined = 0
        cursor = after
        chunks = 0
        while max_chunks is None or chunks < max_chunks:
            batch = self._accounts_after(cursor, chunk, codes)
            if not batch:
                return SweepRun(tuple(changes), tuple(failed), examined, None)
            chunks += 1
            for stored in batch:
                examined += 1
                trigger = decide(stored)
                if trigger is not None:
                    try:
                        changes.append(
                            self._fire(
                                stored.id,
                                trigger,
                                at=at,
                                reason=None,
                                note=None,
                                actor=actor,
                                expected_version=stored.version,
                                retries=0,
                                data={},
                                options={},
                            )
                        )
                    except AcctStateError as exc:
                        failed.append((stored.id, error_text(exc)))
            cursor = batch[-1].id
            if len(batch) < chunk:
                return SweepRun(tuple(changes), tuple(failed), examined, None)
        return SweepRun(tuple(changes), tuple(failed), examined, cursor)
