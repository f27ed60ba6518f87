"""One instant, one answer: calendar days are counted in the account's billing time zone,
and instants are compared as instants, however a datetime is written (any zone, ``fold=1``,
UTC). Regression tests for issue 13, section 1, and the property that re-expressing every
datetime never changes a decision, a quote or a key."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _workflows import hold_workflow
from acctstate.account import Account
from acctstate.automation import AutomationPolicy, CreditHold, apply, reference_ladder, sweep
from acctstate.clock import billing_zone, calendar_days, utc
from acctstate.effects import Refund
from acctstate.errors import InvalidArgument
from acctstate.guards import GuardContext, days_in_status, period_ended
from acctstate.presets import isp
from acctstate.proration import BASES, Period, quote
from acctstate.refunds import CancelOption
from acctstate.workflow import Workflow

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
DAY = dt.timedelta(days=1)


def _snapshot(acct: Any) -> tuple[Any, ...]:
    return (acct.status, acct.status_since, list(acct.history))


# -- section 1: the reproductions --------------------------------------------------------


def test_archive_counts_calendar_days_in_the_billing_zone(wf: Workflow) -> None:
    """Closed at 00:00 on 1 March in Berlin, the account may be archived at 00:00 on
    28 August, Berlin time (day 180), whether that instant is written in Berlin or UTC."""
    acct = wf.open(
        "A-1", "active", at=dt.datetime(2026, 1, 1, tzinfo=BERLIN), imported=True,
        timezone="Europe/Berlin",
    )  # fmt: skip
    wf.fire(acct, "cancel", at=dt.datetime(2026, 3, 1, tzinfo=BERLIN))
    t = dt.datetime(2026, 8, 28, tzinfo=BERLIN)
    assert wf.may(acct, "archive", at=t)
    assert wf.may(acct, "archive", at=t.astimezone(UTC))
    assert not wf.may(acct, "archive", at=(t - dt.timedelta(seconds=1)).astimezone(UTC))


def test_day_n_begins_at_local_midnight(wf: Workflow) -> None:
    """Closed at 15:00, day 180 still begins at the local midnight, not at 15:00."""
    acct = wf.open(
        "A-1", "canceled", at=dt.datetime(2026, 3, 1, 15, 0, tzinfo=NEW_YORK), imported=True,
        timezone="America/New_York",
    )  # fmt: skip
    midnight = dt.datetime(2026, 8, 28, 0, 0, tzinfo=NEW_YORK)
    assert str(wf.explain(acct, "archive", at=midnight - dt.timedelta(minutes=1))) == (
        "'archive' is refused: days_in_status(180): in status for 179 days; 180 required"
    )
    assert wf.may(acct, "archive", at=midnight.astimezone(UTC))


def test_sweep_archive_rule_counts_like_the_guard() -> None:
    """The sweep's archive rule and the days_in_status guard agree for an instant written
    in UTC: the rule fires and the transition is allowed (no refusal)."""
    wf = isp.workflow()
    policy = AutomationPolicy(wf, archive="archive")
    acct = wf.open(
        "A-1", "canceled", at=dt.datetime(2026, 3, 1, tzinfo=BERLIN), imported=True,
        timezone="Europe/Berlin",
    )  # fmt: skip
    now = dt.datetime(2026, 8, 28, tzinfo=BERLIN).astimezone(UTC)
    plan = sweep([acct], policy, now=now)
    assert [(c.rule, c.dest.name) for c in plan.plans[0].changes] == [("archive", "archived")]
    assert plan.plans[0].blocked == ()
    assert sweep([acct], policy, now=now - dt.timedelta(seconds=1)).plans == ()


def test_period_compares_instants_not_wall_times() -> None:
    """30 minutes after a period that starts at 02:45 (CEST) on the night the clocks fall
    back, written with fold=1 (02:15 CET), is inside the period, as it is in UTC."""
    start = dt.datetime(2026, 10, 25, 2, 45, tzinfo=BERLIN)
    period = Period(start, dt.datetime(2026, 11, 25, tzinfo=BERLIN))
    later = (start.astimezone(UTC) + dt.timedelta(minutes=30)).astimezone(BERLIN)
    assert later.fold == 1 and later.replace(tzinfo=None) < start.replace(tzinfo=None)
    assert later in period and later.astimezone(UTC) in period
    paid = Decimal("31.00")
    assert quote(paid, period, later, tz=BERLIN) == quote(paid, period, later.astimezone(UTC))
    before = start - dt.timedelta(minutes=30)
    assert before not in period


def test_period_end_is_checked_as_an_instant() -> None:
    """A period ending at 02:15 CET (fold=1) ends after 02:45 CEST: Period accepts it, and
    split accepts an instant in between."""
    start = dt.datetime(2026, 10, 25, 2, 45, tzinfo=BERLIN)
    end = dt.datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=BERLIN)
    period = Period(start, end)
    middle = dt.datetime(2026, 10, 25, 0, 55, tzinfo=UTC)
    first, second = period.split(middle)
    assert first.end == second.start == middle


def test_period_ended_compares_instants() -> None:
    """period_ended sees the paid period end at the same instant however it is written."""
    end = dt.datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=BERLIN)  # 01:15 UTC
    g = period_ended()
    at = dt.datetime(2026, 10, 25, 2, 45, tzinfo=BERLIN)  # 00:45 UTC: not yet ended
    assert g(GuardContext(None, at, data={"period_end": end})) is not None
    assert g(GuardContext(None, at.astimezone(UTC), data={"period_end": end})) is not None
    after = dt.datetime(2026, 10, 25, 2, 20, fold=1, tzinfo=BERLIN)
    assert g(GuardContext(None, after, data={"period_end": end})) is None


def test_cancel_on_date_compares_instants() -> None:
    """An ON_DATE cancellation 30 minutes after the request is accepted even when its wall
    time (02:15, second pass) reads earlier than the request's (02:45, first pass)."""
    asked = dt.datetime(2026, 10, 25, 2, 45, tzinfo=BERLIN)
    on = dt.datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=BERLIN)
    opt = CancelOption(stop="on_date", money="none")
    assert opt.request(at=asked, on=on).at == on
    with pytest.raises(InvalidArgument, match="a date not before the request"):
        opt.request(at=on, on=asked)


