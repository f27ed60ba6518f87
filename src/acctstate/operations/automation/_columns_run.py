"""One column-wise sweep of one policy over some rows: each round evaluates the rules
for the rows still moving, looks the destinations up per trigger and guard, and moves
them; rows that did not move are done."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, NamedTuple

from acctstate.operations.automation._book import _Book, _ns, _numpy
from acctstate.operations.automation._columns_plan import (
    _ASK,
    _ROW_WISE,
    _minor_limit,
    _Plan,
    step_wants,
)
from acctstate.operations.automation._columns_steps import _RowView, ladder_steps
from acctstate.operations.automation._invoice_columns import dunning_columns
from acctstate.values.errors import InvalidArgument
from acctstate.values.guards import Guard, GuardContext

__all__: list[str] = []


def _where(mask: Any) -> Any:
    """The positions where a 1-d mask holds (``np.flatnonzero`` without its Python
    layers, paid once per rule and round)."""
    return mask.nonzero()[0]


class _Hop(NamedTuple):
    """The rows one round moved, and how (the first round's in ascending order; a
    later round's rows need no order: a row's changes are laid out by its round).

    A row moves in a round only if it moved in every round before, so each round's
    rows are a subset of the previous round's: ``prior`` gives their positions there
    (in round 0, the rows themselves).
    """

    rows: Any
    prior: Any
    rule: Any  # int8, indexes RULES
    trigger: Any  # int16, indexes the plan's triggers
    dest: Any  # status positions


class _Laid(NamedTuple):
    """Every change of a run already in the result's order (by row, then hop), when
    each row's whole chain was known at once (the table lookups): ``rows`` the rows
    that change (ascending) and ``counts`` their changes; per change its ``hop``,
    ``rule``, ``trigger`` and ``dest`` (status position)."""

    rows: Any
    counts: Any
    hop: Any
    rule: Any
    trigger: Any
    dest: Any


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
        # Rows the per-account sweep reports as errors (bad facts), found while deciding.
        self.faults: list[Any] = []
        self.target = ladder_steps(
            book, plan, (self.bal, self.inv, self.dpd_ok, self.dpd), now, self.faults
        )
        # The last rows / statuses the step rules read, and what they read there.
        self._steps_of: Any = None
        self._steps_at: Any = None
        self._places_of: Any = None
        self._places_at: Any = None
        self.hop = 0  # the round being decided
        self.given_since: Any = None  # the book's status_since (int64 ns) or None

    def _limit(self, amount: Decimal, *, ceil: bool) -> int:
        return _minor_limit(amount, self.scale, ceil)

    def _cancel(self, rows: Any) -> Any:
        ladder = self.policy.ladder
        assert ladder is not None
        cancel = ladder.climb[-1].cancel
        assert cancel is not None
        at_top = self.target[rows] >= len(ladder.steps)
        if cancel.fact is None:
            return at_top
        col = self.book.date(cancel.fact)
        missing = at_top if col is None else at_top & (col[rows] == self.book.nat)
        if missing.any():
            # The per-account sweep reports these accounts (MissingFact); so do we.
            at = self.np.flatnonzero(missing)
            self.faults.append(at if isinstance(rows, slice) else rows[at])
        return at_top & ~missing & self._due(cancel.fact, rows)

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

    def _since(self, rows: Any) -> Any:
        """When the rows entered their status: as given in the first round, ``now`` in
        a later one (each of its rows has just moved)."""
        if self.hop == 0 and self.given_since is not None:
            return self.given_since[rows]
        when = self.now_ns if self.hop else self.book.nat
        return self.np.full(self._size(rows), when, dtype=self.np.int64)

    def _days_in(self, rows: Any, days: int) -> Any:
        if self.hop:
            # Each row of a later round entered its status now: no day has passed.
            return self.np.full(self._size(rows), days <= 0, dtype=bool)
        since = self._since(rows)
        today = self.book.local_days(self.now_ns, rows)
        return (since != self.book.nat) & (today - self.book.local_days(since, rows) >= days)

    def _steps(self, rows: Any) -> Any:
        """The rows' ladder steps (the step rules of a round read them once)."""
        if self._steps_of is not rows:
            self._steps_of, self._steps_at = rows, self.target[rows]
        return self._steps_at

    def _places(self, s: Any) -> Any:
        """The places of statuses ``s`` on the ladder (read once per round)."""
        if self._places_of is not s:
            self._places_of, self._places_at = s, self.plan.place.take(s)
        return self._places_at

    def wants(self, rule: str, rows: Any, s: Any) -> Any:
        p = self.policy
        if rule == "dunning" or rule == "dunning_down":
            return step_wants(rule, self._steps(rows), self._places(s))
        if rule == "dunning_clear":
            return step_wants(rule, self._steps(rows), None)
        if rule == "dunning_cancel":
            return self._cancel(rows)
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
        n = self._size(rows)
        if name == "all_of" or name == "any_of":
            parts = [self.guard(h, rows, s) for h in args["guards"]]
            out = np.ones(n, dtype=bool) if name == "all_of" else np.zeros(n, bool)
            for m in parts:
                out = (out & m) if name == "all_of" else (out | m)
            return out
        if name == "not_":
            return ~self.guard(args["guard"], rows, s)
        if name == "balance_settled":
            col = self.book.amount(args.get("attr", "balance"))
            if col is None:
                return np.zeros(n, dtype=bool)
            tol = args.get("tolerance", Decimal(0))
            return col[rows] <= self._limit(tol, ceil=False)
        if name == "nothing_past_due":
            # The ladder's own amount (invoices after the auto-apply, else the
            # past-due scalars, else balance), as the per-account guard reads it.
            cols = self.book.cols
            if "past_due_balance" not in cols and "balance" not in cols:
                return np.zeros(n, dtype=bool)
            return self.bal[rows] <= self._limit(args.get("tolerance", Decimal(0)), ceil=False)
        if name == "has_payment_method":
            flag = self.book.flag(args.get("attr", "payment_method"))
            return np.zeros(n, dtype=bool) if flag is None else flag[rows]
        if name == "days_in_status":
            attr = args.get("attr", "status_since")
            if attr == "status_since":
                if self.hop:
                    return self._days_in(rows, args["days"])
                col = self._since(rows)
            else:
                col = self.book.date(attr)
                if col is None:
                    return np.zeros(n, dtype=bool)
                col = col[rows]
            days = self.book.local_days(self.now_ns, rows) - self.book.local_days(col, rows)
            return (col != self.book.nat) & (days >= args["days"])
        if name == "period_ended":
            return self._due(args.get("attr", "period_end"), rows)
        if name == "has_permission":
            return np.full(n, self.policy.actor.can(args["permission"]), dtype=bool)
        return self._guard_rows(g, rows, s)

    def _guard_rows(self, g: Guard, rows: Any, s: Any) -> Any:
        since = self._since(rows)
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
        return self._fire(self.plan.ways[trigger], rows, s)

    def _fire(self, ways: list[tuple[Any, ...]], rows: Any, s: Any) -> Any:
        np = self.np
        dest: Any = None
        plan = self.plan
        for free, guarded, dest_at, group_at, any_guarded, one in ways:
            if dest is None:
                idx = None
                ss = s
                dest = free[s]
            else:
                idx = _where(dest < 0)
                if not idx.size:
                    break
                ss = s[idx]
                dest[idx] = free[ss]
            if not any_guarded:
                continue
            gi = _where(guarded[ss])
            if not gi.size:
                continue
            if one is None:
                e = group_at[ss[gi]]
                groups = _where(np.bincount(e)).tolist()
            else:
                groups = [one]
            if idx is None and len(groups) == 1 and gi.size == len(ss):
                # Every row asks the same guards: ask them of the rows as they are.
                ok: Any = None
                for g in plan.group_guards[groups[0]]:
                    passed = self.guard(g, rows, s)
                    ok = passed if ok is None else ok & passed
                dest[ok] = dest_at[s[ok]]
                continue
            for index in groups:
                sel = gi if len(groups) == 1 else gi[e == index]
                at = sel if idx is None else idx[sel]
                ok = None
                for g in plan.group_guards[index]:
                    passed = self.guard(g, rows[at], s[at])
                    ok = passed if ok is None else ok & passed
                dest[at[ok]] = dest_at[ss[sel[ok]]]
        assert dest is not None
        return dest

    def _decide(
        self,
        rule: str,
        pos: Any,
        s: Any,
        active: Any,
        trig_index: dict[str, int],
        hits: list[tuple[Any, int, Any, Any]],
        round_blocked: list[tuple[Any, int, Any]],
    ) -> None:
        """Fire ``rule``'s triggers, in order, for the positions ``pos`` it wants: each
        position moves by the first trigger whose edge passes (into ``hits``), or is
        refused, reported with the first trigger that applied (``round_blocked``)."""
        np = self.np
        plan = self.plan
        rid = plan.rule_id[rule]
        triggers = plan.rule_triggers[rule]
        sp = s[pos]
        sure = plan.sure.get(rule)
        if sure is not None:
            hits.append((pos, rid, trig_index[triggers[0]], sure[sp]))
            return
        merged = plan.merged.get(rule)
        if len(triggers) == 1 or merged is not None:
            # The rule applies only where its one trigger does (or one of its triggers
            # per status): no per-trigger masks.
            ti: Any
            if merged is None:
                ti = trig_index[triggers[0]]
                ways = plan.ways[triggers[0]]
            else:
                ways, at = merged
                ti = at.take(sp)
            d = self._fire(ways, pos if active is None else active[pos], sp)
            ok = d >= 0
            if ok.all():
                hits.append((pos, rid, ti, d))
                return
            if ok.any():
                hits.append((pos[ok], rid, ti if merged is None else ti[ok], d[ok]))
            no = _where(~ok)
            first = np.full(len(no), ti, dtype=np.int64) if merged is None else ti[no]
            round_blocked.append((pos[no], rid, first))
            return
        first = np.full(len(pos), -1, dtype=np.int64)
        open_ = np.ones(len(pos), dtype=bool)
        for t in triggers:
            has = plan.applies[(rule, t)][sp]
            first[(first < 0) & has] = trig_index[t]
            sel = _where(open_ & has)
            if not sel.size:
                continue
            p = pos[sel]
            d = self.fire(t, p if active is None else active[p], sp[sel])
            ok = d >= 0
            if ok.any():
                hits.append((p[ok], rid, trig_index[t], d[ok]))
            open_[sel[ok]] = False
        if open_.any():
            round_blocked.append((pos[open_], rid, first[open_]))

    def run(
        self, eligible: Any, status_pos: Any, given_since: Any
    ) -> tuple[list[_Hop], list[Any], list[Any]]:
        """Move rows to the fixed point, a round (hop) at a time.

        The first round takes every row of the book with full-length masks (most rows
        of a real book are eligible, and a mask beats gathering them by index); later
        rounds take only the rows that moved, by index. ``eligible`` masks the rows of
        this policy with a known status (``None``: all of them).

        Returns the hops (each with rows), the refusals ``(rows, rule, first trigger)``
        and the rows that could not be planned.
        """
        np = self.np
        self.given_since = given_since
        plan = self.plan
        changes: list[_Hop] = []
        blocked: list[tuple[Any, ...]] = []
        errors: list[Any] = []
        limit = 2 * len(plan.codes) + 1
        # ``active`` maps positions of this round to rows; ``None`` is every row.
        active: Any = None
        s = status_pos
        m = self.book.n
        self.hop = hop = 0
        # Per row of a later round: its step's offset into the plan's step table
        # (``None`` until the first later round), when every step is on the table.
        key: Any = None
        tabled = True
        k = len(plan.codes)
        while m:
            if hop == limit:
                errors.append(active)
                break
            if active is not None and key is None and tabled:
                step = self.target[active]
                tabled = step.min() >= -3 and step.max() <= plan.step_top
                key = (step.astype(np.int64) + 3) * k
            if active is not None and tabled:
                # Rows that stand where only the step rules apply, on edges without
                # guards: the table gives each row's move, no rule evaluated; the
                # round evaluates the rules for the others (rows are independent).
                c = key + s
                e = plan.step_table.take(c)
                low = e.min()
                if low >= -1:
                    # No row asks the rules now: if none does later either, the
                    # table gives every row's remaining moves (its chain), laid out
                    # round after round at once.
                    lengths = plan.chain_len.take(c)
                    if lengths.min() >= 0 and hop + int(lengths.max()) < limit:
                        self._tail(active, c, lengths, changes)
                        break
                ask = _where(e == _ASK) if low < -1 else None
                if ask is not None and len(ask) == m:
                    got = self._round(active, s, m, None, blocked)
                else:
                    moved = _where(e >= 0)
                    e = e[moved]
                    got = (moved, *(a.take(e) for a in plan.step_moves))
                    if ask is not None:
                        asked = self._round(active[ask], s[ask], len(ask), None, blocked)
                        got = _joined(got, ask, asked)
                    if not len(got[0]):
                        break
            else:
                got = self._round(active, s, m, eligible, blocked)
            if got is None:
                break
            moved, rule_of, trig_of, dest = got
            rows_moved = moved if active is None else active[moved]
            changes.append(_Hop(rows_moved, moved, rule_of, trig_of, dest))
            active, s, m = rows_moved, dest, len(moved)
            if key is not None:
                key = key[moved]
            self.hop = hop = hop + 1
        errors.extend(self.faults)
        return changes, blocked, errors

    def _tail(
        self, active: Any, c: Any, lengths: Any, changes: list[_Hop], chains: Any = None
    ) -> None:
        """The remaining rounds of rows whose moves the step table gives until they
        stay (``c``: each row's (step, status) entry; ``lengths``: its chain's moves;
        ``chains``: the chains' moves by entry, the plan's step table's by default).

        The rows are ordered by chain length, longest first, so each round's rows are
        the first of the round before's (``prior`` a slice of it)."""
        np = self.np
        plan = self.plan
        m = len(c)
        top = int(lengths.max())
        # (Small integers sort by radix.)
        order = np.argsort(
            (top - lengths).astype(np.int16 if top < 1 << 15 else np.int64), kind="stable"
        )
        # How many rows make more than j moves, for each j.
        more = (m - np.cumsum(np.bincount(lengths, minlength=top + 1))).tolist()
        first = order[: more[0]]
        states = c.take(first)
        rows = active.take(first)
        prior: Any = first
        for j in range(top):
            n = more[j]
            at = states[:n]
            rule, trig, dest = (a.take(at) for a in (chains or plan.chain_moves)[j])
            changes.append(_Hop(rows[:n], prior, rule, trig, dest))
            prior = slice(0, more[j + 1])
        self.hop += top

    def _round(self, active: Any, s: Any, m: int, eligible: Any, blocked: list[Any]) -> Any:
        """Evaluate the rules, in order, for the ``m`` rows of a round (``active``;
        ``None``: every row of the book) in statuses ``s``: the positions that move
        (ascending), their rules, triggers and destinations (``None``: none moves).
        Refusals of rows that do not move go to ``blocked``."""
        np = self.np
        plan = self.plan
        # Each row's rules by the bits of its status. In a later round (few rows, few
        # statuses), rules that apply to none of them are skipped, and to all of them
        # need no mask: the bits some row has (``anyb``) and every row has (``allb``).
        bits = plan.rule_bits.take(s)
        if active is not None:
            anyb = int(np.bitwise_or.reduce(bits))
            allb = int(np.bitwise_and.reduce(bits))
        # Per round, what each (rule, trigger) moved: ascending positions, the rule,
        # the trigger and the destinations; ``decided`` masks them all.
        hits: list[tuple[Any, int, Any, Any]] = []
        decided: Any = None
        round_blocked: list[tuple[Any, int, Any]] = []
        rows_all = slice(None) if active is None else active
        for rule in plan.rules:
            cand: Any = None  # None: every row of the round
            bit = plan.rule_bit[rule]
            if active is not None:
                if not anyb & bit:
                    continue
                if not allb & bit:
                    cand = (bits & bit) != 0
            else:
                cand = (bits & bit) != 0
                if eligible is not None:
                    cand &= eligible
            if decided is not None:
                cand = ~decided if cand is None else np.logical_and(cand, ~decided, out=cand)
            many = m if cand is None else np.count_nonzero(cand)
            if not many:
                continue
            if many * 4 > m and rule not in _ROW_WISE:
                # Most rows are candidates: ask the rule over every row at once.
                wanted = self.wants(rule, rows_all, s)
                pos = _where(wanted if cand is None else cand & wanted)
            else:
                pos = np.arange(m) if cand is None else _where(cand)
                rows = pos if active is None else active[pos]
                pos = pos[self.wants(rule, rows, s[pos])]
            if not pos.size:
                continue
            done = len(hits)
            self._decide(rule, pos, s, active, plan.trig_index, hits, round_blocked)
            if len(hits) > done:
                if decided is None:
                    decided = np.zeros(m, dtype=bool)
                for p, *_ in hits[done:]:
                    decided[p] = True
        for p, rid, first in round_blocked:
            keep = ~decided[p] if decided is not None else None
            if keep is None or keep.any():
                kept = p if keep is None else p[keep]
                blocked.append(
                    (
                        kept if active is None else active[kept],
                        np.full(len(kept), rid),
                        first if keep is None else first[keep],
                    )
                )
        if not hits:
            return None
        if len(hits) == 1:
            moved, rid, ti, dest = hits[0]
            rule_of = np.full(len(moved), rid, dtype=np.int8)
            trig_of = np.asarray(ti, dtype=np.int16)
            if not trig_of.ndim:
                trig_of = np.full(len(moved), ti, dtype=np.int16)
            return moved, rule_of, trig_of, dest
        # Several rules moved rows: lay them out by position (ascending).
        f_rule = np.empty(m, dtype=np.int8)
        f_trig = np.empty(m, dtype=np.int16)
        f_dest = np.empty(m, dtype=np.int64)
        for p, rid, ti, d in hits:
            f_rule[p] = rid
            f_trig[p] = ti
            f_dest[p] = d
        moved = _where(decided)
        return moved, f_rule[moved], f_trig[moved], f_dest[moved]


def _joined(table: tuple[Any, ...], ask: Any, asked: Any) -> tuple[Any, ...]:
    """A round's moves from the step table and from the rules (for the positions
    ``ask``), one after the other (a later round's rows need no order)."""
    if asked is None:
        return table
    np = _numpy()
    moved, *rest = asked
    return (
        np.concatenate((table[0], ask[moved])),
        *(np.concatenate((a, b)) for a, b in zip(table[1:], rest, strict=True)),
    )
