"""Refunds: the quote, its bases and rounding, the cancellation options, and the money rules
of the reference workflow (refunds on cancel, forward and back bills on reinstatement)."""

from __future__ import annotations

import datetime as dt
import decimal
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from acctstate.account import Account
from acctstate.effects import Charge, Refund
from acctstate.errors import InvalidArgument
from acctstate.refunds import (
    ACTUAL_DAYS,
    CANCEL_OPTIONS,
    ROUNDING_MODES,
    SECONDS,
    THIRTY_DAY,
    CancelOption,
    Period,
    RefundPolicy,
    RefundRule,
    ServiceStop,
    minor_units,
    quote,
)
from acctstate.workflow import Workflow

UTC = dt.UTC
JAN = Period(dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 2, 1, tzinfo=UTC))
FEB = Period(dt.datetime(2026, 2, 1, tzinfo=UTC), dt.datetime(2026, 3, 1, tzinfo=UTC))
DAY = dt.timedelta(days=1)

# The bases every install has: a page of the docs may register more for the whole process.
BUILT_IN_BASES = sorted(b.name for b in (ACTUAL_DAYS, THIRTY_DAY, SECONDS))


def jan(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 1, day, hour, tzinfo=UTC)


# -- quote: worked numbers ----------------------------------------------------------------


def test_daily_proration_does_not_count_the_cancel_day_as_used() -> None:
    """Cancelling on 10 January refunds 22 of January's 31 days (10th..31st)."""
    assert quote(Decimal("31.00"), JAN, jan(10)) == Decimal("22.00")
    assert quote(Decimal("62.00"), JAN, jan(31, 23)) == Decimal("2.00")


def test_rounding_goes_to_the_minor_unit_with_the_named_mode() -> None:
    """10.00 x 22/31 = 7.0967...: 7.10 half-even, 7.09 down; yen have no decimals."""
    assert quote(Decimal("10.00"), JAN, jan(10)) == Decimal("7.10")
    assert quote(Decimal("10.00"), JAN, jan(10), rounding=decimal.ROUND_DOWN) == Decimal("7.09")
    assert str(quote(Decimal("1000"), JAN, jan(10), currency="JPY")) == "710"
    assert str(quote(Decimal("1.000"), JAN, jan(10), currency="KWD")) == "0.710"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (decimal.ROUND_HALF_EVEN, "0.02"),
        (decimal.ROUND_HALF_UP, "0.03"),
        (decimal.ROUND_HALF_DOWN, "0.02"),
        (decimal.ROUND_UP, "0.03"),
        (decimal.ROUND_CEILING, "0.03"),
        (decimal.ROUND_DOWN, "0.02"),
        (decimal.ROUND_FLOOR, "0.02"),
    ],
)
def test_exact_ties_follow_the_rounding_mode(mode: str, expected: str) -> None:
    """0.05 over a two-day period, half left = 0.025 exactly: each mode rounds the tie its way."""
    two_days = Period(jan(1, 0), jan(3, 0))
    assert str(quote(Decimal("0.05"), two_days, jan(2), rounding=mode)) == expected


def test_the_thirty_day_basis_counts_every_month_as_thirty_days() -> None:
    """February is 30 units: cancelling on the 16th leaves 15 of them (28 Feb counts to 30)."""
    assert quote(Decimal("30.00"), FEB, dt.datetime(2026, 2, 16, tzinfo=UTC), basis=THIRTY_DAY) == (
        Decimal("15.00")
    )
    assert quote(Decimal("30.00"), FEB, dt.datetime(2026, 2, 16, tzinfo=UTC)) == Decimal("13.93")


def test_the_seconds_basis_prorates_to_the_second() -> None:
    """Six hours into a one-day period leaves three quarters of it."""
    day = Period(jan(1, 0), jan(2, 0))
    assert quote(Decimal("4.00"), day, jan(1, 6), basis="seconds") == Decimal("3.00")
    assert quote(Decimal("4.00"), day, jan(1, 6)) == Decimal("4.00")  # the day is not counted


