"""The checks a dunning ladder passes when it is built: steps that nest (``last_holding``),
steps that can be reached (``first_match``: no step listed before one holds whenever it
does), no step twice, registered host conditions, and a final cancellation the ladder
declares."""

from __future__ import annotations

import itertools
from collections.abc import Collection
from typing import TYPE_CHECKING

from acctstate.values.catalog import StatusRef
from acctstate.values.errors import Violation, closest

if TYPE_CHECKING:  # pragma: no cover - the ladder module imports this one
    from acctstate.operations.automation._ladder import DunningLadder, LadderStep

__all__ = ["check_ladder"]


def _shadows(a: LadderStep, b: LadderStep) -> bool:
    """Whether ``a`` holds whenever ``b`` does (its every condition is implied by b's)."""
    return (
        all(x <= y for x, y in zip(a.thresholds(), b.thresholds(), strict=True))
        and a.with_tags <= b.with_tags
        and a.without_tags <= b.without_tags
        and (
            a.failure_reasons is None
            or (b.failure_reasons is not None and b.failure_reasons <= a.failure_reasons)
        )
        and (a.condition is None or a.condition == b.condition)
    )


def check_ladder(ladder: DunningLadder, conditions: Collection[str]) -> list[Violation]:
    """Every problem of ``ladder`` (``conditions``: the registered host condition names)."""
    steps = ladder.steps
    problems: list[Violation] = []
    if not steps:
        problems.append(Violation("empty-ladder", "a dunning ladder needs at least one step"))
        return problems
    climb = ladder.climb
    n = len(steps)

    def num(s: LadderStep) -> int:  # the step's number in climbing order
        return climb.index(s) + 1

    first = climb[0]
    if (
        first.min_balance == 0
        and first.min_invoices == 0
        and first.min_days == 0
        and not first.extended
    ):
        problems.append(
            Violation(
                "never-clear",
                f"step {num(first)} ({first.status!r}) requires nothing, so an account with any "
                "unpaid invoice is in dunning at once; give it min_days, min_balance or "
                "min_invoices",
            )
        )
    if ladder.order == "last_holding":
        for i, (a, b) in enumerate(itertools.pairwise(steps), start=1):
            names = ("min_days", "min_balance", "min_invoices")
            lower = [
                m for m, x, y in zip(names, a.thresholds(), b.thresholds(), strict=True) if y < x
            ]
            if lower:
                problems.append(
                    Violation(
                        "not-monotone",
                        f"step {i + 1} ({b.status!r}) lowers {', '.join(lower)} below step {i} "
                        f"({a.status!r}); each step must ask at least as much as the one "
                        "before (or use order='first_match', most severe step first)",
                    )
                )
            elif a.thresholds() == b.thresholds() and _shadows(b, a):
                problems.append(
                    Violation(
                        "unreachable-step",
                        f"step {i} ({a.status!r}) can never be reached: step {i + 1} "
                        f"({b.status!r}) has the same thresholds and, being later, always wins",
                    )
                )
    else:
        # Listed most severe first; the first step that holds wins. A step is reachable
        # exactly when its least facts satisfy no step listed before it (the conditions
        # are lower bounds, so those facts are the hardest case for the earlier steps).
        for j, b in enumerate(steps):
            for a in steps[:j]:
                if _shadows(a, b):
                    problems.append(
                        Violation(
                            "unreachable-step",
                            f"step {num(b)} ({b.status!r}) can never be reached: whenever it "
                            f"holds, step {num(a)} ({a.status!r}), listed before it, holds "
                            f"too (counter-example: {b.facts()} matches {a.status!r} first)",
                        )
                    )
                    break
    seen: dict[StatusRef, int] = {}
    for s in climb:
        i = num(s)
        if s.status in seen:
            problems.append(
                Violation(
                    "duplicate-step",
                    f"step {i} repeats status {s.status!r} of step {seen[s.status]}",
                )
            )
        seen.setdefault(s.status, i)
    for s in climb:
        if s.condition is not None and s.condition not in conditions:
            near = closest(s.condition, conditions)
            hint = f"; did you mean {', '.join(repr(x) for x in near)}?" if near else ""
            problems.append(
                Violation(
                    "unknown-condition",
                    f"step {num(s)} ({s.status!r}) names condition {s.condition!r}, which is "
                    f"not registered (register_ladder_condition){hint}",
                )
            )
    cancels = [s for s in climb if s.cancel is not None]
    for s in cancels:
        if num(s) != n:
            problems.append(
                Violation(
                    "cancellation-not-final",
                    f"step {num(s)} ({s.status!r}) cancels the account, but only the most "
                    "severe step may",
                )
            )
    if cancels and not ladder.ends_in_cancellation:
        problems.append(
            Violation(
                "implicit-cancellation",
                f"step {num(cancels[0])} ({cancels[0].status!r}) cancels the account; say so "
                "with ends_in_cancellation=True",
            )
        )
    if ladder.ends_in_cancellation and climb[-1].cancel is None:
        problems.append(
            Violation(
                "no-cancellation",
                f"the ladder ends in cancellation, but its most severe step "
                f"({climb[-1].status!r}) has no cancel=LadderCancellation(...)",
            )
        )
    return problems
