"""A deterministic simulated book of accounts, run day by day through the reference workflow.

:func:`simulate` starts a book of accounts (mostly active, some onboarding, some on trial,
some already closed), then runs it for a number of days: prospects sign up and are
installed, invoices are issued every 30 days and paid on time, late or not at all,
the nightly automation sweep (:mod:`acctstate.automation`: the reference dunning
ladder, trial ends, contract expiry, archiving after 180 days) moves accounts down the
ladder and back, defaulters who pay are reinstated with a back bill, customers cancel
with one of seed 000's options (:data:`acctstate.refunds.CANCEL_OPTIONS`, refunds
included) and some come back with a forward bill.

Every change is an ordinary ``Workflow.fire`` (or a sweep's ``apply``): guards,
effects, history and the graph's invariants apply as in production. Time comes from a
:class:`~acctstate.clock.FixedClock` moved to each event's instant, randomness from
``random.Random(seed)``: the same arguments give the same result, history included.

>>> result = simulate(accounts=200, days=60, seed=7)
>>> result.days, len(result.daily), result.problems
(60, 60, ())
>>> sum(result.final().values()) == len(result.accounts)
True
>>> simulate(accounts=200, days=60, seed=7).final() == result.final()
True
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from acctstate.core.workflow import Workflow
from acctstate.operations.automation import AutomationPolicy, apply, reference_ladder, sweep
from acctstate.operations.money.refunds import (
    CANCEL_OPTIONS,
    Cancellation,
    Period,
    RefundPolicy,
    ServiceStop,
)
from acctstate.values.account import Account
from acctstate.values.actors import SYSTEM, Actor
from acctstate.values.clock import FixedClock, require_aware
from acctstate.values.effects import Charge, Refund
from acctstate.values.errors import AcctStateError, InvalidArgument
from acctstate.values.history import StatusChange
from acctstate.values.status import Backend
from acctstate.world.presets import isp

__all__ = ["CUSTOMER", "DEFAULT_START", "Scenario", "SimulationResult", "simulate"]

DEFAULT_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
"""Where a simulation starts unless told otherwise (midnight UTC, 1 January 2026)."""

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

_NEEDED_STATUSES = (
    *_ONBOARDING,
    "service_order_complete",
    "active_trial",
    "active",
    "cancelation_pending",
    "canceled",
    "terminated",
    "suspended",
    "contract_expired",
    "archived",
    "permanent",
    "active_non_billable",
    "reinstated_back_bill",
    "reinstated_forward_bill",
    *_SUSPENDED_DUNNING,
)
_NEEDED_TRIGGERS = (
    *_WEB,
    "request_installation",
    "start_trial",
    "activate",
    "end_trial",
    "cancel",
    "request_cancelation",
    "complete_cancelation",
    "escalate_dunning",
    "settle",
    "reinstate_back",
    "reinstate_forward",
    "complete_reinstatement",
    "terminate",
    "expire_contract",
    "archive",
)


def _share(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidArgument(attribute.name, value, "a probability between 0 and 1")


def _days(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(attribute.name, value, "a whole number of days, at least 1")


def _weights(value: object) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise InvalidArgument("cancel_options", value, "a mapping of option name to weight")
    out: dict[str, int] = {}
    for name, weight in value.items():
        if name not in CANCEL_OPTIONS:
            raise InvalidArgument(
                "cancel_options", name, f"one of {', '.join(sorted(CANCEL_OPTIONS))}"
            )
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise InvalidArgument(f"cancel_options[{name!r}]", weight, "a non-negative int")
        out[name] = weight
    if not any(out.values()):
        raise InvalidArgument("cancel_options", value, "at least one positive weight")
    return out


@attrs.frozen
class Scenario:
    """How the simulated customers behave. Rates are probabilities (floats are fine here:
    they are odds, not money).

    Args:
        signups: new prospects per day, as a share of the starting book.
        trial: share of new customers who start with a 14-day trial.
        trial_without_card: share of trials that end without a payment method (the
            workflow then cancels them).
        dropout: share of prospects who give up during onboarding (canceled).
        late: share of customers who pay 3 to 70 days after the due date.
        defaulters: share of customers who stop paying ...
        recover: ... of whom this share pays in the end (55 to 110 days late) and is
            reinstated with a back bill; the others are terminated once dunning is
            exhausted.
        cancel: chance per day that a customer in service cancels.
        cancel_options: weight of each of seed 000's cancel options
            (:data:`acctstate.refunds.CANCEL_OPTIONS` names).
        winback: share of canceled customers who come back (forward bill) within
            10 to 120 days.
        contracts: share of the starting book whose fixed contract ends during the run ...
        renew: ... of whom this share renews (forward bill) within 20 days.
        closed: share of the starting book already closed (archived once closed 180 days).
        due_days: days from an invoice to its due date.
        terminate_after_days: days in the last dunning step before termination.

    >>> Scenario(late=1.5)
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid late: got 1.5; expected a probability between 0 and 1
    """

    signups: float = attrs.field(default=0.002, kw_only=True, validator=_share)
    trial: float = attrs.field(default=0.4, kw_only=True, validator=_share)
    trial_without_card: float = attrs.field(default=0.3, kw_only=True, validator=_share)
    dropout: float = attrs.field(default=0.08, kw_only=True, validator=_share)
    late: float = attrs.field(default=0.15, kw_only=True, validator=_share)
    defaulters: float = attrs.field(default=0.05, kw_only=True, validator=_share)
    recover: float = attrs.field(default=0.4, kw_only=True, validator=_share)
    cancel: float = attrs.field(default=0.0008, kw_only=True, validator=_share)
    cancel_options: Mapping[str, int] = attrs.field(
        factory=lambda: {
            "immediately_prorated_refund": 35,
            "period_end": 30,
            "immediately_no_refund": 15,
            "specific_date_prorated_refund": 10,
            "immediately_full_refund": 5,
            "immediately_prorated_as_of_date": 5,
        },
        kw_only=True,
        converter=_weights,
    )
    winback: float = attrs.field(default=0.1, kw_only=True, validator=_share)
    contracts: float = attrs.field(default=0.05, kw_only=True, validator=_share)
    renew: float = attrs.field(default=0.5, kw_only=True, validator=_share)
    closed: float = attrs.field(default=0.08, kw_only=True, validator=_share)
    due_days: int = attrs.field(default=14, kw_only=True, validator=_days)
    terminate_after_days: int = attrs.field(default=15, kw_only=True, validator=_days)


@attrs.frozen(eq=False)
class SimulationResult:
    """What a simulation did, as plain data.

    Attributes:
        workflow: the workflow's name.
        start: the instant the simulation started.
        days: how many days it ran.
        seed: the random seed.
        statuses: every status name, in catalog order.
        daily: ``date -> {status name: count}`` at the end of each simulated day
            (every status listed, zeros included).
        transitions: ``(from, to) -> count`` of every change made.
        triggers: ``trigger -> count`` of every change made.
        money: ``Decimal`` totals: ``invoiced``, ``paid``, ``charged`` (reinstatement
            bills), ``refunded`` and ``outstanding`` (owed at the end).
        cancellations: how often each cancel option was chosen.
        accounts: the accounts as they ended, histories included.
        problems: changes the simulation wanted but the workflow refused (empty when
            the model and the workflow agree).
    """

    workflow: str
    start: dt.datetime
    days: int
    seed: int
    statuses: tuple[str, ...]
    daily: Mapping[dt.date, Mapping[str, int]]
    transitions: Mapping[tuple[str, str], int]
    triggers: Mapping[str, int]
    money: Mapping[str, Decimal]
    cancellations: Mapping[str, int]
    accounts: tuple[Account, ...] = attrs.field(repr=False)
    problems: tuple[str, ...] = ()

    @property
    def end(self) -> dt.date:
        """The last simulated day."""
        return max(self.daily)

    @property
    def changes(self) -> int:
        """How many status changes were made."""
        return sum(self.transitions.values())

    def final(self) -> dict[str, int]:
        """The counts per status at the end (every status, zeros included)."""
        return dict(self.daily[self.end])

    def seen(self) -> tuple[str, ...]:
        """The statuses that held an account on at least one day, in catalog order."""
        return tuple(s for s in self.statuses if any(day[s] for day in self.daily.values()))

    def series(self, status: str) -> list[int]:
        """The daily counts of one status, first day first.

        Raises:
            InvalidArgument: not a status of the workflow.
        """
        if status not in self.statuses:
            raise InvalidArgument("status", status, f"a status of workflow {self.workflow!r}")
        return [self.daily[d][status] for d in sorted(self.daily)]

    def monthly(self) -> dict[str, dict[str, int]]:
        """``"YYYY-MM" -> counts`` on the last simulated day of each month."""
        out: dict[str, dict[str, int]] = {}
        for day in sorted(self.daily):
            out[f"{day:%Y-%m}"] = dict(self.daily[day])
        return out

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per day: ``date`` (ISO) and the count of every status seen (for CSV)."""
        seen = self.seen()
        return [
            {"date": day.isoformat(), **{s: self.daily[day][s] for s in seen}}
            for day in sorted(self.daily)
        ]

    def summary(self) -> str:
        """A text table: accounts per status at the start and the end, and the money."""
        first = self.daily[min(self.daily)]
        last = self.daily[self.end]
        seen = self.seen()
        width = max([len(s) for s in seen] + [len("status")])
        lines = [
            f"{'status':<{width}}  {min(self.daily).isoformat():>10}  {self.end.isoformat():>10}",
            f"{'-' * width}  {'-' * 10}  {'-' * 10}",
        ]
        lines += [f"{s:<{width}}  {first[s]:>10}  {last[s]:>10}" for s in seen]
        lines.append(f"{'total':<{width}}  {sum(first.values()):>10}  {sum(last.values()):>10}")
        lines.append("")
        lines += [f"{k:<{width}}  {v:>22}" for k, v in self.money.items()]
        return "\n".join(lines)


