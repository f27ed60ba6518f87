"""The Django store's holds: placing and releasing them as recorded changes, one atomic
block each (a part of [`DjangoStore`][acctstate.contrib.django.store.DjangoStore]).

As in the SQL store: lock and read the account row and its standing holds, plan the
change with [`acctstate.holds`][acctstate.holds] against that stored state, update the
row with a compare-and-set on its version (status and ``status_since`` unchanged),
insert the history and outbox rows, and insert the hold's row or mark it released.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import DatabaseError, IntegrityError

from acctstate.values.errors import ConcurrentChange
from acctstate.values.history import StatusChange
from acctstate.values.holds import Hold
from acctstate.world.contrib.django._core import RowFacts, stored_of
from acctstate.world.contrib.django._firing import DjangoFiring
from acctstate.world.contrib.django.models import Hold as HoldRow
from acctstate.world.store._codec import (
    actor_columns,
    check_version,
    duplicate_key,
    lost_race,
    normalised,
    unknown_account,
)
from acctstate.world.store._holds import HoldPlan, HoldsMixin, utc_hold
from acctstate.world.store._types import StoredAccount

__all__ = ["DjangoHolds"]


class DjangoHolds(HoldsMixin, DjangoFiring):
    """Placing and releasing holds on stored accounts (a part of
    [`DjangoStore`][acctstate.contrib.django.store.DjangoStore])."""

    __slots__ = ()

    def holds(self, account_id: str) -> tuple[Hold, ...]:
        """The holds standing on the account, in the order they were placed (UTC).

        Raises:
            InvalidArgument: no such account.
        """
        return self._held_state(account_id)[1]

    def _held_state(self, account_id: str) -> tuple[StoredAccount, tuple[Hold, ...]]:
        stored = self.load(account_id)
        return stored, self._standing(stored.id)

    def _locked(self, account_id: str) -> tuple[StoredAccount, Any]:
        """The account row, locked until the block ends, and its stored state."""
        row = self._rows().select_for_update().filter(pk=self._pk(account_id)).first()
        if row is None:
            raise unknown_account(account_id)
        return stored_of(row), row

    def _hold_change(
        self,
        account_id: str,
        expected_version: int | None,
        data: Mapping[str, Any],
        plan: HoldPlan,
        options: Mapping[str, Any],
    ) -> StatusChange:
        try:
            with self._tx():
                stored, row = self._locked(account_id)
                check_version(account_id, stored.version, expected_version)
                before = self._standing(stored.id)
                view = RowFacts(stored, row, self._past(stored), before)
                change, after = plan(self._workflow, view)
                change = normalised(change)
                self._check_keys(stored, [change])
                self._write_hold_change(stored, change, before, after)
                return change
        except IntegrityError:
            # Another writer placed a hold of that id, or took an effect key, meanwhile.
            raise ConcurrentChange(
                account_id=account_id, expected_version=expected_version or 0, actual_version=None
            ) from None
        except DatabaseError as exc:
            if not lost_race(exc):
                raise
            raise ConcurrentChange(
                account_id=account_id, expected_version=expected_version or 0, actual_version=None
            ) from None

    def _check_keys(self, stored: StoredAccount, changes: Sequence[StatusChange]) -> None:
        """Refuse changes whose effect keys are taken, before anything is written."""
        keys = [e.key for c in changes for e in c.effects]
        if not keys:
            return
        taken = self._outbox().filter(key__in=keys).values_list("key", flat=True).first()
        if taken is not None:
            first = changes[0]
            raise duplicate_key(stored.id, first.trigger, first.at, taken)

    def _bump(self, stored: StoredAccount, status: int, since: dt.datetime) -> StoredAccount:
        """The compare-and-set of one change: the account one version on."""
        version = stored.version + 1
        updated = (
            self._rows()
            .filter(pk=self._pk(stored.id), status_version=stored.version)
            .update(status=status, status_since=since, status_version=version)
        )
        if updated != 1:
            found = (
                self._rows()
                .filter(pk=self._pk(stored.id))
                .values_list("status_version", flat=True)
                .first()
            )
            raise ConcurrentChange(
                account_id=stored.id, expected_version=stored.version, actual_version=found
            )
        return StoredAccount(stored.id, status, since, version)

    def _write_hold_change(
        self,
        stored: StoredAccount,
        change: StatusChange,
        before: Sequence[Hold],
        after: Sequence[Hold],
    ) -> StoredAccount:
        """Write one planned hold change against the version read: the row one version
        on (status unchanged), its history and outbox rows, and its hold rows."""
        now = self._bump(stored, stored.status, stored.status_since)
        self._write_change(change, now.version)
        kept = {h.id for h in after}
        was = {h.id for h in before}
        released = [h.id for h in before if h.id not in kept]
        if released:
            self._holds().filter(
                account_id=stored.id, hold_id__in=released, released_at__isnull=True
            ).update(released_at=change.at, released_version=now.version)
        placed = [self._hold_row(stored.id, h, now.version) for h in after if h.id not in was]
        if placed:
            HoldRow.objects.using(self._db).bulk_create(placed)
        return now

    def _hold_row(self, account_id: str, hold: Hold, version: int) -> HoldRow:
        hold = utc_hold(hold)
        actor_id, actor_kind, permissions = actor_columns(hold.placed_by)
        return HoldRow(
            account_model=self._label,
            account_id=account_id,
            hold_id=hold.id,
            type=hold.type,
            kind=hold.kind,
            blocks=",".join(sorted(hold.blocks)),
            since=hold.since,
            until=hold.until,
            reason=hold.reason,
            note=hold.note,
            actor_id=actor_id,
            actor_kind=actor_kind,
            actor_permissions=permissions,
            placed_version=version,
        )