NY = ZoneInfo("America/New_York")
JAN_NY = Period(dt.datetime(2026, 1, 1, tzinfo=NY), dt.datetime(2026, 2, 1, tzinfo=NY))


def test_days_are_the_customers_calendar_days() -> None:
    """03:00 UTC on 10 January is still the 9th in New York: one more day refunded there."""
    early = dt.datetime(2026, 1, 10, 3, 0, tzinfo=UTC)
    assert quote(Decimal("31.00"), JAN_NY, early) == Decimal("22.00")
    assert quote(Decimal("31.00"), JAN_NY, early, tz="America/New_York") == Decimal("23.00")


def test_policies_full_none_and_as_of() -> None:
    """Full refunds everything, none nothing, as-of prorates at the given date instead."""
    assert quote(Decimal("31.00"), JAN, jan(10), policy="full") == Decimal("31.00")
    assert quote(Decimal("31.00"), JAN, jan(10), policy=RefundPolicy.NONE) == Decimal("0.00")
    assert quote(Decimal("31.00"), JAN, jan(10), policy="prorated_as_of", as_of=jan(3)) == Decimal(
        "29.00"
    )


# -- quote: bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"paid": Decimal("-1.00")}, r"invalid paid: got Decimal\('-1.00'\)"),
        ({"paid": 10.0}, r"invalid paid: got 10.0; expected a Decimal amount \(float"),
        ({"paid": Decimal("NaN")}, r"invalid paid"),
        ({"paid": Decimal("1.005")}, r"invalid paid: .*whole minor units of USD"),
        ({"at": jan(1) - 2 * DAY}, r"invalid at: .*within the paid period"),
        ({"at": dt.datetime(2026, 2, 2, tzinfo=UTC)}, r"invalid at: .*within the paid period"),
        ({"at": dt.datetime(2026, 1, 10)}, r"invalid at: .*timezone-aware"),
        ({"currency": "usd"}, r"invalid currency: got 'usd'"),
        ({"currency": "EURO"}, r"invalid currency: got 'EURO'"),
        ({"rounding": "nearest"}, r"invalid rounding: got 'nearest'"),
        ({"rounding": decimal.ROUND_05UP}, r"invalid rounding: got 'ROUND_05UP'"),
        ({"basis": "lunar_months"}, r"invalid basis: got 'lunar_months'"),
        ({"tz": "Mars/Olympus"}, r"invalid tz: got 'Mars/Olympus'"),
        ({"policy": "half"}, r"invalid refund: got 'half'"),
        ({"policy": "prorated_as_of"}, r"invalid as_of: got None"),
        ({"policy": "prorated_as_of", "as_of": jan(1) - DAY}, r"invalid as_of: .*within"),
        ({"as_of": jan(3)}, r"invalid as_of: .*None for policy 'prorated'"),
        ({"period": (jan(1), jan(2))}, r"invalid period: .*expected a Period"),
    ],
)
def test_bad_input_is_refused_naming_the_value(kwargs: dict[str, Any], match: str) -> None:
    """Negative, float or sub-cent money, instants outside the period, unknown codes: refused."""
    args: dict[str, Any] = {"paid": Decimal("31.00"), "period": JAN, "at": jan(10)} | kwargs
    with pytest.raises(InvalidArgument, match=match):
        quote(**args)


def test_a_period_must_end_after_it_starts() -> None:
    """Period(end <= start) and naive instants are refused, naming the field."""
    with pytest.raises(InvalidArgument, match=r"invalid period.end: .*after period.start"):
        Period(jan(2), jan(1))
    with pytest.raises(InvalidArgument, match=r"invalid period.end"):
        Period(jan(2), jan(2))
    with pytest.raises(InvalidArgument, match=r"invalid period.start: .*timezone-aware"):
        Period(dt.datetime(2026, 1, 1), jan(2))