def test_ladder_counts_from_a_due_date_in_the_billing_zone() -> None:
    """A due *date* is accepted; day 1 past due begins at local midnight after it."""
    wf = isp.workflow()
    policy = AutomationPolicy(wf, ladder=reference_ladder())
    acct = wf.open(
        "A-1", "active", at=dt.datetime(2026, 1, 1, tzinfo=UTC), imported=True,
        timezone="America/New_York", balance=Decimal("39.90"), unpaid_invoices=1,
        oldest_unpaid_at=dt.date(2026, 2, 1),
    )  # fmt: skip
    night = dt.datetime(2026, 2, 2, tzinfo=NEW_YORK)
    assert sweep([acct], policy, now=night - dt.timedelta(seconds=1)).plans == ()
    assert sweep([acct], policy, now=night.astimezone(UTC)).plans[0].final is not None


def test_credit_hold_counts_past_due_days_in_the_billing_zone() -> None:
    """Past-due days and days on hold are calendar days in the account's zone."""
    wf = hold_workflow()
    policy = AutomationPolicy(wf, credit_hold=CreditHold(past_due_days=30, inactive_after_days=60))
    due = dt.datetime(2026, 3, 1, 23, 0, tzinfo=NEW_YORK)  # 04:00 UTC on 2 March
    acct = Account(
        id="A-1", status=1, status_since=due - 90 * DAY, balance=Decimal("100"),
        timezone="America/New_York", oldest_unpaid_at=due,
    )  # fmt: skip
    day_30 = dt.datetime(2026, 3, 31, tzinfo=NEW_YORK)
    assert sweep([acct], policy, now=day_30 - dt.timedelta(seconds=1)).plans == ()
    apply(sweep([acct], policy, now=day_30.astimezone(UTC)))
    assert acct.status == 7


