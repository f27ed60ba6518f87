"""A policy compiled for evaluation: per status, the rules that can act there, each a
small closure over the policy's thresholds, and the fixed-point planner of one account.

Most accounts of a book have nothing to do; the planner is shaped so that they cost a
status lookup and a few attribute reads (no guard context, no facts computed unless a
rule asks for them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from acctstate.core._workflow_defaults import own
from acctstate.operations.automation._ladder import condition_of
from acctstate.operations.automation._policy import (
    AutomationPolicy,
    _clear_reach,
    released_statuses,
)
from acctstate.values.account import account_id_of, tag_names
from acctstate.values.clock import billing_zone, calendar_days
from acctstate.values.errors import InvalidArgument, MissingFact, SweepError, UnknownStatus
from acctstate.values.guards import GuardContext, Refusal
from acctstate.values.invoices import dunning_facts

_UNSET: Any = object()

# (account, status code, status_since or _UNSET, now, memo) -> does the rule want to act?
Wants = Callable[[Any, int, Any, dt.datetime, list[int]], bool]

Change = tuple[str, str, int, int]
"""``(rule, trigger, source code, dest code)``."""
Refused = tuple[str, str, int, tuple[Refusal, ...]]
"""``(rule, first trigger, status code, refusals)``."""


GENERIC, DUE, CLIMB, CLEAR, DAYS, DOWN = range(6)

FROZEN = -2
"""The target of an account whose dunning enforcement is off: no ladder rule acts."""

BELOW = -3
"""The target of an account that owes past due but below every step: it stays where it
is (no step to climb to, and not clear: payment must settle it first)."""


class Rule:
    """One rule as it applies from one status: its name, triggers and condition.

    ``wants`` is the condition; ``kind`` (with ``attr`` / ``arg``) says the same for the
    common shapes, so the planner's first pass can test them without a call.
    """

    __slots__ = ("arg", "attr", "kind", "name", "triggers", "wants")

    def __init__(
        self,
        name: str,
        triggers: tuple[str, ...],
        wants: Wants,
        *,
        kind: int = GENERIC,
        attr: str = "",
        arg: int = 0,
    ) -> None:
        self.name = name
        self.triggers = triggers
        self.wants = wants
        self.kind = kind
        self.attr = attr
        self.arg = arg


def _since(account: Any, since: Any) -> Any:
    return getattr(account, "status_since", None) if since is _UNSET else since


def _days(account: Any, since: Any, now: dt.datetime, name: str) -> int:
    """Calendar days from ``since`` (an instant or a due date) to ``now``, counted in
    the account's billing time zone: the same count the guards make."""
    return calendar_days(since, now, billing_zone(getattr(account, "timezone", None)), name=name)


