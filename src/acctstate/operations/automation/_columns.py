"""The column-wise sweep: the same rules over a book of accounts held as columns.

The per-account sweep walks one object at a time; this module takes the book as arrays
(a dict of NumPy arrays, a pandas DataFrame or an Arrow table, see ``_book``) and decides
every row at once with NumPy, firing through the workflow's compiled table: each round
evaluates the rules for the rows still moving, looks the destinations up per trigger and
guard, and moves them; rows that did not move are done. The decisions are the
per-account sweep's, row for row (a property test holds the two together).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs

from acctstate.operations.automation._book import _DAY, _Book, _ns, _numpy
from acctstate.operations.automation._policy import RULES, AutomationPolicy
from acctstate.operations.automation._rules import Compiled, compiled
from acctstate.operations.automation._sweep import _policies
from acctstate.values.actors import Actor
from acctstate.values.clock import require_aware
from acctstate.values.errors import InvalidArgument
from acctstate.values.guards import Guard, GuardContext

__all__ = ["ColumnarSweep", "sweep_columns"]


# -- the compiled, column-wise form of a policy -------------------------------------------


class _Plan:
    """A policy and its workflow's table as arrays indexed by status position."""

    def __init__(self, c: Compiled) -> None:
        np = _numpy()
        self.c = c
        policy = c.policy
        codes = sorted(c.by_code)
        self.codes = np.array(codes, dtype=np.int64)
        index = {code: i for i, code in enumerate(codes)}
        k = len(codes)
        self.rule_triggers: dict[str, tuple[str, ...]] = {}
        self.applies: dict[tuple[str, str], Any] = {}
        for code, rules in c.rules.items():
            for r in rules:
                rule, triggers = r.name, r.triggers
                known = self.rule_triggers.setdefault(rule, ())
                for t in triggers:
                    if t not in known:
                        known = (*known, t)
                    mask = self.applies.setdefault((rule, t), np.zeros(k, dtype=bool))
                    mask[index[code]] = True
                self.rule_triggers[rule] = known
        # Keep each rule's triggers in the order the per-account sweep tries them.
        for rule, ts in self.rule_triggers.items():
            order = _trigger_order(policy, rule)
            self.rule_triggers[rule] = tuple(sorted(ts, key=order.index))
        self.triggers = tuple(sorted({t for ts in self.rule_triggers.values() for t in ts}))
        # Per trigger, one level per candidate edge of a source (in table order); each
        # level as arrays by status position: the destination when the edge needs no
        # guard (-1 otherwise), whether it has guards to ask, its edge index and its
        # destination. An edge whose permission the policy's actor lacks never passes.
        self.fire: dict[str, list[tuple[Any, Any, Any, Any]]] = {}
        self.edges = policy.workflow.transitions
        actor: Actor = policy.actor
        for t in self.triggers:
            by_source = c.table.by_trigger(t)
            levels: list[tuple[Any, Any, Any, Any]] = []
            for j in range(c.table.depth(t)):
                free = np.full(k, -1, dtype=np.int64)
                guarded = np.zeros(k, dtype=bool)
                edge = np.full(k, -1, dtype=np.int64)
                dest = np.full(k, -1, dtype=np.int64)
                for code, cands in by_source.items():
                    if j < len(cands):
                        i = index[code]
                        e = self.edges[cands[j][0]]
                        edge[i] = cands[j][0]
                        dest[i] = index[cands[j][1]]
                        if e.permission is not None and not actor.can(e.permission):
                            continue
                        if e.guards:
                            guarded[i] = True
                        else:
                            free[i] = dest[i]
                levels.append((free, guarded, edge, dest))
            self.fire[t] = levels
        lo, hi = codes[0], codes[-1]
        # A dense code -> position table when the codes are compact (they are in
        # practice: seed 004 spans -99..21004), else a binary search.
        self.lut = None
        if hi - lo < 1 << 20:
            self.lut = np.full(hi - lo + 1, -1, dtype=np.int64)
            self.lut[self.codes - lo] = np.arange(k)
        # Which statuses each rule applies to, as a mask by status position.
        self.rule_mask = {
            rule: np.array(
                [
                    any(self.applies[(rule, t)][i] for t in self.rule_triggers[rule])
                    for i in range(k)
                ],
                dtype=bool,
            )
            for rule in self.rule_triggers
        }
        self.pos = np.full(k, -1, dtype=np.int64)
        for code, p in c.pos.items():
            self.pos[index[code]] = p

    def index_of(self, status: Any) -> tuple[Any, Any]:
        """Status positions of the codes (0 where unknown), and which codes the catalog
        knows (``None``: all of them)."""
        np = _numpy()
        if self.lut is not None:
            off = status - self.codes[0]
            if off.size and (off.min() < 0 or off.max() >= len(self.lut)):
                inside = (off >= 0) & (off < len(self.lut))
                off = np.where(inside, off, 0)
                pos = self.lut[off]
                known = inside & (pos >= 0)
            else:
                pos = self.lut[off]
                known = pos >= 0
        else:
            pos = np.clip(np.searchsorted(self.codes, status), 0, len(self.codes) - 1)
            known = self.codes[pos] == status
        if known.all():
            return pos, None
        return np.where(known, pos, 0), known


