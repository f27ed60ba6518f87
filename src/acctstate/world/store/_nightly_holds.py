"""The SQL store's nightly run where holds are involved (a part of
[`SqlStore`][acctstate.store.sql.SqlStore]).

Each chunk's standing holds are read in one query and handed to the column-wise sweep as
columns. The accounts with a hold change to make, or with standing holds and a status
change (whose effects follow the effective capability), have their steps planned again
-- hold changes first, then status steps, as the per-account path makes them -- and are
written with the rest of the chunk: one compare-and-set per account in the chunk's
``UPDATE``, their history and outbox rows in its inserts, and their hold rows inserted
(placements) or marked released in two more statements. An account that cannot be
planned so is planned again alone, in a transaction of its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from acctstate.operations.automation._columns import ColumnarSweep
from acctstate.operations.automation._columns_holds import hold_columns
from acctstate.values.errors import AcctStateError, ConcurrentChange
from acctstate.values.history import History, StatusChange
from acctstate.values.holds import Hold
from acctstate.world.store._autoholds import decide, hold_hops, plan_steps
from acctstate.world.store._automation import Policies, Tally
from acctstate.world.store._chunk import Chunk
from acctstate.world.store._codec import duplicate_key, effect_payload, unknown_account
from acctstate.world.store._facts import AccountView
from acctstate.world.store._holdrows import standing, standing_columns
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
from acctstate.world.store._sqlholds import RELEASE, hold_rows, write_hold_change
from acctstate.world.store._types import StoredAccount

__all__ = ["SqlNightlyHolds"]


class SqlNightlyHolds(SqlBase):
    """Holds in the nightly run: read per chunk as columns, written account by account."""

    __slots__ = ()

    def _histories(self, conn: sa.Connection, read: dict[str, int]) -> dict[str, History]:
        raise NotImplementedError  # pragma: no cover - the nightly run's own

    def _chunk_holds(
        self, conn: sa.Connection, rows: Chunk
    ) -> tuple[dict[str, tuple[Hold, ...]], dict[str, Any]] | None:
        """The chunk's standing holds (by account) and as the sweep's hold columns;
        ``None`` for a workflow without hold types."""
        if not self._workflow.hold_types:
            return None
        found = standing_columns(conn, rows.ids, self._tenant)
        return found, hold_columns(found.get(i, ()) for i in rows.ids)

    def _plan_held(
        self,
        conn: sa.Connection,
        rows: Chunk,
        held: set[int],
        found: dict[str, tuple[Hold, ...]],
        out: ColumnarSweep,
        policies: Policies,
        now: dt.datetime,
        write: Any,
        one_by_one: list[str],
    ) -> None:
        """Plan the held rows' steps into the chunk's write (``write`` is its ``_Write``)."""
        actions = {} if out.holds is None else out.holds.decisions()
        decisions = out.decisions()
        order = sorted(held)
        past = self._histories(conn, {rows.ids[i]: rows.version[i] for i in order})
        created = self._workflow.clock.now()
        tenant = self._tenant
        for i in order:
            stored = rows.stored(i)
            facts = rows.facts_of(i)
            c = policies.pick(AccountView(stored, facts, None, {}))
            if c is None:  # pragma: no cover - the sweep plans only accounts with a policy
                continue
            acts = actions.get(i, [])
            hops = decisions.get(i, [])
            standing = found.get(stored.id, ())
            try:
                steps = plan_steps(
                    self._workflow, c, stored, facts, past[stored.id], standing, acts, hops, now
                )
            except AcctStateError:
                one_by_one.append(stored.id)
                continue
            hops_all = [*hold_hops(stored, acts), *hops]
            _add_held(write, stored, hops_all, steps, standing, created, tenant)

    @staticmethod
    def _write_holds(
        conn: sa.Connection, placed: list[dict[str, Any]], released: list[dict[str, Any]]
    ) -> None:
        """The chunk's hold rows: releases marked, then placements inserted."""
        if released:
            conn.execute(RELEASE, released)
        if placed:
            conn.execute(holds_table.insert(), placed)

    @staticmethod
    def _held_rows(out: ColumnarSweep, found: dict[str, tuple[Hold, ...]], rows: Chunk) -> set[int]:
        """Rows written one by one: a hold change to make, or standing holds and a
        status change."""
        held = set() if out.holds is None else set(out.holds.row.tolist())
        if found:
            held.update(i for i in out.changed_rows().tolist() if rows.ids[i] in found)
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
            tenant = self._tenant
            row = conn.execute(LOAD, {"id": account_id, "tenant": tenant}).first()
            if row is None:
                raise unknown_account(account_id)
            stored = account_of(row)
            facts = self._facts_of(conn, account_id)
            holds = standing(conn, account_id, tenant)
            view = AccountView(stored, facts, None, {}, holds)
            decided = decide(policies, view, holds, now, tally)
            if decided is None:
                return
            c, actions, hops = decided
            past = self._past(conn, stored)
            steps = plan_steps(self._workflow, c, stored, facts, past, holds, actions, hops, now)
            # In the caller's transaction an error must come before any write.
            keys = [e.key for change, _ in steps for e in change.effects]
            if keys:
                taken = conn.execute(TAKEN, {"keys": keys, "tenant": tenant}).scalars().first()
                if taken is not None:
                    raise duplicate_key(account_id, steps[0][0].trigger, now, taken)
            created = self._workflow.clock.now()
            before: tuple[Hold, ...] = holds
            for change, after in steps:
                if after is not None:
                    stored = write_hold_change(conn, stored, change, before, after, created, tenant)
                    before = after
                else:
                    stored = _write_step(conn, stored, change, created, tenant)
            tally.made([*hold_hops(stored, actions), *hops])


