"""Invoices held as a long table, for the column-wise sweep: the daily auto-apply and the
past-due facts of every account at once.

The table has one row per open invoice:

==========  ==============================================================================
``account`` the row of its account in the book (int)
``due``     its due date: ``datetime64[D]`` or ``datetime.date`` objects (a calendar day
            in the account's billing time zone), or instants (``datetime64[ns]`` UTC,
            timezone-aware pandas, aware ``datetime`` objects: their calendar day there)
``open``    its open balance: integer minor units (``scale`` decimals) or ``Decimal``
            objects (float is refused)
``issued``  optional: when it was issued (instants as above); later ones are ignored
==========  ==============================================================================

The book may carry ``unapplied``: each account's unapplied payments and credits (minor
units or ``Decimal``). With a policy's ``auto_apply`` they go to the account's open
invoices oldest first (by due date, then time of issue, then table order), exactly as
the per-account auto-apply does; the facts are read after it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from acctstate.operations.automation._book import (
    _as_arrays,
    _Book,
    _is_missing,
    _minor,
    _ns,
)
from acctstate.operations.automation._policy import AutomationPolicy
from acctstate.values.clock import require_aware
from acctstate.values.errors import InvalidArgument

__all__: list[str] = []

# Internal book columns the facts travel in (so chunks of the book slice them too).
DAYS = "_days_past_due"


def _auto_rows(book: _Book, by_class: dict[str | None, AutomationPolicy]) -> Any:
    """Rows whose (enabled) policy runs the daily auto-apply, resolved as the sweep
    resolves a row's policy: its class's, else the policy without a class."""
    np = book.np
    classes = book.cols.get("account_class")
    out = np.zeros(book.n, dtype=bool)
    claimed = np.zeros(book.n, dtype=bool)
    for cls, p in sorted(by_class.items(), key=lambda kv: kv[0] is None):
        if cls is None:
            mine = ~claimed
        elif classes is None:
            continue
        else:
            mine = np.asarray(classes == cls, dtype=bool)
            claimed |= mine
        if p.enabled and p.auto_apply:
            out |= mine
    return out


def _instants(np: Any, arr: Any, name: str) -> Any:
    """int64 ns of instants (NaT as the int64 minimum)."""
    nat = int(np.iinfo(np.int64).min)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ns]", copy=False).view(np.int64)
    if arr.dtype.kind == "O":
        return np.fromiter(
            (nat if _is_missing(v) else _ns(require_aware(v, name), name) for v in arr.tolist()),
            dtype=np.int64,
            count=len(arr),
        )
    raise InvalidArgument(name, arr.dtype, "instants (datetime64, aware pandas or datetime)")


def _due_days(book: _Book, arr: Any, acct: Any) -> Any:
    """The local calendar day number of each due date (days since 1970-01-01)."""
    np = book.np
    if arr.dtype.kind == "M" and np.datetime_data(arr.dtype)[0] == "D":
        return arr.view(np.int64)
    if arr.dtype.kind == "O":
        values = arr.tolist()
        days = np.empty(len(values), dtype=np.int64)
        instants: list[int] = []
        at: list[int] = []
        epoch = dt.date(1970, 1, 1)
        for i, v in enumerate(values):
            if isinstance(v, dt.datetime):
                instants.append(_ns(require_aware(v, "due"), "due"))
                at.append(i)
            elif isinstance(v, dt.date):
                days[i] = (v - epoch).days
            else:
                raise InvalidArgument("due", v, "a date or an aware datetime on every invoice")
        if at:
            idx = np.asarray(at, dtype=np.int64)
            days[idx] = book.local_days(np.asarray(instants, dtype=np.int64), acct[idx])
        return days
    ns = _instants(np, arr, "due")
    if (ns == np.iinfo(np.int64).min).any():
        raise InvalidArgument("due", "a missing due date", "a due date on every invoice")
    return book.local_days(ns, acct)


def _oldest_first(np: Any, a: Any, d: Any, issued: Any, ids: Any = None) -> Any:
    """The order of invoices by account, then due day, then issue, then invoice id (as
    the per-account allocation orders them; without an ``id`` column, table order)."""
    if ids is not None:
        return np.lexsort([ids, d, a] if issued is None else [ids, issued, d, a])
    if issued is None and len(a):
        lo, hi = int(d.min()), int(d.max())
        span = hi - lo + 1
        if int(a.max()) < (1 << 62) // span:
            # One int64 key sorts faster than lexsort's passes; the sort is stable.
            return np.argsort(a * span + (d - lo), kind="stable")
    # lexsort is stable too: ties keep table order.
    return np.lexsort([d, a] if issued is None else [issued, d, a])


def invoice_facts(
    book: _Book,
    invoices: Any,
    now: dt.datetime,
    auto: Any,
) -> tuple[dict[str, Any], Any, Any]:
    """The past-due facts of every row from the invoice table, after the auto-apply of
    the rows in ``auto``.

    Returns:
        ``(columns, invoice rows, amounts)``: the book columns ``past_due_balance``,
        ``past_due_invoices`` and the days past due; and one entry per allocation (the
        invoice's row in the table, the amount in minor units), oldest first per row.
    """
    np = book.np
    raw = _as_arrays(invoices)
    for need in ("account", "due", "open"):
        if need not in raw:
            raise InvalidArgument("invoices", sorted(raw), f"an {need!r} column")
    acct = np.asarray(raw["account"])
    if acct.dtype.kind not in "iu":
        raise InvalidArgument("invoices.account", acct.dtype, "int rows of the book")
    acct = acct.astype(np.int64, copy=False)
    m = len(acct)
    if m and (acct.min() < 0 or acct.max() >= book.n):
        raise InvalidArgument("invoices.account", "a row outside the book", f"rows 0..{book.n - 1}")
    cols = {k: np.asarray(v) for k, v in raw.items()}
    for k, v in cols.items():
        if len(v) != m:
            raise InvalidArgument(f"invoices.{k}", len(v), f"a column of {m} rows, as 'account'")
    open_ = cols["open"]
    if open_.dtype.kind in "iu":
        open_ = open_.astype(np.int64, copy=False)
    elif open_.dtype.kind == "O":
        open_ = np.fromiter(
            (_minor(v, "invoices.open", book.scale) for v in open_), dtype=np.int64, count=m
        )
    else:
        raise InvalidArgument("invoices.open", open_.dtype, "minor units or Decimal objects")
    if m and open_.min() < 0:
        raise InvalidArgument("invoices.open", int(open_.min()), "open balances of at least 0")
    now_ns = _ns(now)
    due = _due_days(book, cols["due"], acct)
    issued = None
    if "issued" in cols:
        issued = _instants(np, cols["issued"], "invoices.issued")
        # Not issued yet (or no date): not open as of now.
        left = np.where((issued != np.iinfo(np.int64).min) & (issued <= now_ns), open_, 0)
    else:
        left = open_.copy()
    unapplied = book.amount("unapplied")
    given_rows = np.empty(0, dtype=np.int64)
    given_amounts = np.empty(0, dtype=np.int64)
    if unapplied is not None:
        funds = np.where(auto, np.maximum(unapplied, 0), 0)
        # Only the invoices of accounts with funds to apply need ordering.
        rows = np.flatnonzero((funds[acct] > 0) & (left > 0))
        if rows.size:
            a, o, d = acct[rows], left[rows], due[rows]
            order = _oldest_first(
                np,
                a,
                d,
                None if issued is None else issued[rows],
                None if "id" not in cols else cols["id"].astype(str)[rows],
            )
            rows, a, o = rows[order], a[order], o[order]
            # Open balances of the older invoices of the same account, before each one.
            before = np.cumsum(o) - o
            first = np.ones(len(a), dtype=bool)
            first[1:] = a[1:] != a[:-1]
            before -= np.maximum.accumulate(np.where(first, before, 0))
            take = np.minimum(np.maximum(funds[a] - before, 0), o)
            left[rows] -= take
            paid = take > 0
            given_rows, given_amounts = rows[paid], take[paid]
    # One number when every row counts days in UTC, else one per row.
    today = np.broadcast_to(book.local_days(now_ns), (book.n,))
    # One billing zone (the common case): one calendar day for every invoice.
    same_day = len(book.zones()) == 1 and book.n > 0
    late = (left > 0) & (due < (today[0] if same_day else today[acct]))
    who, amount, when = acct[late], left[late], due[late]
    balance = np.zeros(book.n, dtype=np.int64)
    np.add.at(balance, who, amount)
    count = np.bincount(who, minlength=book.n).astype(np.int64, copy=False)
    oldest = np.full(book.n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(oldest, who, when)
    days = np.where(count > 0, today - np.where(count > 0, oldest, 0), 0)
    out = {"past_due_balance": balance, "past_due_invoices": count, DAYS: days}
    return out, given_rows, given_amounts


def dunning_columns(book: _Book, now_ns: int) -> tuple[Any, Any, Any, Any]:
    """``(amount, invoices, has days, days past due)`` per row: from the invoice facts
    (or the host's ``past_due_balance`` / ``oldest_past_due`` / ``past_due_invoices``
    columns) when the book has them, else from ``balance`` / ``oldest_unpaid_at`` /
    ``unpaid_invoices``, as ``dunning_facts`` reads an account."""
    np = book.np
    n = book.n
    given = "past_due_balance" in book.cols
    bal = book.amount("past_due_balance" if given else "balance")
    bal = np.zeros(n, dtype=np.int64) if bal is None else bal
    inv = book.integer("past_due_invoices" if given else "unpaid_invoices", 0)
    inv = np.zeros(n, dtype=np.int64) if inv is None else inv
    days = book.cols.get(DAYS)
    if given and days is not None:
        return bal, inv, bal > 0, days.astype(np.int64, copy=False)
    oldest = book.date("oldest_past_due" if given else "oldest_unpaid_at")
    if oldest is None:
        return bal, inv, np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
    return bal, inv, oldest != book.nat, book.local_days(now_ns) - book.local_days(oldest)
