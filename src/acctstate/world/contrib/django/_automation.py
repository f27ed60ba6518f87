"""The Django store's automation: a policy's rules run over every stored account, its
holds included."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from acctstate.operations.automation import AutomationPolicy
from acctstate.values.clock import require_aware
from acctstate.values.errors import AcctStateError
from acctstate.values.holds import Hold
from acctstate.world.contrib.django._core import RowMapping
from acctstate.world.contrib.django._holds import DjangoHolds
from acctstate.world.store import Progress, RunReport
from acctstate.world.store._autoholds import decide, hold_hops, plan_steps
from acctstate.world.store._automation import Policies, Tally, check_progress
from acctstate.world.store._codec import check_count, error_text
from acctstate.world.store._facts import AccountView

__all__ = ["DjangoAutomation"]


class DjangoAutomation(DjangoHolds):
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

        Each account is planned by the rules against its locked row (see
        [`facts`][acctstate.contrib.django.store.DjangoStore.facts]), its history and
        its standing holds: first its hold changes (time-bound holds ended, a credit
        hold placed or released as a hold), then its status steps, planned by the
        workflow as ordinary changes and written in one atomic block, all of an
        account's steps or none. Running again at the same ``now`` changes nothing more.

        Raises:
            InvalidArgument: a naive ``now``, a bad ``chunk`` or ``progress``, or a
                policy on another workflow.
        """
        require_aware(now, "now")
        check_count(chunk, "chunk")
        report = check_progress(progress)
        policies = Policies(self._workflow, policy)
        tally = Tally(now)
        accounts = self.accounts()
        tally.chunks = -(-len(accounts) // chunk)
        for done, stored in enumerate(accounts, 1):
            tally.examined += 1
            try:
                self._automate_one(policies, stored.id, now, tally)
            except AcctStateError as exc:
                tally.failed.append((stored.id, error_text(exc)))
            if report is not None and (done % chunk == 0 or done == len(accounts)):
                report(done, len(accounts))
        return tally.report()

    def _automate_one(
        self, policies: Policies, account_id: str, now: dt.datetime, tally: Tally
    ) -> None:
        """Plan and write one account's hold changes and status steps in one atomic
        block (as the SQL store does for an account it plans alone)."""
        with self._tx():
            stored, row = self._locked(account_id)
            facts = RowMapping(row)
            holds = self._standing(stored.id)
            view = AccountView(stored, facts, None, {}, holds)
            decided = decide(policies, view, holds, now, tally)
            if decided is None:
                return
            c, actions, hops = decided
            past = self._past(stored)
            steps = plan_steps(self._workflow, c, stored, facts, past, holds, actions, hops, now)
            self._check_keys(stored, [change for change, _ in steps])
            before: tuple[Hold, ...] = holds
            for change, after in steps:
                if after is not None:
                    stored = self._write_hold_change(stored, change, before, after)
                    before = after
                else:
                    stored = self._bump(stored, change.dest.code, change.at)
                    self._write_change(change, stored.version)
            tally.made([*hold_hops(stored, actions), *hops])
