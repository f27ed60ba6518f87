"""Batch work (seed 001): select accounts, preview a change, apply it with one outcome each.

1. :func:`select` filters any iterable of accounts by a :class:`Selection` and counts
   them: selected, started (used at least once), depleted (funds below the product's
   availability threshold) and per status.
2. :func:`preview` says, for every selected account, what a change would do (the
   transition, the field updates, the effects and the money) or why it is refused.
   It changes nothing; its :meth:`Preview.confirmation` is the text of the confirmation
   dialog: the filters, the changes and the totals.
3. :func:`apply` carries the change out and returns a :class:`BatchReport` with one
   :class:`BatchOutcome` per account. One account's refusal or failure never stops the
   others.

The changes (:class:`FireTrigger`, :class:`ChangeStatus`, :class:`SetActivationDate`,
:class:`SetExpirationDate`, :class:`SetAvailabilityPeriod`, :class:`SetOpeningBalance`,
:class:`ChargeAccount`, :class:`RefundPayment`) are validated frozen values. The work is
split over private modules (``_batch_select``, ``_batch_changes``, ``_batch_plan``,
``_batch_apply``); every public name is re-exported here, so import from here.

Status changes are decided per status from the workflow's compiled table, so a batch
over many accounts in a few statuses costs little more than the table lookups; edges
with guards or effect rules fall back to ``Workflow.plan`` per account.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import Counter
from collections.abc import Iterable, MutableSet, Sequence
from decimal import Decimal
from typing import Any

import attrs

from acctstate.operations.batch._apply import BatchOutcome, Executor, OutcomeKind
from acctstate.operations.batch._changes import (
    BatchChange,
    ChangeStatus,
    ChargeAccount,
    FieldUpdate,
    FireTrigger,
    RefundPayment,
    SetActivationDate,
    SetAvailabilityPeriod,
    SetExpirationDate,
    SetOpeningBalance,
    activate_inactive,
)
from acctstate.operations.batch._plan import (
    ACTION_CHANGE,
    ACTION_REFUSED,
    ACTION_UNCHANGED,
    Plan,
    Planner,
)
from acctstate.operations.batch._select import (
    DateRange,
    Predicate,
    Selected,
    Selection,
    SelectionCounts,
    select,
)
from acctstate.values._views import show, show_html
from acctstate.values.actors import Actor
from acctstate.values.clock import require_aware
from acctstate.values.effects import Effect, Hooks
from acctstate.values.errors import InvalidArgument
from acctstate.values.guards import check_change_args
from acctstate.values.status import Status

__all__ = [
    "Action",
    "BatchChange",
    "BatchOutcome",
    "BatchReport",
    "ChangeStatus",
    "ChargeAccount",
    "DateRange",
    "FieldUpdate",
    "FireTrigger",
    "Mode",
    "OutcomeKind",
    "PlannedChange",
    "Predicate",
    "Preview",
    "RefundPayment",
    "Selected",
    "Selection",
    "SelectionCounts",
    "SetActivationDate",
    "SetAvailabilityPeriod",
    "SetExpirationDate",
    "SetOpeningBalance",
    "activate_inactive",
    "apply",
    "preview",
    "select",
]


# -- previewing -------------------------------------------------------------------------


class Action(enum.Enum):
    """What a preview says will happen to one account."""

    CHANGE = ACTION_CHANGE
    UNCHANGED = ACTION_UNCHANGED
    REFUSED = ACTION_REFUSED


@attrs.frozen
class PlannedChange:
    """One account's line of a preview.

    Attributes:
        account_id: the account.
        action: change, unchanged or refused.
        source: the account's status now (``None`` when its code is unknown).
        dest: the status it would reach (``None`` when its status would not change).
        trigger: the trigger that would fire, if any.
        updates: the field updates (dates, availability, funds).
        effects: every effect it implies, with idempotency keys.
        reason: why it is refused or unchanged (``None`` for a change).
    """

    account_id: str
    action: Action
    source: Status | None
    dest: Status | None
    trigger: str | None
    updates: tuple[FieldUpdate, ...]
    effects: tuple[Effect, ...]
    reason: str | None

    def __str__(self) -> str:
        if self.action is not Action.CHANGE:
            return f"{self.account_id}: {self.action.value}: {self.reason}"
        parts = []
        if self.dest is not None:
            src = "?" if self.source is None else self.source.name
            parts.append(f"{src} -> {self.dest.name} [{self.trigger}]")
        parts.extend(str(u) for u in self.updates)
        return f"{self.account_id}: " + "; ".join(parts)


class Preview:
    """What a batch change would do to every selected account; nothing is changed.

    Made by :func:`preview`; pass it to :func:`apply` to carry it out exactly as shown.

    Attributes:
        selected: the selection previewed.
        changes: the changes, in the order they are applied to each account.
        at: the effective time.
        actor: who would make the change.
        reason: the reason code.
        note: the free-text note.
    """

    __slots__ = (
        "_counted",
        "_planner",
        "_plans",
        "actor",
        "at",
        "changes",
        "note",
        "reason",
        "selected",
    )

    def __init__(
        self,
        selected: Selected,
        planner: Planner,
        plans: list[Plan],
    ) -> None:
        self.selected = selected
        self._planner = planner
        self._plans = plans
        self._counted: Counter[Plan] | None = None
        self.changes: tuple[BatchChange, ...] = planner.changes
        self.at: dt.datetime = planner.at
        self.actor: Actor | None = planner.actor
        self.reason: str | None = planner.reason
        self.note: str | None = planner.note

    def __len__(self) -> int:
        return len(self._plans)

    @property
    def _items(self) -> Iterable[tuple[Any, Plan]]:
        return zip(self.selected.accounts, self._plans, strict=True)

    @property
    def _tally(self) -> Counter[Plan]:
        # Accounts in one status share a plan object: counting by object is cheap, and
        # is done only when a total is asked for.
        if self._counted is None:
            self._counted = Counter(self._plans)
        return self._counted

    def __iter__(self) -> Any:
        return iter(self.rows())

    def __repr__(self) -> str:
        c = self.counts
        return (
            f"<Preview of {len(self)} accounts: {c['change']} change, "
            f"{c['unchanged']} unchanged, {c['refused']} refused>"
        )

    def rows(self) -> list[PlannedChange]:
        """One :class:`PlannedChange` per account, in selection order."""
        return [self._row(a, p) for a, p in self._items]

    def _row(self, account: Any, plan: Plan) -> PlannedChange:
        account_id = str(account.id)
        change = plan.status_change(account_id, self._planner)
        effects = plan.effects_for(account_id, change)
        return PlannedChange(
            account_id,
            Action(plan.action),
            plan.source,
            None if change is None else change.dest,
            None if change is None else change.trigger,
            plan.updates,
            effects,
            plan.why_for(account_id),
        )

    def refused(self) -> list[PlannedChange]:
        """The lines of the refused accounts, with their reasons."""
        return [self._row(a, p) for a, p in self._items if p.action == ACTION_REFUSED]

    @property
    def counts(self) -> dict[str, int]:
        """``{"change": n, "unchanged": n, "refused": n}``."""
        out = dict.fromkeys((ACTION_CHANGE, ACTION_UNCHANGED, ACTION_REFUSED), 0)
        for plan, n in self._tally.items():
            out[plan.action] += n
        return out

    @property
    def transitions(self) -> dict[tuple[str, str], int]:
        """``{(from, to): accounts}`` for the status changes it would make, sorted."""
        out: Counter[tuple[str, str]] = Counter()
        for plan, n in self._tally.items():
            dest = plan.dest
            if plan.action == ACTION_CHANGE and dest is not None and plan.source is not None:
                out[(plan.source.name, dest.name)] += n
        return dict(sorted(out.items()))

    @property
    def effects(self) -> dict[str, int]:
        """``{effect kind: how many}`` over every change it would make, sorted."""
        out: Counter[str] = Counter()
        for plan, n in self._tally.items():
            if plan.action == ACTION_CHANGE:
                for kind in plan.effect_kinds():
                    out[kind] += n
        return dict(sorted(out.items()))

    @property
    def money(self) -> dict[tuple[str, str], Decimal]:
        """``{(kind, currency): total}``: charges, refunds and opening-balance changes."""
        out: dict[tuple[str, str], Decimal] = {}
        for plan, n in self._tally.items():
            if plan.action != ACTION_CHANGE:
                continue
            for kind, currency, amount in plan.money():
                out[(kind, currency)] = out.get((kind, currency), Decimal(0)) + amount * n
        return dict(sorted(out.items()))

    def confirmation(self, *, refusals: int = 10) -> str:
        """The confirmation dialog: filters, changes, counts, effects, money, refusals.

        Args:
            refusals: how many refused accounts to list by name.
        """
        sel = self.selected
        c = self.counts
        lines = [f"Batch update of {sel.counts.selected} accounts"]
        lines.append("Filters:")
        lines.extend(f"  {f}" for f in sel.selection.describe())
        lines.append("Changes:")
        lines.extend(f"  {ch.describe()}" for ch in self.changes)
        lines.append(f"Effective: {self.at.isoformat()}")
        lines.append(f"Accounts: {sel.counts}")
        lines.append(
            f"Outcome: {c['change']} change · {c['unchanged']} unchanged · {c['refused']} refused"
        )
        for (a, b), n in self.transitions.items():
            lines.append(f"  {a} -> {b}: {n}")
        if self.effects:
            lines.append("Effects: " + ", ".join(f"{k} x{n}" for k, n in self.effects.items()))
        for (kind, currency), total in self.money.items():
            lines.append(f"Money: {kind} {total} {currency}")
        refused = [(a, p) for a, p in self._items if p.action == ACTION_REFUSED]
        if refused:
            lines.append("Refused:")
            for a, p in refused[:refusals]:
                lines.append(f"  {a.id}: {p.why_for(str(a.id))}")
            if len(refused) > refusals:
                lines.append(f"  … and {len(refused) - refusals} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.confirmation()

    def _repr_html_(self) -> str:
        return show_html("preview_html", self)

    def to_frame(self) -> Any:
        """One row per account as a pandas DataFrame (``pip install acctstate[notebook]``)."""
        return show("to_frame", self)

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per account (for tables and notebooks)."""
        return [
            {
                "account": r.account_id,
                "action": r.action.value,
                "from": None if r.source is None else r.source.name,
                "to": None if r.dest is None else r.dest.name,
                "trigger": r.trigger,
                "updates": [u.field for u in r.updates],
                "effects": [e.kind for e in r.effects],
                "reason": r.reason,
            }
            for r in self.rows()
        ]


