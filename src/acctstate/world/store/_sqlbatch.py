"""The SQL store's batch update: select and count in SQL, preview, apply set-based.

The filters of a [`Selection`][acctstate.batch.Selection] become a ``WHERE`` clause over
the accounts joined to the host's facts (named predicates, which are Python, are tested
on the rows read), and the counts of the batch-update panel are one ``GROUP BY``. Applying
reads a chunk of accounts, plans it with the batch planner of
[`acctstate.batch`][acctstate.batch] and writes it in one transaction: one compare-and-set
``UPDATE`` over the chunk's changed rows (each against the version read) and multi-row
inserts of their history and outbox rows, as the nightly run does. An account that lost
its compare-and-set to another writer is planned again alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs
import sqlalchemy as sa

from acctstate.operations.batch._apply import BatchOutcome, OutcomeKind
from acctstate.operations.batch._changes import BatchChange
from acctstate.operations.batch._planner import Planner, paused_gc
from acctstate.operations.batch._preview import Preview, _check_common
from acctstate.operations.batch._report import BatchReport, Mode
from acctstate.operations.batch._select import (
    Selected,
    Selection,
    check_threshold,
)
from acctstate.operations.batch._select import select as select_accounts
from acctstate.values.actors import Actor
from acctstate.values.clock import require_aware
from acctstate.values.errors import ConcurrentChange
from acctstate.world.store._automation import check_progress
from acctstate.world.store._batch import (
    BatchRun,
    Item,
    check_selected,
    check_selection,
    needs_history,
    store_changes,
    stored_of,
)
from acctstate.world.store._codec import check_count, duplicate_key, unknown_account
from acctstate.world.store._facts import AccountView
from acctstate.world.store._grouped import groupable
from acctstate.world.store._holdrows import standing_columns
from acctstate.world.store._nightly import _IN_BATCH, _batches, _Write
from acctstate.world.store._schema import accounts, history
from acctstate.world.store._sqlengine import CAS, INSERT_HISTORY, INSERT_OUTBOX, TAKEN
from acctstate.world.store._sqlselect import SqlSelect
from acctstate.world.store._types import Progress

__all__ = ["SqlBatch"]

# Where a view read for a batch comes from: ``(ids, position)`` or ``(None, last id)``.
_Cursor = int | str | None


class SqlBatch(SqlSelect):
    """The batch update (a part of [`SqlStore`][acctstate.store.sql.SqlStore])."""

    __slots__ = ()

    # -- selecting -------------------------------------------------------------------

    def select(
        self,
        selection: Selection | None = None,
        *,
        threshold: Decimal | None = None,
        connection: sa.Connection | None = None,
    ) -> Selected:
        """The stored accounts a selection picks, counted in SQL (the batch-update panel).

        The filters are those of [`acctstate.batch.select`][acctstate.batch.select], read
        from the stored status and the host's facts (``account_class``, ``batch_id``,
        ``activated_at``, ``expires_at``, ``first_used_at``, ``funds``); a fact the
        facts do not have is absent, as on an object without it. The counts (selected,
        started, depleted, per status) are one ``GROUP BY`` in the database; named
        predicates are tested on the rows read, and then the counts with them.

        Args:
            selection: the filters (default: every account).
            threshold: the availability threshold "depleted" counts with (default:
                the workflow's).
            connection: read inside this connection's transaction.

        Returns:
            A [`Selected`][acctstate.batch.Selected] whose accounts are the stored
            accounts as rules see them (stored state and facts), in id order.

        Raises:
            InvalidArgument: a bad ``selection`` or ``threshold``.
            UnknownStatus: a filter or a stored account names a status the workflow lacks.
        """
        chosen = check_selection(selection)
        limit = check_threshold(self._workflow, threshold)
        clauses = self._where(chosen)
        with self._tx(connection) as conn:
            views: list[AccountView] = []
            after: str | None = None
            while True:
                found = self._read_views(conn, clauses, after, 10_000)
                views.extend(found)
                if len(found) < 10_000:
                    break
                after = found[-1].id
            if chosen.predicates:
                return select_accounts(self._workflow, views, chosen, threshold=limit)
            counts = self._counts(conn, clauses, limit)
        return Selected(self._workflow, chosen, tuple(views), counts, limit)

    # -- previewing ------------------------------------------------------------------

    def preview(
        self,
        selected: Selected | Selection | None,
        change: BatchChange | Sequence[BatchChange],
        *,
        at: dt.datetime,
        actor: Actor | None = None,
        reason: str | None = None,
        note: str | None = None,
        connection: sa.Connection | None = None,
    ) -> Preview:
        """What a status change would do to every selected stored account; nothing changes.

        The accounts are read again (their current state and facts, and their history
        where a rule may read it) and planned by the planner of
        [`acctstate.batch.preview`][acctstate.batch.preview], with the same reasons;
        [`Preview.confirmation`][acctstate.batch.Preview.confirmation] is the
        confirmation dialog. Pass the preview to `apply_batch` to carry it out as shown.

        Args:
            selected: from `select`, or a [`Selection`][acctstate.batch.Selection]
                (``None``: every account) to select first.
            change: a [`FireTrigger`][acctstate.batch.FireTrigger] or
                [`ChangeStatus`][acctstate.batch.ChangeStatus] (a store keeps statuses;
                funds and dates are the host's).
            at: the effective time (timezone-aware).
            actor: who would make it.
            reason: the reason code.
            note: a note for the history.
            connection: read inside this connection's transaction.

        Raises:
            InvalidArgument: a bad argument, a field change, or a selection on another
                workflow.
            UnknownTrigger: the trigger is not the workflow's.
            UnknownStatus: a change or filter names a status the workflow lacks.
        """
        if not isinstance(selected, Selected):
            selected = self.select(selected, connection=connection)
        check_selected(self._workflow, selected)
        require_aware(at)
        _check_common(actor, reason, note)
        planner = Planner(
            self._workflow, store_changes(change), at, actor, reason, note, selected.ledger
        )
        ids = [str(a.id) for a in selected.accounts]
        views: list[AccountView] = []
        with self._tx(connection) as conn:
            for part in _batches(ids, _IN_BATCH):
                views.extend(self._views_of(conn, part, planner)[0])
        fresh = attrs.evolve(selected, accounts=tuple(views))
        with paused_gc():
            plans = planner.plan_all(views)
        return Preview(fresh, planner, plans)

    def _views_of(
        self, conn: sa.Connection, ids: Sequence[str], planner: Planner, *, lock: bool = False
    ) -> tuple[list[AccountView], list[str]]:
        """The accounts ``ids`` (in that order) with the histories planning reads, and the
        ids the store does not have."""
        found = {
            v.id: v
            for v in self._read_views(
                conn, [accounts.c.id.in_(sorted(set(ids)))], None, None, lock=lock
            )
        }
        views = [found[i] for i in ids if i in found]
        self._with_histories(conn, planner, views)
        return views, [i for i in ids if i not in found]

    def _with_histories(
        self, conn: sa.Connection, planner: Planner, views: list[AccountView]
    ) -> None:
        """Give the views what planning reads beyond the row: the standing holds (a hold
        may refuse the change, and effects follow the effective capability) and, where
        a rule may read it or a change is recorded at or after the batch's instant, the
        history."""
        needs = {v.id: v.version for v in views if needs_history(planner, v)}
        if self._workflow.hold_types and views:
            ids = [v.id for v in views]
            held = standing_columns(conn, ids, self._tenant)
            if held:
                for v in views:
                    v.holds = held.get(v.id, ())
            # A hold placed or released keeps the status and its ``status_since``: only
            # the history says the account changed at or after the batch's instant.
            later = self._changed_since(conn, ids, planner.at)
            needs.update((v.id, v.version) for v in views if v.id in later)
        if needs:
            past = self._histories(conn, needs)
            for v in views:
                if v.id in needs:
                    v.history = past[v.id]

    def _changed_since(self, conn: sa.Connection, ids: list[str], at: dt.datetime) -> set[str]:
        """The accounts of ``ids`` with a change recorded at or after ``at``."""
        query = sa.select(history.c.account_id).where(
            self._mine(history),
            history.c.account_id.in_(sa.bindparam("ids", expanding=True)),
            history.c.at >= at,
        )
        return {
            i
            for part in _batches(ids, _IN_BATCH)
            for i in conn.execute(query, {"ids": list(part)}).scalars()
        }

    # -- applying --------------------------------------------------------------------

    def apply_batch(
        self,
        target: Preview | Selected | Selection | None = None,
        change: BatchChange | Sequence[BatchChange] | None = None,
        *,
        at: dt.datetime | None = None,
        actor: Actor | None = None,
        reason: str | None = None,
        note: str | None = None,
        mode: Mode | str = Mode.BEST_EFFORT,
        chunk: int = 1000,
        connection: sa.Connection | None = None,
        progress: Progress | None = None,
    ) -> BatchReport:
        """Carry a batch status change out on stored accounts, set-based, in chunks.

        Each account is planned afresh, exactly as
        [`acctstate.batch.apply`][acctstate.batch.apply] plans it (an account changed
        since a preview is refused, one with nothing left to do is unchanged, so
        applying twice changes nothing twice). A chunk is written in one transaction:
        one compare-and-set ``UPDATE`` over its changed rows, then multi-row inserts of
        their history and outbox rows; the effects wait in the outbox for
        ``deliver``. An account another writer changed in between is planned again
        alone.

        Modes: ``best_effort`` commits chunk by chunk; ``all_or_nothing`` plans every
        account first (on PostgreSQL locking the rows) and writes nothing unless every
        one can change, then writes them all in one transaction.

        Args:
            target: a [`Preview`][acctstate.batch.Preview] (applied as previewed), a
                [`Selected`][acctstate.batch.Selected] from `select`, or a
                [`Selection`][acctstate.batch.Selection] (``None``: every account) read
                from the store chunk by chunk, never held whole.
            change: the change; required unless ``target`` is a preview.
            at: the effective time; required unless ``target`` is a preview.
            actor: who makes the change.
            reason: the reason code.
            note: a note for the history.
            mode: ``"best_effort"`` or ``"all_or_nothing"``.
            chunk: accounts read and written per transaction.
            connection: run inside this connection's transaction (the caller commits).
            progress: called with ``(done, total)`` after each chunk.

        Returns:
            A [`BatchReport`][acctstate.batch.BatchReport], one outcome per account (a
            preview's order, else id order).

        Raises:
            InvalidArgument: a bad argument, a field change, a missing ``change``/``at``,
                or arguments that contradict the preview. Nothing has been done then.
            ConcurrentChange: an ``all_or_nothing`` batch lost a race on a database
                without row locks (its transaction is rolled back).
        """
        check_count(chunk, "chunk")
        report = check_progress(progress)
        run = BatchRun(
            self._workflow,
            target,
            change,
            at=at,
            actor=actor,
            reason=reason,
            note=note,
            mode=mode,
        )
        if run.mode is Mode.ALL_OR_NOTHING:
            self._apply_all(run, chunk, connection, report)
        else:
            self._apply_each(run, chunk, connection, report)
        return run.report()

    def _read_run(
        self,
        conn: sa.Connection,
        run: BatchRun,
        at: _Cursor,
        chunk: int,
        *,
        lock: bool = False,
    ) -> tuple[list[AccountView], _Cursor, int]:
        """The next chunk of the run from ``at``, where to go on from (``None``: done), and
        how many accounts it covered."""
        if run.ids is not None:
            start = int(at or 0)
            part = run.ids[start : start + chunk]
            views, missing = self._views_of(conn, part, run.planner, lock=lock)
            for i in missing:
                run.missing(i, str(unknown_account(i)))
            end = start + len(part)
            return views, (end if end < len(run.ids) else None), len(part)
        assert run.selection is not None
        after = None if at is None else str(at)
        found = self._read_views(conn, self._where(run.selection), after, chunk, lock=lock)
        nxt: _Cursor = found[-1].id if len(found) == chunk else None
        views = [v for v in found if run.matches(v)]
        self._with_histories(conn, run.planner, views)
        return views, nxt, len(found)

    def _total(self, run: BatchRun, connection: sa.Connection | None) -> int:
        if run.ids is not None:
            return len(run.ids)
        assert run.selection is not None
        source, _, _ = self._source()
        query = (
            sa.select(sa.func.count())
            .select_from(source)
            .where(self._mine(accounts), *self._where(run.selection))
        )
        with self._tx(connection) as conn:
            return int(conn.execute(query).scalar_one())

    def _apply_each(
        self,
        run: BatchRun,
        chunk: int,
        connection: sa.Connection | None,
        report: Progress | None,
    ) -> None:
        total = self._total(run, connection) if report is not None else 0
        done = 0
        at: _Cursor = None
        while True:
            items: list[Item] = []
            written: dict[str, Any] = {}
            try:
                with self._tx(connection) as conn:
                    views, nxt, covered = self._read_run(conn, run, at, chunk)
                    items = run.plan(views)
                    write, written = self._write_of(run, items, conn)
                    lost = (
                        self._write_chunk(conn, write, check_keys=connection is not None)
                        if written
                        else set()
                    )
            except sa.exc.IntegrityError:
                # An effect key is already in the outbox (the chunk rolled back): each
                # changed account alone says which.
                lost = set(written)
            for view, plan, outcome in items:
                if outcome is not None:
                    run.done(view.id, outcome)
                elif view.id not in lost:
                    run.done(view.id, run.changed(view, plan, written[view.id]))
            for account_id in sorted(lost):
                run.done(account_id, self._apply_alone(run, account_id, connection))
            done += covered
            if report is not None:
                report(done, total)
            if nxt is None:
                return
            at = nxt

    def _write_of(
        self, run: BatchRun, items: list[Item], conn: sa.Connection | None = None
    ) -> tuple[_Write, dict[str, Any]]:
        """The rows the changing accounts of ``items`` write (set-based on ``conn`` where
        it can), and their changes by id."""
        write = _Write(self._tenant, grouped=conn is not None and groupable(conn))
        written: dict[str, Any] = {}
        created = self._workflow.clock.now()
        for view, plan, outcome in items:
            if outcome is None:
                change = run.change_of(view, plan)
                write.add(stored_of(view), (), [change], created)
                written[view.id] = change
        return write, written

    def _apply_alone(
        self, run: BatchRun, account_id: str, connection: sa.Connection | None
    ) -> BatchOutcome:
        """Plan and write one account in a transaction of its own."""
        with self._tx(connection) as conn:
            views, missing = self._views_of(conn, [account_id], run.planner)
            if missing:
                return BatchOutcome(
                    account_id,
                    OutcomeKind.REFUSED,
                    None,
                    reason=str(unknown_account(account_id)),
                )
            ((view, plan, outcome),) = run.plan(views)
            if outcome is not None:
                return outcome
            write, written = self._write_of(run, [(view, plan, None)])
            change = written[account_id]
            keys = [r["key"] for r in write.outbox]
            taken = (
                conn.execute(TAKEN, {"keys": keys, "tenant": self._tenant}).scalars().first()
                if keys
                else None
            )
            if taken is not None:
                why = str(duplicate_key(account_id, change.trigger, change.at, taken))
                return BatchOutcome(account_id, OutcomeKind.REFUSED, plan.source, reason=why)
            (update,) = write.updates
            if conn.execute(CAS, update).rowcount != 1:
                why = str(
                    ConcurrentChange(
                        account_id=account_id,
                        expected_version=view.version,
                        actual_version=None,
                    )
                )
                return BatchOutcome(account_id, OutcomeKind.REFUSED, plan.source, reason=why)
            conn.execute(INSERT_HISTORY, write.history)
            if write.outbox:
                conn.execute(INSERT_OUTBOX, write.outbox)
            return run.changed(view, plan, change)

    def _apply_all(
        self,
        run: BatchRun,
        chunk: int,
        connection: sa.Connection | None,
        report: Progress | None,
    ) -> None:
        total = self._total(run, connection) if report is not None else 0
        with self._tx(connection) as conn:
            items: list[Item] = []
            at: _Cursor = None
            done = 0
            while True:
                views, nxt, covered = self._read_run(conn, run, at, chunk, lock=True)
                items.extend(run.plan(views))
                done += covered
                if nxt is None:
                    break
                at = nxt
            blockers = [*run.outcomes.values(), *run.blocked(items)]
            if not blockers:
                # Keys already in the outbox refuse their account before anything is written.
                _, written = self._write_of(run, items)
                owner = {e.key: i for i, c in written.items() for e in c.effects}
                sources = {view.id: plan.source for view, plan, _ in items}
                for part in _batches(sorted(owner), _IN_BATCH):
                    found = conn.execute(TAKEN, {"keys": list(part), "tenant": self._tenant})
                    for key in found.scalars():
                        i = owner[key]
                        why = str(duplicate_key(i, written[i].trigger, written[i].at, key))
                        run.done(i, BatchOutcome(i, OutcomeKind.REFUSED, sources[i], reason=why))
                blockers = list(run.outcomes.values())
            if blockers:
                run.skip_all(
                    [item for item in items if item[0].id not in run.outcomes],
                    run.called_off(blockers),
                )
                if report is not None:
                    report(done, total)
                return
            for part in _batches(items, chunk):
                write, written = self._write_of(run, list(part), conn)
                lost = self._write_chunk(conn, write, check_keys=False)
                if lost:
                    # Rows are locked (PostgreSQL) or the write lock is held (SQLite), so
                    # only a database without row locks gets here: roll everything back.
                    first = min(lost)
                    version = next(v.version for v, _, _ in part if v.id == first)
                    raise ConcurrentChange(
                        account_id=first, expected_version=version, actual_version=None
                    )
                for view, plan, outcome in part:
                    run.done(view.id, outcome or run.changed(view, plan, written[view.id]))
            if report is not None:
                report(done, total)
