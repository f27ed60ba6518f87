"""Holds in the SQL store (a part of [`SqlStore`][acctstate.store.sql.SqlStore]).

One transaction per hold change: read the account row and its standing holds, plan the
change with [`acctstate.holds`][acctstate.holds] against that stored state, update the
row with a compare-and-set on its version (status and ``status_since`` unchanged),
insert the history and outbox rows, and insert the hold's row or mark it released.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import sqlalchemy as sa

from acctstate.values.actors import Actor
from acctstate.values.errors import ConcurrentChange
from acctstate.values.history import StatusChange
from acctstate.values.holds import Hold
from acctstate.world.store._codec import (
    check_version,
    duplicate_key,
    effect_payload,
    normalised,
    unknown_account,
)
from acctstate.world.store._facts import AccountView
from acctstate.world.store._holdrows import hold_row, release_values, standing
from acctstate.world.store._holds import HoldPlan, HoldsMixin, utc_hold
from acctstate.world.store._schema import holds as holds_table
from acctstate.world.store._sqlcore import SqlBase
from acctstate.world.store._sqlengine import (
    CAS,
    INSERT_HISTORY,
    INSERT_OUTBOX,
    LOAD,
    TAKEN,
    account_of,
    history_row,
    outbox_rows,
)
from acctstate.world.store._types import StoredAccount

__all__ = ["RELEASE", "SqlHolds", "hold_rows", "write_hold_change"]

RELEASE = (
    holds_table.update()
    .where(
        holds_table.c.tenant == sa.bindparam("b_tenant"),
        holds_table.c.account_id == sa.bindparam("b_account"),
        holds_table.c.hold_id == sa.bindparam("b_hold"),
        holds_table.c.released_at.is_(None),
    )
    .values(
        released_at=sa.bindparam("released_at"),
        released_version=sa.bindparam("released_version"),
    )
)


def hold_rows(
    account_id: str,
    before: Sequence[Hold],
    after: Sequence[Hold],
    at: dt.datetime,
    version: int,
    tenant: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The hold rows a hold change writes in ``tenant``: ``(rows placed, releases)`` (the
    releases as parameters of ``RELEASE``)."""
    kept = {h.id for h in after}
    was = {h.id for h in before}
    placed = [hold_row(account_id, utc_hold(h), version, tenant) for h in after if h.id not in was]
    released = [
        {
            "b_tenant": tenant,
            "b_account": account_id,
            "b_hold": h.id,
            **release_values(at, version),
        }
        for h in before
        if h.id not in kept
    ]
    return placed, released


def write_hold_change(
    conn: sa.Connection,
    stored: StoredAccount,
    change: StatusChange,
    before: Sequence[Hold],
    after: Sequence[Hold],
    created: dt.datetime,
    tenant: str,
) -> StoredAccount:
    """Write one planned hold change (in ``tenant``) against the version read; the
    account after it.

    Raises:
        ConcurrentChange: another writer changed the account since it was read.
        InvalidArgument: the change's effect keys are taken.
    """
    if change.effects:
        keys = [e.key for e in change.effects]
        taken = conn.execute(TAKEN, {"keys": keys, "tenant": tenant}).scalars().first()
        if taken is not None:
            raise duplicate_key(stored.id, change.trigger, change.at, taken)
    version = stored.version + 1
    updated = conn.execute(
        CAS,
        {
            "b_id": stored.id,
            "b_version": stored.version,
            "b_tenant": tenant,
            "status": stored.status,
            "status_since": stored.status_since,
            "version": version,
        },
    )
    if updated.rowcount != 1:
        found = conn.execute(LOAD, {"id": stored.id, "tenant": tenant}).first()
        raise ConcurrentChange(
            account_id=stored.id,
            expected_version=stored.version,
            actual_version=None if found is None else found.version,
        )
    conn.execute(INSERT_HISTORY, history_row(change, version, tenant))
    if change.effects:
        payloads = [effect_payload(e) for e in change.effects]
        conn.execute(INSERT_OUTBOX, outbox_rows(change, version, payloads, created, tenant))
    placed, released = hold_rows(stored.id, before, after, change.at, version, tenant)
    if released:
        conn.execute(RELEASE, released)
    if placed:
        conn.execute(holds_table.insert(), placed)
    return StoredAccount(stored.id, stored.status, stored.status_since, version)