class Compiled:
    """A policy turned into per-status rule lists, computed once per policy."""

    __slots__ = (
        "actor",
        "auto_apply",
        "by_code",
        "clear_path",
        "free",
        "hold",
        "lifted",
        "limit",
        "made",
        "off_tag",
        "policy",
        "pos",
        "rules",
        "simple",
        "status_attr",
        "steps",
        "table",
    )

    def __init__(self, policy: AutomationPolicy) -> None:
        wf = policy.workflow
        self.policy = policy
        self.actor = policy.actor
        self.auto_apply = policy.auto_apply
        self.table = wf.table
        self.status_attr = wf.status_attr
        self.by_code = {s.code: s for s in wf.catalog}
        self.limit = 2 * len(self.by_code) + 1
        self.made: dict[Change, Any] = {}
        # (status, trigger) whose first candidate edge has no guard and no permission:
        # the engine takes it whatever the account, so no guard context is needed.
        self.free: dict[tuple[int, str], int] = {}
        keys = self.table.keys()
        for source, trigger in keys:
            _, dest, edge = self.table.candidates(source, trigger)[0]
            if not edge.guards and edge.permission is None:
                self.free[(source, trigger)] = dest
        pos: dict[int, int] = {}
        clear_path: set[int] = set()
        self.steps: tuple[tuple[int, Decimal, int], ...] = ()
        # Plain nested thresholds are tested inline; anything else asks the ladder.
        self.simple = False
        self.off_tag: str | None = None
        if policy.ladder is not None:
            ladder = policy.ladder
            self.steps = tuple((s.min_days, s.min_balance, s.min_invoices) for s in ladder.steps)
            self.simple = ladder.order == "last_holding" and not ladder.extended
            self.off_tag = ladder.enforcement_off
            home = wf.catalog[ladder.home].code
            pos[home] = 0
            for i, step in enumerate(ladder.climb, start=1):
                pos[wf.catalog[step.status].code] = i
            # Statuses a clearing account passes through on its way home (a
            # reinstatement, say) keep the clearing rule; other statuses those triggers
            # leave (a manual suspension) are none of the ladder's business.
            for code, here in pos.items():
                if here:
                    clear_path |= _clear_reach(wf, code, ladder.clear)
            clear_path.discard(home)
        self.pos = pos
        self.clear_path = frozenset(clear_path)
        hold = _status_hold(policy)
        self.hold = None if hold is None else wf.catalog[hold.status].code
        # Statuses a temporary release leads to, where the restore rule brings the hold
        # back once the window is over (and removal lifts it for good when paid).
        self.lifted: frozenset[int] = frozenset(
            released_statuses(wf, hold, self.hold)
            if hold is not None and self.hold is not None and hold.restore is not None
            else ()
        )
        rules: dict[int, tuple[Rule, ...]] = {}
        for code in self.by_code:
            found = tuple(r for r in self._rules_at(code) if r.triggers)
            if found:
                rules[code] = found
        self.rules = rules

    # -- facts ---------------------------------------------------------------------------

    def target(self, account: Any, now: dt.datetime, memo: list[int]) -> int:
        """The ladder step the account belongs on (0: clear, ``BELOW``: owing but below
        every step, ``FROZEN``: enforcement off); computed once per sweep."""
        found = memo[0]
        if found != -1:
            return found
        found = 0
        if (
            getattr(account, "invoices", None) is not None
            or getattr(account, "past_due_balance", None) is not None
            or getattr(account, "balance", None)
        ):
            # Most of a book owes nothing: no facts to compute for it.
            days, balance, invoices = dunning_facts(account, now, auto_apply=self.auto_apply)
            if balance > 0 and days is not None:
                if self.simple:
                    for i, (min_days, min_balance, min_invoices) in enumerate(self.steps, 1):
                        if days >= min_days and balance >= min_balance and invoices >= min_invoices:
                            found = i
                else:
                    found = self._target(account, now, days, balance, invoices)
                if found == 0:
                    found = BELOW
        if self.off_tag is not None:
            tags = getattr(account, "control_tags", None)
            if tags and self.off_tag in tag_names(tags):
                found = FROZEN
        memo[0] = found
        return found

    def _target(
        self, account: Any, now: dt.datetime, days: int, balance: Decimal, invoices: int
    ) -> int:
        ladder = self.policy.ladder
        assert ladder is not None
        return ladder.target(
            days,
            balance,
            invoices,
            tags=getattr(account, "control_tags", None) or (),
            failure=getattr(account, "last_payment_failure", None),
            host=lambda name: condition_of(name)(account, now),
        )

    # -- rules ---------------------------------------------------------------------------

    def _rules_at(self, code: int) -> Iterator[Rule]:
        p = self.policy
        table = self.table

        def has(*names: str | None) -> tuple[str, ...]:
            return tuple(n for n in names if n is not None and table.candidates(code, n))

        for name, attr in (
            ("trial_end", "trial_ends_at"),
            ("activation", "activated_at"),
        ):
            yield Rule(name, has(getattr(p, name)), _due(attr), kind=DUE, attr=attr)
        yield Rule("expiration", has(p.expiration), _expired)
        yield Rule(
            "contract_expiry",
            has(p.contract_expiry),
            _due("contract_ends_at"),
            kind=DUE,
            attr="contract_ends_at",
        )
        if p.ladder is not None:
            target = self.target
            if code in self.clear_path:
                yield Rule(
                    "dunning_clear",
                    has(*p.ladder.clear),
                    lambda a, c, s, now, memo: target(a, now, memo) == 0,
                    kind=CLEAR,
                )
            here = self.pos.get(code)
            top = len(p.ladder.steps)
            if here is not None and here < top:
                yield Rule(
                    "dunning",
                    has(p.ladder.escalate),
                    lambda a, c, s, now, memo: target(a, now, memo) > here,
                    kind=CLIMB,
                    arg=here,
                )
            down = None if not here else p.ladder.down_trigger(here)
            if here is not None and here > 1 and down is not None:
                yield Rule(
                    "dunning_down",
                    has(down),
                    lambda a, c, s, now, memo: 0 < target(a, now, memo) < here,
                    kind=DOWN,
                    arg=here,
                )
            cancel = p.ladder.climb[-1].cancel
            if here == top and cancel is not None:
                yield Rule("dunning_cancel", has(cancel.trigger), _cancel(target, top, cancel))
        hold = _status_hold(p)
        if hold is not None:
            auto_apply = self.auto_apply

            def owed(a: Any, now: dt.datetime) -> Decimal:
                return dunning_facts(a, now, auto_apply=auto_apply)[1]

            def paid(a: Any, c: int, s: Any, now: dt.datetime, m: list[int]) -> bool:
                return owed(a, now) <= 0

            if code == self.hold:
                if hold.auto_remove:
                    yield Rule("credit_hold_removal", has(hold.remove), paid)
                if hold.releases:
                    releases = hold.releases

                    def released(a: Any, c: int, s: Any, now: dt.datetime, m: list[int]) -> bool:
                        return owed(a, now) > 0 and any(
                            r.account_id == account_id_of(a) and r.covers(now) for r in releases
                        )

                    yield Rule("credit_hold_release", has(hold.release), released)
                if hold.inactive_after_days is not None:
                    yield Rule(
                        "credit_hold_inactive",
                        has(hold.deactivate),
                        _days_in_status(hold.inactive_after_days),
                    )
            if hold.past_due_days is not None:
                into = tuple(
                    t
                    for t in has(hold.place)
                    if any(d == self.hold for _, d, _ in table.candidates(code, t))
                )
                yield Rule("credit_hold", into, _past_due(hold, self.auto_apply))
            if code in self.lifted:
                if hold.auto_remove:
                    yield Rule("credit_hold_removal", has(hold.remove), paid)
                releases = hold.releases

                def ended(a: Any, c: int, s: Any, now: dt.datetime, m: list[int]) -> bool:
                    return owed(a, now) > 0 and not any(
                        r.account_id == account_id_of(a) and r.covers(now) for r in releases
                    )

                yield Rule("credit_hold_return", has(hold.restore), ended)
        if p.archive is not None:
            days = p.archive_after_days
            yield Rule("archive", has(p.archive), _days_in_status(days), kind=DAYS, arg=days)