def test_availability_after_first_use_counts_calendar_days() -> None:
    """Thirty days of availability after a first use at 22:00 end at local midnight."""
    wf = isp.workflow()
    policy = AutomationPolicy(wf, expiration="deactivate")
    first = dt.datetime(2026, 5, 1, 22, 0, tzinfo=BERLIN)
    acct = Account(
        id="A-1", status=1, status_since=first, first_used_at=first, availability_days=30,
        timezone="Europe/Berlin",
    )  # fmt: skip
    end = dt.datetime(2026, 5, 31, tzinfo=BERLIN)
    assert sweep([acct], policy, now=(end - dt.timedelta(seconds=1)).astimezone(UTC)).plans == ()
    assert sweep([acct], policy, now=end.astimezone(UTC)).plans[0].final is not None


def test_calendar_days_is_the_same_for_every_writing() -> None:
    """calendar_days counts local midnights; dates and instants mix; bad values refused."""
    since = dt.datetime(2026, 3, 28, 23, 30, tzinfo=BERLIN)
    at = dt.datetime(2026, 3, 30, 0, 0, tzinfo=BERLIN)
    assert calendar_days(since, at, BERLIN) == 2
    assert calendar_days(utc(since), utc(at), "Europe/Berlin") == 2
    assert calendar_days(dt.date(2026, 3, 28), at, BERLIN) == 2
    with pytest.raises(InvalidArgument, match="invalid status_since"):
        calendar_days("2026-03-28", at, BERLIN, name="status_since")
    with pytest.raises(InvalidArgument, match="invalid timezone"):
        billing_zone(5)


# -- section 4: typed errors only -----------------------------------------------------------


@pytest.mark.parametrize("end", ["2026-05-01T00:00:00+00:00", dt.date(2026, 5, 1)])
def test_period_end_of_the_wrong_type_is_refused(wf: Workflow, end: object) -> None:
    """period_end as an ISO string or a date: InvalidArgument naming it, nothing changed."""
    t0 = dt.datetime(2026, 1, 1, tzinfo=UTC)
    acct = wf.open("A-1", "active", at=t0, imported=True)
    wf.fire(acct, "request_cancelation", at=t0 + DAY)
    before = _snapshot(acct)
    with pytest.raises(InvalidArgument, match="invalid period_end"):
        wf.fire(acct, "complete_cancelation", at=t0 + 200 * DAY, period_end=end)
    assert _snapshot(acct) == before


def test_naive_status_since_is_refused_by_days_in_status() -> None:
    """A host object with a naive status_since: InvalidArgument, not TypeError."""
    g = days_in_status(180)
    ctx = GuardContext(None, dt.datetime(2026, 9, 1, tzinfo=UTC),
                       data={"status_since": dt.datetime(2026, 1, 1)})  # fmt: skip
    with pytest.raises(InvalidArgument, match="invalid status_since"):
        g(ctx)
    ctx = GuardContext(None, dt.datetime(2026, 9, 1, tzinfo=UTC),
                       data={"status_since": "2026-01-01"})  # fmt: skip
    with pytest.raises(InvalidArgument, match="invalid status_since"):
        g(ctx)


def test_timezone_that_is_not_a_zone_is_refused(wf: Workflow) -> None:
    """timezone=5 in event data is refused, not silently read as UTC."""
    acct = wf.open("A-1", "active", at=dt.datetime(2026, 1, 1, tzinfo=UTC), imported=True)
    before = _snapshot(acct)
    with pytest.raises(InvalidArgument, match="invalid timezone"):
        wf.plan(acct, "cancel", at=dt.datetime(2026, 1, 5, tzinfo=UTC), timezone=5)
    assert _snapshot(acct) == before