def test_a_period_shorter_than_one_unit_is_refused_for_that_basis() -> None:
    """Two hours on one calendar day cannot be prorated by days, but can be by seconds."""
    short = Period(jan(1, 9), jan(1, 11))
    with pytest.raises(InvalidArgument, match=r"invalid period: .*one actual_days unit"):
        quote(Decimal("2.00"), short, jan(1, 10))
    assert quote(Decimal("2.00"), short, jan(1, 10), basis=SECONDS) == Decimal("1.00")


def test_minor_units() -> None:
    """The cent by default; ISO 4217's zero- and three-decimal currencies."""
    assert [minor_units(c) for c in ("EUR", "JPY", "BHD")] == [2, 0, 3]


# -- quote: properties ------------------------------------------------------------------------

ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
MONEY = st.integers(min_value=0, max_value=10**9).map(lambda c: Decimal(c).scaleb(-2))


@st.composite
def periods(draw: st.DrawFn) -> Period:
    start = draw(
        st.datetimes(
            min_value=dt.datetime(2020, 1, 1),
            max_value=dt.datetime(2030, 1, 1),
            timezones=st.just(UTC),
        )
    )
    length = draw(st.timedeltas(min_value=dt.timedelta(days=2), max_value=dt.timedelta(days=400)))
    return Period(start, start + length)


def inside(draw: st.DrawFn, period: Period) -> dt.datetime:
    offset = draw(st.timedeltas(min_value=dt.timedelta(0), max_value=period.end - period.start))
    return period.start + offset


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    period = draw(periods())
    return {
        "paid": draw(MONEY),
        "period": period,
        "basis": draw(st.sampled_from(BUILT_IN_BASES)),
        "rounding": draw(st.sampled_from(sorted(ROUNDING_MODES))),
        "tz": draw(st.sampled_from(ZONES)),
        "at": inside(draw, period),
        "later": inside(draw, period),
    }


def q(case: dict[str, Any], at: dt.datetime, **more: Any) -> Decimal:
    opts = {k: case[k] for k in ("basis", "rounding", "tz")} | more
    return quote(case["paid"], case["period"], at, **opts)


@given(cases())
def test_a_refund_is_between_zero_and_what_was_paid(case: dict[str, Any]) -> None:
    """0 <= refund <= paid, whatever the basis, rounding mode and time zone."""
    assert Decimal(0) <= q(case, case["at"]) <= case["paid"]


@given(cases())
def test_full_is_paid_and_none_is_zero(case: dict[str, Any]) -> None:
    """A full refund is the amount paid; no refund is zero."""
    assert q(case, case["at"], policy="full") == case["paid"]
    assert q(case, case["at"], policy="none") == 0


@given(cases())
def test_at_period_start_everything_is_refunded_and_at_its_end_nothing(
    case: dict[str, Any],
) -> None:
    """Cancelling at the start refunds what was paid; at the end, nothing."""
    period = case["period"]
    assert q(case, period.start) == case["paid"]
    assert q(case, period.end) == 0


@given(cases())
def test_a_later_cancellation_never_refunds_more(case: dict[str, Any]) -> None:
    """The refund never increases as the cancellation moves later."""
    early, late = sorted([case["at"], case["later"]])
    assert q(case, early) >= q(case, late)


@given(cases())
def test_as_of_is_prorating_at_that_date(case: dict[str, Any]) -> None:
    """'prorated as of d' refunds exactly what a prorated cancellation at d would."""
    as_of = case["later"]
    assert q(case, case["at"], policy="prorated_as_of", as_of=as_of) == q(case, as_of)


@given(cases(), st.data())
def test_splitting_a_period_moves_at_most_one_rounding_step(
    case: dict[str, Any], data: st.DataObject
) -> None:
    """Split the period at m and the money with it (the second part is worth the refund at
    m): cancelling in either part refunds within one minor unit of the unsplit quote."""
    period: Period = case["period"]
    m = inside(data.draw, period)
    assume(period.start < m < period.end)
    first, second = period.split(m)
    opts = {k: case[k] for k in ("basis", "rounding", "tz")}
    at = case["at"]
    paid_second = q(case, m)
    paid_first = case["paid"] - paid_second
    try:
        if at >= m:
            split = quote(paid_second, second, at, **opts)
        else:
            split = paid_second + quote(paid_first, first, at, **opts)
    except InvalidArgument as exc:
        assume(exc.name != "period")  # a part shorter than one unit of the basis
        raise
    step = Decimal(1).scaleb(-minor_units("USD"))
    assert abs(split - q(case, at)) <= step


