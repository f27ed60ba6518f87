"""The SQL store's scheduled changes and the account scan behind sweeps."""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa

from acctstate.values.actors import SYSTEM, Actor
from acctstate.values.errors import ConcurrentChange
from acctstate.values.history import StatusChange
from acctstate.world.store._codec import (
    actor_columns,
    check_id,
    data_json,
    lost_race,
    unknown_account,
)
from acctstate.world.store._schema import accounts, scheduled
from acctstate.world.store._sqlcore import SqlBase, begin_for_real
from acctstate.world.store._sqlengine import LOAD, account_of, record_of
from acctstate.world.store._types import ScheduledRecord, ScheduleRun, StoredAccount

__all__ = ["SqlScheduling"]

# The caller's connection while ``apply_due(connection=...)`` runs (per thread and task).
_CALLER: ContextVar[sa.Connection | None] = ContextVar("acctstate_caller", default=None)


class SqlScheduling(SqlBase):
    """Scheduled changes (a part of [`SqlStore`][acctstate.store.sql.SqlStore])."""

    __slots__ = ()

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
        connection: sa.Connection | None = None,
        **data: Any,
    ) -> ScheduledRecord:
        """Record a change to make at ``at``; scheduling the same id again is a no-op.

        As [`acctstate.store.Store.schedule`][acctstate.store.Store.schedule], and ``connection``:
        write inside this connection's transaction (the caller commits).
        """
        record = self._record(account_id, trigger, at, reason, note, actor, id, data)
        return self._add_scheduled(record, connection)

    def apply_due(
        self,
        *,
        at: dt.datetime,
        chunk: int = 100,
        max_chunks: int | None = None,
        connection: sa.Connection | None = None,
    ) -> ScheduleRun:
        """Make the scheduled changes due at ``at`` (effective ``<= at``), oldest first.

        As [`acctstate.store.Store.apply_due`][acctstate.store.Store.apply_due], and ``connection``:
        work inside this connection's transaction (the caller commits); each change is made in a
        savepoint, so a refused one is marked failed and leaves nothing else behind.
        """
        token = _CALLER.set(connection)
        try:
            return super().apply_due(at=at, chunk=chunk, max_chunks=max_chunks)
        finally:
            _CALLER.reset(token)

    def _add_scheduled(
        self, record: ScheduledRecord, connection: sa.Connection | None = None
    ) -> ScheduledRecord:
        by_id = sa.select(scheduled).where(scheduled.c.id == record.id)
        try:
            return self._insert_scheduled(record, by_id, connection)
        except sa.exc.DBAPIError as exc:
            # Another writer scheduled the same id between our read and our insert:
            # scheduling twice is a no-op, so theirs is the record.
            if not isinstance(exc, sa.exc.IntegrityError) and not lost_race(exc):
                raise
            reader = self._engine.connect() if connection is None else nullcontext(connection)
            with reader as conn:
                existing = conn.execute(by_id).first()
            if existing is not None:
                return record_of(existing)
            if lost_race(exc):
                raise ConcurrentChange(
                    account_id=record.account_id, expected_version=0, actual_version=None
                ) from None
            raise

    def _insert_scheduled(
        self, record: ScheduledRecord, by_id: Any, connection: sa.Connection | None
    ) -> ScheduledRecord:
        account_id = record.account_id
        with self._tx(connection) as conn:
            if conn.execute(LOAD, {"id": account_id}).first() is None:
                raise unknown_account(account_id)
            existing = conn.execute(by_id).first()
            if existing is not None:
                return record_of(existing)
            actor_id, actor_kind, permissions = actor_columns(record.actor)
            savepoint = conn.begin_nested() if connection is not None else nullcontext()
            with savepoint:  # in the caller's transaction a clash must not abort it
                conn.execute(
                    scheduled.insert(),
                    {
                        "id": record.id,
                        "account_id": record.account_id,
                        "trigger": record.trigger,
                        "at": record.at,
                        "reason": record.reason,
                        "note": record.note,
                        "actor_id": actor_id,
                        "actor_kind": actor_kind,
                        "actor_permissions": permissions,
                        "data": data_json(record.data),
                        "state": "pending",
                    },
                )
        return record

    def scheduled(
        self,
        *,
        account_id: str | None = None,
        state: str | None = None,
        connection: sa.Connection | None = None,
    ) -> tuple[ScheduledRecord, ...]:
        """The scheduled changes, by time then id.

        Args:
            account_id: only this account's.
            state: only those in this state (``"pending"``, ``"applied"``, ``"failed"``).
            connection: read inside this connection's transaction.
        """
        self._check_state(state)
        query = sa.select(scheduled).order_by(scheduled.c.at, scheduled.c.id)
        if account_id is not None:
            query = query.where(scheduled.c.account_id == check_id(account_id))
        if state is not None:
            query = query.where(scheduled.c.state == state)
        if connection is not None:
            return tuple(record_of(r) for r in connection.execute(query))
        with self._engine.connect() as conn:
            return tuple(record_of(r) for r in conn.execute(query))

    def _due(self, at: dt.datetime, limit: int) -> list[ScheduledRecord]:
        query = (
            sa.select(scheduled)
            .where(scheduled.c.state == "pending", scheduled.c.at <= at)
            .order_by(scheduled.c.at, scheduled.c.id)
            .limit(limit)
        )
        caller = _CALLER.get()
        if caller is not None:
            return [record_of(r) for r in caller.execute(query)]
        with self._engine.connect() as conn:
            return [record_of(r) for r in conn.execute(query)]

    def _apply_scheduled(self, record: ScheduledRecord) -> StatusChange | None:
        caller = _CALLER.get()
        try:
            if caller is None:
                return self._apply_in(None, record)
            if self._sqlite:
                begin_for_real(caller)  # else the savepoint's RELEASE would commit
            with caller.begin_nested():  # a refusal undoes this change only
                return self._apply_in(caller, record)
        except sa.exc.DBAPIError as exc:
            if not lost_race(exc):
                raise
            # Another writer changed the account first: tried again, then left pending.
            raise ConcurrentChange(
                account_id=record.account_id, expected_version=0, actual_version=None
            ) from None

    def _apply_in(
        self, connection: sa.Connection | None, record: ScheduledRecord
    ) -> StatusChange | None:
        mine = scheduled.c.id == record.id
        with self._tx(connection) as conn:
            # Claim first: a second runner blocks on this row (PostgreSQL) or on the
            # write lock (SQLite), then finds it no longer pending and does nothing.
            claimed = conn.execute(
                scheduled.update()
                .where(mine, scheduled.c.state == "pending")
                .values(state="applied")
            )
            if claimed.rowcount != 1:
                return None
            change = self._fire_in(
                conn,
                record.account_id,
                record.trigger,
                record.at,
                record.reason,
                record.note,
                record.actor or SYSTEM,
                None,
                dict(record.data),
            )
            version = conn.execute(LOAD, {"id": record.account_id}).one().version
            conn.execute(scheduled.update().where(mine).values(version=version))
            return change

    def _mark_failed(self, record: ScheduledRecord, error: str) -> None:
        with self._tx(_CALLER.get()) as conn:
            conn.execute(
                scheduled.update()
                .where(scheduled.c.id == record.id, scheduled.c.state == "pending")
                .values(state="failed", error=error)
            )

    def _accounts_after(
        self, after: str | None, limit: int, codes: tuple[int, ...] | None
    ) -> list[StoredAccount]:
        query = sa.select(accounts).order_by(accounts.c.id).limit(limit)
        if after is not None:
            query = query.where(accounts.c.id > after)
        if codes is not None:
            query = query.where(accounts.c.status.in_(codes))
        with self._engine.connect() as conn:
            return [account_of(r) for r in conn.execute(query)]
