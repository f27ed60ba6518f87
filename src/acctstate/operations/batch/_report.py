"""Applying a batch change: one outcome per account, in best-effort or all-or-nothing
mode, gathered in a [`BatchReport`][acctstate.batch.BatchReport]."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import MutableSet, Sequence
from typing import Any

import attrs

from acctstate.operations.batch._apply import BatchOutcome, Executor, OutcomeKind
from acctstate.operations.batch._changes import (
    BatchChange,
)
from acctstate.operations.batch._plan import (
    Plan,
)
from acctstate.operations.batch._planner import Planner, paused_gc
from acctstate.operations.batch._preview import Preview, _changes, _check_common
from acctstate.operations.batch._select import (
    Selected,
)
from acctstate.values._views import show, show_html
from acctstate.values.actors import Actor
from acctstate.values.clock import require_aware
from acctstate.values.effects import Hooks
from acctstate.values.errors import InvalidArgument

__all__ = ["BatchReport", "Mode", "apply", "check_mode", "resolve"]


class Mode(enum.Enum):
    """How [`apply`][acctstate.batch.apply] treats refusals and failures."""

    BEST_EFFORT = "best_effort"
    """Change every account that can change; report the others."""
    ALL_OR_NOTHING = "all_or_nothing"
    """Change nothing unless every account can change (see [`apply`][acctstate.batch.apply])."""


@attrs.frozen
class BatchReport:
    """The result of [`apply`][acctstate.batch.apply]: one outcome per account, in selection order.

    Attributes:
        outcomes: one [`BatchOutcome`][acctstate.batch.BatchOutcome] per selected account.
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

    Each account is planned afresh. With a [`Preview`][acctstate.batch.Preview], an account whose
    fresh plan differs from the previewed one (it changed in between) is refused rather than
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
        target: a [`Preview`][acctstate.batch.Preview] (applied as previewed) or a
            [`Selected`][acctstate.batch.Selected].
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
        A [`BatchReport`][acctstate.batch.BatchReport]; its outcome counts add up to the selection.

    Raises:
        InvalidArgument: a wrongly typed argument, a missing ``change``/``at``, or
            arguments that contradict the preview. Nothing has been done then.
    """
    run_mode = check_mode(mode)
    _check_common(actor, reason, note, hooks)
    planner, selected, accounts, previewed = resolve(
        target, change, at=at, actor=actor, reason=reason, note=note, ledger=ledger
    )
    run_hooks = hooks if hooks is not None else selected.workflow.hooks
    executor = Executor(planner, run_hooks)
    with paused_gc():
        items = list(zip(accounts, planner.plan_all(accounts), previewed, strict=True))
        if run_mode is Mode.BEST_EFFORT:
            outcomes = executor.best_effort(items)
        else:
            outcomes = executor.all_or_nothing(items)
    return BatchReport(tuple(outcomes), run_mode, planner.at)


def check_mode(mode: Mode | str) -> Mode:
    """``mode`` as a [`Mode`][acctstate.batch.Mode].

    Raises:
        InvalidArgument: not a mode.
    """
    try:
        return Mode(mode)
    except (ValueError, TypeError):
        raise InvalidArgument(
            "mode", mode, f"one of {', '.join(repr(m.value) for m in Mode)}"
        ) from None


def resolve(
    target: Preview | Selected,
    change: BatchChange | Sequence[BatchChange] | None,
    *,
    at: dt.datetime | None,
    actor: Actor | None,
    reason: str | None,
    note: str | None,
    ledger: MutableSet[str] | None,
) -> tuple[Planner, Selected, Sequence[Any], Sequence[Plan | None]]:
    """What applying ``target`` plans with: a fresh planner, the selection, its accounts and
    the previewed plans (``None`` each without a preview); shared with the stores' batches.

    Raises:
        InvalidArgument: a missing ``change``/``at`` with a selection, arguments that
            contradict the preview, or a ``target`` that is neither.
    """
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
        return planner.copy(ledger), target.selected, target.selected.accounts, target._plans
    if isinstance(target, Selected):
        if change is None or at is None:
            raise InvalidArgument(
                "change" if change is None else "at", None, "a value when applying a selection"
            )
        require_aware(at)
        planner = Planner(
            target.workflow,
            _changes(change),
            at,
            actor,
            reason,
            note,
            target.ledger if ledger is None else ledger,
        )
        return planner, target, target.accounts, [None] * len(target.accounts)
    raise InvalidArgument("target", target, "a Preview or the result of select()")
