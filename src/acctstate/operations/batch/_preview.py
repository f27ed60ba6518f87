"""Previewing a batch change: what it would do to every selected account, and the text
of the confirmation dialog; nothing changes."""

from __future__ import annotations

import datetime as dt
import enum
from collections import Counter
from collections.abc import Iterable, MutableSet, Sequence
from decimal import Decimal
from typing import Any

import attrs

from acctstate.operations.batch._changes import (
    BatchChange,
    FieldUpdate,
)
from acctstate.operations.batch._plan import (
    ACTION_CHANGE,
    ACTION_REFUSED,
    ACTION_UNCHANGED,
    Plan,
)
from acctstate.operations.batch._planner import Planner, paused_gc
from acctstate.operations.batch._select import (
    Selected,
)
from acctstate.values._views import show, show_html
from acctstate.values.account import id_label
from acctstate.values.actors import Actor
from acctstate.values.clock import require_aware
from acctstate.values.effects import Effect, Hooks
from acctstate.values.errors import InvalidArgument
from acctstate.values.guards import check_change_args
from acctstate.values.status import Status

__all__ = ["Action", "PlannedChange", "Preview", "preview"]


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

    Made by [`preview`][acctstate.batch.preview]; pass it to `apply` to carry it out exactly as
    shown.

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
        """One [`PlannedChange`][acctstate.batch.PlannedChange] per account, in selection order."""
        return [self._row(a, p) for a, p in self._items]

    def _row(self, account: Any, plan: Plan) -> PlannedChange:
        account_id = id_label(account)
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
                lines.append(f"  {id_label(a)}: {p.why_for(id_label(a))}")
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
        selected: the accounts, from [`select`][acctstate.batch.select].
        change: one change or several (applied to each account in order; at most one
            of them may change the status, and it runs after the others).
        at: the effective time (timezone-aware).
        actor: who would make it (for transitions that need a permission).
        reason: the reason code (for transitions that declare reasons).
        note: a note for the history.
        ledger: the applied-keys ledger (default: the selection's own).

    Raises:
        InvalidArgument: a wrongly typed argument or change, a naive ``at``.
        UnknownTrigger: a [`FireTrigger`][acctstate.batch.FireTrigger] names a trigger the workflow
            lacks.
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
    with paused_gc():
        plans = planner.plan_all(selected.accounts)
    return Preview(selected, planner, plans)
