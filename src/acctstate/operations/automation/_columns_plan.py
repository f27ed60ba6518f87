"""The compiled, column-wise form of a policy: its rules, triggers and the workflow's
table as arrays indexed by status position (built once per policy and cached)."""

from __future__ import annotations

import functools
import threading
from decimal import Decimal
from typing import Any

from acctstate.operations.automation._book import _numpy
from acctstate.operations.automation._policy import RULES, AutomationPolicy
from acctstate.operations.automation._rules import Compiled, compiled
from acctstate.values.actors import Actor
from acctstate.values.guards import Guard

__all__: list[str] = []


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
        self.trig_index = {t: i for i, t in enumerate(self.triggers)}
        self.rules = [r for r in RULES if r in self.rule_triggers]  # in the sweep's order
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
        # practice: the status-code table spans -99..21004), else a binary search.
        self.lut = None
        if hi - lo < 1 << 20:
            self.lut = np.full(hi - lo + 3, -1, dtype=np.int64)
            self.lut[self.codes - lo + 1] = np.arange(k)
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
        # Every rule's mask in one array of bits by status position: a round gathers it
        # once for all its rules.
        self.rule_bit = {rule: 1 << i for i, rule in enumerate(self.rule_mask)}
        bits = np.zeros(k, dtype=np.uint64)
        for rule, mask in self.rule_mask.items():
            bits[mask] |= np.uint64(self.rule_bit[rule])
        self.rule_bits = bits.astype(np.min_scalar_type(max(1 << len(self.rule_mask), 1) - 1))
        # Edges asking the same guards are asked together: one group per distinct
        # list of guards, and per trigger and level each source's group (-1: none).
        self.group_guards: list[tuple[Guard, ...]] = []
        groups: dict[Any, int] = {}
        self.group: dict[str, list[Any]] = {}
        for t, levels in self.fire.items():
            per_level = []
            for _, guarded, edge, _ in levels:
                group = np.full(k, -1, dtype=np.int64)
                for i in np.flatnonzero(guarded).tolist():
                    guards = self.edges[int(edge[i])].guards
                    key = _guards_key(guards)
                    if key not in groups:
                        groups[key] = len(self.group_guards)
                        self.group_guards.append(guards)
                    group[i] = groups[key]
                per_level.append(group)
            self.group[t] = per_level
        # Per trigger and level: whether any source has guards to ask.
        self.guarded = {
            t: [bool(g.any()) for _, g, _, _ in levels] for t, levels in self.fire.items()
        }
        # Per trigger and level: the one group of guards every guarded source asks, if
        # there is one (its rows need no split by group).
        self.one_group = {
            t: [_single(group[group >= 0].tolist()) for group in per_level]
            for t, per_level in self.group.items()
        }
        # Per trigger, its levels as a round reads them: (free, guarded, destination,
        # group, whether any source is guarded, the one group).
        self.ways: dict[str, list[tuple[Any, ...]]] = {
            t: [
                (free, guarded, dest, group, any_g, one)
                for (free, guarded, _, dest), group, any_g, one in zip(
                    levels, self.group[t], self.guarded[t], self.one_group[t], strict=True
                )
            ]
            for t, levels in self.fire.items()
        }
        # Rules of several triggers of which at most one applies to each status (a
        # clearing rule: settle from one status, reinstate from another): their levels
        # merged by status, and each status's trigger (one pass for all of them).
        self.merged: dict[str, tuple[list[tuple[Any, ...]], Any]] = {}
        for rule, ts in self.rule_triggers.items():
            if len(ts) > 1 and _exclusive([self.applies[(rule, t)] for t in ts]):
                self.merged[rule] = self._merge(rule, ts, self.trig_index)
        self.pos = np.full(k, -1, dtype=np.int64)
        for code, p in c.pos.items():
            self.pos[index[code]] = p
        # One-trigger rules whose trigger takes an edge without guards from every status
        # the rule applies to: the destination is one lookup, nothing is refused.
        self.sure = {
            rule: self.fire[ts[0]][0][0]
            for rule, ts in self.rule_triggers.items()
            if len(ts) == 1 and bool((self.fire[ts[0]][0][0][self.rule_mask[rule]] >= 0).all())
        }
        self._sure_archive(policy.archive_after_days)
        self.rule_id = {rule: RULES.index(rule) for rule in self.rule_triggers}
        # Places as the steps are held (int8: a comparison of like types is the fast one).
        self.place = self.pos.astype(np.int8) if self.pos.max() < 127 else self.pos
        self.extended = policy.ladder is not None and policy.ladder.extended
        self._step_table()

    def _sure_archive(self, days: int) -> None:
        """The archive rule is sure where its edges ask only what the rule has read:
        days in status (since the status was entered, at most the rule's days), which
        pass wherever the rule wants a row."""
        np = _numpy()
        ts = self.rule_triggers.get("archive")
        if ts is None or len(ts) != 1 or "archive" in self.sure:
            return
        free, guarded, edge, dest = self.fire[ts[0]][0]
        implied = np.array(
            [
                bool(guarded[i]) and _implied(self.edges[int(edge[i])].guards, days)
                for i in range(len(self.codes))
            ],
            dtype=bool,
        )
        sure = np.where(implied, dest, free)
        if bool((sure[self.rule_mask["archive"]] >= 0).all()):
            self.sure["archive"] = sure

    def _merge(
        self, rule: str, triggers: tuple[str, ...], trig_index: dict[str, int]
    ) -> tuple[list[tuple[Any, ...]], Any]:
        np = _numpy()
        k = len(self.codes)
        at = np.zeros(k, dtype=np.int64)
        levels: list[tuple[Any, ...]] = []
        for j in range(max(len(self.ways[t]) for t in triggers)):
            free = np.full(k, -1, dtype=np.int64)
            guarded = np.zeros(k, dtype=bool)
            dest = np.full(k, -1, dtype=np.int64)
            group = np.full(k, -1, dtype=np.int64)
            for t in triggers:
                mine = self.applies[(rule, t)]
                at[mine] = trig_index[t]
                if j < len(self.ways[t]):
                    f, g, d, e, _, _ = self.ways[t][j]
                    free[mine], guarded[mine], dest[mine], group[mine] = (
                        f[mine],
                        g[mine],
                        d[mine],
                        e[mine],
                    )
            one = _single(group[group >= 0].tolist())
            levels.append((free, guarded, dest, group, bool(guarded.any()), one))
        return levels, at

    def _step_table(self) -> None:
        """What a round decides for a row from its ladder step and status alone.

        Where every rule that applies to a status is one of the ladder's step rules
        (they read only the row's step and the status's place on the ladder) and the
        edges they would take ask no guard, a row's move in a round is a function of
        (step, status): ``step_table[(step + 3) * k + status position]`` is the index
        of that move in ``step_moves`` (rule, trigger, destination), ``_STAY``
        for none, or ``_ASK`` where the round must evaluate the rules (another rule
        applies, a guard is asked, or an edge is refused).
        """
        np = _numpy()
        k = len(self.codes)
        ladder = self.c.policy.ladder
        # Steps as _target gives them: 0 (clear) to the top step, -2 (enforcement off),
        # -3 (owing below every step).
        self.step_top = 0 if ladder is None else len(ladder.steps)
        rules, trig_index = self.rules, self.trig_index
        moves: dict[tuple[int, int, int], int] = {}
        table = np.full((self.step_top + 4) * k, _ASK, dtype=np.int64)
        for step in range(-3, self.step_top + 1):
            for i in range(k):
                move = self._step_move(rules, step, i)
                if move is None:
                    continue
                if move == _STAY:
                    table[(step + 3) * k + i] = _STAY
                    continue
                rule, trigger, dest = move
                key = (RULES.index(rule), trig_index[trigger], dest)
                table[(step + 3) * k + i] = moves.setdefault(key, len(moves))
        self.step_table = table
        # Each move's rule, trigger and destination (as a round lays its moves out).
        self.step_moves = (
            np.array([m[0] for m in moves] or [0], dtype=np.int8),
            np.array([m[1] for m in moves] or [0], dtype=np.int16),
            np.array([m[2] for m in moves] or [0], dtype=np.int64),
        )
        self._chains(k)

    def _chains(self, k: int) -> None:
        """From each (step, status) of the step table, the moves it makes round after
        round until it stays: ``chain_len`` (-1 where the chain reaches a status the
        rules must decide, or does not stay within the round limit) and
        ``chain_moves[j]``, each state's move ``j`` as ``step_moves`` gives it (rule,
        trigger and destination by state)."""
        np = _numpy()
        table = self.step_table.tolist()
        dests = self.step_moves[2].tolist()
        limit = 2 * k + 1
        lengths: list[int] = []
        chains: list[list[int]] = []
        for c in range(len(table)):
            base, cur = c - c % k, c
            moves: list[int] = []
            while len(moves) <= limit and table[cur] >= 0:
                moves.append(table[cur])
                cur = base + dests[table[cur]]
            lengths.append(len(moves) if table[cur] == _STAY else -1)
            chains.append(moves)
        self.chain_len = np.array(lengths, dtype=np.int64)
        top = max(lengths, default=0)
        self.chain_moves = [
            tuple(
                a.take(np.array([m[j] if len(m) > j else 0 for m in chains], dtype=np.int64))
                for a in self.step_moves
            )
            for j in range(max(top, 0))
        ]

    def _step_move(self, rules: list[str], step: int, i: int) -> Any:
        """The move (rule, trigger, destination) of a row on ``step`` in status
        position ``i``, ``_STAY``, or ``None`` when the round must ask."""
        for rule in rules:
            if not self.rule_mask[rule][i]:
                continue
            if rule not in _STEP_RULES:
                return None
            if not step_wants(rule, step, int(self.pos[i])):
                continue
            for t in self.rule_triggers[rule]:
                if not self.applies[(rule, t)][i]:
                    continue
                for free, guarded, _, _ in self.fire[t]:
                    if free[i] >= 0:
                        return rule, t, int(free[i])
                    if guarded[i]:
                        return None
            return None  # refused: the round reports it
        return _STAY

    def index_of(self, status: Any) -> tuple[Any, Any]:
        """Status positions of the codes (0 where unknown), and which codes the catalog
        knows (``None``: all of them)."""
        np = _numpy()
        if self.lut is not None:
            # The table has an unknown code at each end: a code outside its span is
            # clipped onto one of them (no pass to find the span of the column first).
            pos = self.lut.take(status - (self.codes[0] - 1), mode="clip")
            if not len(pos) or pos.min() >= 0:
                return pos, None
            known = pos >= 0
        else:
            pos = np.clip(np.searchsorted(self.codes, status), 0, len(self.codes) - 1)
            known = self.codes[pos] == status
        if known.all():
            return pos, None
        return np.where(known, pos, 0), known


