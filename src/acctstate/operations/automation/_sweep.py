"""The per-account sweep: evaluate every rule, plan the changes, then apply them.

Planning runs each account to a fixed point: after a change the rules are evaluated
again on the new status (``status_since`` becomes ``now``), until no rule moves the
account. That is what makes the sweep idempotent — a second sweep at the same ``now``
finds nothing to do — and what makes an interrupted run safe to repeat: whatever step
an account reached, planning continues from there to the same end.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import attrs

from acctstate.core._workflow_fire import carry_out, plan_change, plan_without_data
from acctstate.operations.automation._autoapply import (
    AfterAutoApply,
    book_allocations,
    planned_allocations,
)
from acctstate.operations.automation._holds import (
    HoldAction,
    hold_actions,
    hold_mode,
    plan_hold_action,
)
from acctstate.operations.automation._policy import RULES, AutomationPolicy
from acctstate.operations.automation._rules import (
    Change,
    Compiled,
    Refused,
    compiled,
    in_default_zone,
    plan_one,
)
from acctstate.operations.holds._place import commit_hold
from acctstate.values._views import show, show_html
from acctstate.values.account import account_id_of, id_label
from acctstate.values.clock import require_aware
from acctstate.values.effects import Hooks
from acctstate.values.errors import AcctStateError, InvalidArgument, PlanOutdated, SweepError
from acctstate.values.guards import Refusal
from acctstate.values.history import StatusChange
from acctstate.values.ledger import ApplyPayment
from acctstate.values.status import Status

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


@attrs.frozen
class PlannedChange:
    """One transition the sweep will fire, and the rule that asked for it.

    A hold change (trigger ``"place_hold"`` or ``"release_hold"``) goes from the status
    to itself and names the hold: ``hold`` (its id) and ``hold_type``.
    """

    rule: str
    trigger: str
    source: Status
    dest: Status
    hold: str | None = None
    hold_type: str | None = None

    def __str__(self) -> str:
        if self.hold is not None:
            return f"{self.rule}: {self.hold_type} hold {self.hold!r} [{self.trigger}]"
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
        applied: the daily auto-apply's allocations, booked before the changes (a policy
            with ``auto_apply``).
    """

    account: Any = attrs.field(eq=False, repr=False)
    account_id: str
    policy: AutomationPolicy = attrs.field(eq=False, repr=False)
    at: dt.datetime
    changes: tuple[PlannedChange, ...] = ()
    blocked: tuple[Blocked, ...] = ()
    error: AcctStateError | None = attrs.field(default=None, eq=False)
    applied: tuple[ApplyPayment, ...] = ()

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
        plans: one [`AccountPlan`][acctstate.automation.AccountPlan] per account with changes,
            refusals or an error.
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

    def __repr__(self) -> str:
        return (
            f"<SweepPlan at {self.at.isoformat()}: {self.examined} examined, "
            f"{len(self.plans)} to act on, {self.changes} changes>"
        )

    def _repr_html_(self) -> str:
        return show_html("sweep_html", self)

    def to_frame(self) -> Any:
        """One row per planned change, blocked rule and error, as a pandas DataFrame."""
        return show("to_frame", self)


@attrs.frozen
class Applied:
    """What [`apply`][acctstate.automation.apply] did to one account: the changes made, and the
    error that stopped it, if any (the changes before the error stand)."""

    account_id: str
    changes: tuple[StatusChange, ...]
    error: AcctStateError | None = attrs.field(default=None, eq=False)


@attrs.frozen
class ApplyOutcome:
    """One [`Applied`][acctstate.automation.Applied] per planned account; never stops at the first
    failure."""

    results: tuple[Applied, ...]

    @property
    def changes(self) -> int:
        """The number of transitions made."""
        return sum(len(r.changes) for r in self.results)

    @property
    def failed(self) -> tuple[Applied, ...]:
        """The accounts that stopped on an error."""
        return tuple(r for r in self.results if r.error is not None)

    def __repr__(self) -> str:
        return (
            f"<ApplyOutcome: {self.changes} changes on {len(self.results)} accounts, "
            f"{len(self.failed)} failed>"
        )

    def _repr_html_(self) -> str:
        return show_html("apply_html", self)

    def to_frame(self) -> Any:
        """One row per change made (and per error), as a pandas DataFrame."""
        return show("to_frame", self)