def _trigger_order(policy: AutomationPolicy, rule: str) -> list[str]:
    if rule == "dunning_clear" and policy.ladder is not None:
        return list(policy.ladder.clear)
    if rule == "dunning" and policy.ladder is not None:
        return [policy.ladder.escalate]
    hold = policy.credit_hold
    if hold is not None and rule.startswith("credit_hold"):
        return [hold.place, hold.remove, hold.release, hold.deactivate]
    return [getattr(policy, rule)]


# Rules that test temporary hold releases (a set lookup on ids): ask them only of the
# rows that are candidates.
_ROW_WISE = frozenset({"credit_hold", "credit_hold_release"})


@functools.lru_cache(maxsize=64)
def _plan(policy: AutomationPolicy) -> _Plan:
    return _Plan(compiled(policy))


# -- the result --------------------------------------------------------------------------


@attrs.frozen(eq=False)
class ColumnarSweep:
    """What the column-wise sweep decided, as arrays (one entry per change / refusal).

    Attributes:
        at: the sweep's ``now``.
        status: the status code each row ends in.
        triggers: trigger names; ``change_trigger`` and ``blocked_trigger`` index it.
        change_row, change_hop, change_rule, change_trigger, change_source, change_dest:
            one entry per planned transition, sorted by row then hop; ``change_rule``
            indexes :data:`~acctstate.automation.RULES`.
        blocked_row, blocked_rule, blocked_trigger: rules refused by guards, per row,
            in the final status.
        error_row: rows that could not be planned (unknown status code, rules that do
            not settle).
    """

    at: dt.datetime
    status: Any
    triggers: tuple[str, ...]
    change_row: Any
    change_hop: Any
    change_rule: Any
    change_trigger: Any
    change_source: Any
    change_dest: Any
    blocked_row: Any
    blocked_rule: Any
    blocked_trigger: Any
    error_row: Any

    def __len__(self) -> int:
        return len(self.change_row)

    def by_rule(self) -> dict[str, int]:
        """How many transitions each rule planned, in rule order."""
        np = _numpy()
        counts = np.bincount(self.change_rule, minlength=len(RULES))
        return {RULES[i]: int(n) for i, n in enumerate(counts) if n}

    def changed_rows(self) -> Any:
        """The rows that change, sorted."""
        return _numpy().unique(self.change_row)

    def decisions(self) -> dict[int, list[tuple[str, str, int, int]]]:
        """``row -> [(rule, trigger, source code, dest code), ...]`` (rows that change)."""
        out: dict[int, list[tuple[str, str, int, int]]] = {}
        for row, rule, trig, src, dst in zip(
            self.change_row.tolist(),
            self.change_rule.tolist(),
            self.change_trigger.tolist(),
            self.change_source.tolist(),
            self.change_dest.tolist(),
            strict=True,
        ):
            out.setdefault(row, []).append((RULES[rule], self.triggers[trig], src, dst))
        return out

    def refusals(self) -> dict[int, list[tuple[str, str]]]:
        """``row -> [(rule, trigger), ...]`` for rules the guards refused."""
        out: dict[int, list[tuple[str, str]]] = {}
        for row, rule, trig in zip(
            self.blocked_row.tolist(),
            self.blocked_rule.tolist(),
            self.blocked_trigger.tolist(),
            strict=True,
        ):
            out.setdefault(row, []).append((RULES[rule], self.triggers[trig]))
        return out

    def to_frame(self, ids: Sequence[Any] | None = None) -> Any:
        """The changes as a pandas DataFrame: id (or row), hop, rule, trigger, source, dest."""
        try:
            import pandas as pd  # type: ignore[import-untyped]
        except ImportError as exc:  # pragma: no cover
            raise ImportError("to_frame needs pandas: pip install acctstate[notebook]") from exc
        np = _numpy()
        key = self.change_row if ids is None else np.asarray(ids, dtype=object)[self.change_row]
        return pd.DataFrame(
            {
                "id" if ids is not None else "row": key,
                "hop": self.change_hop,
                "rule": np.asarray(RULES, dtype=object)[self.change_rule],
                "trigger": np.asarray(self.triggers, dtype=object)[self.change_trigger]
                if self.triggers
                else np.empty(0, dtype=object),
                "source": self.change_source,
                "dest": self.change_dest,
            }
        )