def test_an_instant_with_no_utc_equivalent_is_refused() -> None:
    """datetime.max at -05:00 is past year 9999 in UTC: InvalidArgument, not OverflowError."""
    from acctstate.clock import require_aware

    edge = dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    with pytest.raises(InvalidArgument, match="between the years 1 and 9999"):
        require_aware(edge)
    with pytest.raises(InvalidArgument, match="between the years 1 and 9999"):
        CancelOption(stop="now", money="none").request(at=edge)


# -- the property: re-expressing any datetime changes nothing ----------------------------

ISP = isp.workflow()

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
]
WRITINGS: list[dt.tzinfo] = [
    UTC,
    *(ZoneInfo(z) for z in ZONES[1:]),
    dt.timezone(dt.timedelta(hours=-5)),
    dt.timezone(dt.timedelta(hours=13, minutes=45)),
]
# Around the 2026 clock changes (where fold=1 and skipped hours live) and elsewhere.
_HOTSPOTS = [
    dt.datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
    dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    dt.datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    dt.datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
    dt.datetime(2026, 4, 4, 15, 0, tzinfo=UTC),
    dt.datetime(2026, 6, 15, 12, 0, tzinfo=UTC),
]


@st.composite
def instants(draw: st.DrawFn) -> dt.datetime:
    base = draw(st.sampled_from(_HOTSPOTS))
    return base + dt.timedelta(minutes=draw(st.integers(-3 * 24 * 60, 3 * 24 * 60)))


def _rewrite(value: Any, zone: dt.tzinfo) -> Any:
    return value.astimezone(zone) if isinstance(value, dt.datetime) else value


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    at = draw(instants())
    zone = draw(st.sampled_from(ZONES))

    def back() -> dt.timedelta:
        # Whole days give or take up to 90 minutes: where wall time and elapsed time
        # disagree about the day count across a clock change.
        gap = dt.timedelta(days=draw(st.integers(0, 200)), minutes=draw(st.integers(-90, 90)))
        return max(gap, dt.timedelta(0))

    own = ZoneInfo(zone)
    writing = draw(
        st.just([own] * 6)  # every datetime in the account's own zone
        | st.lists(st.sampled_from([own, *WRITINGS]), min_size=6, max_size=6)
    )
    return {
        "zone": zone,
        "at": at,
        "since": at - back(),
        "period_start": at - dt.timedelta(minutes=draw(st.integers(0, 40 * 24 * 60))),
        "period_len": dt.timedelta(minutes=draw(st.integers(60, 62 * 24 * 60))),
        "oldest": at - back(),
        "paid": Decimal(draw(st.integers(0, 10**7))).scaleb(-2),
        "basis": draw(st.sampled_from(["actual_days", "thirty_day", "seconds"])),
        "cancel_day": draw(st.sampled_from(["refunded", "charged"])),
        "writing": writing,
    }