def _account_plan(
    c: Compiled,
    account: Any,
    now: dt.datetime,
    changes: list[Change],
    blocked: list[Refused],
    held: Sequence[HoldAction] = (),
) -> AccountPlan:
    by = c.by_code
    made = c.made
    planned = []
    if held:
        here = by[getattr(account, c.status_attr)]
        planned = [PlannedChange(r, t, here, here, hid, ht) for r, t, hid, ht in held]
    for change in changes:
        # Changes are values and a policy has few distinct ones: share them.
        value = made.get(change)
        if value is None:
            rule, trigger, source, dest = change
            value = made[change] = PlannedChange(rule, trigger, by[source], by[dest])
        planned.append(value)
    return AccountPlan(
        account,
        account_id_of(account),
        c.policy,
        now,
        tuple(planned),
        tuple(Blocked(r, t, by[a], why) for r, t, a, why in blocked),
    )


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
    The rules are tried in [`RULES`][acctstate.automation.RULES] order; the first whose
    condition holds and whose transition the guards allow is planned, then the rules
    run again on the new status, until none applies. A rule that holds but is refused
    is reported in ``blocked`` with the refusals.

    Args:
        accounts: ``Account`` objects or host objects (facts read with ``getattr``).
        policy: one policy, or one per account class.
        now: the instant of the sweep (timezone-aware); every change is effective then.

    Returns:
        A [`SweepPlan`][acctstate.automation.SweepPlan] with one
        [`AccountPlan`][acctstate.automation.AccountPlan] per account that would change, was
        refused, or could not be planned (bad facts: ``error``).

    Raises:
        InvalidArgument: ``now`` is naive, or two policies share a class.

    >>> from decimal import Decimal
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
    compiled_ = {k: compiled(p) for k, p in by_class.items() if p.enabled}
    fallback = compiled_.get(None)
    only = fallback if len(by_class) == 1 else None
    placing = [c for c in compiled_.values() if hold_mode(c.policy) is not None]
    plans: list[AccountPlan] = []
    examined = 0
    for account in accounts:
        examined += 1
        if only is not None:
            c = only
        else:
            cls = getattr(account, "account_class", None)
            found = compiled_.get(cls)
            if found is None:
                if cls in by_class or fallback is None:
                    continue
                found = fallback
            c = found
        try:
            applied = (
                planned_allocations(in_default_zone(c.policy.workflow, account), now)
                if c.auto_apply
                else ()
            )
            # Planned on the facts apply will find once it has booked the allocations.
            planned = plan_one(c, AfterAutoApply(account, applied) if applied else account, now)
            # Hold rules: only for accounts with holds, or a policy placing holds.
            held = (
                hold_actions(c.policy, account, now)
                if getattr(account, "holds", None) or c in placing
                else None
            )
            if held or planned is not None:
                made = _account_plan(c, account, now, *(planned or ([], [])), held or ())
                plans.append(attrs.evolve(made, applied=applied) if applied else made)
            elif applied:
                plans.append(
                    AccountPlan(account, id_label(account), c.policy, now, applied=applied)
                )
        except AcctStateError as exc:
            plans.append(AccountPlan(account, id_label(account), c.policy, now, error=exc))
    return SweepPlan(now, examined, tuple(plans))


def _cancel_data(p: AutomationPolicy) -> dict[str, Any]:
    """The event data of a ladder's cancellation: its refund policy."""
    cancel = None if p.ladder is None else p.ladder.climb[-1].cancel
    return {} if cancel is None else {"refund": cancel.refund}