def _changes(change: BatchChange | Sequence[BatchChange]) -> tuple[BatchChange, ...]:
    parts = (change,) if isinstance(change, BatchChange) else tuple(change)
    if not parts:
        raise InvalidArgument("change", change, "at least one change")
    for p in parts:
        if not isinstance(p, BatchChange):
            raise InvalidArgument("change", p, "a batch change (FireTrigger, ChangeStatus, ...)")
    if sum(p.moves_status for p in parts) > 1:
        raise InvalidArgument("change", parts, "at most one status change per batch")
    return parts


def _check_common(
    actor: Actor | None, reason: str | None, note: str | None, hooks: Hooks | None = None
) -> None:
    check_change_args(actor, reason, note)
    if hooks is not None and not isinstance(hooks, Hooks):
        raise InvalidArgument("hooks", hooks, "an acctstate.Hooks")


def preview(
    selected: Selected,
    change: BatchChange | Sequence[BatchChange],
    *,
    at: dt.datetime,
    actor: Actor | None = None,
    reason: str | None = None,
    note: str | None = None,
    ledger: MutableSet[str] | None = None,
) -> Preview:
    """What ``change`` would do to every selected account; nothing is changed.

    Args:
        selected: the accounts, from :func:`select`.
        change: one change or several (applied to each account in order; at most one
            of them may change the status, and it runs after the others).
        at: the effective time (timezone-aware).
        actor: who would make it (for transitions that need a permission).
        reason: the reason code (for transitions that declare reasons).
        note: a note for the history.
        ledger: the applied-keys ledger (default: the selection's own).

    Raises:
        InvalidArgument: a wrongly typed argument or change, a naive ``at``.
        UnknownTrigger: a :class:`FireTrigger` names a trigger the workflow lacks.
        UnknownStatus: a change names a status the workflow lacks.
    """
    if not isinstance(selected, Selected):
        raise InvalidArgument("selected", selected, "the result of select()")
    require_aware(at)
    _check_common(actor, reason, note)
    planner = Planner(
        selected.workflow,
        _changes(change),
        at,
        actor,
        reason,
        note,
        selected.ledger if ledger is None else ledger,
    )
    plans = planner.plan_all(selected.accounts)
    return Preview(selected, planner, plans)