# The ladder's rules that read only a row's step and its status's place on the ladder.
_STEP_RULES = frozenset({"dunning_clear", "dunning", "dunning_down"})
_STAY = -1  # step table: no rule moves the row
_ASK = -2  # step table: the round evaluates the rules


def step_wants(rule: str, step: Any, place: Any) -> Any:
    """Whether a step rule wants a row on ``step`` whose status is at ``place`` on the
    ladder (ints or arrays alike)."""
    if rule == "dunning":
        return step > place
    if rule == "dunning_clear":
        return step == 0
    return (step > 0) & (step < place)  # dunning_down


def _implied(guards: tuple[Guard, ...], days: int) -> bool:
    """Whether ``guards`` pass for every row that has been in its status ``days``."""
    return all(
        g.name == "days_in_status"
        and set(g.kwargs) <= {"days", "attr"}
        and g.kwargs.get("attr", "status_since") == "status_since"
        and type(g.kwargs["days"]) is int
        and g.kwargs["days"] <= days
        for g in guards
    )


def _exclusive(masks: list[Any]) -> bool:
    """Whether at most one of the masks holds at each position."""
    return bool((sum(m.astype(int) for m in masks) <= 1).all())


def _single(groups: list[int]) -> int | None:
    """The one group of ``groups``, or ``None`` for several (or none)."""
    return groups[0] if groups and len(set(groups)) == 1 else None


