"""The Django store's scheduled changes: kept in ``ScheduledEntry`` rows, applied as
ordinary changes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError

from acctstate.values.actors import SYSTEM
from acctstate.values.history import StatusChange
from acctstate.world.contrib.django._firing import DjangoFiring
from acctstate.world.contrib.django.models import ScheduledEntry
from acctstate.world.store import ScheduledRecord
from acctstate.world.store._codec import actor_columns, actor_from, data_from, data_json

__all__ = ["DjangoScheduling"]


class DjangoScheduling(DjangoFiring):
    """Scheduled changes (a part of
    [`DjangoStore`][acctstate.contrib.django.store.DjangoStore])."""

    __slots__ = ()

    @staticmethod
    def _from_row(row: Any) -> ScheduledRecord:
        return ScheduledRecord(
            id=row.schedule_id,
            account_id=row.account_id,
            trigger=row.trigger,
            at=row.at,
            reason=row.reason,
            note=row.note,
            actor=actor_from(row.actor_id, row.actor_kind, row.actor_permissions),
            data=data_from(row.data),
            state=row.state,
            version=row.version,
            error=row.error,
        )

    def _add_scheduled(self, record: ScheduledRecord) -> ScheduledRecord:
        self.load(record.account_id)
        try:
            return self._insert_scheduled(record)
        except IntegrityError:
            # Another writer scheduled the same id between our read and our insert:
            # scheduling twice is a no-op, so theirs is the record.
            existing = self._scheduled().filter(schedule_id=record.id).first()
            if existing is None:
                raise
            return self._from_row(existing)

    def _insert_scheduled(self, record: ScheduledRecord) -> ScheduledRecord:
        with self._tx():
            existing = self._scheduled().filter(schedule_id=record.id).first()
            if existing is not None:
                return self._from_row(existing)
            actor_id, actor_kind, permissions = actor_columns(record.actor)
            ScheduledEntry.objects.using(self._db).create(
                account_model=self._label,
                schedule_id=record.id,
                account_id=record.account_id,
                trigger=record.trigger,
                at=record.at,
                reason=record.reason,
                note=record.note,
                actor_id=actor_id,
                actor_kind=actor_kind,
                actor_permissions=permissions,
                data=data_json(record.data),
                state="pending",
            )
        return record

    def scheduled(
        self, *, account_id: str | None = None, state: str | None = None
    ) -> tuple[ScheduledRecord, ...]:
        """The scheduled changes, by time then id."""
        self._check_state(state)
        query = self._scheduled().order_by("at", "schedule_id")
        if account_id is not None:
            query = query.filter(account_id=account_id)
        if state is not None:
            query = query.filter(state=state)
        return tuple(self._from_row(r) for r in query)

    def _due(self, at: dt.datetime, limit: int) -> list[ScheduledRecord]:
        query = self._scheduled().filter(state="pending", at__lte=at).order_by("at", "schedule_id")
        return [self._from_row(r) for r in query[:limit]]

    def _apply_scheduled(self, record: ScheduledRecord) -> StatusChange | None:
        mine = self._scheduled().filter(schedule_id=record.id)
        with self._tx():
            # Claim first: a second runner waits on this row (PostgreSQL) or on the
            # write lock (SQLite), then finds it no longer pending and does nothing.
            if mine.filter(state="pending").update(state="applied") != 1:
                return None
            change = self._fire_in(
                record.account_id,
                record.trigger,
                record.at,
                record.reason,
                record.note,
                record.actor or SYSTEM,
                None,
                dict(record.data),
            )
            mine.update(version=self.load(record.account_id).version)
            return change

    def _mark_failed(self, record: ScheduledRecord, error: str) -> None:
        with self._tx():
            self._scheduled().filter(schedule_id=record.id, state="pending").update(
                state="failed", error=error
            )
