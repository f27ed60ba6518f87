"""The automation's hold rules over a book held as columns, row for row the per-account
decisions of ``_holds``.

The holds are a second table beside the book, one row per standing hold, in placement
order per account: ``row`` (the account's row in the book), ``id``, ``type`` and
``until`` (``datetime64[ns]``, ``NaT`` for none).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from acctstate.operations.automation._book import _Book, _ns, _numpy
from acctstate.operations.automation._columns_plan import _plan
from acctstate.operations.automation._columns_run import _Run
from acctstate.operations.automation._holds import HoldAction
from acctstate.operations.automation._policy import RULES, AutomationPolicy
from acctstate.operations.holds._place import auto_hold_id
from acctstate.values.errors import InvalidArgument
from acctstate.values.holds import PLACE_HOLD, RELEASE_HOLD, Hold

__all__ = ["HoldDecisions", "hold_columns", "sweep_holds"]

_HOLD_COLUMNS = ("row", "id", "type", "until")


@attrs.frozen(eq=False)
class HoldDecisions:
    """The hold changes the column-wise sweep decided, one entry per change, sorted by
    row (then in the order they are made).

    Attributes:
        row: the account's row in the book.
        rule: indexes [`RULES`][acctstate.automation.RULES].
        place: whether it places a hold (else it releases one).
        hold: the hold's id.
        hold_type: the hold's type.
    """

    row: Any
    rule: Any
    place: Any
    hold: Any
    hold_type: Any

    def __len__(self) -> int:
        return len(self.row)

    def decisions(self) -> dict[int, list[HoldAction]]:
        """``row -> [(rule, trigger, hold id, hold type), ...]``."""
        out: dict[int, list[HoldAction]] = {}
        for row, rule, place, hid, htype in zip(
            self.row.tolist(),
            self.rule.tolist(),
            self.place.tolist(),
            self.hold.tolist(),
            self.hold_type.tolist(),
            strict=True,
        ):
            trigger = PLACE_HOLD if place else RELEASE_HOLD
            out.setdefault(row, []).append((RULES[rule], trigger, hid, htype))
        return out


def hold_columns(holds: Iterable[Sequence[Hold]]) -> dict[str, Any]:
    """The standing holds of a book's accounts (one sequence per row, in row order) as
    the columns [`sweep_columns`][acctstate.automation.sweep_columns] reads as ``holds=``.

    Raises:
        InvalidArgument: something other than a ``Hold`` among them.

    >>> import datetime as dt
    >>> from acctstate.holds import Hold
    >>> t0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    >>> cols = hold_columns([[], [Hold("H1", "credit", "credit", "billing", t0)]])
    >>> cols["row"].tolist(), cols["id"].tolist(), cols["until"].tolist()
    ([1], ['H1'], [None])
    """
    np = _numpy()
    rows: list[int] = []
    ids: list[str] = []
    types: list[str] = []
    until: list[int] = []
    nat = int(np.iinfo(np.int64).min)
    for i, standing in enumerate(holds):
        for h in standing or ():
            if not isinstance(h, Hold):
                raise InvalidArgument("holds", h, f"acctstate Hold values (row {i})")
            rows.append(i)
            ids.append(h.id)
            types.append(h.type)
            until.append(nat if h.until is None else _ns(h.until, "until"))
    return {
        "row": np.array(rows, dtype=np.int64),
        "id": _objects(np, ids),
        "type": _objects(np, types),
        "until": np.array(until, dtype=np.int64).view("datetime64[ns]"),
    }


def _objects(np: Any, values: list[Any]) -> Any:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _read(holds: Mapping[str, Any] | None, n: int) -> tuple[Any, Any, Any, Any]:
    np = _numpy()
    if holds is None:
        holds = hold_columns(())
    if not isinstance(holds, Mapping) or any(k not in holds for k in _HOLD_COLUMNS):
        raise InvalidArgument("holds", holds, f"a mapping of columns {', '.join(_HOLD_COLUMNS)}")
    row = np.asarray(holds["row"], dtype=np.int64)
    until = np.asarray(holds["until"])
    if until.dtype.kind != "M":
        raise InvalidArgument("holds['until']", until.dtype, "a datetime64 column (UTC)")
    until = until.astype("datetime64[ns]").view(np.int64)
    ids = np.asarray(holds["id"], dtype=object)
    types = np.asarray(holds["type"], dtype=object)
    if not (len(row) == len(until) == len(ids) == len(types)):
        raise InvalidArgument("holds", "columns of different lengths", "columns of one length")
    if row.size and (row.min() < 0 or row.max() >= n):
        raise InvalidArgument("holds['row']", int(row.max()), f"rows of the book (0..{n - 1})")
    return row, ids, types, until


def sweep_holds(
    book: _Book,
    holds: Mapping[str, Any] | None,
    by_class: dict[str | None, AutomationPolicy],
    now: dt.datetime,
    skip: Any,
) -> HoldDecisions:
    """The hold changes of every row (rows in ``skip``, which could not be planned, none).

    Raises:
        InvalidArgument: hold columns missing, of different lengths, naive, or naming
            rows the book does not have.
    """
    np = book.np
    n = book.n
    row, ids, types, until = _read(holds, n)
    now_ns = _ns(now)
    nat = book.nat
    # Which policy each row takes, as the status sweep picks it.
    policy_rows: list[tuple[AutomationPolicy, Any]] = []
    classes = book.cols.get("account_class")
    claimed = np.zeros(n, dtype=bool)
    for cls, p in sorted(by_class.items(), key=lambda kv: kv[0] is None):
        if cls is None:
            mine = ~claimed
        else:
            mine = (
                np.zeros(n, dtype=bool)
                if classes is None
                else np.asarray(classes == cls, dtype=bool)
            )
            claimed |= mine
        if p.enabled:
            policy_rows.append((p, mine & ~np.isin(np.arange(n), skip)))
    # (row, phase, position, rule, place, id, type): phase 0 expiry, 1 the credit hold.
    out: list[tuple[int, int, int, int, bool, str, str]] = []
    expired = (until != nat) & (until <= now_ns)
    expiry = RULES.index("hold_expiry")
    for p, mine in policy_rows:
        on = mine[row] if row.size else np.zeros(0, dtype=bool)
        for k in np.flatnonzero(on & expired).tolist():
            out.append((int(row[k]), 0, k, expiry, False, ids[k], types[k]))
        credit = p.credit_hold
        if credit is None or credit.hold is None:
            continue
        mine_hold = on & ~expired & (types == credit.hold)
        has = np.zeros(n, dtype=bool)
        has[row[mine_hold]] = True
        run = _Run(_plan(p), book, now)
        owed = run.bal
        releasing = np.full(n, -1, dtype=np.int64)
        if credit.auto_remove:
            releasing[mine & has & (owed <= 0)] = RULES.index("credit_hold_removal")
        candidates = np.flatnonzero(mine & has & (releasing < 0) & (owed > 0))
        if candidates.size:
            covered = run._released(candidates)
            releasing[candidates[covered]] = RULES.index("credit_hold_release")
        for k in np.flatnonzero(mine_hold & (releasing[row] >= 0)).tolist():
            r = int(row[k])
            out.append((r, 1, k, int(releasing[r]), False, ids[k], types[k]))
        if credit.past_due_days is not None:
            free = np.flatnonzero(mine & ~has)
            if free.size:
                due = run.wants("credit_hold", free, None)
                hid = auto_hold_id(credit.hold, now)
                rule = RULES.index("credit_hold")
                for r in free[due].tolist():
                    out.append((int(r), 1, -1, rule, True, hid, credit.hold))
    out.sort(key=lambda e: (e[0], e[1], e[2]))
    return HoldDecisions(
        row=np.array([e[0] for e in out], dtype=np.int64),
        rule=np.array([e[3] for e in out], dtype=np.int64),
        place=np.array([e[4] for e in out], dtype=bool),
        hold=_objects(np, [e[5] for e in out]),
        hold_type=_objects(np, [e[6] for e in out]),
    )