class SqlHolds(HoldsMixin, SqlBase):
    """Placing and releasing holds in the SQL store."""

    __slots__ = ()

    def holds(
        self, account_id: str, *, connection: sa.Connection | None = None
    ) -> tuple[Hold, ...]:
        """The holds standing on the account, in the order they were placed (UTC).

        Raises:
            InvalidArgument: no such account.
        """
        reader = self._engine.connect() if connection is None else nullcontext(connection)
        with reader as conn:
            if conn.execute(LOAD, {"id": account_id, "tenant": self._tenant}).first() is None:
                raise unknown_account(account_id)
            return standing(conn, account_id, self._tenant)

    def _held_state(self, account_id: str) -> tuple[StoredAccount, tuple[Hold, ...]]:
        with self._engine.connect() as conn:
            row = conn.execute(LOAD, {"id": account_id, "tenant": self._tenant}).first()
            if row is None:
                raise unknown_account(account_id)
            return account_of(row), standing(conn, account_id, self._tenant)

    def _hold_change(
        self,
        account_id: str,
        expected_version: int | None,
        data: Mapping[str, Any],
        plan: HoldPlan,
        options: Mapping[str, Any],
    ) -> StatusChange:
        with self._tx(options.get("connection")) as conn:
            row = conn.execute(LOAD, {"id": account_id, "tenant": self._tenant}).first()
            if row is None:
                raise unknown_account(account_id)
            stored = account_of(row)
            check_version(account_id, stored.version, expected_version)
            before = standing(conn, account_id, self._tenant)
            view = AccountView(
                stored, self._facts_of(conn, account_id), self._past(conn, stored), data, before
            )
            change, after = plan(self._workflow, view)
            change = normalised(change)
            created = self._workflow.clock.now()
            write_hold_change(conn, stored, change, before, after, created, self._tenant)
            return change

    def place_hold(
        self,
        account_id: str,
        hold_type: str,
        *,
        at: dt.datetime,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        until: dt.datetime | None = None,
        hold_id: str | None = None,
        expected_version: int | None = None,
        connection: sa.Connection | None = None,
        **data: Any,
    ) -> StatusChange:
        """Place a hold on the stored account in one transaction (see
        `MemoryStore.place_hold`).

        Args:
            connection: run inside this connection's transaction; the caller commits.

        It also raises every error of [`place_hold`][acctstate.holds.place_hold].

        Raises:
            ConcurrentChange: the account is not at ``expected_version``, or another
                writer changed it meanwhile.
            InvalidArgument: unknown account, or the change's effect keys are taken.
        """
        return self._place(
            account_id,
            hold_type,
            at=at,
            reason=reason,
            note=note,
            actor=actor,
            until=until,
            hold_id=hold_id,
            expected_version=expected_version,
            data=data,
            options={"connection": connection},
        )

    def release_hold(
        self,
        account_id: str,
        hold: Hold | str,
        *,
        at: dt.datetime,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        expected_version: int | None = None,
        connection: sa.Connection | None = None,
    ) -> StatusChange:
        """Release one standing hold of the stored account in one transaction.

        Args:
            connection: run inside this connection's transaction; the caller commits.

        It also raises every error of [`release_hold`][acctstate.holds.release_hold].

        Raises:
            ConcurrentChange: the account is not at ``expected_version``, or another
                writer changed it meanwhile.
            InvalidArgument: unknown account.
        """
        return self._release(
            account_id,
            hold,
            at=at,
            reason=reason,
            note=note,
            actor=actor,
            expected_version=expected_version,
            options={"connection": connection},
        )
