"""The compiled, column-wise form of a policy: its rules, triggers and the workflow's
table as arrays indexed by status position (built once per policy and cached)."""

from __future__ import annotations

from typing import Any

from acctstate.operations.automation._book import _numpy
from acctstate.operations.automation._policy import AutomationPolicy
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
        # The same as sets of positions, to skip a rule in a round whose rows are all
        # in statuses it does not apply to (or to take them all without a mask).
        self.rule_statuses = {
            rule: frozenset(np.flatnonzero(mask).tolist()) for rule, mask in self.rule_mask.items()
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


# Rules that test temporary hold releases (a set lookup on ids): ask them only of the
# rows that are candidates.
_ROW_WISE = frozenset({"credit_hold", "credit_hold_release", "credit_hold_return"})


_PLANS: dict[int, tuple[AutomationPolicy, _Plan]] = {}


def _plan(policy: AutomationPolicy) -> _Plan:
    """The column-wise form of ``policy``, cached by identity as `compiled` is.

    Hashing a policy hashes its whole workflow (every status and edge): by identity,
    a small book is not charged for it on every sweep.
    """
    hit = _PLANS.get(id(policy))
    if hit is not None and hit[0] is policy:
        return hit[1]
    made = _Plan(compiled(policy))
    if len(_PLANS) >= 64:
        del _PLANS[next(iter(_PLANS))]
    _PLANS[id(policy)] = (policy, made)
    return made
