"""Dunning ladders: the steps an unpaid account climbs, checked when built.

An account's step is the last one whose conditions (days past due, unpaid balance,
unpaid invoices) all hold; the ladder refuses thresholds that decrease, steps that can
never be reached and steps listed twice.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs

from acctstate.operations.automation._fields import _amount, _count, _status_ref
from acctstate.values.catalog import StatusRef
from acctstate.values.errors import InvalidArgument, PolicyError, Violation

__all__ = ["DunningLadder", "LadderStep", "reference_ladder"]


@attrs.frozen
class LadderStep:
    """One step of a dunning ladder: where an account goes once every condition holds.

    Args:
        status: the status of this step (code or name).
        min_days: whole days since the earliest unpaid invoice fell due, at least.
        min_balance: unpaid balance, at least (``Decimal``).
        min_invoices: number of unpaid invoices, at least.

    >>> LadderStep("active_dunning_1", min_days=15).holds(20, Decimal("9.90"), 1)
    True
    >>> LadderStep("active_dunning_1", min_days=15.5)
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid min_days: got 15.5; expected a non-negative int
    """

    status: StatusRef = attrs.field(validator=_status_ref)
    min_days: int = attrs.field(default=0, kw_only=True, validator=_count)
    min_balance: Decimal = attrs.field(default=Decimal(0), kw_only=True, converter=_amount)
    min_invoices: int = attrs.field(default=0, kw_only=True, validator=_count)

    def holds(self, days: int | None, balance: Decimal, invoices: int) -> bool:
        """Whether the step's conditions hold (``days`` is ``None`` when nothing is unpaid)."""
        return (
            days is not None
            and days >= self.min_days
            and balance >= self.min_balance
            and invoices >= self.min_invoices
        )

    def thresholds(self) -> tuple[Decimal, Decimal, Decimal]:
        """``(min_days, min_balance, min_invoices)``, as comparable numbers."""
        return (Decimal(self.min_days), self.min_balance, Decimal(self.min_invoices))


def _steps(value: object) -> tuple[LadderStep, ...]:
    out: tuple[Any, ...] = tuple(value)  # type: ignore[arg-type]
    for s in out:
        if not isinstance(s, LadderStep):
            raise InvalidArgument("steps", s, "LadderStep values")
    return out


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    out: tuple[Any, ...] = tuple(value)  # type: ignore[arg-type]
    for t in out:
        if not isinstance(t, str):
            raise InvalidArgument("clear", t, "trigger names (str)")
    return out


def _check_ladder(steps: Sequence[LadderStep]) -> list[Violation]:
    problems: list[Violation] = []
    if not steps:
        problems.append(Violation("empty-ladder", "a dunning ladder needs at least one step"))
        return problems
    first = steps[0]
    if first.min_balance == 0 and first.min_invoices == 0 and first.min_days == 0:
        problems.append(
            Violation(
                "never-clear",
                f"step 1 ({first.status!r}) requires nothing, so an account with any unpaid "
                "invoice is in dunning at once; give it min_days, min_balance or min_invoices",
            )
        )
    for i, (a, b) in enumerate(itertools.pairwise(steps), start=1):
        names = ("min_days", "min_balance", "min_invoices")
        lower = [n for n, x, y in zip(names, a.thresholds(), b.thresholds(), strict=True) if y < x]
        if lower:
            problems.append(
                Violation(
                    "not-monotone",
                    f"step {i + 1} ({b.status!r}) lowers {', '.join(lower)} below step {i} "
                    f"({a.status!r}); each step must ask at least as much as the one before",
                )
            )
        elif a.thresholds() == b.thresholds():
            problems.append(
                Violation(
                    "unreachable-step",
                    f"step {i} ({a.status!r}) can never be reached: step {i + 1} "
                    f"({b.status!r}) has the same thresholds and, being later, always wins",
                )
            )
    seen: dict[StatusRef, int] = {}
    for i, s in enumerate(steps, start=1):
        if s.status in seen:
            problems.append(
                Violation(
                    "duplicate-step",
                    f"step {i} repeats status {s.status!r} of step {seen[s.status]}",
                )
            )
        seen.setdefault(s.status, i)
    return problems


@attrs.frozen
class DunningLadder:
    """Ordered dunning steps; an account's step is the last one whose conditions hold.

    When no step holds (or the account owes nothing) the account is clear. Steps are
    climbed one at a time with the ``escalate`` trigger, starting from ``home``; a clear
    account in dunning is brought home with the ``clear`` triggers (tried in order, so a
    multi-hop payment path such as ``reinstate_back`` then ``complete_reinstatement``
    works). A lower but non-zero step leaves the account where it is: the graph only
    lets dunning advance or end.

    Args:
        steps: the steps, lowest first; thresholds never decrease.
        home: the status of an account in good standing.
        escalate: the trigger that moves one step down the ladder.
        clear: the triggers that bring a paid account back home.

    Raises:
        PolicyError: no steps, thresholds that decrease, a step that can never be
            reached, a step listed twice, or a first step that requires nothing.

    >>> DunningLadder([LadderStep(10, min_days=30), LadderStep(11, min_days=15)])
    Traceback (most recent call last):
    ...
    acctstate.errors.PolicyError: invalid automation policy (1 problem):
      - [not-monotone] step 2 (11) lowers min_days below step 1 (10); each step must ask at least as much as the one before
    """

    steps: tuple[LadderStep, ...] = attrs.field(converter=_steps)
    home: StatusRef = attrs.field(default="active", kw_only=True, validator=_status_ref)
    escalate: str = attrs.field(default="escalate_dunning", kw_only=True)
    clear: tuple[str, ...] = attrs.field(default=("settle",), kw_only=True, converter=_names)

    def __attrs_post_init__(self) -> None:
        problems = _check_ladder(self.steps)
        if problems:
            raise PolicyError(problems)

    def target(self, days: int | None, balance: Decimal, invoices: int) -> int:
        """The step (1-based) an account with these facts belongs on; 0 when clear."""
        if balance <= 0:
            return 0
        found = 0
        for i, step in enumerate(self.steps, start=1):
            if step.holds(days, balance, invoices):
                found = i
        return found


def reference_ladder() -> DunningLadder:
    """The ladder of the reference ISP workflow (status codes 10..13, -11..-13).

    Fifteen days per step from the first day past due: active dunning pending on day 1,
    dunning 1/2/3 on days 15/30/45, suspended dunning 1/2/3 on days 60/75/90. Clearing
    settles an active-dunning account and reinstates a suspended one through
    ``reinstate_back`` and ``complete_reinstatement``.

    >>> [s.status for s in reference_ladder().steps]
    [10, 11, 12, 13, -11, -12, -13]
    """
    days = (1, 15, 30, 45, 60, 75, 90)
    codes = (10, 11, 12, 13, -11, -12, -13)
    return DunningLadder(
        [
            LadderStep(c, min_days=d, min_balance=Decimal("0.01"))
            for c, d in zip(codes, days, strict=True)
        ],
        home="active",
        escalate="escalate_dunning",
        clear=("settle", "reinstate_back", "complete_reinstatement"),
    )
