"""The Django store's automation: a policy's rules run over every stored account."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from acctstate.operations.automation import AutomationPolicy
from acctstate.operations.automation._rules import plan_one
from acctstate.values.clock import require_aware
from acctstate.values.errors import AcctStateError, InvalidArgument
from acctstate.world.contrib.django._firing import DjangoFiring
from acctstate.world.store import Progress, RunReport
from acctstate.world.store._automation import Policies, Tally, check_progress
from acctstate.world.store._codec import check_count, error_text

__all__ = ["DjangoAutomation"]


class DjangoAutomation(DjangoFiring):
    """Running the automation's rules (a part of
    [`DjangoStore`][acctstate.contrib.django.store.DjangoStore])."""

    __slots__ = ()

    def run_automation(
        self,
        policy: AutomationPolicy | Sequence[AutomationPolicy],
        *,
        now: dt.datetime,
        chunk: int = 10_000,
        progress: Progress | None = None,
    ) -> RunReport:
        """Run the automation's rules over every stored account, in id order.

        Each account is planned by the rules against its row (see [`facts`][acctstate.contrib.django.store.DjangoStore.facts])
        and its steps are fired as ordinary changes, each in its own transaction with its
        guards re-checked. Running again at the same ``now`` changes nothing more.

        Raises:
            InvalidArgument: a naive ``now``, a bad ``chunk`` or ``progress``, a policy
                on another workflow, or one placing holds (this store keeps none).
        """
        require_aware(now, "now")
        check_count(chunk, "chunk")
        report = check_progress(progress)
        policies = Policies(self._workflow, policy)
        for p in policies.by_class.values():
            if p.credit_hold is not None and p.credit_hold.hold is not None:
                # This store keeps no holds yet: refuse rather than run without them.
                raise InvalidArgument(
                    "policy",
                    p.credit_hold.hold,
                    "a credit hold that moves the status (the Django store keeps no holds; "
                    "MemoryStore and SqlStore do)",
                )
        tally = Tally(now)
        accounts = self.accounts()
        tally.chunks = -(-len(accounts) // chunk)
        for done, stored in enumerate(accounts, 1):
            tally.examined += 1
            try:
                view = self.facts(stored.id)
                c = policies.pick(view)
                planned = None if c is None else plan_one(c, view, now)
                if c is not None and planned is not None:
                    hops, blocked = planned
                    if blocked:
                        tally.blocked += 1
                    for rule, trigger, _source, _dest in hops:
                        self.fire(
                            stored.id,
                            trigger,
                            at=now,
                            reason=c.policy.reason,
                            note=f"automation: {rule}",
                            actor=c.policy.actor,
                        )
                    if hops:
                        tally.made(hops)
            except AcctStateError as exc:
                tally.failed.append((stored.id, error_text(exc)))
            if report is not None and (done % chunk == 0 or done == len(accounts)):
                report(done, len(accounts))
        return tally.report()
