"""The in-memory store's batch update: the same select, preview and apply as the SQL
store's, under the store's lock (a part of
[`MemoryStore`][acctstate.store.memory.MemoryStore])."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from acctstate.core.workflow import Workflow
from acctstate.operations.batch._apply import BatchOutcome, OutcomeKind
from acctstate.operations.batch._changes import BatchChange
from acctstate.operations.batch._planner import Planner, paused_gc
from acctstate.operations.batch._preview import Preview, _check_common
from acctstate.operations.batch._report import BatchReport, Mode
from acctstate.operations.batch._select import Selected, Selection, check_threshold
from acctstate.operations.batch._select import select as select_accounts
from acctstate.values.actors import Actor
from acctstate.values.clock import require_aware
from acctstate.values.history import History, StatusChange
from acctstate.values.holds import Hold
from acctstate.world.store._automation import check_progress
from acctstate.world.store._batch import (
    BatchRun,
    Item,
    check_selected,
    check_selection,
    store_changes,
)
from acctstate.world.store._codec import check_count, duplicate_key, unknown_account
from acctstate.world.store._facts import AccountView
from acctstate.world.store._memory_outbox import _Slot
from acctstate.world.store._types import Progress, StoredAccount

__all__ = ["MemoryBatch"]


class MemoryBatch:
    """Batch updates on the in-memory store."""

    __slots__ = ()

    _workflow: Workflow
    _lock: threading.RLock
    _accounts: dict[str, StoredAccount]
    _changes: dict[str, list[StatusChange]]
    _outbox: dict[str, _Slot]
    _facts: Callable[[str], Mapping[str, Any] | None] | None
    _holds: dict[str, tuple[Hold, ...]]

    def _batch_view(self, stored: StoredAccount, history: bool) -> AccountView:
        facts = None if self._facts is None else self._facts(stored.id)
        past = History(list(self._changes[stored.id])) if history else None
        return AccountView(stored, facts, past, {}, self._holds.get(stored.id, ()))

    def select(
        self, selection: Selection | None = None, *, threshold: Decimal | None = None
    ) -> Selected:
        """The stored accounts a selection picks, and their counts (see
        [`SqlStore.select`][acctstate.store.sql.SqlStore.select]).

        Raises:
            InvalidArgument: a bad ``selection`` or ``threshold``.
            UnknownStatus: a filter or a stored account names a status the workflow lacks.
        """
        chosen = check_selection(selection)
        limit = check_threshold(self._workflow, threshold)
        with self._lock:
            views = [self._batch_view(self._accounts[i], False) for i in sorted(self._accounts)]
        return select_accounts(self._workflow, views, chosen, threshold=limit)

    def preview(
        self,
        selected: Selected | Selection | None,
        change: BatchChange | Sequence[BatchChange],
        *,
        at: dt.datetime,
        actor: Actor | None = None,
        reason: str | None = None,
        note: str | None = None,
    ) -> Preview:
        """What a status change would do to every selected stored account (see
        [`SqlStore.preview`][acctstate.store.sql.SqlStore.preview]); nothing changes."""
        if not isinstance(selected, Selected):
            selected = self.select(selected)
        check_selected(self._workflow, selected)
        require_aware(at)
        _check_common(actor, reason, note)
        planner = Planner(
            self._workflow, store_changes(change), at, actor, reason, note, selected.ledger
        )
        with self._lock:
            views = [
                self._batch_view(self._accounts[i], True)
                for i in (str(a.id) for a in selected.accounts)
                if i in self._accounts
            ]
        fresh = attrs.evolve(selected, accounts=tuple(views))
        with paused_gc():
            plans = planner.plan_all(views)
        return Preview(fresh, planner, plans)

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
        progress: Progress | None = None,
    ) -> BatchReport:
        """Carry a batch status change out on stored accounts (see
        [`SqlStore.apply_batch`][acctstate.store.sql.SqlStore.apply_batch]); the effects
        wait in the outbox for ``deliver``."""
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
        with self._lock:
            if run.ids is not None:
                ids = run.ids
                for i in ids:
                    if i not in self._accounts:
                        run.missing(i, str(unknown_account(i)))
            else:
                ids = sorted(self._accounts)
            views = [self._batch_view(self._accounts[i], True) for i in ids if i in self._accounts]
            views = [v for v in views if run.matches(v)]
            if run.mode is Mode.ALL_OR_NOTHING:
                self._apply_all(run, run.plan(views))
                if report is not None:
                    report(len(ids), len(ids))
                return run.report()
            for start in range(0, len(views), chunk):
                for view, plan, outcome in run.plan(views[start : start + chunk]):
                    run.done(view.id, outcome or self._write_one(run, view, plan))
                if report is not None:
                    report(min(start + chunk, len(views)), len(views))
        return run.report()

    def _taken(self, change: StatusChange) -> str | None:
        return next((e.key for e in change.effects if e.key in self._outbox), None)

    def _write_one(self, run: BatchRun, view: AccountView, plan: Any) -> BatchOutcome:
        change = run.change_of(view, plan)
        taken = self._taken(change)
        if taken is not None:
            why = str(duplicate_key(view.id, change.trigger, change.at, taken))
            return BatchOutcome(view.id, OutcomeKind.REFUSED, plan.source, reason=why)
        self._commit_change(view, change)
        return run.changed(view, plan, change)

    def _commit_change(self, view: AccountView, change: StatusChange) -> None:
        version = view.version + 1
        self._accounts[view.id] = StoredAccount(view.id, change.dest.code, change.at, version)
        self._changes[view.id].append(change)
        for effect in change.effects:
            self._outbox[effect.key] = _Slot(effect.key, view.id, version, effect)

    def _apply_all(self, run: BatchRun, items: list[Item]) -> None:
        blockers = [*run.outcomes.values(), *run.blocked(items)]
        changes = {v.id: run.change_of(v, p) for v, p, o in items if o is None}
        if not blockers:
            for view, plan, _ in items:
                change = changes.get(view.id)
                taken = None if change is None else self._taken(change)
                if change is not None and taken is not None:
                    why = str(duplicate_key(view.id, change.trigger, change.at, taken))
                    run.done(
                        view.id,
                        BatchOutcome(view.id, OutcomeKind.REFUSED, plan.source, reason=why),
                    )
            blockers = list(run.outcomes.values())
        if blockers:
            run.skip_all(
                [item for item in items if item[0].id not in run.outcomes],
                run.called_off(blockers),
            )
            return
        for view, plan, outcome in items:
            if outcome is not None:
                run.done(view.id, outcome)
                continue
            self._commit_change(view, changes[view.id])
            run.done(view.id, run.changed(view, plan, changes[view.id]))