def _write_step(
    conn: sa.Connection,
    stored: StoredAccount,
    change: StatusChange,
    created: dt.datetime,
    tenant: str,
) -> StoredAccount:
    """Write one status step (in ``tenant``) against the version read; the account after
    it."""
    version = stored.version + 1
    update = {
        "b_id": stored.id,
        "b_version": stored.version,
        "b_tenant": tenant,
        "status": change.dest.code,
        "status_since": change.at,
        "version": version,
    }
    if conn.execute(CAS, update).rowcount != 1:
        raise ConcurrentChange(
            account_id=stored.id, expected_version=stored.version, actual_version=None
        )
    conn.execute(INSERT_HISTORY, history_row(change, version, tenant))
    if change.effects:
        payloads = [effect_payload(e) for e in change.effects]
        conn.execute(INSERT_OUTBOX, outbox_rows(change, version, payloads, created, tenant))
    return StoredAccount(stored.id, change.dest.code, change.at, version)


def _add_held(
    write: Any,
    stored: StoredAccount,
    hops: list[Any],
    steps: list[tuple[StatusChange, tuple[Hold, ...] | None]],
    standing: tuple[Hold, ...],
    created: dt.datetime,
    tenant: str,
) -> None:
    """One held account's rows in the chunk's write: history, outbox, hold rows, and one
    compare-and-set to its final status (``status_since`` moves only with the status)."""
    version = stored.version
    status, since = stored.status, stored.status_since
    before = standing
    for change, after in steps:
        version += 1
        write.history.append(history_row(change, version, tenant))
        if change.effects:
            payloads = [effect_payload(e) for e in change.effects]
            write.outbox.extend(outbox_rows(change, version, payloads, created, tenant))
        if after is None:
            status, since = change.dest.code, change.at
            continue
        placed, released = hold_rows(stored.id, before, after, change.at, version, tenant)
        write.holds.extend(placed)
        write.releases.extend(released)
        before = after
    write.updates.append(
        {
            "b_id": stored.id,
            "b_version": stored.version,
            "b_tenant": tenant,
            "status": status,
            "status_since": since,
            "version": version,
        }
    )
    write.hops[stored.id] = hops
