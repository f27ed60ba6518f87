"""One column-wise sweep of one policy over some rows: each round evaluates the rules
for the rows still moving, looks the destinations up per trigger and guard, and moves
them; rows that did not move are done."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from acctstate.operations.automation._book import _Book, _ns
from acctstate.operations.automation._columns_plan import _ROW_WISE, _Plan
from acctstate.operations.automation._invoice_columns import dunning_columns
from acctstate.operations.automation._policy import RULES
from acctstate.values.errors import InvalidArgument
from acctstate.values.guards import Guard, GuardContext

__all__: list[str] = []


class _Run:
    """One column-wise sweep of one policy over some rows."""

    def __init__(self, plan: _Plan, book: _Book, now: dt.datetime) -> None:
        self.plan = plan
        self.book = book
        self.np = book.np
        self.now = now
        self.now_ns = _ns(now)
        policy = plan.c.policy
        self.policy = policy
        self.scale = book.scale
        self.bal, self.inv, self.dpd_ok, self.dpd = dunning_columns(book, self.now_ns)
        self.target = self._target()

    def _limit(self, amount: Decimal, *, ceil: bool) -> int:
        minor = amount.scaleb(self.scale)
        whole = int(minor.to_integral_value(rounding="ROUND_CEILING" if ceil else "ROUND_FLOOR"))
        return whole

    def _target(self) -> Any:
        np = self.np
        ladder = self.policy.ladder
        target = np.zeros(self.book.n, dtype=np.int8)
        if ladder is None:
            return target
        # Thresholds never decrease along the ladder (checked when it was built), so a
        # step holds exactly when it is within the count of thresholds each fact meets:
        # the step is the smallest of the three counts.
        k = len(ladder.steps)
        target[(self.bal > 0) & self.dpd_ok] = k
        dims = (
            (self.dpd, [s.min_days for s in ladder.steps]),
            (self.bal, [self._limit(s.min_balance, ceil=True) for s in ladder.steps]),
            (self.inv, [s.min_invoices for s in ladder.steps]),
        )
        for values, limits in dims:
            if limits[-1] <= 0 and values is not self.dpd:
                continue  # every step's threshold is met by any account that owes
            count = np.zeros(self.book.n, dtype=np.int8)
            for limit in sorted(set(limits)):
                count += (values >= limit).view(np.int8) * limits.count(limit)
            np.minimum(target, count, out=target)
        return target

    def _size(self, rows: Any) -> int:
        return self.book.n if isinstance(rows, slice) else len(rows)

    def _due(self, name: str, rows: Any) -> Any:
        col = self.book.date(name)
        if col is None:
            return self.np.zeros(self._size(rows), dtype=bool)
        t = col[rows]
        return (t != self.book.nat) & (self.now_ns >= t)

    def _released(self, rows: Any) -> Any:
        np = self.np
        hold = self.policy.credit_hold
        assert hold is not None
        ids = [r.account_id for r in hold.releases if r.covers(self.now)]
        if not ids:
            return np.zeros(self._size(rows), dtype=bool)
        col = self.book.cols.get("id")
        if col is None:
            raise InvalidArgument("columns", "no 'id'", "an 'id' column for hold releases")
        return np.isin(col[rows], np.array(ids, dtype=object))

    def _days_in(self, rows: Any, days: int) -> Any:
        since = self.since_all[rows]
        today = self.book.local_days(self.now_ns, rows)
        return (since != self.book.nat) & (today - self.book.local_days(since, rows) >= days)

    def wants(self, rule: str, rows: Any, s: Any) -> Any:
        p = self.policy
        if rule == "dunning":
            return self.target[rows] > self.plan.pos[s]
        if rule == "dunning_clear":
            return self.target[rows] == 0
        if rule == "trial_end":
            return self._due("trial_ends_at", rows)
        if rule == "activation":
            return self._due("activated_at", rows)
        if rule == "contract_expiry":
            return self._due("contract_ends_at", rows)
        if rule == "expiration":
            due = self._due("expires_at", rows)
            first = self.book.date("first_used_at")
            days = self.book.integer("availability_days", -1)
            if first is not None and days is not None:
                f, d = first[rows], days[rows]
                today = self.book.local_days(self.now_ns, rows)
                due |= (
                    (f != self.book.nat) & (d >= 0) & (today - self.book.local_days(f, rows) >= d)
                )
            return due
        if rule == "archive":
            return self._days_in(rows, p.archive_after_days)
        hold = p.credit_hold
        assert hold is not None
        bal = self.bal[rows]
        if rule == "credit_hold_removal":
            return bal <= 0
        if rule == "credit_hold_release":
            return (bal > 0) & self._released(rows)
        if rule == "credit_hold_return":
            return (bal > 0) & ~self._released(rows)
        if rule == "credit_hold_inactive":
            assert hold.inactive_after_days is not None
            return self._days_in(rows, hold.inactive_after_days)
        if rule == "credit_hold":
            assert hold.past_due_days is not None
            return (
                self.dpd_ok[rows]
                & (self.dpd[rows] >= hold.past_due_days)
                & (bal > 0)
                & (bal >= self._limit(hold.min_past_due, ceil=True))
                & ~self._released(rows)
            )
        raise AssertionError(rule)  # pragma: no cover

    def guard(self, g: Guard, rows: Any, s: Any) -> Any:
        np = self.np
        args = g.kwargs
        name = g.name
        if name == "all_of" or name == "any_of":
            parts = [self.guard(h, rows, s) for h in args["guards"]]
            out = np.ones(len(rows), dtype=bool) if name == "all_of" else np.zeros(len(rows), bool)
            for m in parts:
                out = (out & m) if name == "all_of" else (out | m)
            return out
        if name == "not_":
            return ~self.guard(args["guard"], rows, s)
        if name == "balance_settled":
            col = self.book.amount(args.get("attr", "balance"))
            if col is None:
                return np.zeros(len(rows), dtype=bool)
            tol = args.get("tolerance", Decimal(0))
            return col[rows] <= self._limit(tol, ceil=False)
        if name == "has_payment_method":
            flag = self.book.flag(args.get("attr", "payment_method"))
            return np.zeros(len(rows), dtype=bool) if flag is None else flag[rows]
        if name == "days_in_status":
            attr = args.get("attr", "status_since")
            col = self.since_all if attr == "status_since" else self.book.date(attr)
            if col is None:
                return np.zeros(len(rows), dtype=bool)
            col = col[rows]
            days = self.book.local_days(self.now_ns, rows) - self.book.local_days(col, rows)
            return (col != self.book.nat) & (days >= args["days"])
        if name == "period_ended":
            return self._due(args.get("attr", "period_end"), rows)
        if name == "has_permission":
            return np.full(len(rows), self.policy.actor.can(args["permission"]), dtype=bool)
        return self._guard_rows(g, rows, s)

    def _guard_rows(self, g: Guard, rows: Any, s: Any) -> Any:
        since = self.since_all[rows]
        # A guard with no column-wise form: ask it row by row, as the per-account sweep.
        np = self.np
        out = np.zeros(len(rows), dtype=bool)
        attr = self.policy.workflow.status_attr
        for i, (row, si, when) in enumerate(
            zip(rows.tolist(), s.tolist(), since.tolist(), strict=False)
        ):
            view = _RowView(self.book, row, int(self.plan.codes[si]), when, attr)
            out[i] = g(GuardContext(view, self.now, self.policy.actor)) is None
        return out

    def fire(self, trigger: str, rows: Any, s: Any) -> Any:
        """Destination status positions (-1: no edge passed), as the table answers."""
        np = self.np
        dest: Any = None
        for free, guarded, edge_at, dest_at in self.plan.fire[trigger]:
            if dest is None:
                idx = None
                ss = s
                dest = free[s]
            else:
                idx = np.flatnonzero(dest < 0)
                if not idx.size:
                    break
                ss = s[idx]
                dest[idx] = free[ss]
            gi = np.flatnonzero(guarded[ss])
            if not gi.size:
                continue
            e = edge_at[ss[gi]]
            for index in np.flatnonzero(np.bincount(e)).tolist():
                sel = gi[e == index]
                at = sel if idx is None else idx[sel]
                ok = np.ones(len(sel), dtype=bool)
                for g in self.plan.edges[index].guards:
                    ok &= self.guard(g, rows[at], s[at])
                dest[at[ok]] = dest_at[ss[sel[ok]]]
        assert dest is not None
        return dest

    def run(self, eligible: Any, status_pos: Any, since_all: Any) -> tuple[list[Any], ...]:
        """Move rows to the fixed point, a round (hop) at a time.

        The first round takes every row of the book with full-length masks (most rows
        of a real book are eligible, and a mask beats gathering them by index); later
        rounds take only the rows that moved, by index. ``eligible`` masks the rows of
        this policy with a known status (``None``: all of them).
        """
        np = self.np
        self.since_all = since_all
        plan = self.plan
        changes: list[tuple[Any, ...]] = []
        blocked: list[tuple[Any, ...]] = []
        errors: list[Any] = []
        rules = [r for r in RULES if r in plan.rule_triggers]
        trig_index = {t: i for i, t in enumerate(plan.triggers)}
        limit = 2 * len(plan.codes) + 1
        # ``active`` maps positions of this round to rows; ``None`` is every row.
        active: Any = None
        s = status_pos
        m = self.book.n
        hop = 0
        while m:
            if hop == limit:
                errors.append(active)
                break
            decided = np.zeros(m, dtype=bool)
            any_decided = False
            # Only read where ``decided``: no need to fill.
            f_rule = np.empty(m, dtype=np.int8)
            f_trig = np.empty(m, dtype=np.int16)
            f_dest = np.empty(m, dtype=np.int64)
            round_blocked: list[tuple[Any, int, Any]] = []
            for rule in rules:
                rid = RULES.index(rule)
                triggers = plan.rule_triggers[rule]
                cand = plan.rule_mask[rule][s]
                if active is None and eligible is not None:
                    cand &= eligible
                if any_decided:
                    cand &= ~decided
                many = np.count_nonzero(cand)
                if not many:
                    continue
                rows_all = slice(None) if active is None else active
                if many * 4 > m and rule not in _ROW_WISE:
                    # Most rows are candidates: ask the rule over every row at once.
                    cand &= self.wants(rule, rows_all, s)
                    pos = np.flatnonzero(cand)
                else:
                    pos = np.flatnonzero(cand)
                    rows = pos if active is None else active[pos]
                    pos = pos[self.wants(rule, rows, s[pos])]
                if not pos.size:
                    continue
                sp = s[pos]
                first = np.full(len(pos), -1, dtype=np.int64)
                open_ = np.ones(len(pos), dtype=bool)
                for t in triggers:
                    has = plan.applies[(rule, t)][sp]
                    first[(first < 0) & has] = trig_index[t]
                    sel = np.flatnonzero(open_ & has)
                    if not sel.size:
                        continue
                    p = pos[sel]
                    d = self.fire(t, p if active is None else active[p], sp[sel])
                    ok = d >= 0
                    hit = p[ok]
                    f_rule[hit] = rid
                    f_trig[hit] = trig_index[t]
                    f_dest[hit] = d[ok]
                    decided[hit] = True
                    any_decided = True
                    open_[sel[ok]] = False
                if open_.any():
                    round_blocked.append((pos[open_], rid, first[open_]))
            for p, rid, first in round_blocked:
                keep = ~decided[p]
                if keep.any():
                    kept = p[keep]
                    blocked.append(
                        (
                            kept if active is None else active[kept],
                            np.full(len(kept), rid),
                            first[keep],
                        )
                    )
            moved = np.flatnonzero(decided)
            rows_moved = moved if active is None else active[moved]
            dest = f_dest[moved]
            changes.append(
                (
                    rows_moved,
                    np.full(len(moved), hop),
                    f_rule[moved],
                    f_trig[moved],
                    plan.codes[s[moved]],
                    plan.codes[dest],
                )
            )
            status_pos[rows_moved] = dest
            since_all[rows_moved] = self.now_ns
            active = rows_moved
            s = dest
            m = len(moved)
            hop += 1
        return changes, blocked, errors


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