# -- the sweep ---------------------------------------------------------------------------


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
        np = self.np
        n = book.n
        bal = book.amount("balance")
        self.bal = np.zeros(n, dtype=np.int64) if bal is None else bal
        inv = book.integer("unpaid_invoices", 0)
        self.inv = np.zeros(n, dtype=np.int64) if inv is None else inv
        oldest = book.date("oldest_unpaid_at")
        if oldest is None:
            self.dpd_ok = np.zeros(n, dtype=bool)
            self.dpd = np.zeros(n, dtype=np.int64)
        else:
            self.dpd_ok = oldest != book.nat
            self.dpd = (self.now_ns - oldest) // _DAY
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
        return (since != self.book.nat) & ((self.now_ns - since) // _DAY >= days)

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
                due |= (f != self.book.nat) & (d >= 0) & (self.now_ns >= f + d * _DAY)
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
            return (col != self.book.nat) & (self.now_ns - col >= args["days"] * _DAY)
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


def sweep_columns(
    columns: Any,
    policy: AutomationPolicy | Sequence[AutomationPolicy],
    *,
    now: dt.datetime,
    scale: int = 2,
) -> ColumnarSweep:
    """Plan the sweep of a whole book held as columns; nothing changes.

    Decides exactly what :func:`~acctstate.automation.sweep` decides for the same
    accounts (same rules, order, guards and fixed point), with NumPy over every row at
    once, through the workflow's compiled table. It is a pure function of its input,
    so partitions of a distributed frame can be swept independently.

    Args:
        columns: a mapping of arrays, a pandas DataFrame or an Arrow table (see the
            module doc for the columns).
        policy: one policy, or one per account class.
        now: the instant of the sweep (timezone-aware).
        scale: decimals of integer money columns (2: cents).

    Returns:
        A :class:`ColumnarSweep`.

    Raises:
        InvalidArgument: a naive ``now``, a float money column, a naive or non-date
            date column, columns of different lengths, or no ``status``.
        MissingDependency: NumPy is not installed (``pip install acctstate[numpy]``); also an ImportError.

    >>> import numpy as np
    >>> from acctstate.presets import isp
    >>> from acctstate.automation import AutomationPolicy, reference_ladder
    >>> now = dt.datetime(2026, 3, 6, 2, 0, tzinfo=dt.UTC)
    >>> book = {"status": np.array([1, 1, 12]), "balance": np.array([0, 8000, 0]),
    ...         "unpaid_invoices": np.array([0, 2, 0]),
    ...         "oldest_unpaid_at": np.array(["NaT", "2026-02-03", "NaT"], "datetime64[ns]")}
    >>> out = sweep_columns(book, AutomationPolicy(isp.workflow(), ladder=reference_ladder()),
    ...                     now=now)
    >>> out.status.tolist(), out.by_rule()
    ([1, 12, 1], {'dunning_clear': 1, 'dunning': 3})
    """
    require_aware(now, "now")
    np = _numpy()
    book = _Book(columns, scale)
    by_class = _policies(policy)
    final = book.status.copy()
    given_since = book.date("status_since")
    since_all = (
        np.full(book.n, book.nat, dtype=np.int64) if given_since is None else given_since.copy()
    )
    parts: list[tuple[list[Any], list[Any], list[Any], _Plan]] = []
    classes = book.cols.get("account_class")
    claimed: Any = None
    ordered = sorted(by_class.items(), key=lambda kv: kv[0] is None)
    for cls, p in ordered:
        mine: Any  # the rows of this class; None: every row
        if cls is None:
            mine = None if claimed is None else ~claimed
        else:
            mine = (
                np.zeros(book.n, dtype=bool)
                if classes is None
                else np.asarray(classes == cls, dtype=bool)
            )
            claimed = mine.copy() if claimed is None else claimed | mine
        if not p.enabled:
            continue
        plan = _plan(p)
        pos, known = plan.index_of(book.status)
        if known is None:
            eligible = mine
            bad = np.empty(0, dtype=np.int64)
        else:
            eligible = known if mine is None else mine & known
            bad = np.flatnonzero(~known if mine is None else mine & ~known)
        run = _Run(plan, book, now)
        changes, blocked, errors = run.run(eligible, pos, since_all)
        errors.append(bad)
        for moved, *_, dest in changes:  # in hop order: the last move of a row wins
            final[moved] = dest
        for stuck in errors:
            final[stuck] = book.status[stuck]
        parts.append((changes, blocked, errors, plan))
    return _result(now, final, parts)


def _result(
    now: dt.datetime, final: Any, parts: list[tuple[list[Any], list[Any], list[Any], _Plan]]
) -> ColumnarSweep:
    np = _numpy()
    triggers = tuple(sorted({t for *_, plan in parts for t in plan.triggers}))
    index = {t: i for i, t in enumerate(triggers)}
    cols: list[list[Any]] = [[] for _ in range(6)]
    bcols: list[list[Any]] = [[] for _ in range(3)]
    errors: list[Any] = []
    for changes, blocked, errs, plan in parts:
        remap = np.array([index[t] for t in plan.triggers] or [0], dtype=np.int64)
        for ch in changes:
            for i, a in enumerate(ch):
                cols[i].append(remap[a] if i == 3 else a)
        for b in blocked:
            for i, a in enumerate(b):
                bcols[i].append(remap[a] if i == 2 else a)
        errors.extend(errs)
    err = np.unique(np.concatenate(errors)) if errors else np.empty(0, dtype=np.int64)

    def cat(parts_: list[Any]) -> Any:
        return np.concatenate(parts_).astype(np.int64) if parts_ else np.empty(0, np.int64)

    row, hop, rule, trig, src, dst = (cat(c) for c in cols)
    if err.size:
        keep = ~np.isin(row, err)
        row, hop, rule, trig, src, dst = (a[keep] for a in (row, hop, rule, trig, src, dst))
    # Each round appends its rows in ascending order, so a stable sort by row keeps the
    # hops of a row in order (and merges the sorted runs cheaply).
    order = np.argsort(row, kind="stable")
    brow, brule, btrig = (cat(c) for c in bcols)
    border = np.lexsort((brule, brow))
    return ColumnarSweep(
        at=now,
        status=final,
        triggers=triggers,
        change_row=row[order],
        change_hop=hop[order],
        change_rule=rule[order],
        change_trigger=trig[order],
        change_source=src[order],
        change_dest=dst[order],
        blocked_row=brow[border],
        blocked_rule=brule[border],
        blocked_trigger=btrig[border],
        error_row=err,
    )
