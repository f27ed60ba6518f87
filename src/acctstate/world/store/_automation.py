"""What both stores share to run automation: the policies of a run, planning one
account's steps as ordinary changes, and tallying a [`RunReport`][acctstate.store.RunReport].

An account's automated steps are planned by the automation's rules (the same decisions as
[`acctstate.automation.sweep`][acctstate.automation.sweep]), then each step is planned again by the
workflow against the account as it will be after the steps before it -- its stored state, its
history and the host's facts -- exactly as ``store.fire`` would, so the history and
outbox rows of a nightly run are those the per-account path writes.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from acctstate.core.workflow import Workflow
from acctstate.operations.automation import RULES, AutomationPolicy
from acctstate.operations.automation._autoapply import refuse_auto_apply
from acctstate.operations.automation._rules import Compiled, compiled
from acctstate.operations.automation._sweep import _cancel_data, _policies
from acctstate.values.errors import InvalidArgument, PlanOutdated
from acctstate.values.history import History, StatusChange
from acctstate.values.holds import Hold
from acctstate.world.store._codec import normalised
from acctstate.world.store._facts import AccountView
from acctstate.world.store._types import Progress, RunReport, StoredAccount

__all__ = ["Hop", "Policies", "Tally", "check_progress", "plan_hops"]

Hop = tuple[str, str, int, int]
"""One planned step: ``(rule, trigger, source code, dest code)``."""


class Policies:
    """The policies of one run by account class, checked against the store's workflow.

    Raises:
        InvalidArgument: not policies, two for one class, a policy on another workflow,
            or one with the daily auto-apply (a store keeps no invoices to apply to).
    """

    def __init__(
        self, workflow: Workflow, policy: AutomationPolicy | Sequence[AutomationPolicy]
    ) -> None:
        self.given = policy
        self.by_class = _policies(policy)
        for p in self.by_class.values():
            if p.workflow != workflow:
                raise InvalidArgument(
                    "policy", p, f"a policy on the store's workflow {workflow.name!r}"
                )
        refuse_auto_apply(
            self.by_class.values(),
            "a policy without the daily auto-apply: a store keeps no invoices, so its "
            "nightly run cannot apply payments and credits (the host applies them in its "
            "own ledger and gives past_due_balance as a fact)",
        )
        self.compiled = {k: compiled(p) for k, p in self.by_class.items() if p.enabled}
        fallback = self.compiled.get(None)
        self._fallback = fallback
        self._only = fallback if len(self.by_class) == 1 else None
        # Triggers with an edge whose effect rules may read the account's history.
        self.reads_history = frozenset(e.trigger for e in workflow.transitions if e.effects)

    def pick(self, account: Any) -> Compiled | None:
        """The compiled policy for ``account`` (as the per-account sweep picks it)."""
        if self._only is not None:
            return self._only
        cls = getattr(account, "account_class", None)
        found = self.compiled.get(cls)
        if found is None and cls not in self.by_class:
            return self._fallback
        return found


def plan_hops(
    workflow: Workflow,
    c: Compiled,
    stored: StoredAccount,
    facts: Mapping[str, Any] | None,
    history: History | None,
    hops: Sequence[Hop],
    now: dt.datetime,
    holds: Sequence[Hold] = (),
) -> list[StatusChange]:
    """Each step planned by the workflow against the account as it will be by then
    (with ``holds`` standing: effects follow the effective capability).

    It also raises every error of
    [`acctstate.workflow.Workflow.plan`][acctstate.workflow.Workflow.plan].

    Raises:
        PlanOutdated: a step leads elsewhere than the rules said.
    """
    policy = c.policy
    by_code = c.by_code
    changes: list[StatusChange] = []
    for rule, trigger, _source, dest in hops:
        view = AccountView(stored, facts, history, {}, holds)
        # A ladder's cancellation carries its refund policy as event data, as in apply.
        data = _cancel_data(policy) if rule == "dunning_cancel" else {}
        change = normalised(
            workflow.plan(
                view,
                trigger,
                at=now,
                reason=policy.reason,
                note=f"automation: {rule}",
                actor=policy.actor,
                **data,
            )
        )
        if change.dest.code != dest:
            raise PlanOutdated(
                account_id=stored.id,
                expected=by_code[dest],
                found=change.dest,
                trigger=trigger,
                dest=True,
            )
        changes.append(change)
        stored = StoredAccount(stored.id, dest, change.at, stored.version + 1)
        if history is not None:
            history = History([*history, change])
    return changes


def check_progress(progress: object) -> Progress | None:
    """``progress`` if it is a callable or ``None``."""
    if progress is not None and not callable(progress):
        raise InvalidArgument("progress", progress, "a callable (done, total) or None")
    return progress


class Tally:
    """Counts for a [`RunReport`][acctstate.store.RunReport], kept as a run goes."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.examined = 0
        self.changed = 0
        self.changes = 0
        self.rules: collections.Counter[str] = collections.Counter()
        self.blocked = 0
        self.failed: list[tuple[str, str]] = []
        self.retried = 0
        self.chunks = 0

    def made(self, hops: Sequence[Hop]) -> None:
        """One account changed along ``hops``."""
        self.changed += 1
        self.changes += len(hops)
        rules = self.rules
        for h in hops:
            rules[h[0]] += 1

    def report(self) -> RunReport:
        """The report so far."""
        return RunReport(
            at=self.now,
            examined=self.examined,
            changed=self.changed,
            changes=self.changes,
            by_rule=tuple((r, self.rules[r]) for r in RULES if self.rules[r]),
            blocked=self.blocked,
            failed=tuple(sorted(self.failed)),
            retried=self.retried,
            chunks=self.chunks,
        )