def _status_hold(policy: AutomationPolicy) -> Any:
    """The policy's credit hold when it moves the status (a hold type placed instead is
    planned beside the status rules, see ``_holds``)."""
    hold = policy.credit_hold
    return hold if hold is not None and hold.hold is None else None


def _cancel(target: Callable[[Any, dt.datetime, list[int]], int], top: int, cancel: Any) -> Wants:
    fact = cancel.fact

    def wants(a: Any, c: int, s: Any, now: dt.datetime, m: list[int]) -> bool:
        if target(a, now, m) < top:
            return False
        if fact is None:
            return True
        when = getattr(a, fact, None)
        if when is None:
            raise MissingFact(account_id=getattr(a, "id", None), fact=fact)
        return bool(now >= when)

    return wants


def _due(attr: str) -> Wants:
    def wants(a: Any, c: int, s: Any, now: dt.datetime, m: list[int]) -> bool:
        when = getattr(a, attr, None)
        return when is not None and now >= when

    return wants


def _expired(a: Any, c: int, s: Any, now: dt.datetime, m: list[int]) -> bool:
    when = getattr(a, "expires_at", None)
    if when is not None and now >= when:
        return True
    first = getattr(a, "first_used_at", None)
    days = getattr(a, "availability_days", None)
    if first is None or days is None:
        return False
    if not isinstance(days, int) or isinstance(days, bool):
        raise InvalidArgument("availability_days", days, "an int")
    return _days(a, first, now, "first_used_at") >= days


