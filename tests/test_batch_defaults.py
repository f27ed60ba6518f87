"""Batch reads the billing time zone and the currency exactly as ``Workflow.fire`` does.

The account's own fact, else the workflow's default (``Workflow(default_timezone=...,
default_currency=...)``), else ``MissingFact`` naming it, reported as that account's
refused outcome (with the error) while the other accounts go on. Never a silent USD or
UTC. A differential test holds batch ``apply`` on one account to plain ``fire``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import acctstate
from acctstate.batch import (
    ChargeAccount,
    DateRange,
    FireTrigger,
    Mode,
    OutcomeKind,
    RefundPayment,
    Selection,
    SetActivationDate,
    SetOpeningBalance,
    apply,
    preview,
    select,
)
from acctstate.errors import AcctStateError, MissingFact
from acctstate.presets import isp

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
BASE = isp.workflow().with_clock(acctstate.FixedClock(T0 + 3650 * DAY))
EURO = BASE.with_defaults(timezone="Asia/Tokyo", currency="EUR")
WORKFLOWS = {
    "none": BASE,
    "zone": BASE.with_defaults(timezone="America/New_York"),
    "currency": BASE.with_defaults(currency="GBP"),
    "both": EURO,
}
ABSENT: Any = object()


class Host:
    """A host object: only the facts it is given (a fact may be absent or ``None``)."""

    def __init__(self, account_id: str, status: int, since: dt.datetime, **facts: Any) -> None:
        self.id = account_id
        self.status = status
        self.status_since = since
        for k, v in facts.items():
            if v is not ABSENT:
                setattr(self, k, v)


def host(status: str = "active", **facts: Any) -> Host:
    return Host("H-1", BASE.catalog[status].code, T0, **facts)


def money(effects: Any) -> list[tuple[str, Decimal, str]]:
    return [(e.kind, e.amount, e.currency) for e in effects if hasattr(e, "currency")]


# -- field changes -----------------------------------------------------------------------------


@pytest.mark.parametrize("change", [ChargeAccount(Decimal("2.00")), RefundPayment(Decimal("2.00"))])
def test_charges_and_refunds_take_the_account_currency_else_the_default(change: Any) -> None:
    """The effect's currency is the account's, else the workflow's default; without either
    that account is refused with ``MissingFact`` naming the currency (it used to be a
    silent USD), the account is unchanged, and the other account still changes."""
    mine = host(funds=Decimal("10.00"), currency="JPY")
    bare = host(funds=Decimal("10.00"))
    bare.id = "H-2"
    report = apply(select(EURO, [mine, bare]), change, at=T0 + DAY)
    assert [money(o.effects)[0][2] for o in report.outcomes] == ["JPY", "EUR"]

    mine.funds, bare.funds = Decimal("10.00"), Decimal("10.00")  # type: ignore[attr-defined]
    report = apply(select(BASE, [mine, bare]), change, at=T0 + 2 * DAY)
    changed, refused = report.outcomes
    assert changed.kind is OutcomeKind.CHANGED and money(changed.effects)[0][2] == "JPY"
    assert refused.kind is OutcomeKind.REFUSED
    assert isinstance(refused.error, MissingFact)
    assert (refused.error.account_id, refused.error.fact) == ("H-2", "currency")
    assert "default_currency" in str(refused.reason) and refused.effects == ()
    assert bare.funds == Decimal("10.00")  # type: ignore[attr-defined]


def test_all_or_nothing_is_called_off_by_a_missing_currency() -> None:
    """A missing fact is a refusal like any other: an all-or-nothing batch does nothing."""
    mine = host(funds=Decimal("10.00"), currency="JPY")
    bare = host(funds=Decimal("10.00"))
    bare.id = "H-2"
    report = apply(
        select(BASE, [mine, bare]), ChargeAccount(Decimal("1.00")), at=T0, mode=Mode.ALL_OR_NOTHING
    )
    assert [o.kind for o in report.outcomes] == [OutcomeKind.SKIPPED, OutcomeKind.REFUSED]
    assert mine.funds == Decimal("10.00")  # type: ignore[attr-defined]


def test_preview_totals_money_in_the_default_currency_and_refuses_without_one() -> None:
    """The confirmation's money lines are in the account's or the default currency; an
    opening balance with neither is refused (no silent USD line)."""
    shown = preview(
        select(EURO, [host(funds=Decimal("1.00"))]), SetOpeningBalance(Decimal("5.00")), at=T0
    )
    assert shown.money == {("opening_balance", "EUR"): Decimal("4.00")}
    bare = preview(
        select(BASE, [host(funds=Decimal("1.00"))]), SetOpeningBalance(Decimal("5.00")), at=T0
    )
    assert bare.money == {}
    (row,) = bare.rows()
    assert row.action.value == "refused" and "currency" in str(row.reason)


def test_a_date_is_a_day_in_the_account_zone_else_the_default_zone() -> None:
    """A bare date starts at local midnight in the account's zone, else the default zone;
    without either, ``MissingFact`` names the time zone (it used to be a silent UTC)."""
    mine = host(timezone="America/Los_Angeles")
    bare = host()
    bare.id = "H-2"
    change = SetActivationDate(dt.date(2026, 2, 1))
    apply(select(EURO, [mine, bare]), change, at=T0)
    assert mine.activated_at == dt.datetime(2026, 2, 1, 8, tzinfo=dt.UTC)  # type: ignore[attr-defined]
    assert bare.activated_at == dt.datetime(2026, 1, 31, 15, tzinfo=dt.UTC)  # type: ignore[attr-defined]
    fresh = host(timezone=None)
    report = apply(select(BASE, [fresh]), change, at=T0)
    (refused,) = report.outcomes
    assert refused.kind is OutcomeKind.REFUSED and isinstance(refused.error, MissingFact)
    assert refused.error.fact == "timezone" and not hasattr(fresh, "activated_at")


def test_ranges_of_days_read_the_default_zone_and_refuse_without_one() -> None:
    """Selecting on a range of days places each instant in the account's zone, else the
    default zone; with neither, ``select`` raises ``MissingFact`` naming the account.
    Accounts whose date is unset need no zone."""
    late = dt.datetime(2026, 1, 31, 20, 0, tzinfo=dt.UTC)  # 1 February in Tokyo
    february = Selection(activated=DateRange(start=dt.date(2026, 2, 1)))
    tokyo = host(activated_at=late)
    assert len(select(EURO, [tokyo], february)) == 1
    assert len(select(BASE.with_defaults(timezone="UTC"), [tokyo], february)) == 0
    assert len(select(BASE, [host(activated_at=late, timezone="Asia/Tokyo")], february)) == 1
    assert len(select(BASE, [host(activated_at=None)], february)) == 0
    with pytest.raises(MissingFact, match="timezone") as caught:
        select(BASE, [tokyo], february)
    assert caught.value.account_id == "H-1"


# -- differential: batch apply on one account == plain fire ----------------------------------

# (status, trigger): rules that charge (currency), count days (time zone), refund on
# cancel, a guard, and a plain move decided from the table; one move the graph lacks.
MOVES = [
    ("canceled", "reinstate_forward"),
    ("suspended", "reinstate_back"),
    ("suspended", "archive"),
    ("active", "cancel"),
    ("active", "suspend"),
    ("active", "reinstate_forward"),
]
FACT = st.sampled_from([ABSENT, None])


@st.composite
def cases(draw: st.DrawFn) -> tuple[Any, str, dict[str, Any], str, dt.datetime]:
    wf = WORKFLOWS[draw(st.sampled_from(sorted(WORKFLOWS)))]
    status, trigger = draw(st.sampled_from(MOVES))
    facts: dict[str, Any] = {
        "timezone": draw(st.one_of(FACT, st.sampled_from(["UTC", "Asia/Tokyo", "Europe/Paris"]))),
        "currency": draw(st.one_of(FACT, st.sampled_from(["USD", "CHF"]))),
        "payment_method": draw(st.sampled_from([ABSENT, "card", "card", "card"])),
        "period_price": draw(st.sampled_from([ABSENT, Decimal("30.00"), Decimal("19.99")])),
        "balance": draw(st.sampled_from([ABSENT, Decimal("0"), Decimal("5.00")])),
    }
    if draw(st.booleans()):
        facts["period_start"] = T0
        facts["period_end"] = T0 + 30 * DAY
        facts["period_paid"] = Decimal("30.00")
    at = (
        T0
        + draw(st.integers(min_value=1, max_value=400)) * DAY
        + dt.timedelta(hours=draw(st.integers(min_value=0, max_value=23)))
    )
    return wf, status, facts, trigger, at


@settings(max_examples=200)
@given(cases())
def test_batch_apply_on_one_account_is_plain_fire(
    case: tuple[Any, str, dict[str, Any], str, dt.datetime],
) -> None:
    """For hosts with or without a time zone and a currency, under workflows with or
    without defaults, batch ``apply`` of ``FireTrigger(t)`` on one account and
    ``wf.fire(account, t)`` agree: the same change (destination, effects, amounts and
    currencies), or the same error type (``MissingFact`` naming the same fact, a guard's
    refusal, ...) with nothing changed."""
    wf, status, facts, trigger, at = case
    fired = host(status, **facts)
    batched = host(status, **facts)
    try:
        change = wf.fire(fired, trigger, at=at)
    except AcctStateError as exc:
        expected: Any = exc
    else:
        expected = change
    (outcome,) = apply(select(wf, [batched]), FireTrigger(trigger), at=at).outcomes
    if isinstance(expected, AcctStateError):
        assert outcome.kind is OutcomeKind.REFUSED, outcome
        assert outcome.reason == str(expected)
        if outcome.error is not None:  # a refusal planned for this account alone
            assert type(outcome.error) is type(expected)
        if isinstance(expected, MissingFact):
            assert isinstance(outcome.error, MissingFact)
            assert outcome.error.fact == expected.fact
        assert batched.status == BASE.catalog[status].code
        assert not hasattr(batched, "history")
    else:
        assert outcome.kind is OutcomeKind.CHANGED, outcome
        assert outcome.change is not None
        assert outcome.change.dest == expected.dest
        assert outcome.effects == expected.effects
        assert money(outcome.effects) == money(expected.effects)
        assert batched.status == fired.status


@settings(max_examples=200)
@given(cases())
def test_batch_charges_in_the_currency_fire_charges_in(
    case: tuple[Any, str, dict[str, Any], str, dt.datetime],
) -> None:
    """A batch charge uses the currency a workflow charge rule uses on the same account,
    or both refuse with ``MissingFact`` for the currency (no batch-only USD)."""
    wf, _, facts, _, at = case
    facts = {**facts, "payment_method": "card", "period_price": Decimal("30.00")}
    try:
        change = wf.plan(host("canceled", **facts), "reinstate_forward", at=at)
    except MissingFact as exc:
        assert exc.fact in ("currency", "timezone")
        wanted: Any = None if exc.fact == "currency" else ABSENT
    else:
        wanted = money(change.effects)[0][2]
    account = host(funds=Decimal("50.00"), **facts)
    (outcome,) = apply(select(wf, [account]), ChargeAccount(Decimal("1.00")), at=at).outcomes
    if wanted is None:
        assert outcome.kind is OutcomeKind.REFUSED and isinstance(outcome.error, MissingFact)
        assert outcome.error.fact == "currency"
    elif wanted is not ABSENT:
        assert outcome.kind is OutcomeKind.CHANGED
        assert money(outcome.effects)[0][2] == wanted
