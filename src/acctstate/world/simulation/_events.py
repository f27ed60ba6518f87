"""What happens in the simulation: each event on the agenda (a bill, an onboarding step,
a payment, a cancellation, a win-back), the changes it fires and what follows them, and
one day's run (the nightly sweep, sign-ups, then the day's events in time order)."""

from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter
from decimal import Decimal
from typing import Any

from acctstate.operations.automation import apply, sweep
from acctstate.operations.money.refunds import (
    CANCEL_OPTIONS,
    Cancellation,
    Period,
    RefundPolicy,
    ServiceStop,
)
from acctstate.values.actors import SYSTEM, Actor
from acctstate.values.effects import Charge, Refund
from acctstate.values.errors import AcctStateError
from acctstate.values.history import StatusChange
from acctstate.values.status import Backend
from acctstate.world.simulation._book import (
    _BILL,
    _CANCEL,
    _CANCEL_ON,
    _COMPLETE,
    _DAY,
    _DEFAULTER,
    _DIRECT,
    _HOUR,
    _PAY,
    _PERIOD,
    _PROMPT,
    _SIGNUP_HOUR,
    _STEP,
    _SUSPENDED_DUNNING,
    _TERMINATE,
    _WEB,
    _WINBACK,
    CUSTOMER,
    _Book,
    _pick,
)


