"""The column-wise sweep's reading of the dunning ladder: the step each row of a book
belongs on, and one row of the book as an object for what is asked row by row."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from acctstate.operations.automation._book import _Book, _is_missing
from acctstate.operations.automation._columns_plan import _met, _minor_limit, _Plan
from acctstate.operations.automation._ladder import condition_of
from acctstate.values.account import tag_names
from acctstate.values.errors import InvalidArgument

__all__: list[str] = []


def ladder_steps(
    book: _Book, plan: _Plan, facts: tuple[Any, Any, Any, Any], now: dt.datetime, faults: list[Any]
) -> Any:
    """The ladder step each row belongs on (int8; 1-based, climbing order): 0 when
    clear, -3 where the row owes past due below every step, -2 where enforcement is off,
    0 for every row without a ladder.

    Args:
        book: the rows.
        plan: the policy's column-wise form.
        facts: ``(amount, invoices, has days, days past due)`` per row.
        now: the sweep's instant (for host conditions).
        faults: where rows with bad facts (the per-account sweep's errors) are added.
    """
    np = book.np
    ladder = plan.c.policy.ladder
    target = np.zeros(book.n, dtype=np.int8)
    if ladder is None:
        return target
    bal, inv, dpd_ok, dpd = facts
    owing = (bal > 0) & dpd_ok
    k = len(ladder.steps)
    if plan.extended:
        _steps_by_row(book, plan, facts, now, faults, target, owing)
    elif ladder.order == "first_match":
        # Most severe first: a row takes the first step that holds.
        free = owing.copy()
        for i, step in enumerate(ladder.steps):
            hit = (
                free
                & (dpd >= step.min_days)
                & (bal >= _minor_limit(step.min_balance, book.scale, True))
                & (inv >= step.min_invoices)
            )
            target[hit] = k - i
            free &= ~hit
    else:
        # Thresholds never decrease along the ladder (checked when it was built), so
        # a step holds exactly when it is within the count of thresholds each fact
        # meets: the step is the smallest of the three counts. A count of none is
        # -3 (owing past due, but below every step: not clear, the per-account
        # sweep's BELOW), the smallest whatever the other counts.
        target = None
        dims = (
            (dpd, [s.min_days for s in ladder.steps]),
            (bal, [_minor_limit(s.min_balance, book.scale, True) for s in ladder.steps]),
            (inv, [s.min_invoices for s in ladder.steps]),
        )
        for values, limits in dims:
            if values is not dpd and limits[-1] <= (1 if values is bal else 0):
                # Every step's threshold is met by any account that owes (it owes at
                # least one minor unit).
                continue
            met = _met(np, values, limits, -3)
            target = met if target is None else np.minimum(target, met, out=target)
        # Rows that do not owe past due: clear.
        np.multiply(target, owing.view(np.int8), out=target)
    if ladder.extended or ladder.order == "first_match":
        # Owing past due, but below every step: not clear (the per-account sweep's BELOW).
        target[owing & (target == 0)] = -3
    tags = book.cols.get("control_tags")
    if ladder.enforcement_off is not None and tags is not None:
        off = ladder.enforcement_off
        for row in np.flatnonzero(tags != None).tolist():  # noqa: E711
            have = tags[row]
            if _is_missing(have):
                continue
            try:
                if off in tag_names(have):
                    target[row] = -2
            except InvalidArgument:
                faults.append(np.array([row], dtype=np.int64))
    return target


def _steps_by_row(
    book: _Book,
    plan: _Plan,
    facts: tuple[Any, Any, Any, Any],
    now: dt.datetime,
    faults: list[Any],
    target: Any,
    owing: Any,
) -> None:
    """Steps with tags, failure reasons or host predicates: ask the ladder per row
    that owes (the per-account sweep's own evaluation)."""
    ladder = plan.c.policy.ladder
    assert ladder is not None
    bal, inv, _, dpd = facts
    tags = book.cols.get("control_tags")
    failure = book.cols.get("last_payment_failure")
    for row in book.np.flatnonzero(owing).tolist():
        view = _RowView(book, row, 0, book.nat, "")
        t = None if tags is None else tags[row]
        f = None if failure is None else failure[row]
        try:
            target[row] = ladder.target(
                int(dpd[row]),
                Decimal(int(bal[row])).scaleb(-book.scale),
                int(inv[row]),
                tags=() if t is None or _is_missing(t) else t,
                failure=None if f is None or _is_missing(f) else f,
                host=lambda name, v=view: condition_of(name)(v, now),  # type: ignore[misc]
            )
        except InvalidArgument:
            # Bad facts (tags that are not names): the per-account sweep reports the
            # account as an error, and so does this one.
            faults.append(book.np.array([row], dtype=book.np.int64))


class _RowView:
    """One row of the book as an object, for guards without a column-wise form."""

    __slots__ = ("_attr", "_book", "_code", "_row", "_since")

    def __init__(self, book: _Book, row: int, code: int, since: int, attr: str) -> None:
        self._book = book
        self._row = row
        self._code = code
        self._since = since
        self._attr = attr

    def __getattr__(self, name: str) -> Any:
        if name == self._attr:
            return self._code
        return self._book.value(name, self._row, self._since)