def _pick(rng: random.Random, weighted: Iterable[tuple[Any, int]]) -> Any:
    items = list(weighted)
    return rng.choices([i for i, _ in items], [w for _, w in items])[0]


class _Sim:
    """The simulation's state: the accounts, what each customer will do, the agenda."""

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

    def pay(self, i: int, amount: Decimal) -> None:
        acct = self.accounts[i]
        self.money["paid"] += amount
        acct.balance -= amount
        if acct.balance <= 0:
            acct.unpaid_invoices = 0
            acct.oldest_unpaid_at = None

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


def _check_workflow(wf: Workflow) -> None:
    names = set(wf.catalog.names)
    missing = [s for s in _NEEDED_STATUSES if s not in names]
    missing += [f"trigger {t}" for t in _NEEDED_TRIGGERS if t not in wf.triggers]
    if missing:
        raise InvalidArgument(
            "workflow",
            wf.name,
            "the reference ISP workflow or one extending it (it lacks "
            + ", ".join(missing[:6])
            + (", ..." if len(missing) > 6 else "")
            + ")",
        )


def simulate(
    workflow: Workflow | None = None,
    *,
    accounts: int = 1000,
    days: int = 180,
    seed: int = 0,
    start: dt.datetime = DEFAULT_START,
    scenario: Scenario | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> SimulationResult:
    """Run a simulated book of accounts for ``days`` days; deterministic for a ``seed``.

    Args:
        workflow: the reference ISP workflow (default) or a workflow extending it.
        accounts: the size of the book on the first day (sign-ups add to it).
        days: how many days to run.
        seed: the seed of the ``random.Random`` every decision is drawn from.
        start: the first day's midnight (timezone-aware).
        scenario: how customers behave (default: :class:`Scenario` ()).
        progress: called as ``progress(days_done, days)`` after each day.

    Returns:
        A :class:`SimulationResult`.

    Raises:
        InvalidArgument: a negative book, fewer than one day, a naive ``start``, or a
            workflow without the statuses and triggers the simulation drives.
    """
    wf = isp.workflow() if workflow is None else workflow
    if not isinstance(wf, Workflow):
        raise InvalidArgument("workflow", wf, "a Workflow")
    _check_workflow(wf)
    if isinstance(accounts, bool) or not isinstance(accounts, int) or accounts < 0:
        raise InvalidArgument("accounts", accounts, "a non-negative int")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InvalidArgument("days", days, "a whole number of days, at least 1")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidArgument("seed", seed, "an int")
    require_aware(start, "start")
    scenario = Scenario() if scenario is None else scenario
    if not isinstance(scenario, Scenario):
        raise InvalidArgument("scenario", scenario, "a Scenario")
    sim = _Sim(wf, scenario, random.Random(seed), start, days)
    sim.base = accounts
    sim.populate(accounts)
    daily: dict[dt.date, dict[str, int]] = {}
    for d in range(days):
        daily[(start + d * _DAY).date()] = sim.run_day(d)
        if progress is not None:
            progress(d + 1, days)
    money = dict(sim.money)
    money["outstanding"] = sum((a.balance for a in sim.accounts if a.balance > 0), Decimal("0.00"))
    return SimulationResult(
        workflow=wf.name,
        start=start,
        days=days,
        seed=seed,
        statuses=tuple(s.name for s in wf.catalog),
        daily=daily,
        transitions=dict(sorted(sim.transitions.items())),
        triggers=dict(sorted(sim.triggers.items())),
        money=money,
        cancellations=dict(sorted(sim.cancellations.items())),
        accounts=tuple(sim.accounts),
        problems=tuple(sim.problems),
    )
