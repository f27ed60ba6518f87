"""The SQL store's scheduled changes and the account scan behind sweeps."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from acctstate.values.actors import SYSTEM
from acctstate.values.history import StatusChange
from acctstate.world.store._codec import actor_columns, data_json, unknown_account
from acctstate.world.store._schema import accounts, scheduled
from acctstate.world.store._sqlcore import SqlBase
from acctstate.world.store._sqlengine import LOAD, account_of, record_of
from acctstate.world.store._types import ScheduledRecord, StoredAccount

__all__ = ["SqlScheduling"]


class SqlScheduling(SqlBase):
    """Scheduled changes (a part of :class:`~acctstate.store.sql.SqlStore`)."""

    __slots__ = ()

    def _add_scheduled(self, record: ScheduledRecord) -> ScheduledRecord:
        account_id = record.account_id
        by_id = sa.select(scheduled).where(scheduled.c.id == record.id)
        with self._tx() as conn:
            if conn.execute(LOAD, {"id": account_id}).first() is None:
                raise unknown_account(account_id)
            existing = conn.execute(by_id).first()
            if existing is not None:
                return record_of(existing)
            actor_id, actor_kind, permissions = actor_columns(record.actor)
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
        self, *, account_id: str | None = None, state: str | None = None
    ) -> tuple[ScheduledRecord, ...]:
        """The scheduled changes, by time then id."""
        self._check_state(state)
        query = sa.select(scheduled).order_by(scheduled.c.at, scheduled.c.id)
        if account_id is not None:
            query = query.where(scheduled.c.account_id == account_id)
        if state is not None:
            query = query.where(scheduled.c.state == state)
        with self._engine.connect() as conn:
            return tuple(record_of(r) for r in conn.execute(query))

    def _due(self, at: dt.datetime, limit: int) -> list[ScheduledRecord]:
        query = (
            sa.select(scheduled)
            .where(scheduled.c.state == "pending", scheduled.c.at <= at)
            .order_by(scheduled.c.at, scheduled.c.id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [record_of(r) for r in conn.execute(query)]

    def _apply_scheduled(self, record: ScheduledRecord) -> StatusChange | None:
        mine = scheduled.c.id == record.id
        with self._tx() as conn:
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
        with self._tx() as conn:
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
