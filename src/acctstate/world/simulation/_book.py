"""The simulated book: the accounts and what each customer will do, the agenda of
coming events, the starting mix of statuses, sign-ups, and billing (invoices every 30
days, payments)."""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from acctstate.core.workflow import Workflow
from acctstate.operations.automation import AutomationPolicy, reference_ladder
from acctstate.values.account import Account
from acctstate.values.actors import SYSTEM, Actor
from acctstate.values.clock import FixedClock
from acctstate.world.simulation._scenario import Scenario

__all__ = ["CUSTOMER"]

CUSTOMER = Actor("customer")
"""The actor customer-initiated changes are recorded as (sign-up, cancel, win-back)."""

_DAY = dt.timedelta(days=1)
_HOUR = dt.timedelta(hours=1)
_PERIOD = dt.timedelta(days=30)

# Event kinds, and the hour of the day each happens at (the nightly sweep runs at 02:00).
_BILL, _STEP, _WINBACK, _PAY, _CANCEL, _CANCEL_ON, _COMPLETE, _TERMINATE = range(8)
_HOURS = {
    _BILL: 6,
    _COMPLETE: 7,
    _STEP: 9,
    _WINBACK: 11,
    _PAY: 12,
    _CANCEL: 15,
    _TERMINATE: 18,
}
_SIGNUP_HOUR = 8

_PROMPT, _LATE, _DEFAULTER = range(3)

_WEB = (
    "register",
    "confirm_registration",
    "receive_service_order",
    "accept_service_order",
    "start_service_order",
    "complete_service_order",
)
_DIRECT = ("request_installation", *_WEB[2:])
_ONBOARDING = {  # status -> the steps still ahead of it
    "prospect": _WEB,
    "registered_pending_activation": _WEB[1:],
    "installation_pending": _WEB[2:],
    "service_order_received": _WEB[3:],
    "service_order_accepted": _WEB[4:],
    "service_order_in_progress": _WEB[5:],
}
_SUSPENDED_DUNNING = ("suspended_dunning_1", "suspended_dunning_2", "suspended_dunning_3")
_CLOSED_START = (("canceled", 50), ("terminated", 25), ("suspended", 15), ("contract_expired", 10))
_PRICES = ((Decimal("29.90"), 3), (Decimal("39.90"), 5), (Decimal("59.90"), 2))


def _pick(rng: random.Random, weighted: Iterable[tuple[Any, int]]) -> Any:
    items = list(weighted)
    return rng.choices([i for i, _ in items], [w for _, w in items])[0]