# -- the two choices ----------------------------------------------------------------------


def test_the_six_options_of_seed_000_are_presets_of_two_choices() -> None:
    """Each preset is a (when service stops, what happens to the money) pair."""
    pairs = {name: (o.stop.value, o.money.value) for name, o in CANCEL_OPTIONS.items()}
    assert pairs == {
        "immediately_prorated_refund": ("now", "prorated"),
        "immediately_full_refund": ("now", "full"),
        "immediately_no_refund": ("now", "none"),
        "period_end": ("period_end", "none"),
        "specific_date_prorated_refund": ("on_date", "prorated"),
        "immediately_prorated_as_of_date": ("now", "prorated_as_of"),
    }
    assert all(o.label for o in CANCEL_OPTIONS.values())


def active(wf: Workflow, t0: dt.datetime, **fields: Any) -> Account:
    acct = wf.open("A-1", "active", at=t0 - 30 * DAY, imported=True, **fields)
    return acct


def refunds(change: Any) -> list[Decimal]:
    return [e.amount for e in change.effects if isinstance(e, Refund)]


@pytest.mark.parametrize(
    ("name", "extra", "dest", "refund"),
    [
        ("immediately_prorated_refund", {}, "canceled", [Decimal("22.00")]),
        ("immediately_full_refund", {}, "canceled", [Decimal("31.00")]),
        ("immediately_no_refund", {}, "canceled", []),
        ("period_end", {}, "cancelation_pending", []),
        ("specific_date_prorated_refund", {"on": jan(20)}, "canceled", [Decimal("12.00")]),
        ("immediately_prorated_as_of_date", {"as_of": jan(3)}, "canceled", [Decimal("29.00")]),
    ],
)
def test_each_option_fires_the_right_trigger_with_the_right_refund(
    wf: Workflow, name: str, extra: dict[str, Any], dest: str, refund: list[Decimal]
) -> None:
    """The seed-000 options on the reference workflow, 31.00 paid for January, asked on the 10th."""
    acct = active(wf, jan(1))
    cancellation = CANCEL_OPTIONS[name].request(
        at=jan(10), paid=Decimal("31.00"), period=JAN, **extra
    )
    planned = cancellation.plan(wf, acct)
    change = cancellation.fire(wf, acct)
    assert (change.dest.name, refunds(change)) == (dest, refund)
    assert planned.effects == change.effects
    assert change.at == extra.get("on", jan(10))


@pytest.mark.parametrize("money", list(RefundPolicy))
@pytest.mark.parametrize("stop", list(ServiceStop))
def test_every_combination_of_the_two_choices_works(
    wf: Workflow, stop: ServiceStop, money: RefundPolicy
) -> None:
    """3 x 4 combinations all plan; period end makes a prorated refund zero."""
    option = CancelOption(stop=stop, money=money)
    extra: dict[str, Any] = {}
    if stop is ServiceStop.ON_DATE:
        extra["on"] = jan(20)
    if money is RefundPolicy.PRORATED_AS_OF:
        extra["as_of"] = jan(3)
    acct = active(wf, jan(1))
    change = option.request(at=jan(10), paid=Decimal("31.00"), period=JAN, **extra).plan(wf, acct)
    expected = {
        RefundPolicy.NONE: [],
        RefundPolicy.FULL: [Decimal("31.00")],
        RefundPolicy.PRORATED_AS_OF: [Decimal("29.00")],
        RefundPolicy.PRORATED: {
            ServiceStop.NOW: [Decimal("22.00")],
            ServiceStop.ON_DATE: [Decimal("12.00")],
            ServiceStop.PERIOD_END: [],
        }[stop],
    }[money]
    assert refunds(change) == expected


