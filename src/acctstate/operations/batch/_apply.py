"""Carrying planned batch changes out: hooks, commits, outcomes, all-or-nothing rollback.

Re-exported by [`acctstate.batch`][acctstate.batch]; import the names from there.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import attrs

from acctstate.operations.batch._changes import FieldUpdate
from acctstate.operations.batch._plan import ACTION_REFUSED, ACTION_UNCHANGED, Plan
from acctstate.operations.batch._planner import Planner
from acctstate.values.account import id_label
from acctstate.values.effects import (
    Deprovision,
    Effect,
    Hooks,
    Provision,
    StartBilling,
    StartUsageBilling,
    StopBilling,
    StopUsageBilling,
    dispatch,
)
from acctstate.values.errors import EffectFailed
from acctstate.values.history import StatusChange
from acctstate.values.status import Status

__all__ = ["BALANCE_TRIGGER", "BatchOutcome", "Executor", "OutcomeKind"]

BALANCE_TRIGGER = "adjust_balance"
"""The trigger named by the no-move ``StatusChange`` that carries balance effects to hooks."""


_OPPOSITE: dict[type[Effect], type[Effect]] = {
    StartBilling: StopBilling,
    StopBilling: StartBilling,
    StartUsageBilling: StopUsageBilling,
    StopUsageBilling: StartUsageBilling,
    Provision: Deprovision,
    Deprovision: Provision,
}


class OutcomeKind(enum.Enum):
    """What happened to one account."""

    CHANGED = "changed"
    """The change was made."""
    UNCHANGED = "unchanged"
    """Nothing to do: already in the target status, already applied, or not concerned."""
    REFUSED = "refused"
    """The workflow or the change refused it; nothing was done to the account."""
    FAILED = "failed"
    """Planning or a hook raised; the account keeps its status and fields."""
    SKIPPED = "skipped"
    """Could have changed, but an all-or-nothing batch was called off; nothing was done."""
    ROLLED_BACK = "rolled_back"
    """Its effects ran, then an all-or-nothing batch was called off: the account was
    not changed and the effects that can be undone were undone."""


@attrs.frozen
class BatchOutcome:
    """What [`acctstate.batch.apply`][acctstate.batch.apply] did to one account.

    Attributes:
        account_id: the account.
        kind: changed, unchanged, refused, failed, skipped or rolled back.
        source: its status before (``None`` when its status code is unknown).
        dest: its status after a change (``None`` when its status did not change).
        change: the status change made or attempted, if any.
        updates: the field updates made or attempted.
        effects: the change's effects (run through the hooks that were registered).
        reason: why it was refused, unchanged, skipped or rolled back.
        error: the exception, for a failure; for a refusal planned for this one account
            from a typed error (a ``MissingFact`` when the account gives no time zone or
            currency and the workflow no default, a ``GuardRefused``, ...), that error.
        undone: effects undone by running their opposite (rolled back / failed).
        not_undone: effects that ran and have no opposite (money, notices) or whose
            undoing failed: the host must compensate them, using their keys.
    """

    account_id: str
    kind: OutcomeKind
    source: Status | None
    dest: Status | None = None
    change: StatusChange | None = None
    updates: tuple[FieldUpdate, ...] = ()
    effects: tuple[Effect, ...] = ()
    reason: str | None = None
    error: BaseException | None = attrs.field(default=None, eq=False)
    undone: tuple[Effect, ...] = ()
    not_undone: tuple[Effect, ...] = ()

    def __str__(self) -> str:
        if self.kind is OutcomeKind.CHANGED:
            src = self.source.name if self.source else "?"
            moved = f"{src} -> {self.dest.name}" if self.dest else "fields"
            return f"{self.account_id}: changed ({moved})"
        why = self.reason if self.error is None else f"{type(self.error).__name__}: {self.error}"
        return f"{self.account_id}: {self.kind.value}: {why}"


Ran = list[tuple[StatusChange, Effect]]


class Executor:
    """Carries planned changes out through the hooks and commits them."""

    __slots__ = ("hooks", "planner")

    def __init__(self, planner: Planner, hooks: Hooks | None) -> None:
        self.planner = planner
        self.hooks = hooks if hooks is not None and not hooks.empty else None

    def _check(
        self, account: Any, plan: Plan, previewed: Plan | None
    ) -> tuple[Plan, BatchOutcome | None]:
        """Given the fresh plan, return it and, when it will not change, its outcome."""
        account_id = id_label(account)
        if plan.error is not None:
            return plan, BatchOutcome(
                account_id,
                OutcomeKind.FAILED,
                plan.source,
                reason=plan.why_for(account_id),
                error=plan.error,
            )
        if plan.action == ACTION_UNCHANGED:
            return plan, BatchOutcome(
                account_id, OutcomeKind.UNCHANGED, plan.source, reason=plan.why_for(account_id)
            )
        if plan.action == ACTION_REFUSED:
            return plan, BatchOutcome(
                account_id,
                OutcomeKind.REFUSED,
                plan.source,
                reason=plan.why_for(account_id),
                error=plan.refusal,
            )
        if (
            previewed is not None
            and plan is not previewed
            and plan.signature() != previewed.signature()
        ):
            why = (
                f"changed since the preview: previewed {previewed.describe(account_id)}, "
                f"now {plan.describe(account_id)}"
            )
            return plan, BatchOutcome(account_id, OutcomeKind.REFUSED, plan.source, reason=why)
        return plan, None

    def _run(self, account_id: str, plan: Plan, ran: Ran) -> StatusChange | None:
        """Run the plan's effects through the hooks, recording what ran in ``ran``."""
        planner = self.planner
        change = plan.status_change(account_id, planner)
        hooks = self.hooks
        if hooks is None:
            return change
        if plan.effects:
            assert plan.source is not None
            money = StatusChange(
                account_id,
                plan.source,
                plan.source,
                BALANCE_TRIGGER,
                planner.at,
                planner.recorded,
                planner.reason,
                planner.note,
                planner.actor,
                plan.effects,
            )
            try:
                done = dispatch(money, hooks)
            except EffectFailed as exc:
                ran.extend((money, e) for e in exc.ran)
                raise
            ran.extend((money, e) for e in done)
        if change is not None and change.effects:
            try:
                done = dispatch(change, hooks)
            except EffectFailed as exc:
                before = [e for _, e in ran]
                ran.extend((change, e) for e in exc.ran)
                if before:
                    raise EffectFailed(
                        change=exc.change,
                        ran=[*before, *exc.ran],
                        failed=exc.failed,
                        not_run=exc.not_run,
                        cause=exc.cause,
                    ) from exc.cause
                raise
            ran.extend((change, e) for e in done)
        return change

    def _commit(self, account: Any, plan: Plan, change: StatusChange | None) -> None:
        for u in plan.updates:
            setattr(account, u.field, u.new)
        for key in plan.ledger_keys:
            self.planner.ledger.add(key)
        if change is not None:
            self.planner.workflow._commit(account, change)

    def _changed(self, account_id: str, plan: Plan, change: StatusChange | None) -> BatchOutcome:
        return BatchOutcome(
            account_id,
            OutcomeKind.CHANGED,
            plan.source,
            None if change is None else change.dest,
            change,
            plan.updates,
            plan.effects_for(account_id, change),
        )

    def best_effort(self, items: Sequence[tuple[Any, Plan, Plan | None]]) -> list[BatchOutcome]:
        """Change every account that can change; report each one."""
        out: list[BatchOutcome] = []
        for account, fresh, previewed in items:
            plan, outcome = self._check(account, fresh, previewed)
            if outcome is not None:
                out.append(outcome)
                continue
            account_id = id_label(account)
            ran: Ran = []
            try:
                change = self._run(account_id, plan, ran)
                self._commit(account, plan, change)
            except Exception as exc:
                out.append(
                    BatchOutcome(
                        account_id,
                        OutcomeKind.FAILED,
                        plan.source,
                        plan.dest,
                        updates=plan.updates,
                        effects=tuple(e for _, e in ran),
                        reason=str(exc),
                        error=exc,
                    )
                )
                continue
            out.append(self._changed(account_id, plan, change))
        return out

    def all_or_nothing(self, items: Sequence[tuple[Any, Plan, Plan | None]]) -> list[BatchOutcome]:
        """Change every account, or none (see [`acctstate.batch.apply`][acctstate.batch.apply])."""
        out: list[BatchOutcome | None] = []
        todo: list[tuple[int, Any, Plan]] = []
        blockers: list[BatchOutcome] = []
        for account, fresh, previewed in items:
            plan, outcome = self._check(account, fresh, previewed)
            if outcome is None:
                todo.append((len(out), account, plan))
            elif outcome.kind in (OutcomeKind.REFUSED, OutcomeKind.FAILED):
                blockers.append(outcome)
            out.append(outcome)
        if blockers:
            why = (
                f"not applied: all-or-nothing batch called off because {len(blockers)} "
                f"account(s) cannot change (first: {blockers[0].account_id!r})"
            )
            for i, account, plan in todo:
                out[i] = self._skipped(account, plan, why)
            return [o for o in out if o is not None]
        done: list[tuple[int, Any, Plan, StatusChange | None, Ran]] = []
        for n, (i, account, plan) in enumerate(todo):
            account_id = id_label(account)
            ran: Ran = []
            try:
                change = self._run(account_id, plan, ran)
            except Exception as exc:
                undone, kept = self._undo(ran)
                out[i] = BatchOutcome(
                    account_id,
                    OutcomeKind.FAILED,
                    plan.source,
                    plan.dest,
                    updates=plan.updates,
                    effects=tuple(e for _, e in ran),
                    reason=str(exc),
                    error=exc,
                    undone=undone,
                    not_undone=kept,
                )
                why = (
                    f"not applied: all-or-nothing batch called off because account "
                    f"{account_id!r} failed"
                )
                for j, other, other_plan, _, other_ran in reversed(done):
                    undone, kept = self._undo(other_ran)
                    out[j] = BatchOutcome(
                        id_label(other),
                        OutcomeKind.ROLLED_BACK,
                        other_plan.source,
                        other_plan.dest,
                        updates=other_plan.updates,
                        effects=tuple(e for _, e in other_ran),
                        reason=why,
                        undone=undone,
                        not_undone=kept,
                    )
                for j, other, other_plan in todo[n + 1 :]:
                    out[j] = self._skipped(other, other_plan, why)
                return [o for o in out if o is not None]
            done.append((i, account, plan, change, ran))
        for i, account, plan, change, _ in done:
            self._commit(account, plan, change)
            out[i] = self._changed(id_label(account), plan, change)
        return [o for o in out if o is not None]

    @staticmethod
    def _skipped(account: Any, plan: Plan, why: str) -> BatchOutcome:
        return BatchOutcome(
            id_label(account),
            OutcomeKind.SKIPPED,
            plan.source,
            plan.dest,
            updates=plan.updates,
            reason=why,
        )

    def _undo(self, ran: Ran) -> tuple[tuple[Effect, ...], tuple[Effect, ...]]:
        """Run the opposite of each switch effect that ran, newest first."""
        undone: list[Effect] = []
        kept: list[Effect] = []
        hooks = self.hooks
        for change, effect in reversed(ran):
            opposite = _OPPOSITE.get(type(effect))
            handler = None
            if opposite is not None and hooks is not None:
                undo = opposite(key=f"{effect.key}/undo")
                handler = hooks.handler(undo)
            if handler is None:
                kept.append(effect)
                continue
            back = StatusChange(
                change.account_id,
                change.dest,
                change.source,
                f"undo_{change.trigger}",
                change.at,
                change.recorded_at,
                change.reason,
                change.note,
                change.actor,
                (undo,),
            )
            try:
                handler(undo, back)
            except Exception:
                kept.append(effect)
            else:
                undone.append(effect)
        return tuple(undone), tuple(kept)