class _Sim(_Book):
    """The book in motion: events handled in time order, changes fired through the
    workflow, and what each change sets going."""

    # -- changes ------------------------------------------------------------------------

    def fire(
        self, i: int, trigger: str, at: dt.datetime, actor: Actor, **data: Any
    ) -> StatusChange | None:
        acct = self.accounts[i]
        if not self.wf.table.candidates(acct.status, trigger):
            return None  # the customer's plan no longer fits where the account is
        self.clock.set(at)
        try:
            change = self.wf.fire(acct, trigger, at=at, actor=actor, **data)
        except AcctStateError as exc:
            self.problems.append(f"{acct.id}: {exc}")
            return None
        self.record(change)
        self.after(i, change)
        return change

    def record(self, change: StatusChange) -> None:
        self.transitions[(change.source.name, change.dest.name)] += 1
        self.triggers[change.trigger] += 1
        for effect in change.effects:
            if isinstance(effect, Refund):
                self.money["refunded"] += effect.amount
            elif isinstance(effect, Charge):
                self.money["charged"] += effect.amount

    def charged(self, change: StatusChange | None) -> Decimal:
        if change is None:
            return Decimal(0)
        return sum((e.amount for e in change.effects if isinstance(e, Charge)), Decimal(0))

    def after(self, i: int, change: StatusChange) -> None:
        """What follows a change: billing starts, cancellations complete, win-backs."""
        dest, source = change.dest.name, change.source.name
        day = (change.at - self.start).days
        rng = self.rng
        if dest == "active":
            if source in ("service_order_complete", "active_trial"):
                self.start_cycle(i, change.at, invoice=True)
                self.draw_cancel(i, day)
            elif source == "reinstated_forward_bill":
                self.start_cycle(i, change.at, invoice=False)
                self.draw_cancel(i, day)
        elif dest == "active_trial":
            self.accounts[i].trial_ends_at = change.at + 14 * _DAY
            if rng.random() < self.sc.trial_without_card:
                self.accounts[i].payment_method = None
        elif dest == "cancelation_pending":
            end = self.accounts[i].period_end
            if end is not None:
                self.push(end + _HOUR, _COMPLETE, i)
        elif dest == "suspended_dunning_3":
            self.push_day(day + self.sc.terminate_after_days, _TERMINATE, i)
        elif dest == "canceled" and source != "active_trial" and rng.random() < self.sc.winback:
            self.push_day(day + rng.randint(10, 120), _WINBACK, i)
        elif dest == "contract_expired" and rng.random() < self.sc.renew:
            self.push_day(day + rng.randint(1, 20), _WINBACK, i)

    # -- events -------------------------------------------------------------------------

    def handle(self, when: dt.datetime, kind: int, i: int, payload: Any) -> None:
        acct = self.accounts[i]
        status = self.by_code[acct.status]
        if kind == _BILL:
            if payload != self.cycle[i]:
                return  # a billing cycle since replaced
            if status.backend is Backend.CLOSED or status.terminal:
                return
            if status.billable:
                self.invoice(i, when)
            self.push(when + _PERIOD, _BILL, i, payload)
        elif kind == _STEP:
            plan = self.plan[i]
            if plan:
                trigger = plan.pop(0)
                actor = CUSTOMER if trigger in ("register", "confirm_registration") else SYSTEM
                if self.fire(i, trigger, when, actor) is not None and plan:
                    day = (when - self.start).days
                    self.push_day(day + self.rng.randint(1, 3), _STEP, i)
        elif kind == _PAY:
            if acct.balance > 0:
                self.pay(i, acct.balance)
                self.payer[i] = _PROMPT if self.payer[i] == _DEFAULTER else self.payer[i]
                if status.name in _SUSPENDED_DUNNING:
                    self.reinstate(i, when, "reinstate_back")
        elif kind == _CANCEL:
            self.cancel(i, when)
        elif kind == _CANCEL_ON:
            c: Cancellation = payload
            self.fire(i, c.trigger, when, CUSTOMER, **c.data)
        elif kind == _COMPLETE:
            if status.name == "cancelation_pending":
                self.fire(i, "complete_cancelation", when, SYSTEM)
        elif kind == _TERMINATE:
            if status.name == "suspended_dunning_3":
                self.fire(i, "terminate", when, SYSTEM, reason=None)
        elif kind == _WINBACK and status.name in ("canceled", "contract_expired"):
            acct.payment_method = "card"
            if acct.balance > 0:
                self.pay(i, acct.balance)
            self.reinstate(i, when, "reinstate_forward")

    def reinstate(self, i: int, when: dt.datetime, trigger: str) -> None:
        """Reinstate with a forward or back bill, which the customer pays at once."""
        change = self.fire(i, trigger, when, CUSTOMER, period_price=self.price[i])
        if change is None:
            return
        bill = self.charged(change)
        if bill:
            self.money["paid"] += bill
        self.fire(i, "complete_reinstatement", when, SYSTEM)

    def cancel(self, i: int, at: dt.datetime) -> None:
        acct, rng = self.accounts[i], self.rng
        name = _pick(rng, self.sc.cancel_options.items())
        ps, pe = self.period_start[i], acct.period_end
        paid_period = (
            acct.unpaid_invoices == 0 and ps is not None and pe is not None and ps <= at <= pe
        )
        if acct.status != self.code["active"] or not paid_period:
            name = "immediately_no_refund"  # nothing paid to refund, or not cancelable otherwise
        option = CANCEL_OPTIONS[name]
        extra: dict[str, Any] = {}
        if option.stop is ServiceStop.ON_DATE:
            assert pe is not None
            extra["on"] = max(at, min(at + rng.randint(3, 20) * _DAY, pe - _HOUR))
        if option.money is RefundPolicy.PRORATED_AS_OF:
            assert ps is not None
            extra["as_of"] = max(ps, at - rng.randint(1, 7) * _DAY)
        if option.money is not RefundPolicy.NONE:
            assert ps is not None and pe is not None
            extra["paid"] = self.price[i]
            extra["period"] = Period(ps, pe)
        request = option.request(at=at, **extra)
        self.cancellations[name] += 1
        if request.at > at:
            self.push(request.at, _CANCEL_ON, i, request)
        else:
            self.fire(i, request.trigger, request.at, CUSTOMER, **request.data)

    # -- days ---------------------------------------------------------------------------

    def run_day(self, d: int) -> dict[str, int]:
        run = self.policy.run_time((self.start + d * _DAY).date())
        self.clock.set(run)
        outcome = apply(sweep(self.accounts, self.policy, now=run))
        for result in outcome.results:
            i = self.index[result.account_id]
            for change in result.changes:
                self.record(change)
                self.after(i, change)
            if result.error is not None:
                self.problems.append(f"{result.account_id}: {result.error}")
        signups = self.base * self.sc.signups
        n = int(signups) + (self.rng.random() < signups - int(signups))
        for _ in range(n):
            i = self.add("prospect", self.at(d, _SIGNUP_HOUR), imported=False)
            self.plan[i] = self.onboarding_plan(_WEB if self.rng.random() < 0.6 else _DIRECT)
            self.push_day(d + self.rng.randint(0, 2), _STEP, i)
        end = self.start + (d + 1) * _DAY
        agenda = self.agenda
        while agenda and agenda[0][0] < end:
            when, _, kind, i, payload = heapq.heappop(agenda)
            self.handle(when, kind, i, payload)
        counts = Counter(a.status for a in self.accounts)
        return {s.name: counts.get(s.code, 0) for s in self.wf.catalog}