def test_option_request_refuses_missing_or_stray_dates() -> None:
    """ON_DATE needs `on`, PRORATED_AS_OF needs `as_of`; neither is accepted elsewhere."""
    with pytest.raises(InvalidArgument, match=r"invalid on: got None; expected the date"):
        CANCEL_OPTIONS["specific_date_prorated_refund"].request(at=jan(10))
    with pytest.raises(InvalidArgument, match=r"invalid on: .*None for stop 'now'"):
        CANCEL_OPTIONS["immediately_full_refund"].request(at=jan(10), on=jan(12))
    with pytest.raises(InvalidArgument, match=r"invalid as_of: got None"):
        CANCEL_OPTIONS["immediately_prorated_as_of_date"].request(at=jan(10))
    with pytest.raises(InvalidArgument, match=r"invalid on: .*not before the request"):
        CANCEL_OPTIONS["specific_date_prorated_refund"].request(at=jan(10), on=jan(5))
    with pytest.raises(InvalidArgument, match=r"invalid stop: got 'later'"):
        CancelOption(stop="later", money="none")


# -- the rules on the reference workflow, bad input changes nothing -----------------------------


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"refund": "prorated", "period": JAN}, r"invalid paid: got None"),
        ({"refund": "prorated", "paid": Decimal("31.00")}, r"invalid period: got None"),
        ({"refund": "full", "paid": Decimal("-5.00"), "period": JAN}, r"invalid paid"),
        ({"refund": "full", "paid": 31.0, "period": JAN}, r"invalid paid: got 31.0"),
        (
            {"refund": "prorated", "paid": Decimal("31.00"), "period": FEB},
            r"invalid at: .*within the paid period",
        ),
        (
            {"refund": "full", "paid": Decimal("31.00"), "period": JAN, "currency": "EUR"},
            r"invalid currency: got 'EUR'; expected the account's currency 'USD'",
        ),
        ({"refund": "most", "paid": Decimal("1.00"), "period": JAN}, r"invalid refund"),
    ],
)
def test_bad_refund_data_refuses_the_cancel_and_changes_nothing(
    wf: Workflow, data: dict[str, Any], match: str
) -> None:
    """A cancel whose refund cannot be computed exactly is refused before anything runs."""
    acct = active(wf, jan(1))
    before = (acct.status, acct.status_since, list(acct.history))
    with pytest.raises(InvalidArgument, match=match):
        wf.fire(acct, "cancel", at=jan(10), **data)
    assert (acct.status, acct.status_since, list(acct.history)) == before


def test_the_refund_reads_the_accounts_period_currency_and_time_zone(wf: Workflow) -> None:
    """Without `period=`, period_start (event) and the account's period_end make the period;
    the account's currency and billing time zone are used (the 9th in New York: 23 days)."""
    acct = active(wf, jan(1), currency="EUR", timezone="America/New_York", period_end=JAN_NY.end)
    change = wf.plan(
        acct,
        "cancel",
        at=dt.datetime(2026, 1, 10, 3, 0, tzinfo=UTC),
        refund="prorated",
        paid=Decimal("31.00"),
        period_start=JAN_NY.start,
    )
    (refund,) = [e for e in change.effects if isinstance(e, Refund)]
    assert (refund.amount, refund.currency) == (Decimal("23.00"), "EUR")


def test_a_refund_rule_is_a_value_that_rebuilds_from_its_kwargs() -> None:
    """Workflow files name rules: kwargs rebuild an equal rule."""
    rule = RefundRule(default="full", service_stops="period_end", basis="seconds")
    assert RefundRule(**rule.kwargs) == rule
    with pytest.raises(InvalidArgument, match=r"invalid rounding"):
        RefundRule(rounding="sometimes")