def _answers(wf: Workflow, c: dict[str, Any], w: list[dt.tzinfo] | None) -> dict[str, Any]:
    """Every decision, quote and key for the case, with each datetime written in ``w``."""

    def t(value: Any, i: int) -> Any:
        return value if w is None else _rewrite(value, w[i])

    at, since = t(c["at"], 0), t(c["since"], 1)
    start = c["period_start"]
    end = start + c["period_len"]
    period = Period(t(start, 2), t(end, 3))
    out: dict[str, Any] = {}
    if c["period_start"] <= c["at"] <= end:
        try:
            out["quote"] = quote(
                c["paid"], period, at, tz=c["zone"], basis=c["basis"], cancel_day=c["cancel_day"]
            )
        except InvalidArgument:  # a period shorter than one unit of the basis
            out["quote"] = "refused"
    # The guard, at the thresholds around the gap, where a miscount would show.
    gap = (c["at"] - c["since"]).days
    facts = {"status_since": since, "timezone": c["zone"]}
    out["days_in_status"] = [
        days_in_status(n)(GuardContext(None, at, data=facts)) is None
        for n in range(max(gap - 1, 0), gap + 2)
    ]
    closed = Account(id="A-1", status=-2, status_since=since, timezone=c["zone"])
    out["archive"] = wf.may(closed, "archive", at=at)
    pending = Account(
        id="A-2", status=2, status_since=since, timezone=c["zone"], period_end=t(end, 4)
    )
    out["complete"] = wf.may(pending, "complete_cancelation", at=at)
    owes = Account(
        id="A-3", status=1, status_since=since, timezone=c["zone"], balance=Decimal("80"),
        unpaid_invoices=2, oldest_unpaid_at=t(c["oldest"], 5),
    )  # fmt: skip
    policy = _policy(gap)
    out["sweep"] = [
        (p.account_id, [str(ch) for ch in p.changes], [str(b) for b in p.blocked])
        for p in sweep([closed, owes], policy, now=at)
    ]
    if "quote" in out and since.astimezone(UTC) <= at.astimezone(UTC):
        active = Account(id="A-4", status=1, status_since=since, timezone=c["zone"])
        try:
            change = wf.plan(
                active, "cancel", at=at, refund="prorated", paid=c["paid"], period=period
            )
        except InvalidArgument:
            out["keys"] = "refused"
        else:
            out["keys"] = [
                (e.key, e.amount if isinstance(e, Refund) else None) for e in change.effects
            ]
            out["change_key"] = change.key
    return out


_POLICIES: dict[int, AutomationPolicy] = {}


def _policy(archive_after: int) -> AutomationPolicy:
    """The reference ladder, and archiving right at the drawn gap (built once per gap)."""
    found = _POLICIES.get(archive_after)
    if found is None:
        found = _POLICIES[archive_after] = AutomationPolicy(
            ISP, ladder=reference_ladder(), archive="archive", archive_after_days=archive_after
        )
    return found


@given(cases())
def test_rewriting_datetimes_in_other_zones_changes_no_answer(c: dict[str, Any]) -> None:
    """Decisions (guards, sweep rules), quotes and idempotency keys are the same when
    every datetime is re-expressed in another zone (fold=1 and UTC included)."""
    assert _answers(ISP, c, c["writing"]) == _answers(ISP, c, None)


def test_the_property_meets_fold_1() -> None:
    """The writings used by the property include a fold=1 instant."""
    second_pass = dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC).astimezone(BERLIN)
    assert second_pass.fold == 1


def test_bases_used_by_the_property_are_built_in() -> None:
    """The property draws the built-in bases (registered ones may be added by docs)."""
    assert {"actual_days", "thirty_day", "seconds"} <= set(BASES)


# -- these two need the matching change in the workflow's own time check ------------------


@pytest.mark.parametrize("since", ["2026-01-01", dt.datetime(2026, 1, 1)])
def test_a_status_since_that_is_not_an_aware_datetime_is_refused(since: object) -> None:
    """A host object whose status_since is a string or naive: InvalidArgument naming it,
    from may, plan and fire alike, and nothing changes."""

    class Host:
        id = "H-1"
        status = -2
        status_since = since

    host = Host()
    at = dt.datetime(2026, 9, 1, tzinfo=UTC)
    with pytest.raises(InvalidArgument, match="invalid status_since"):
        ISP.may(host, "archive", at=at)
    with pytest.raises(InvalidArgument, match="invalid status_since"):
        ISP.fire(host, "archive", at=at)
    assert host.status == -2 and host.status_since == since


def test_fire_at_an_instant_with_no_utc_equivalent_is_refused() -> None:
    """fire/may at datetime.max with a -05:00 offset: InvalidArgument, nothing changed."""
    acct = ISP.open("A-1", "active", at=dt.datetime(2026, 1, 1, tzinfo=UTC), imported=True)
    before = _snapshot(acct)
    edge = dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    with pytest.raises(InvalidArgument, match="between the years 1 and 9999"):
        ISP.may(acct, "suspend", at=edge)
    with pytest.raises(InvalidArgument, match="between the years 1 and 9999"):
        ISP.fire(acct, "suspend", at=edge)
    assert _snapshot(acct) == before