def apply(plan: SweepPlan | Iterable[AccountPlan], *, hooks: Hooks | None = None) -> ApplyOutcome:
    """Carry out planned changes as the policy's system actor, deciding each change once.

    Each change is planned again against the account's facts now (its guards evaluated
    once, as ``Workflow.plan`` does) and, when it still leads where the sweep said, that
    planned change is carried out: its effects run through the hooks, then it is
    committed, as ``Workflow.fire`` would (a payment that arrived in between is
    respected, not overridden). An account stops at its first error; the others go on.
    A plan with auto-apply allocations books them first, as one history entry
    (trigger ``auto_apply``) among the account's changes.
    The cyclic garbage collector is held off while it runs (and restored as it was).

    Args:
        plan: a [`SweepPlan`][acctstate.automation.SweepPlan] (or some of its account plans).
        hooks: hooks for the effects (default: each workflow's own).

    Returns:
        An [`ApplyOutcome`][acctstate.automation.ApplyOutcome] with one
        [`Applied`][acctstate.automation.Applied] per account plan that had changes.
    """
    # The run allocates a few acyclic objects per change (changes, history entries,
    # outcomes); a collection during it would walk every one again, so the cost per
    # account would grow with the plan. Reference counting still frees what it drops;
    # the collector is restored as it was found.
    was = gc.isenabled()
    gc.disable()
    try:
        return _apply(plan, hooks)
    finally:
        if was:
            gc.enable()


def _apply(plan: SweepPlan | Iterable[AccountPlan], hooks: Hooks | None) -> ApplyOutcome:
    results: list[Applied] = []
    notes: dict[str, str] = {}
    for account_plan in plan:
        if not account_plan.changes and not account_plan.applied:
            continue
        p = account_plan.policy
        wf = p.workflow
        by_code = wf._by_code
        attr = wf.status_attr
        account = account_plan.account
        at = account_plan.at
        actor = p.actor
        reason = p.reason
        done: list[StatusChange] = []
        error: AcctStateError | None = None
        try:
            # Allocated again against the facts as they are now (a payment applied by
            # hand in between is respected): the same allocations when nothing moved.
            fresh = (
                planned_allocations(in_default_zone(wf, account), at)
                if account_plan.applied
                else ()
            )
            if fresh:
                done.append(
                    book_allocations(
                        wf, account, fresh, at, actor=actor, reason=reason, hooks=hooks
                    )
                )
            for change in account_plan.changes:
                if change.hold is not None:
                    action = (change.rule, change.trigger, change.hold, str(change.hold_type))
                    made, after = plan_hold_action(wf, p, account, action, at)
                    commit_hold(wf, account, made, after, hooks)
                    done.append(made)
                    continue
                code = getattr(account, attr, None)
                here = by_code.get(code) if type(code) is int else None
                if here is not change.source:
                    here = wf.status_of(account)
                    if here != change.source:
                        raise PlanOutdated(
                            account_id=account_plan.account_id,
                            expected=change.source,
                            found=here,
                            trigger=change.trigger,
                        )
                note = notes.get(change.rule)
                if note is None:
                    note = notes[change.rule] = f"automation: {change.rule}"
                if change.rule == "dunning_cancel":
                    made = plan_change(
                        wf,
                        account,
                        change.trigger,
                        at,
                        reason,
                        note,
                        actor,
                        _cancel_data(p),
                        through_engine=False,
                    )
                else:
                    made = plan_without_data(wf, account, change.trigger, at, reason, note, actor)
                dest = made.dest
                if dest is not change.dest and dest != change.dest:
                    raise PlanOutdated(
                        account_id=account_plan.account_id,
                        expected=change.dest,
                        found=dest,
                        trigger=change.trigger,
                        dest=True,
                    )
                # Just planned against the facts as they are: carry it out, no re-plan.
                carry_out(wf, account, made, hooks)
                done.append(made)
        except AcctStateError as exc:
            error = exc
        results.append(Applied(account_plan.account_id, tuple(done), error))
    return ApplyOutcome(tuple(results))