# -- applying ---------------------------------------------------------------------------


class Mode(enum.Enum):
    """How :func:`apply` treats refusals and failures."""

    BEST_EFFORT = "best_effort"
    """Change every account that can change; report the others."""
    ALL_OR_NOTHING = "all_or_nothing"
    """Change nothing unless every account can change (see :func:`apply`)."""


@attrs.frozen
class BatchReport:
    """The result of :func:`apply`: one outcome per account, in selection order.

    Attributes:
        outcomes: one :class:`BatchOutcome` per selected account.
        mode: the mode it ran in.
        at: the effective time.
    """

    outcomes: tuple[BatchOutcome, ...]
    mode: Mode
    at: dt.datetime

    @property
    def counts(self) -> dict[str, int]:
        """``{outcome kind: accounts}`` for every kind (zeros included)."""
        out = {k.value: 0 for k in OutcomeKind}
        for o in self.outcomes:
            out[o.kind.value] += 1
        return out

    @property
    def ok(self) -> bool:
        """Whether no account was refused, failed, skipped or rolled back."""
        return all(o.kind in (OutcomeKind.CHANGED, OutcomeKind.UNCHANGED) for o in self.outcomes)

    def of(self, kind: OutcomeKind | str) -> list[BatchOutcome]:
        """The outcomes of one kind."""
        k = OutcomeKind(kind)
        return [o for o in self.outcomes if o.kind is k]

    def __len__(self) -> int:
        return len(self.outcomes)

    def __str__(self) -> str:
        return " · ".join(f"{k} {n}" for k, n in self.counts.items() if n) or "no accounts"

    def __repr__(self) -> str:
        return f"<BatchReport {self.mode.value} at {self.at.isoformat()}: {self}>"

    def _repr_html_(self) -> str:
        return show_html("report_html", self)

    def to_frame(self) -> Any:
        """One row per account as a pandas DataFrame (``pip install acctstate[notebook]``)."""
        return show("to_frame", self)

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per account (for tables and notebooks)."""
        return [
            {
                "account": o.account_id,
                "outcome": o.kind.value,
                "from": None if o.source is None else o.source.name,
                "to": None if o.dest is None else o.dest.name,
                "effects": [e.kind for e in o.effects],
                "reason": o.reason,
                "error": None if o.error is None else repr(o.error),
            }
            for o in self.outcomes
        ]


def apply(
    target: Preview | Selected,
    change: BatchChange | Sequence[BatchChange] | None = None,
    *,
    at: dt.datetime | None = None,
    actor: Actor | None = None,
    reason: str | None = None,
    note: str | None = None,
    mode: Mode | str = Mode.BEST_EFFORT,
    hooks: Hooks | None = None,
    ledger: MutableSet[str] | None = None,
) -> BatchReport:
    """Carry a batch change out; return one outcome per account.

    Each account is planned afresh. With a :class:`Preview`, an account whose fresh plan
    differs from the previewed one (it changed in between) is refused rather than
    changed in a way nobody confirmed; an account with nothing left to do is reported
    unchanged, so applying the same preview or selection twice changes nothing twice.

    Modes:

    * ``best_effort``: each account in turn runs its effects through the hooks and,
      when they all succeed, its fields, ledger keys and status are committed. A
      refusal or a failing hook affects that account only (a failed account keeps its
      status and fields; the error lists which of its effects ran).
    * ``all_or_nothing``: every account is planned first; if any is refused or fails
      to plan, nothing is done (the others are *skipped*). Then the effects of every
      account run; if a hook fails, nothing is committed: the failing account is
      *failed*, the accounts whose effects already ran are *rolled back* (their
      switch-type effects, billing and provisioning, are undone by running their
      opposites in reverse order; money and notices are listed in ``not_undone`` for
      the host to compensate), and the rest are *skipped*. Only when every hook
      succeeded is every account committed. Committing touches only the accounts
      themselves and cannot be refused at that point.

    Args:
        target: a :class:`Preview` (applied as previewed) or a :class:`Selected`.
        change: the change(s); required with a selection, optional with a preview (it
            must then be the previewed one).
        at: the effective time; required with a selection, the previewed one otherwise.
        actor: who makes the change.
        reason: the reason code.
        note: a note for the history.
        mode: ``"best_effort"`` or ``"all_or_nothing"``.
        hooks: the effect hooks (default: the workflow's).
        ledger: where the keys of applied balance operations are kept (default: the
            selection's own set).

    Returns:
        A :class:`BatchReport`; its outcome counts add up to the selection.

    Raises:
        InvalidArgument: a wrongly typed argument, a missing ``change``/``at``, or
            arguments that contradict the preview. Nothing has been done then.
    """
    run_mode = Mode(mode)
    _check_common(actor, reason, note, hooks)
    if isinstance(target, Preview):
        planner = target._planner
        given = {"change": change, "at": at, "actor": actor, "reason": reason, "note": note}
        shown = {
            "change": target.changes,
            "at": target.at,
            "actor": target.actor,
            "reason": target.reason,
            "note": target.note,
        }
        for name, value in given.items():
            if name == "change" and value is not None:
                value = _changes(value)  # type: ignore[arg-type]
            if value is not None and value != shown[name]:
                raise InvalidArgument(
                    name,
                    value,
                    f"the previewed {name} ({shown[name]!r}); a preview is applied as confirmed",
                )
        planner = planner.copy(ledger)
        accounts = target.selected.accounts
        previewed: Sequence[Plan | None] = target._plans
        selected = target.selected
    elif isinstance(target, Selected):
        if change is None or at is None:
            raise InvalidArgument(
                "change" if change is None else "at", None, "a value when applying a selection"
            )
        require_aware(at)
        selected = target
        planner = Planner(
            target.workflow,
            _changes(change),
            at,
            actor,
            reason,
            note,
            target.ledger if ledger is None else ledger,
        )
        accounts = target.accounts
        previewed = [None] * len(accounts)
    else:
        raise InvalidArgument("target", target, "a Preview or the result of select()")
    run_hooks = hooks if hooks is not None else selected.workflow.hooks
    executor = Executor(planner, run_hooks)
    items = list(zip(accounts, planner.plan_all(accounts), previewed, strict=True))
    if run_mode is Mode.BEST_EFFORT:
        outcomes = executor.best_effort(items)
    else:
        outcomes = executor.all_or_nothing(items)
    return BatchReport(tuple(outcomes), run_mode, planner.at)
