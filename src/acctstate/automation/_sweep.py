"""The per-account sweep: evaluate every rule, plan the changes, then apply them.

Planning runs each account to a fixed point: after a change the rules are evaluated
again on the new status (``status_since`` becomes ``now``), until no rule moves the
account. That is what makes the sweep idempotent — a second sweep at the same ``now``
finds nothing to do — and what makes an interrupted run safe to repeat: whatever step
an account reached, planning continues from there to the same end.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import attrs

from acctstate.automation._policy import (
    RULES,
    AutomationPolicy,
    _clear_reach,
)
from acctstate.clock import require_aware
from acctstate.effects import Hooks
from acctstate.errors import AcctStateError, InvalidArgument, UnknownStatus
from acctstate.guards import GuardContext, Refusal
from acctstate.history import StatusChange
from acctstate.status import Status

__all__ = [
    "AccountPlan",
    "Applied",
    "ApplyOutcome",
    "Blocked",
    "PlanOutdated",
    "PlannedChange",
    "SweepError",
    "SweepPlan",
    "apply",
    "sweep",
]


class SweepError(AcctStateError):
    """An account could not be planned or applied by the sweep.

    Attributes:
        account_id: the account concerned.
        problem: what went wrong.
    """

    def __init__(self, *, account_id: object, problem: str) -> None:
        self.account_id = account_id
        self.problem = problem
        super().__init__(f"account {account_id!r}: {problem}")


class PlanOutdated(SweepError):
    """The account is no longer where the plan left it; sweep again.

    Attributes:
        expected: the status the plan expected.
        found: the status the account is in.
        trigger: the planned trigger that was not fired.
    """

    def __init__(
        self,
        *,
        account_id: object,
        expected: Status,
        found: Status,
        trigger: str,
        dest: bool = False,
    ) -> None:
        self.expected = expected
        self.found = found
        self.trigger = trigger
        what = (
            f"it now leads to {found.name!r} ({found.code}), not the planned "
            f"{expected.name!r} ({expected.code})"
            if dest
            else f"the plan expected status {expected.name!r} ({expected.code}) but the "
            f"account is in {found.name!r} ({found.code})"
        )
        super().__init__(
            account_id=account_id, problem=f"cannot apply {trigger!r}: {what}; sweep again"
        )


@attrs.frozen
class PlannedChange:
    """One transition the sweep will fire, and the rule that asked for it."""

    rule: str
    trigger: str
    source: Status
    dest: Status

    def __str__(self) -> str:
        return f"{self.rule}: {self.source.name} -> {self.dest.name} [{self.trigger}]"


@attrs.frozen
class Blocked:
    """A rule that wanted to move the account, but the workflow's guards refused.

    Attributes:
        rule: the rule.
        trigger: the (first) trigger it tried.
        status: the status the account was in.
        refusals: every refusal, with its guard and reason.
    """

    rule: str
    trigger: str
    status: Status
    refusals: tuple[Refusal, ...]

    def __str__(self) -> str:
        why = "; ".join(str(r) for r in self.refusals)
        return f"{self.rule}: {self.trigger!r} from {self.status.name} refused ({why})"


@attrs.frozen
class AccountPlan:
    """What the sweep will do to one account.

    Attributes:
        account: the account object (compared by identity, not shown).
        account_id: its id.
        policy: the policy that planned it.
        at: the sweep's ``now``; every change is effective then.
        changes: the transitions, in order (a ladder jump is one change per step).
        blocked: rules that wanted to act but were refused, in the final status.
        error: why the account could not be planned, if it could not.
    """

    account: Any = attrs.field(eq=False, repr=False)
    account_id: str
    policy: AutomationPolicy = attrs.field(eq=False, repr=False)
    at: dt.datetime
    changes: tuple[PlannedChange, ...] = ()
    blocked: tuple[Blocked, ...] = ()
    error: AcctStateError | None = attrs.field(default=None, eq=False)

    @property
    def final(self) -> Status | None:
        """The status the account ends in (``None`` when nothing changes)."""
        return self.changes[-1].dest if self.changes else None


@attrs.frozen
class SweepPlan:
    """Every account the sweep would change, or that a rule could not move.

    Attributes:
        at: the sweep's ``now``.
        examined: how many accounts were evaluated.
        plans: one :class:`AccountPlan` per account with changes, refusals or an error.
    """

    at: dt.datetime
    examined: int
    plans: tuple[AccountPlan, ...]

    def __iter__(self) -> Iterator[AccountPlan]:
        return iter(self.plans)

    def __len__(self) -> int:
        return len(self.plans)

    @property
    def changes(self) -> int:
        """The number of transitions planned."""
        return sum(len(p.changes) for p in self.plans)

    def by_rule(self) -> dict[str, int]:
        """How many transitions each rule planned, in rule order."""
        counts = dict.fromkeys(RULES, 0)
        for p in self.plans:
            for c in p.changes:
                counts[c.rule] += 1
        return {k: v for k, v in counts.items() if v}

    def for_account(self, account_id: str) -> AccountPlan | None:
        """The plan of one account, or ``None`` when the sweep leaves it alone."""
        for p in self.plans:
            if p.account_id == account_id:
                return p
        return None


@attrs.frozen
class Applied:
    """What :func:`apply` did to one account: the changes made, and the error that
    stopped it, if any (the changes before the error stand)."""

    account_id: str
    changes: tuple[StatusChange, ...]
    error: AcctStateError | None = attrs.field(default=None, eq=False)


@attrs.frozen
class ApplyOutcome:
    """One :class:`Applied` per planned account; never stops at the first failure."""

    results: tuple[Applied, ...]

    @property
    def changes(self) -> int:
        """The number of transitions made."""
        return sum(len(r.changes) for r in self.results)

    @property
    def failed(self) -> tuple[Applied, ...]:
        """The accounts that stopped on an error."""
        return tuple(r for r in self.results if r.error is not None)


# -- compiling a policy for fast evaluation ----------------------------------------------


class _Compiled:
    """A policy turned into per-status rule lists, computed once per policy."""

    __slots__ = (
        "by_code",
        "clear_path",
        "hold",
        "ladder",
        "policy",
        "pos",
        "rules",
        "status_attr",
        "table",
    )

    def __init__(self, policy: AutomationPolicy) -> None:
        wf = policy.workflow
        self.policy = policy
        self.table = wf.table
        self.status_attr = wf.status_attr
        self.by_code = {s.code: s for s in wf.catalog}
        self.ladder = policy.ladder
        pos: dict[int, int] = {}
        clear_path: set[int] = set()
        if policy.ladder is not None:
            ladder = policy.ladder
            home = wf.catalog[ladder.home].code
            pos[home] = 0
            for i, step in enumerate(ladder.steps, start=1):
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
        hold = policy.credit_hold
        self.hold = None if hold is None else wf.catalog[hold.status].code
        rules: dict[int, tuple[tuple[str, tuple[str, ...]], ...]] = {}
        for code in self.by_code:
            found = [(name, ts) for name, ts in self._candidates(code) if ts]
            if found:
                rules[code] = tuple(found)
        self.rules = rules

    def _candidates(self, code: int) -> Iterator[tuple[str, tuple[str, ...]]]:
        p = self.policy

        def has(*names: str | None) -> tuple[str, ...]:
            return tuple(n for n in names if n is not None and self.table.candidates(code, n))

        for name in ("trial_end", "activation", "expiration", "contract_expiry"):
            yield name, has(getattr(p, name))
        if p.ladder is not None:
            here = self.pos.get(code)
            if code in self.clear_path:
                yield "dunning_clear", has(*p.ladder.clear)
            if here is not None and here < len(p.ladder.steps):
                yield "dunning", has(p.ladder.escalate)
        hold = p.credit_hold
        if hold is not None:
            if code == self.hold:
                if hold.auto_remove:
                    yield "credit_hold_removal", has(hold.remove)
                if hold.releases:
                    yield "credit_hold_release", has(hold.release)
                if hold.inactive_after_days is not None:
                    yield "credit_hold_inactive", has(hold.deactivate)
            if hold.past_due_days is not None:
                yield (
                    "credit_hold",
                    tuple(
                        t
                        for t in has(hold.place)
                        if any(d == self.hold for _, d, _ in self.table.candidates(code, t))
                    ),
                )
        if p.archive is not None:
            yield "archive", has(p.archive)


@functools.lru_cache(maxsize=64)
def _compiled(policy: AutomationPolicy) -> _Compiled:
    return _Compiled(policy)


# -- reading facts -------------------------------------------------------------------------


def _when(account: Any, name: str) -> dt.datetime | None:
    value = getattr(account, name, None)
    if value is None:
        return None
    return require_aware(value, name)


def _money(account: Any, name: str) -> Decimal:
    value = getattr(account, name, None)
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise InvalidArgument(name, value, "a Decimal amount (float money is refused)")


def _int(account: Any, name: str) -> int | None:
    value = getattr(account, name, None)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(name, value, "an int")
    return value


class _Facts:
    """The facts the rules read, taken from the account once per sweep."""

    __slots__ = ("balance", "days_past_due", "invoices", "target")

    def __init__(self, c: _Compiled, account: Any, now: dt.datetime) -> None:
        self.balance = _money(account, "balance")
        self.invoices = _int(account, "unpaid_invoices") or 0
        oldest = _when(account, "oldest_unpaid_at")
        self.days_past_due = None if oldest is None else (now - oldest).days
        ladder = c.ladder
        self.target = (
            0 if ladder is None else ladder.target(self.days_past_due, self.balance, self.invoices)
        )


def _due(account: Any, name: str, now: dt.datetime) -> bool:
    when = _when(account, name)
    return when is not None and now >= when


def _wants(
    rule: str,
    c: _Compiled,
    account: Any,
    facts: _Facts,
    code: int,
    since: dt.datetime | None,
    now: dt.datetime,
) -> bool:
    p = c.policy
    if rule == "dunning":
        return facts.target > c.pos[code]
    if rule == "dunning_clear":
        return facts.target == 0
    if rule in ("trial_end", "activation", "contract_expiry"):
        attr = {
            "trial_end": "trial_ends_at",
            "activation": "activated_at",
            "contract_expiry": "contract_ends_at",
        }[rule]
        return _due(account, attr, now)
    if rule == "expiration":
        if _due(account, "expires_at", now):
            return True
        first = _when(account, "first_used_at")
        days = _int(account, "availability_days")
        return first is not None and days is not None and now >= first + dt.timedelta(days=days)
    if rule == "archive":
        return since is not None and (now - since).days >= p.archive_after_days
    hold = p.credit_hold
    assert hold is not None
    if rule == "credit_hold_removal":
        return facts.balance <= 0
    if rule == "credit_hold_release":
        return facts.balance > 0 and hold.released(getattr(account, "id", None), now)
    if rule == "credit_hold_inactive":
        assert hold.inactive_after_days is not None
        return since is not None and (now - since).days >= hold.inactive_after_days
    if rule == "credit_hold":
        assert hold.past_due_days is not None
        return (
            facts.days_past_due is not None
            and facts.days_past_due >= hold.past_due_days
            and facts.balance > 0
            and facts.balance >= hold.min_past_due
            and not hold.released(getattr(account, "id", None), now)
        )
    raise AssertionError(rule)  # pragma: no cover


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
    c: _Compiled, code: int, trigger: str, ctx: GuardContext
) -> tuple[int | None, list[Refusal]]:
    """Where ``trigger`` leads from ``code`` for this account, as the engine decides."""
    refusals: list[Refusal] = []
    actor = c.policy.actor
    for _, dest, edge in c.table.candidates(code, trigger):
        if edge.permission is not None and not actor.can(edge.permission):
            refusals.append(Refusal("permission", f"actor {actor.id!r} lacks {edge.permission!r}"))
            continue
        ok = True
        for g in edge.guards:
            r = g(ctx)
            if r is not None:
                refusals.append(r)
                ok = False
        if ok:
            return dest, refusals
    return None, refusals


def _plan_account(c: _Compiled, account: Any, now: dt.datetime) -> AccountPlan | None:
    account_id = str(getattr(account, "id", None))
    policy = c.policy
    try:
        code = getattr(account, c.status_attr)
        if type(code) is not int or code not in c.by_code:
            raise UnknownStatus(code, known=[s.name for s in c.by_code.values()])
        rules = c.rules.get(code)
        if rules is None:
            return None
        facts = _Facts(c, account, now)
        since = _when(account, "status_since")
        changes: list[PlannedChange] = []
        view: Any = account
        for _ in range(2 * len(c.by_code) + 1):
            blocked: list[Blocked] = []
            fired: tuple[str, str, int] | None = None
            ctx = GuardContext(view, now, policy.actor)
            for rule, triggers in c.rules.get(code, ()):
                if not _wants(rule, c, view, facts, code, since, now):
                    continue
                refused: list[Refusal] = []
                for trigger in triggers:
                    dest, why = _decide(c, code, trigger, ctx)
                    if dest is not None:
                        fired = (rule, trigger, dest)
                        break
                    refused.extend(why)
                if fired is not None:
                    break
                blocked.append(Blocked(rule, triggers[0], c.by_code[code], tuple(refused)))
            if fired is None:
                if not changes and not blocked:
                    return None
                return AccountPlan(account, account_id, policy, now, tuple(changes), tuple(blocked))
            rule, trigger, dest = fired
            changes.append(PlannedChange(rule, trigger, c.by_code[code], c.by_code[dest]))
            code, since = dest, now
            view = _Shadow(account, c.status_attr, code, now)
        raise SweepError(
            account_id=account_id,
            problem=(
                f"the rules did not settle after {len(changes)} changes "
                f"({' -> '.join(ch.dest.name for ch in changes[-4:])} ...); two rules undo "
                "each other"
            ),
        )
    except AcctStateError as exc:
        return AccountPlan(account, account_id, policy, now, error=exc)


def _policies(
    policy: AutomationPolicy | Sequence[AutomationPolicy],
) -> dict[str | None, AutomationPolicy]:
    given = [policy] if isinstance(policy, AutomationPolicy) else list(policy)
    out: dict[str | None, AutomationPolicy] = {}
    for p in given:
        if not isinstance(p, AutomationPolicy):
            raise InvalidArgument("policy", p, "an AutomationPolicy (or a sequence of them)")
        if p.account_class in out:
            raise InvalidArgument("policy", p.account_class, "at most one policy per account class")
        out[p.account_class] = p
    return out


def sweep(
    accounts: Iterable[Any],
    policy: AutomationPolicy | Sequence[AutomationPolicy],
    *,
    now: dt.datetime,
) -> SweepPlan:
    """Evaluate every rule for every account and plan the changes; nothing changes.

    Each account takes the policy of its ``account_class`` (or the policy with class
    ``None``); accounts without one, and those of a disabled policy, are left alone.
    The rules are tried in :data:`~acctstate.automation.RULES` order; the first whose
    condition holds and whose transition the guards allow is planned, then the rules
    run again on the new status, until none applies. A rule that holds but is refused
    is reported in ``blocked`` with the refusals.

    Args:
        accounts: ``Account`` objects or host objects (facts read with ``getattr``).
        policy: one policy, or one per account class.
        now: the instant of the sweep (timezone-aware); every change is effective then.

    Returns:
        A :class:`SweepPlan` with one :class:`AccountPlan` per account that would
        change, was refused, or could not be planned (bad facts: ``error``).

    Raises:
        InvalidArgument: ``now`` is naive, or two policies share a class.

    >>> from acctstate.presets import isp
    >>> from acctstate.automation import AutomationPolicy, reference_ladder
    >>> wf = isp.workflow()
    >>> now = dt.datetime(2026, 3, 6, 2, 0, tzinfo=dt.UTC)
    >>> late = wf.open("A-9", "active", at=now - dt.timedelta(days=90), imported=True,
    ...                balance=Decimal("80"), unpaid_invoices=2,
    ...                oldest_unpaid_at=now - dt.timedelta(days=31))
    >>> plan = sweep([late], AutomationPolicy(wf, ladder=reference_ladder()), now=now)
    >>> for change in plan.plans[0].changes:
    ...     print(change)
    dunning: active -> active_dunning_pending [escalate_dunning]
    dunning: active_dunning_pending -> active_dunning_1 [escalate_dunning]
    dunning: active_dunning_1 -> active_dunning_2 [escalate_dunning]
    """
    require_aware(now, "now")
    by_class = _policies(policy)
    fallback = by_class.get(None)
    compiled = {k: _compiled(p) for k, p in by_class.items() if p.enabled}
    plans: list[AccountPlan] = []
    examined = 0
    for account in accounts:
        examined += 1
        cls = getattr(account, "account_class", None)
        c = compiled.get(cls)
        if c is None:
            if cls in by_class or fallback is None or not fallback.enabled:
                continue
            c = compiled[None]
        planned = _plan_account(c, account, now)
        if planned is not None:
            plans.append(planned)
    return SweepPlan(now, examined, tuple(plans))


def apply(plan: SweepPlan | Iterable[AccountPlan], *, hooks: Hooks | None = None) -> ApplyOutcome:
    """Carry out planned changes with ``Workflow.fire``, as the policy's system actor.

    Each change is re-planned first and fired only when it still leads where the sweep
    said (a payment that arrived in between is respected, not overridden). An account
    stops at its first error; the others go on.

    Args:
        plan: a :class:`SweepPlan` (or some of its account plans).
        hooks: hooks for the effects (default: each workflow's own).

    Returns:
        An :class:`ApplyOutcome` with one :class:`Applied` per account plan that had
        changes.
    """
    results: list[Applied] = []
    for account_plan in plan:
        if not account_plan.changes:
            continue
        p = account_plan.policy
        wf = p.workflow
        account = account_plan.account
        done: list[StatusChange] = []
        error: AcctStateError | None = None
        try:
            for change in account_plan.changes:
                here = wf.status_of(account)
                if here != change.source:
                    raise PlanOutdated(
                        account_id=account_plan.account_id,
                        expected=change.source,
                        found=here,
                        trigger=change.trigger,
                    )
                options: dict[str, Any] = {
                    "at": account_plan.at,
                    "actor": p.actor,
                    "reason": p.reason,
                    "note": f"automation: {change.rule}",
                }
                dest = wf.plan(account, change.trigger, **options).dest
                if dest != change.dest:
                    raise PlanOutdated(
                        account_id=account_plan.account_id,
                        expected=change.dest,
                        found=dest,
                        trigger=change.trigger,
                        dest=True,
                    )
                done.append(wf.fire(account, change.trigger, hooks=hooks, **options))
        except AcctStateError as exc:
            error = exc
        results.append(Applied(account_plan.account_id, tuple(done), error))
    return ApplyOutcome(tuple(results))