class _Book:
    """The simulation's state: the accounts, what each customer will do, the agenda;
    opening accounts (the starting book and sign-ups) and their billing cycles."""

    def __init__(
        self, wf: Workflow, scenario: Scenario, rng: random.Random, start: dt.datetime, days: int
    ) -> None:
        self.clock = FixedClock(start)
        self.wf = wf.with_clock(self.clock)
        self.sc = scenario
        self.rng = rng
        self.start = start
        self.days = days
        self.policy = AutomationPolicy(
            self.wf,
            ladder=reference_ladder(),
            trial_end="end_trial",
            contract_expiry="expire_contract",
            archive="archive",
        )
        self.by_code = {s.code: s for s in wf.catalog}
        self.code = {s.name: s.code for s in wf.catalog}
        self.accounts: list[Account] = []
        self.index: dict[str, int] = {}
        self.price: list[Decimal] = []
        self.payer: list[int] = []
        self.recovers: list[bool] = []
        self.plan: list[list[str]] = []
        self.period_start: list[dt.datetime | None] = []
        self.cycle: list[int] = []
        self.agenda: list[tuple[dt.datetime, int, int, int, Any]] = []
        self.seq = 0
        self.transitions: Counter[tuple[str, str]] = Counter()
        self.triggers: Counter[str] = Counter()
        self.cancellations: Counter[str] = Counter()
        self.money = dict.fromkeys(("invoiced", "paid", "charged", "refunded"), Decimal("0.00"))
        self.problems: list[str] = []
        self.base = 0  # the starting book's size, which sets the sign-up rate

    # -- the agenda ---------------------------------------------------------------------

    def at(self, day: int, hour: int) -> dt.datetime:
        return self.start + day * _DAY + hour * _HOUR

    def push(self, when: dt.datetime, kind: int, i: int, payload: Any = None) -> None:
        if when < self.start + self.days * _DAY:
            self.seq += 1
            heapq.heappush(self.agenda, (when, self.seq, kind, i, payload))

    def push_day(self, day: int, kind: int, i: int, payload: Any = None) -> None:
        self.push(self.at(day, _HOURS[kind]), kind, i, payload)

    # -- accounts -----------------------------------------------------------------------

    def add(self, status: str, at: dt.datetime, *, imported: bool, **fields: Any) -> int:
        i = len(self.accounts)
        account_id = f"A-{i + 1:06d}"
        self.clock.set(at)
        actor = CUSTOMER if status == "prospect" else SYSTEM
        acct = self.wf.open(
            account_id,
            status,
            at=at,
            imported=imported,
            actor=actor,
            **{"payment_method": "card", **fields},
        )
        self.accounts.append(acct)
        self.index[account_id] = i
        rng = self.rng
        self.price.append(_pick(rng, _PRICES))
        r = rng.random()
        sc = self.sc
        self.payer.append(
            _DEFAULTER if r < sc.defaulters else _LATE if r < sc.defaulters + sc.late else _PROMPT
        )
        self.recovers.append(rng.random() < sc.recover)
        self.plan.append([])
        self.period_start.append(None)
        self.cycle.append(0)
        return i

    def onboarding_plan(self, steps: Iterable[str]) -> list[str]:
        rng = self.rng
        plan = [*steps, "start_trial" if rng.random() < self.sc.trial else "activate"]
        if rng.random() < self.sc.dropout:
            plan = [*plan[: rng.randrange(len(plan))], "cancel"]
        return plan

    def populate(self, n: int) -> None:
        rng, sc, start = self.rng, self.sc, self.start
        for _ in range(n):
            r = rng.random()
            if r < sc.closed:
                status = _pick(rng, _CLOSED_START)
                self.add(status, start - rng.randrange(180) * _DAY, imported=True)
            elif r < sc.closed + 0.06:
                status = rng.choice(list(_ONBOARDING))
                i = self.add(status, start - rng.randrange(1, 4) * _DAY, imported=True)
                self.plan[i] = self.onboarding_plan(_ONBOARDING[status])
                self.push_day(rng.randrange(3), _STEP, i)
            elif r < sc.closed + 0.08:
                self.add(
                    "active_trial",
                    start - rng.randrange(1, 14) * _DAY,
                    imported=True,
                    trial_ends_at=self.at(rng.randrange(1, 15), 0),
                    payment_method=None if rng.random() < sc.trial_without_card else "card",
                )
            elif r < sc.closed + 0.09:
                status = rng.choice(["permanent", "active_non_billable"])
                i = self.add(status, start - rng.randrange(60, 720) * _DAY, imported=True)
                if status == "permanent":
                    self.payer[i] = _PROMPT
                    self.resume_cycle(i, -rng.randrange(30))
            else:
                contract = None
                if rng.random() < sc.contracts:
                    contract = self.at(rng.randrange(1, self.days + 1), 0)
                i = self.add(
                    "active",
                    start - rng.randrange(30, 720) * _DAY,
                    imported=True,
                    contract_ends_at=contract,
                )
                self.resume_cycle(i, -rng.randrange(30))
                self.draw_cancel(i, 0)

    def resume_cycle(self, i: int, billed_day: int) -> None:
        """An account billed (and paid) on ``billed_day``; its next invoice in 30 days."""
        ps = self.at(billed_day, _HOURS[_BILL])
        self.period_start[i] = ps
        self.accounts[i].period_end = ps + _PERIOD
        self.cycle[i] += 1
        self.push(ps + _PERIOD, _BILL, i, self.cycle[i])

    def start_cycle(self, i: int, at: dt.datetime, *, invoice: bool) -> None:
        """Billing starts at ``at``: this period (invoiced unless already billed), then
        every 30 days."""
        self.cycle[i] += 1
        if invoice:
            self.invoice(i, at)
        else:
            self.period_start[i] = at
            self.accounts[i].period_end = at + _PERIOD
        self.push(at + _PERIOD, _BILL, i, self.cycle[i])

    def draw_cancel(self, i: int, day: int) -> None:
        if self.sc.cancel > 0:
            self.push_day(day + 1 + int(self.rng.expovariate(self.sc.cancel)), _CANCEL, i)

    def invoice(self, i: int, at: dt.datetime) -> None:
        acct, price, rng, sc = self.accounts[i], self.price[i], self.rng, self.sc
        acct.balance += price
        acct.unpaid_invoices += 1
        due = at + sc.due_days * _DAY
        if acct.oldest_unpaid_at is None:
            acct.oldest_unpaid_at = due
        self.period_start[i] = at
        acct.period_end = at + _PERIOD
        self.money["invoiced"] += price
        day = (at - self.start).days
        payer = self.payer[i]
        if payer == _PROMPT:
            self.push_day(day + rng.randrange(sc.due_days), _PAY, i)
        elif payer == _LATE:
            self.push_day(day + sc.due_days + rng.randint(3, 70), _PAY, i)
        elif self.recovers[i]:
            self.push_day(day + sc.due_days + rng.randint(55, 110), _PAY, i)

    def pay(self, i: int, amount: Decimal) -> None:
        acct = self.accounts[i]
        self.money["paid"] += amount
        acct.balance -= amount
        if acct.balance <= 0:
            acct.unpaid_invoices = 0
            acct.oldest_unpaid_at = None