def test_forward_bill_charges_the_coming_period_once(wf: Workflow) -> None:
    """Seed 004 (21): reinstating a canceled account bills the period price, exactly."""
    acct = wf.open("A-1", "canceled", at=jan(1), imported=True, payment_method="visa")
    change = wf.fire(acct, "reinstate_forward", at=jan(10), period_price=Decimal("29.99"))
    charges = [e for e in change.effects if isinstance(e, Charge)]
    assert [(c.amount, c.description) for c in charges] == [(Decimal("29.99"), "forward bill")]
    kinds = [e.kind for e in change.effects]
    assert kinds.index("start_billing") < kinds.index("charge")


def test_back_bill_charges_the_days_since_billing_stopped(wf: Workflow) -> None:
    """Seed 004 (22): dunning stops billing on 1 Jan (suspended_dunning_1), goes on to step 2
    on 5 Jan, reinstated on 16 Jan: 15 unbilled days at 30.00 per 30 days = 15.00."""
    acct = wf.open("A-1", "active", at=jan(1) - 30 * DAY, imported=True, payment_method="visa")
    for i in range(4):  # active -> pending -> 1 -> 2 -> 3, all still billed
        wf.fire(acct, "escalate_dunning", at=jan(1) - (20 - i) * DAY)
    wf.fire(acct, "escalate_dunning", at=jan(1))
    wf.fire(acct, "escalate_dunning", at=jan(5))
    assert wf.status_of(acct).name == "suspended_dunning_2"
    change = wf.fire(acct, "reinstate_back", at=jan(16, 8), period_price=Decimal("30.00"))
    charges = [(e.amount, e.description) for e in change.effects if isinstance(e, Charge)]
    assert charges == [(Decimal("15.00"), "back bill: 15 days")]
    done = wf.plan(acct, "complete_reinstatement", at=jan(17), balance=Decimal(0))
    assert not [e for e in done.effects if isinstance(e, Charge)]


def test_back_bill_with_an_explicit_start_and_rounding(wf: Workflow) -> None:
    """suspended_since overrides the history; 7 days at 10.00 per 30 = 2.333.. -> 2.33."""
    acct = wf.open("A-1", "suspended", at=jan(1), imported=True, payment_method="visa")
    change = wf.plan(
        acct, "reinstate_back", at=jan(10), period_price=Decimal("10.00"), suspended_since=jan(3)
    )
    assert [e.amount for e in change.effects if isinstance(e, Charge)] == [Decimal("2.33")]


def test_no_price_means_no_bill_and_bad_prices_are_refused(wf: Workflow) -> None:
    """Without a price the host bills itself; a float or negative price is refused."""
    acct = wf.open("A-1", "suspended", at=jan(1), imported=True, payment_method="visa")
    plain = wf.plan(acct, "reinstate_back", at=jan(10))
    assert not [e for e in plain.effects if isinstance(e, Charge)]
    for bad in (9.99, Decimal("-1.00")):
        with pytest.raises(InvalidArgument, match="invalid period_price"):
            wf.plan(acct, "reinstate_back", at=jan(10), period_price=bad)
    assert acct.status == wf.catalog["suspended"].code


def test_actual_days_and_thirty_day_positions_never_decrease() -> None:
    """The built-in bases are monotone across month and year ends."""
    zone = dt.UTC
    t = dt.datetime(2025, 12, 25, tzinfo=UTC)
    for basis in (ACTUAL_DAYS, THIRTY_DAY, SECONDS):
        positions = [basis.position(t + i * dt.timedelta(hours=7), zone) for i in range(400)]
        assert positions == sorted(positions)


# -- issue 13: the cancel-day convention, registered bases, wide amounts -------------------


def test_quote_keeps_every_digit_of_large_amounts() -> None:
    """An amount with more than 28 significant digits keeps its cents."""
    big = Decimal("123456789012345678901234567.89")
    assert quote(big, JAN, jan(5), policy="full") == big
    assert quote(big, JAN, jan(5)) == Decimal("107526880752688171946236559.13")


