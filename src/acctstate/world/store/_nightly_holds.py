"""The SQL store's nightly run where holds are involved (a part of
[`SqlStore`][acctstate.store.sql.SqlStore]).

Each chunk's standing holds are read in one query and handed to the column-wise sweep as
columns; the accounts with a hold change to make, or with standing holds and a status
change (whose effects follow the effective capability), are then written one by one,
each in a transaction of its own: hold changes first, then status steps, as the
per-account path makes them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from acctstate.operations.automation._columns import ColumnarSweep
from acctstate.operations.automation._columns_holds import hold_columns
from acctstate.operations.automation._holds import hold_actions, hold_mode
from acctstate.operations.automation._rules import plan_one
from acctstate.values.errors import ConcurrentChange
from acctstate.values.history import StatusChange
from acctstate.values.holds import Hold
from acctstate.world.store._autoholds import hold_hops, plan_steps
from acctstate.world.store._automation import Policies, Tally
from acctstate.world.store._codec import duplicate_key, effect_payload, unknown_account
from acctstate.world.store._facts import AccountView
from acctstate.world.store._holdrows import standing, standing_columns
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
from acctstate.world.store._sqlholds import write_hold_change
from acctstate.world.store._types import StoredAccount

__all__ = ["SqlNightlyHolds"]

Rows = list[tuple[StoredAccount, dict[str, Any] | None]]


class SqlNightlyHolds(SqlBase):
    """Holds in the nightly run: read per chunk as columns, written account by account."""

    __slots__ = ()

    def _chunk_holds(
        self, conn: sa.Connection, rows: Rows
    ) -> tuple[dict[str, tuple[Hold, ...]], dict[str, Any]] | None:
        """The chunk's standing holds (by account) and as the sweep's hold columns;
        ``None`` for a workflow without hold types."""
        if not self._workflow.hold_types:
            return None
        found = standing_columns(conn, [stored.id for stored, _ in rows])
        return found, hold_columns(found.get(stored.id, ()) for stored, _ in rows)

    @staticmethod
    def _held_rows(out: ColumnarSweep, found: dict[str, tuple[Hold, ...]], rows: Rows) -> set[int]:
        """Rows written one by one: a hold change to make, or standing holds and a
        status change."""
        held = set() if out.holds is None else set(out.holds.row.tolist())
        if found:
            held.update(i for i in out.changed_rows().tolist() if rows[i][0].id in found)
        return held

    def _automate_held(
        self,
        policies: Policies,
        account_id: str,
        now: dt.datetime,
        tally: Tally,
        connection: sa.Connection | None,
    ) -> None:
        """Plan and write one account's hold changes and status steps in one transaction."""
        with self._tx(connection) as conn:
            row = conn.execute(LOAD, {"id": account_id}).first()
            if row is None:
                raise unknown_account(account_id)
            stored = account_of(row)
            facts = self._facts_of(conn, account_id)
            holds = standing(conn, account_id)
            view = AccountView(stored, facts, None, {}, holds)
            c = policies.pick(view)
            if c is None:
                return
            planned = plan_one(c, view, now)
            actions = (
                hold_actions(c.policy, view, now)
                if holds or hold_mode(c.policy) is not None
                else []
            )
            if planned is None and not actions:
                return
            hops, blocked = planned if planned is not None else ([], [])
            if blocked:
                tally.blocked += 1
            if not hops and not actions:
                return
            past = self._past(conn, stored)
            steps = plan_steps(self._workflow, c, stored, facts, past, holds, actions, hops, now)
            # In the caller's transaction an error must come before any write.
            keys = [e.key for change, _ in steps for e in change.effects]
            if keys:
                taken = conn.execute(TAKEN, {"keys": keys}).scalars().first()
                if taken is not None:
                    raise duplicate_key(account_id, steps[0][0].trigger, now, taken)
            created = self._workflow.clock.now()
            before: tuple[Hold, ...] = holds
            for change, after in steps:
                if after is not None:
                    stored = write_hold_change(conn, stored, change, before, after, created)
                    before = after
                else:
                    stored = _write_step(conn, stored, change, created)
            tally.made([*hold_hops(stored, actions), *hops])


def _write_step(
    conn: sa.Connection, stored: StoredAccount, change: StatusChange, created: dt.datetime
) -> StoredAccount:
    """Write one status step against the version read; the account after it."""
    version = stored.version + 1
    update = {
        "b_id": stored.id,
        "b_version": stored.version,
        "status": change.dest.code,
        "status_since": change.at,
        "version": version,
    }
    if conn.execute(CAS, update).rowcount != 1:
        raise ConcurrentChange(
            account_id=stored.id, expected_version=stored.version, actual_version=None
        )
    conn.execute(INSERT_HISTORY, history_row(change, version))
    if change.effects:
        payloads = [effect_payload(e) for e in change.effects]
        conn.execute(INSERT_OUTBOX, outbox_rows(change, version, payloads, created))
    return StoredAccount(stored.id, change.dest.code, change.at, version)
