"""What both stores share to run a batch update against stored accounts.

A PortaBilling-style batch update (select, preview with a confirmation, apply) on a
store plans with the very planner of [`acctstate.batch`][acctstate.batch]: each stored
account is seen as its stored state, the host's facts and, where a rule may read it,
its history, so the reasons, outcomes and changes are those
[`acctstate.batch.apply`][acctstate.batch.apply] gives for the same accounts. A store
changes statuses only: the fields a batch can also set (funds, dates) are the host's
facts, kept in the host's own tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from acctstate.core.workflow import Workflow
from acctstate.operations.batch._apply import BatchOutcome, Executor, OutcomeKind
from acctstate.operations.batch._changes import BatchChange
from acctstate.operations.batch._plan import Plan
from acctstate.operations.batch._planner import Planner, paused_gc
from acctstate.operations.batch._preview import Preview, _changes, _check_common
from acctstate.operations.batch._report import BatchReport, Mode, check_mode, resolve
from acctstate.operations.batch._select import Selected, Selection
from acctstate.values.actors import Actor
from acctstate.values.clock import require_aware
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import StatusChange
from acctstate.world.store._codec import normalised
from acctstate.world.store._facts import AccountView
from acctstate.world.store._types import StoredAccount

__all__ = ["BatchRun", "Item", "check_selected", "needs_history", "store_changes", "stored_of"]

Item = tuple[AccountView, Plan, BatchOutcome | None]
"""One account of a chunk: its view, its fresh plan, and its outcome unless it changes."""


def store_changes(change: BatchChange | Sequence[BatchChange]) -> tuple[BatchChange, ...]:
    """The batch's changes, refusing the field changes a store does not keep.

    Raises:
        InvalidArgument: no change, not batch changes, two status changes, or a field
            change (funds, dates: the host's facts).
    """
    parts = _changes(change)
    for p in parts:
        if not p.moves_status:
            raise InvalidArgument(
                "change",
                p,
                "a status change (FireTrigger or ChangeStatus): a stored account's funds and "
                "dates are the host's facts; change them in the host's own tables",
            )
    return parts


def check_selected(workflow: Workflow, selected: object) -> Selected:
    """``selected`` when it was made on the store's workflow.

    Raises:
        InvalidArgument: not a ``Selected`` on ``workflow``.
    """
    if not isinstance(selected, Selected):
        raise InvalidArgument("selected", selected, "the result of store.select() or a Selection")
    if selected.workflow != workflow:
        raise InvalidArgument(
            "selected", selected, f"a selection on the store's workflow {workflow.name!r}"
        )
    return selected


def check_selection(selection: object) -> Selection:
    """``selection`` (``None``: every account) as a ``Selection``.

    Raises:
        InvalidArgument: not a Selection.
    """
    chosen = Selection() if selection is None else selection
    if not isinstance(chosen, Selection):
        raise InvalidArgument("selection", chosen, "a Selection")
    return chosen


def needs_history(planner: Planner, view: AccountView) -> bool:
    """Whether planning ``view`` may read its history: an edge with guards or effect
    rules, or a status change at or after the batch's instant (already applied, or a
    conflict)."""
    since = view.status_since
    if since is not None and since >= planner.at:
        return True
    group = planner._groups.get(view.status)
    if group is None:
        group = planner._group(view.status)
    return group.slow_trigger is not None


def stored_of(view: AccountView) -> StoredAccount:
    """The stored state a view was read from."""
    return StoredAccount(view.id, view.status, view.status_since, view.version)


class BatchRun:
    """One ``apply_batch``: the planner, the previewed plans by id, the outcomes by id.

    ``ids`` is the accounts to apply to, in order (a preview's or a selection's), or
    ``None`` when the run streams a ``selection`` from the store in id order.

    Raises:
        InvalidArgument: a bad mode or argument, a field change, a target on another
            workflow, or a missing ``change``/``at`` with a selection.
    """

    def __init__(
        self,
        workflow: Workflow,
        target: Preview | Selected | Selection | None,
        change: BatchChange | Sequence[BatchChange] | None,
        *,
        at: dt.datetime | None,
        actor: Actor | None,
        reason: str | None,
        note: str | None,
        mode: Mode | str,
    ) -> None:
        self.mode = check_mode(mode)
        _check_common(actor, reason, note)
        self.selection: Selection | None = None
        self.ids: list[str] | None = None
        self.previewed: dict[str, Plan] = {}
        if target is None or isinstance(target, Selection):
            if change is None or at is None:
                raise InvalidArgument(
                    "change" if change is None else "at", None, "a value when applying a selection"
                )
            require_aware(at)
            self.selection = check_selection(target)
            self.selection.matcher(workflow)  # unknown statuses: refused before any read
            self.planner = Planner(workflow, store_changes(change), at, actor, reason, note, set())
        else:
            planner, selected, accounts, previewed = resolve(
                target, change, at=at, actor=actor, reason=reason, note=note, ledger=None
            )
            check_selected(workflow, selected)
            store_changes(planner.changes)
            self.planner = planner
            self.ids = [str(a.id) for a in accounts]
            self.previewed = {
                i: p for i, p in zip(self.ids, previewed, strict=True) if p is not None
            }
        self.executor = Executor(self.planner, None)
        self.outcomes: dict[str, BatchOutcome] = {}
        self.matches: Callable[[Any], bool] = (
            (lambda a: True) if self.selection is None else self.selection.matcher(workflow)
        )

    def plan(self, views: Iterable[AccountView]) -> list[Item]:
        """Each view's fresh plan, checked against the preview."""
        rows = list(views)
        with paused_gc():
            plans = self.planner.plan_all(rows)
            out: list[Item] = []
            for view, fresh in zip(rows, plans, strict=True):
                plan, outcome = self.executor._check(view, fresh, self.previewed.get(view.id))
                out.append((view, plan, outcome))
        return out

    def change_of(self, view: AccountView, plan: Plan) -> StatusChange:
        """The status change a changing plan makes, as the store records it."""
        change = plan.status_change(view.id, self.planner)
        assert change is not None  # a store batch always moves the status
        return normalised(change)

    def changed(self, view: AccountView, plan: Plan, change: StatusChange) -> BatchOutcome:
        """The outcome of a change that was written."""
        return self.executor._changed(view.id, plan, change)

    def done(self, account_id: str, outcome: BatchOutcome) -> None:
        """Record an account's outcome."""
        self.outcomes[account_id] = outcome

    def skip_all(self, items: Sequence[Item], why: str) -> None:
        """Every account that would change is skipped (an all-or-nothing batch called off)."""
        for view, plan, outcome in items:
            self.done(view.id, outcome or Executor._skipped(view, plan, why))

    @staticmethod
    def blocked(items: Sequence[Item]) -> list[BatchOutcome]:
        """The outcomes that call an all-or-nothing batch off (refused, failed)."""
        return [
            o
            for _, _, o in items
            if o is not None and o.kind in (OutcomeKind.REFUSED, OutcomeKind.FAILED)
        ]

    @staticmethod
    def called_off(blockers: Sequence[BatchOutcome]) -> str:
        """Why an all-or-nothing batch was called off, in ``acctstate.batch``'s words."""
        return (
            f"not applied: all-or-nothing batch called off because {len(blockers)} "
            f"account(s) cannot change (first: {blockers[0].account_id!r})"
        )

    def missing(self, account_id: str, why: str) -> None:
        """An account of the preview that the store no longer has."""
        self.done(account_id, BatchOutcome(account_id, OutcomeKind.REFUSED, None, reason=why))

    def report(self) -> BatchReport:
        """The outcomes in the preview's order (or id order when streamed)."""
        order = self.ids if self.ids is not None else sorted(self.outcomes)
        return BatchReport(
            tuple(self.outcomes[i] for i in order if i in self.outcomes),
            self.mode,
            self.planner.at,
        )