def _guards_key(guards: tuple[Guard, ...]) -> Any:
    """Guards that answer alike: equal names and arguments, and the same check."""
    key = tuple((g.name, g.args, g.check) for g in guards)
    try:
        hash(key)
    except TypeError:  # an argument that cannot be hashed: the guards themselves
        return tuple(id(g) for g in guards)
    return key


def _trigger_order(policy: AutomationPolicy, rule: str) -> list[str]:
    if rule == "dunning_clear" and policy.ladder is not None:
        return list(policy.ladder.clear)
    if rule == "dunning" and policy.ladder is not None:
        return [policy.ladder.escalate]
    if rule == "dunning_down" and policy.ladder is not None:
        ladder = policy.ladder
        downs = (ladder.down_trigger(i) for i in range(2, len(ladder.steps) + 1))
        return list(dict.fromkeys(t for t in downs if t is not None))
    if rule == "dunning_cancel" and policy.ladder is not None:
        cancel = policy.ladder.climb[-1].cancel
        return [] if cancel is None else [cancel.trigger]
    hold = policy.credit_hold
    if hold is not None and rule.startswith("credit_hold"):
        return [
            t for t in (hold.place, hold.remove, hold.release, hold.deactivate, hold.restore) if t
        ]
    return [getattr(policy, rule)]