def test_cancel_day_is_refunded_by_default_and_can_be_charged() -> None:
    """Chargebee's $649 month, cancelled on the last day of February: 23.18 refunded, or
    nothing when the cancel day is billed."""
    last_day = dt.datetime(2026, 2, 28, 10, 0, tzinfo=UTC)
    assert quote(Decimal("649.00"), FEB, last_day) == Decimal("23.18")
    assert quote(Decimal("649.00"), FEB, last_day, cancel_day="refunded") == Decimal("23.18")
    assert quote(Decimal("649.00"), FEB, last_day, cancel_day="charged") == Decimal("0.00")
    with pytest.raises(InvalidArgument, match="invalid cancel_day"):
        quote(Decimal("649.00"), FEB, last_day, cancel_day="billed")


@pytest.mark.parametrize(
    ("tz", "refunded", "charged"),
    [("UTC", "17.00", "16.00"), ("America/Los_Angeles", "18.00", "17.00"),
     ("Europe/Paris", "17.00", "16.00")],
)  # fmt: skip
def test_charged_cancel_day_differs_by_exactly_one_day(
    tz: str, refunded: str, charged: str
) -> None:
    """A 31.00 month in each customer's zone, stopped at 05:00 UTC on 15 January."""
    zone = ZoneInfo(tz)
    month = Period(dt.datetime(2026, 1, 1, tzinfo=zone), dt.datetime(2026, 2, 1, tzinfo=zone))
    stop = dt.datetime(2026, 1, 15, 5, 0, tzinfo=UTC)
    assert quote(Decimal("31.00"), month, stop, tz=tz) == Decimal(refunded)
    assert quote(Decimal("31.00"), month, stop, tz=tz, cancel_day="charged") == Decimal(charged)


@given(st.integers(0, 10**6), st.integers(0, 31 * 24 - 1))
def test_charging_the_cancel_day_never_refunds_more(cents: int, hour: int) -> None:
    """Charged <= refunded, by at most one day's worth (rounded up)."""
    paid = Decimal(cents).scaleb(-2)
    at = JAN.start + dt.timedelta(hours=hour)
    refunded = quote(paid, JAN, at)
    charged = quote(paid, JAN, at, cancel_day="charged")
    assert (
        Decimal(0) <= refunded - charged <= (paid / 31).quantize(Decimal("0.01")) + Decimal("0.01")
    )


def test_refund_rule_carries_the_cancel_day() -> None:
    """RefundRule(cancel_day="charged") bills the cancel day; it rebuilds from kwargs."""
    from acctstate.guards import GuardContext
    from acctstate.presets import isp

    wf = isp.workflow()
    active_, canceled = wf.catalog["active"], wf.catalog["canceled"]
    data = {"refund": "prorated", "paid": Decimal("31.00"), "period": JAN}
    ctx = GuardContext(Account(id="A-1", status=1), jan(31) + dt.timedelta(hours=3), data=data)
    (refund,) = RefundRule()(ctx, active_, canceled)
    assert isinstance(refund, Refund) and refund.amount == Decimal("1.00")
    charged = RefundRule(cancel_day="charged")
    assert tuple(charged(ctx, active_, canceled)) == ()
    assert RefundRule(**charged.kwargs) == charged
    assert "cancel_day" not in RefundRule().kwargs


def test_refund_rule_takes_a_registered_basis_and_refuses_others() -> None:
    """A custom basis is usable by name once registered; an unknown name or an unregistered
    basis is refused with InvalidArgument (not a bare attrs ValueError)."""
    import attrs

    from acctstate import proration
    from acctstate.proration import register_basis

    @attrs.frozen
    class Fortnights:
        name = "fortnights_test"

        def position(self, at: dt.datetime, tz: dt.tzinfo) -> int:
            return at.astimezone(tz).date().toordinal() // 14

    @attrs.frozen
    class Unregistered:
        name = "unregistered_test"

        def position(self, at: dt.datetime, tz: dt.tzinfo) -> int:
            return 0

    with pytest.raises(InvalidArgument, match="invalid basis: got 'fortnights_test'"):
        RefundRule(basis="fortnights_test")
    with pytest.raises(InvalidArgument, match="a registered basis"):
        RefundRule(basis=Unregistered())
    basis = register_basis(Fortnights())
    try:
        assert register_basis(Fortnights()) is not None  # the same basis again: no-op
        assert RefundRule(basis="fortnights_test").basis == "fortnights_test"
        assert RefundRule(basis=basis).basis == "fortnights_test"
    finally:
        proration._BASES.pop("fortnights_test")  # leave the registry as it was
    assert RefundRule(basis="thirty_day").basis == "thirty_day"
    with pytest.raises(InvalidArgument, match="whose name is not taken"):
        register_basis(_Named("thirty_day"))
    with pytest.raises(InvalidArgument, match="invalid basis"):
        register_basis("thirty_day")  # type: ignore[arg-type]