def _days_in_status(days: int) -> Wants:
    def wants(a: Any, c: int, s: Any, now: dt.datetime, m: list[int]) -> bool:
        since = _since(a, s)
        return since is not None and _days(a, since, now, "status_since") >= days

    return wants


def _past_due(hold: Any, auto_apply: bool) -> Wants:
    need_days = hold.past_due_days
    need_amount = hold.min_past_due

    def wants(a: Any, c: int, s: Any, now: dt.datetime, m: list[int]) -> bool:
        days, owed, _ = dunning_facts(a, now, auto_apply=auto_apply)
        if days is None or days < need_days:
            return False
        return owed > 0 and owed >= need_amount and not hold.released(getattr(a, "id", None), now)

    return wants


_COMPILED: dict[int, tuple[AutomationPolicy, Compiled]] = {}
_COMPILED_MAX = 64


def compiled(policy: AutomationPolicy) -> Compiled:
    """The compiled form of ``policy``, cached by identity.

    Not by equality: two policies on workflows that differ only in clock or hooks are
    equal, and sharing one compiled form would fire through the wrong workflow. The
    cache holds the policy itself, so an id cannot be reused while its entry lives.
    """
    hit = _COMPILED.get(id(policy))
    if hit is not None and hit[0] is policy:
        return hit[1]
    made = Compiled(policy)
    if len(_COMPILED) >= _COMPILED_MAX:
        del _COMPILED[next(iter(_COMPILED))]
    _COMPILED[id(policy)] = (policy, made)
    return made


class _Shadow:
    """The account as it will be after the planned changes so far (status, since)."""

    __slots__ = ("_account", "_attr", "_code", "status_since")

    def __init__(self, account: Any, attr: str, code: int, since: dt.datetime) -> None:
        self._account = account
        self._attr = attr
        self._code = code
        self.status_since = since

    def __getattr__(self, name: str) -> Any:
        if name == self._attr:
            return self._code
        return getattr(self._account, name)


def _decide(
    c: Compiled, code: int, trigger: str, ctx: GuardContext
) -> tuple[int | None, list[Refusal]]:
    """Where ``trigger`` leads from ``code`` for this account, as the engine decides:
    the first candidate edge, in declaration order, whose guards all pass."""
    edge, refusals, denied = c.table.decide(code, trigger, ctx)
    if edge is not None:
        return edge.dest.code, refusals
    if denied is not None:
        actor = c.actor
        refusals.append(Refusal("permission", f"actor {actor.id!r} lacks {denied.permission!r}"))
    return None, refusals


class _InZone:
    """An account that gives no billing time zone, read in the workflow's default one."""

    __slots__ = ("_account", "timezone")

    def __init__(self, account: Any, zone: str) -> None:
        self._account = account
        self.timezone = zone

    def __getattr__(self, name: str) -> Any:
        return getattr(self._account, name)


def in_default_zone(workflow: Any, account: Any) -> Any:
    """``account`` as the rules read it: in the workflow's ``default_timezone`` when it
    gives no billing time zone of its own (for reading only: changes go to the account)."""
    zone = workflow.default_timezone
    if zone is not None and own(account, "timezone") is None:
        return _InZone(account, zone)
    return account