@functools.lru_cache(maxsize=256)
def _minor_limit(amount: Decimal, scale: int, ceil: bool) -> int:
    """A money threshold in integer minor units, rounded toward the safe side."""
    minor = amount.scaleb(scale)
    return int(minor.to_integral_value(rounding="ROUND_CEILING" if ceil else "ROUND_FLOOR"))


@functools.lru_cache(maxsize=256)
def _met_table(limits: tuple[int, ...], low: int, none: int) -> Any:
    """How many of ``limits`` (sorted) each value from ``low`` to the largest meets
    (``none`` where it meets none)."""
    np = _numpy()
    values = np.arange(low, limits[-1] + 1)
    met = np.searchsorted(np.array(limits), values, side="right").astype(np.int8)
    met[met == 0] = none
    return met


def _met(np: Any, values: Any, limits: list[int], none: int = 0) -> Any:
    """How many of ``limits`` each value meets (``value >= limit``), as a new int8
    array; ``none`` where a value meets none of them."""
    low, top = min(limits) - 1, max(limits)
    if low >= -1 and top <= 4096 and len(set(limits)) > 2:
        # One lookup in a table by value, the index clipped to the table (a value
        # below ``low + 1`` meets none, one above the top meets all): one or two
        # passes however many thresholds.
        return _met_table(tuple(sorted(limits)), low, none).take(
            values - low if low else values, mode="clip"
        )
    count = np.zeros(len(values), dtype=np.int8)
    for limit in sorted(set(limits)):
        met = (values >= limit).view(np.int8)
        times = limits.count(limit)
        count += met if times == 1 else met * times
    if none:
        count[count == 0] = none
    return count


# Rules asked only of the rows that are candidates: those that test temporary hold
# releases (a set lookup on ids), and the ladder's cancellation, which reports a row
# whose cancellation date is missing only when it is asked (as the per-account sweep).
_ROW_WISE = frozenset(
    {"credit_hold", "credit_hold_release", "credit_hold_return", "dunning_cancel"}
)


_PLANS: dict[int, tuple[AutomationPolicy, _Plan]] = {}
_PLANS_LOCK = threading.Lock()


def _plan(policy: AutomationPolicy) -> _Plan:
    """The column-wise form of ``policy``, cached by identity as `compiled` is.

    Hashing a policy hashes its whole workflow (every status and edge): by identity,
    a small book is not charged for it on every sweep.
    """
    hit = _PLANS.get(id(policy))
    if hit is not None and hit[0] is policy:
        return hit[1]
    made = _Plan(compiled(policy))
    with _PLANS_LOCK:  # the threaded sweep's chunks ask for plans at once
        if len(_PLANS) >= 64:
            _PLANS.pop(next(iter(_PLANS)), None)
        _PLANS[id(policy)] = (policy, made)
    return made