class _Named:
    """A basis with any name (to try taking a built-in one)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def position(self, at: dt.datetime, tz: dt.tzinfo) -> int:
        return 0


# -- published examples of other engines, replayed ----------------------------------------

# Kill Bill's catalog examples (https://docs.killbill.io/latest/catalog-examples.html,
# "Billing Alignment Rules"): a partial period up to the bill cycle day is charged
# price x (days from the start to the BCD) / (days in the BCD-to-BCD period). That is the
# unused share of the period the subscription starts in: quote(price, period, start).
KILL_BILL_PRORATIONS = [
    # (monthly price, subscription start, bill cycle day, published amount)
    ("24.95", (2021, 9, 16), 25, "7.24"),  # Account alignment, case 2
    ("24.95", (2021, 9, 25), 17, "18.30"),  # case 3, second subscription
    ("24.95", (2021, 9, 17), 25, "6.44"),  # case 4, first subscription
    ("24.95", (2021, 9, 30), 25, "20.79"),  # case 4, second subscription
    ("17.95", (2021, 9, 30), 20, "11.97"),  # Bundle alignment, the add-on
]


@pytest.mark.parametrize(("price", "start", "bcd", "published"), KILL_BILL_PRORATIONS)
def test_kill_bills_catalog_proration_examples(
    price: str, start: tuple[int, int, int], bcd: int, published: str
) -> None:
    """Kill Bill's five prorated first invoices, to the cent, with the default convention
    (the start day is not yet used) on the actual-days basis."""
    begin = dt.datetime(*start, tzinfo=UTC)
    end = dt.datetime(begin.year, begin.month + (begin.day >= bcd), bcd, tzinfo=UTC)
    previous = dt.datetime(end.year, end.month - 1, bcd, tzinfo=UTC)
    assert quote(Decimal(price), Period(previous, end), begin) == Decimal(published)


def test_kill_bills_immediate_add_on_cancellation_credits_everything() -> None:
    """Kill Bill's plan cancellation timing example: a 15.00 add-on bought and cancelled
    IMMEDIATE on its first day (29 September 2021) credits 15.00."""
    period = Period(dt.datetime(2021, 9, 29, tzinfo=UTC), dt.datetime(2021, 10, 29, tzinfo=UTC))
    at = dt.datetime(2021, 9, 29, 15, 0, tzinfo=UTC)
    assert quote(Decimal("15.00"), period, at) == Decimal("15.00")


def test_stripes_unused_time_credit() -> None:
    """Stripe's proration example (https://docs.stripe.com/billing/subscriptions/prorations):
    leaving a 10 USD monthly plan halfway through the period credits 5 USD of unused time.
    Stripe prorates to the second; halfway through a 30-day April either basis agrees."""
    april = Period(dt.datetime(2026, 4, 1, tzinfo=UTC), dt.datetime(2026, 5, 1, tzinfo=UTC))
    halfway = dt.datetime(2026, 4, 16, tzinfo=UTC)
    assert quote(Decimal("10.00"), april, halfway, basis="seconds") == Decimal("5.00")
    assert quote(Decimal("10.00"), april, halfway) == Decimal("5.00")
    # ... and the 20 USD plan's remaining time is the other half of the +5 USD net.
    assert quote(Decimal("20.00"), april, halfway, basis="seconds") == Decimal("10.00")