def plan_one(
    c: Compiled, account: Any, now: dt.datetime
) -> tuple[list[Change], list[Refused]] | None:
    """Plan one account to its fixed point; ``None`` when nothing applies.

    Raises:
        AcctStateError: an unknown status, facts of the wrong type, or rules that undo
            each other and never settle.
    """
    # Compare instants in UTC: datetimes that share a tzinfo compare by wall time and
    # ignore ``fold``, so a due instant written in the account's own zone could be
    # misread in the hour the clocks fall back. The changes keep the caller's ``now``.
    at = now
    now = now.astimezone(dt.UTC)
    account = in_default_zone(c.policy.workflow, account)
    code = getattr(account, c.status_attr)
    rules = c.rules.get(code) if type(code) is int else None
    if rules is None:
        if type(code) is int and code in c.by_code:
            return None
        raise UnknownStatus(code, known=[s.name for s in c.by_code.values()])
    memo = [-1]
    try:
        # Most accounts have nothing to do: find that out before setting anything up,
        # testing the common rule shapes inline (the same tests as their ``wants``).
        for rule in rules:
            kind = rule.kind
            if kind == DUE:
                when = getattr(account, rule.attr, None)
                if when is not None and now >= when:
                    break
            elif kind in (CLIMB, CLEAR, DOWN):
                step = memo[0] if memo[0] != -1 else c.target(account, now, memo)
                if (
                    (step > rule.arg)
                    if kind == CLIMB
                    else (step == 0)
                    if kind == CLEAR
                    else (0 < step < rule.arg)
                ):
                    break
            elif kind == DAYS:
                since = getattr(account, "status_since", None)
                if since is not None and _days(account, since, now, "status_since") >= rule.arg:
                    break
            elif rule.wants(account, code, _UNSET, now, memo):
                break
        else:
            return None
    except TypeError as exc:
        raise _naive(account, exc) from None
    return _walk(c, account, now, at, code, rules, memo)


def _naive(account: Any, exc: TypeError) -> InvalidArgument:
    # Comparing a naive datetime (or a non-date) with ``now``.
    return InvalidArgument(
        "account", getattr(account, "id", None), f"timezone-aware datetime facts ({exc})"
    )


def _walk(
    c: Compiled,
    account: Any,
    now: dt.datetime,
    at: dt.datetime,
    code: int,
    rules: tuple[Rule, ...],
    memo: list[int],
) -> tuple[list[Change], list[Refused]] | None:
    since: Any = _UNSET
    changes: list[Change] = []
    try:
        for _ in range(c.limit):
            ctx: GuardContext | None = None
            blocked: list[Refused] = []
            fired: Change | None = None
            for rule in rules:
                # Conditions read the account's facts; only status and status_since
                # move during a walk, and those are passed in.
                if not rule.wants(account, code, since, now, memo):
                    continue
                if ctx is None:
                    view = (
                        account if since is _UNSET else _Shadow(account, c.status_attr, code, since)
                    )
                    ctx = GuardContext(view, at, c.actor)
                refused: list[Refusal] = []
                for trigger in rule.triggers:
                    dest, why = _decide(c, code, trigger, ctx)
                    if dest is not None:
                        fired = (rule.name, trigger, code, dest)
                        break
                    refused.extend(why)
                if fired is not None:
                    break
                blocked.append((rule.name, rule.triggers[0], code, tuple(refused)))
            if fired is None:
                if not changes and not blocked:
                    return None
                return changes, blocked
            changes.append(fired)
            code, since = fired[3], at
            rules = c.rules.get(code, ())
    except TypeError as exc:
        raise _naive(account, exc) from None
    names = " -> ".join(c.by_code[ch[3]].name for ch in changes[-4:])
    raise SweepError(
        account_id=getattr(account, "id", None),
        problem=(
            f"the rules did not settle after {len(changes)} changes (... {names}); two rules "
            "undo each other"
        ),
    )
