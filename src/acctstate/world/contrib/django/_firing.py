"""The Django store's firing: one change, planned against the locked row and recorded
with its effects in one atomic block.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import DatabaseError, IntegrityError

from acctstate.values.actors import Actor
from acctstate.values.errors import ConcurrentChange
from acctstate.values.history import StatusChange
from acctstate.world.contrib.django._accounts import DjangoAccounts
from acctstate.world.contrib.django._core import RowFacts, stored_of
from acctstate.world.contrib.django.models import OutboxEntry, StatusHistory
from acctstate.world.store._codec import (
    check_version,
    duplicate_key,
    effect_payload,
    lost_race,
    normalised,
    unknown_account,
)

__all__ = ["DjangoFiring"]


class DjangoFiring(DjangoAccounts):
    """Firing a trigger on a stored account (a part of
    [`DjangoStore`][acctstate.contrib.django.store.DjangoStore])."""

    __slots__ = ()

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

        One atomic block: lock and read the account row, plan with the workflow (guards
        see the stored state, your row's fields and ``data``), update the row where its
        version is still the one read, insert the history row and the outbox rows.

        Args:
            account_id: the account.
            trigger: the trigger name.
            at: the effective time (timezone-aware).
            reason: a reason code.
            note: free text for the history.
            actor: who fires it.
            expected_version: fail unless the account is still at this version (the
                version you read before deciding to fire, e.g. the one a form showed).
            retries: re-plan against the new state this many times when another writer
                wins the race (not with ``expected_version``).
            **data: event data for guards and effect rules.

        Returns:
            The change made (its effects are pending in the outbox).

        It also raises every error of [`Workflow.plan`][acctstate.workflow.Workflow.plan].

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
        args = (account_id, trigger, at, reason, note, actor, expected_version, data)
        try:
            try:
                # One query fewer: the outbox's unique key refuses a repeated change and
                # the block rolls back with nothing written.
                with self._tx():
                    return self._fire_in(*args, precheck=False)
            except IntegrityError:
                # The careful path names the error (ConcurrentChange or the repeated
                # change), or succeeds if the clash has gone.
                with self._tx():
                    return self._fire_in(*args, precheck=True)
        except DatabaseError as exc:
            if not lost_race(exc):
                raise
            # REPEATABLE READ or SERIALIZABLE: another writer changed the account first;
            # retries= plans again.
            raise ConcurrentChange(
                account_id=account_id,
                expected_version=expected_version or 0,
                actual_version=None,
            ) from None

    def _fire_in(
        self,
        account_id: str,
        trigger: str,
        at: dt.datetime,
        reason: str | None,
        note: str | None,
        actor: Actor | None,
        expected_version: int | None,
        data: Mapping[str, Any],
        *,
        precheck: bool = True,
    ) -> StatusChange:
        pk = self._pk(account_id)
        # The row stays locked until the block ends: a second writer waits, then reads
        # the new version (select_for_update is a no-op where the database locks whole).
        row = self._rows().select_for_update().filter(pk=pk).first()
        if row is None:
            raise unknown_account(account_id)
        stored = stored_of(row)
        check_version(account_id, stored.version, expected_version)
        # As the SQL store plans: against the history read and the standing holds
        # (effects follow the effective capability).
        view = RowFacts(stored, row, self._past(stored), self._standing(stored.id))
        change = normalised(
            self._workflow.plan(view, trigger, at=at, reason=reason, note=note, actor=actor, **data)
        )
        if change.effects and precheck:
            keys = [e.key for e in change.effects]
            taken = self._outbox().filter(key__in=keys).values_list("key", flat=True).first()
            if taken is not None:
                now = self._rows().filter(pk=pk).values_list("status_version", flat=True).first()
                if now != stored.version:
                    raise ConcurrentChange(
                        account_id=account_id,
                        expected_version=stored.version,
                        actual_version=now,
                    )
                raise duplicate_key(account_id, trigger, at, taken)
        version = stored.version + 1
        # The compare-and-set: also guards against writers that bypass the lock.
        updated = (
            self._rows()
            .filter(pk=pk, status_version=stored.version)
            .update(status=change.dest.code, status_since=change.at, status_version=version)
        )
        if updated != 1:
            found = self._rows().filter(pk=pk).values_list("status_version", flat=True).first()
            raise ConcurrentChange(
                account_id=account_id, expected_version=stored.version, actual_version=found
            )
        self._write_change(change, version)
        return change

    def _write_change(self, change: StatusChange, version: int) -> None:
        """Insert the history row of ``change`` (at ``version``) and its outbox rows."""
        StatusHistory.objects.using(self._db).create(**self._history_row(change, version))
        if change.effects:
            created = self._workflow.clock.now()
            OutboxEntry.objects.using(self._db).bulk_create(
                [
                    OutboxEntry(
                        account_model=self._label,
                        key=e.key,
                        account_id=change.account_id,
                        version=version,
                        position=i,
                        kind=e.kind,
                        payload=effect_payload(e),
                        created_at=created,
                        attempts=0,
                    )
                    for i, e in enumerate(change.effects)
                ]
            )
